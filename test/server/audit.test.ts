/**
 * The audit trail (TESSERA_AUDIT) of a real `tessera serve`: after the scripted day
 * (day.ts) the file holds one valid JSON line per security event, in order, with the
 * required members and no token, password or secret; it is created 0600 and reopened
 * on SIGHUP; on stdout its lines are told apart from the log's.
 */
import assert from 'node:assert/strict';
import { readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { AuthEvent } from '../../src/http/core/events.js';
import { AUDIT_FIELDS, auditLine, parseAuditTarget } from '../../src/server/audit.js';
import { dropSchema, postgresThroughProxy, postgresUnavailable, skipUnlessAvailable, uniqueSchema } from '../stores/harness.js';
import type { TcpProxy } from '../stores/tcp-proxy.js';
import { call, PASSWORD, runCli, type ServerProcess, type Suite, serverEnv, startServer, tempDir } from '../support/processes.js';
import { DAY_ENV, DAY_USER, type DayResult, runDay } from './day.js';

const SUITE: Suite = { rateLimit: 1000, clockFile: false, dropNodeOptions: true, timeoutMs: 30_000 };
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function parseLines(text: string): Record<string, unknown>[] {
  const lines = text.split('\n').filter((l) => l !== '');
  return lines.map((l, i) => {
    try {
      return JSON.parse(l) as Record<string, unknown>;
    } catch {
      return assert.fail(`line ${i + 1} is not JSON: ${l}`);
    }
  });
}

async function waitFor(fn: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 5000;
  while (!fn()) {
    assert.ok(Date.now() < end, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('TESSERA_AUDIT: off by default; stdout; anything else is a file path', () => {
  assert.deepEqual(parseAuditTarget(undefined), { kind: 'off' });
  assert.deepEqual(parseAuditTarget(''), { kind: 'off' });
  assert.deepEqual(parseAuditTarget('OFF'), { kind: 'off' });
  assert.deepEqual(parseAuditTarget('stdout'), { kind: 'stdout' });
  assert.deepEqual(parseAuditTarget('/var/log/tessera/audit.log'), { kind: 'file', path: '/var/log/tessera/audit.log' });
});

test('an audit line holds the listed members only: a member an event should never carry stays out', () => {
  const event = {
    event: 'sign_in',
    result: 'ok',
    grant: 'password',
    user_id: 'u1',
    password: 'hunter2-hunter2',
    refresh_token: 'rt-secret-value',
  } as unknown as AuthEvent;
  const line = auditLine(event, Date.UTC(2030, 0, 2, 3, 4, 5, 6));
  assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'));
  const parsed = JSON.parse(line) as Record<string, unknown>;
  assert.deepEqual(parsed, {
    time: '2030-01-02T03:04:05.006Z',
    event: 'sign_in',
    result: 'ok',
    grant: 'password',
    user_id: 'u1',
  });
  for (const k of Object.keys(parsed)) assert.ok((AUDIT_FIELDS as readonly string[]).includes(k), k);
});

describe(
  'the audit trail of a scripted day (PostgreSQL behind a TCP proxy)',
  skipUnlessAvailable(await postgresUnavailable()),
  () => {
    let proxy: TcpProxy;
    let srv: ServerProcess;
    let day: DayResult;
    let lines: Record<string, unknown>[];
    let raw: string;
    let env: Record<string, string>;
    const file = join(tempDir(), 'audit.log');
    const schema = uniqueSchema('audit');

    before(async () => {
      const through = await postgresThroughProxy(schema);
      proxy = through.proxy;
      env = serverEnv(SUITE, { ...DAY_ENV, TESSERA_STORE: through.store, TESSERA_AUDIT: file });
      const created = await runCli(SUITE, ['user', 'add', DAY_USER], env, PASSWORD);
      assert.equal(created.code, 0, created.stderr);
      srv = await startServer(SUITE, env);
      day = await runDay(srv.url, proxy);
      assert.equal(await srv.stop(), 0);
      raw = readFileSync(file, 'utf8');
      lines = parseLines(raw);
    });
    after(async () => {
      await srv?.stop();
      await proxy?.close();
      await dropSchema(schema);
    });

    test('one line per event, in order, each valid JSON with time and event', () => {
      assert.equal(lines.length, day.events.length, raw);
      day.events.forEach((want, i) => {
        const got = lines[i] as Record<string, unknown>;
        for (const [k, v] of Object.entries(want))
          assert.equal(got[k], v, `line ${i + 1} (${want.event}) ${k}: ${JSON.stringify(got)}`);
        assert.match(String(got.time), RFC3339, `line ${i + 1} time`);
        assert.ok(!Number.isNaN(Date.parse(String(got.time))));
      });
      assert.ok(raw.endsWith('\n'));
      assert.ok(!raw.includes('"level"'), 'no log line in the trail');
    });

    test('who and where: address, user agent and request id on every line; user, session and client where known', () => {
      for (const l of lines) {
        assert.equal(l.address, '127.0.0.1', JSON.stringify(l));
        assert.match(String(l.request_id), /^req-/, JSON.stringify(l));
        for (const k of Object.keys(l)) assert.ok((AUDIT_FIELDS as readonly string[]).includes(k), k);
      }
      const signIns = lines.filter((l) => l.event === 'sign_in' && l.result === 'ok');
      assert.ok(signIns.length >= 4);
      for (const l of signIns) {
        assert.equal(l.user_id, day.aliceId);
        assert.equal(l.username, DAY_USER);
        assert.equal(l.client_id, 'tessera');
        assert.equal(typeof l.session_id, 'string');
        assert.equal(l.user_agent, 'day-script/1.0');
      }
      const all = lines.find((l) => l.event === 'logout_all') as Record<string, unknown>;
      assert.equal(all.user_id, day.aliceId);
      const refreshes = lines.filter((l) => l.event === 'refresh' && l.result === 'ok');
      for (const l of refreshes) assert.equal(typeof l.session_id, 'string');
    });

    test('no token, password or secret in the trail', () => {
      for (const s of [...day.secrets, env.TESSERA_SECRET as string]) {
        assert.ok(!raw.includes(s), `the audit trail contains a secret value (${s.slice(0, 6)}…)`);
      }
      assert.ok(!/"[^"]*(password|token|secret)[^"]*":/i.test(raw), 'no member named after a secret');
    });

    test('the file is created with mode 0600', () => {
      assert.equal(statSync(file).mode & 0o777, 0o600);
    });
  },
);

test('a TESSERA_AUDIT file that cannot be opened stops start-up with one line, exit 2', async () => {
  const path = join(tempDir(), 'no-such-dir', 'audit.log');
  const env = serverEnv(SUITE, { TESSERA_STORE: 'memory', TESSERA_AUDIT: path });
  const r = await runCli(SUITE, ['serve', '--host', '127.0.0.1', '--port', '0'], env);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^tessera: TESSERA_AUDIT: cannot open ".*audit\.log" for appending \(ENOENT\)/m);
  assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
});

test('SIGHUP reopens the file: after a rename the trail continues in a new file', async () => {
  const dir = tempDir();
  const file = join(dir, 'audit.log');
  const env = serverEnv(SUITE, { TESSERA_STORE: 'memory', TESSERA_AUDIT: file });
  const srv = await startServer(SUITE, env);
  try {
    const wrong = { grant_type: 'password', username: 'nobody', password: 'wrong-password-1' };
    assert.equal((await call(srv.url, 'POST', '/auth/token', { form: wrong })).status, 400);
    renameSync(file, `${file}.1`);
    srv.child.kill('SIGHUP');
    // The signal is handled asynchronously: poll until the new file exists.
    await waitFor(() => {
      try {
        statSync(file);
        return true;
      } catch {
        return false;
      }
    }, 'the reopened file');
    assert.equal((await call(srv.url, 'POST', '/auth/token', { form: wrong })).status, 400);
    const old = parseLines(readFileSync(`${file}.1`, 'utf8'));
    const now = parseLines(readFileSync(file, 'utf8'));
    assert.deepEqual([old.length, now.length], [1, 1]);
    assert.equal(now[0]?.event, 'sign_in');
    assert.equal(statSync(file).mode & 0o777, 0o600);
  } finally {
    assert.equal(await srv.stop(), 0, 'SIGHUP did not end the process');
  }
});

test('TESSERA_AUDIT=stdout: audit lines carry "stream":"audit" and no level; the log lines keep theirs', async () => {
  // The default store (SQLite in the data directory): `user add` and the server share it.
  const env = serverEnv(SUITE, { TESSERA_AUDIT: 'stdout', TESSERA_REUSE_GRACE: '0' });
  const created = await runCli(SUITE, ['user', 'add', DAY_USER], env, PASSWORD);
  assert.equal(created.code, 0, created.stderr);
  const srv = await startServer(SUITE, env);
  try {
    const login = await call(srv.url, 'POST', '/auth/token', {
      form: { grant_type: 'password', username: DAY_USER, password: PASSWORD },
    });
    assert.equal(login.status, 200);
    const rt = String(login.json.refresh_token);
    assert.equal((await call(srv.url, 'POST', '/auth/refresh', { json: { refresh_token: rt } })).status, 200);
    // A replay: the log warns (pino, level 40), the trail records it.
    assert.equal((await call(srv.url, 'POST', '/auth/refresh', { json: { refresh_token: rt } })).status, 400);
  } finally {
    assert.equal(await srv.stop(), 0);
  }
  const out = srv
    .output()
    .stdout.split('\n')
    .filter((l) => l.startsWith('{'));
  const audit = out.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.stream === 'audit');
  const logs = out.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.stream !== 'audit');
  assert.deepEqual(
    audit.map((l) => [l.event, l.result ?? l.kind ?? null]),
    [
      ['sign_in', 'ok'],
      ['refresh', 'ok'],
      ['refresh', 'refused'],
      ['reuse_detected', null],
      ['revocation', 'reuse'],
    ],
  );
  for (const l of audit) assert.equal(l.level, undefined);
  assert.ok(
    logs.some((l) => l.event === 'refresh_token_reuse' && typeof l.level === 'number'),
    'the reuse warning is a log line',
  );
});
