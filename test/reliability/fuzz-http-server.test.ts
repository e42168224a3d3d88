/**
 * HTTP fuzzing against a real `tessera serve` process: the same
 * generators and oracle as fuzz-http.test.ts, sent over real sockets with
 * node:http (any method, any header), plus malformed raw HTTP/1.1 messages.
 * The server runs on SQLite with the opaque scheme, so every request reaches
 * the store. Afterwards the process is alive, still serves a login, and logged
 * nothing at error level.
 *
 * Cases: FUZZ_HTTP_SERVER_RUNS, else FUZZ_RUNS / 100 (`npm run fuzz`: 10 000),
 * else 1 500 (CI).
 */
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { parseBearer } from '../../src/http/plugin.js';
import { generateSecret } from '../../src/keys.js';
import { createTokenService } from '../../src/refresh/service.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { call, PASSWORD, type ServerProcess, serverEnv, startServer } from '../support/processes.js';
import { caseArb, judge, type Ledger, LIVE_REFRESH, materialize, newLedger, type TokenPool } from './fuzz-arbitraries.js';
import { addUsers, leakProblem, login, RELIABILITY } from './support.js';

const RUNS = Number(process.env.FUZZ_HTTP_SERVER_RUNS ?? (process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) / 100 : 1500));
const RAW_RUNS = Math.max(100, Math.floor(RUNS / 3));

/** Sends raw bytes on a fresh connection; resolves with whatever came back before the close (or 2 s). */
function raw(port: number, bytes: Buffer | string): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    let out = '';
    const done = () => {
      sock.destroy();
      resolve(out);
    };
    sock.setTimeout(2000, done);
    sock.on('data', (d) => (out += d.toString('latin1')));
    sock.on('error', done);
    sock.on('close', done);
    sock.on('connect', () => sock.end(bytes));
  });
}

/** The responses in a raw byte stream: status, and the body when a Content-Length frames it. */
function responses(out: string): { status: number; body?: string }[] {
  const found: { status: number; body?: string }[] = [];
  let at = out.indexOf('HTTP/1.');
  while (at >= 0) {
    const status = Number(out.slice(at + 9, at + 12));
    const headEnd = out.indexOf('\r\n\r\n', at);
    if (headEnd < 0) {
      found.push({ status });
      break;
    }
    const length = /\r\ncontent-length: *(\d+)/i.exec(out.slice(at, headEnd));
    const body = length ? out.slice(headEnd + 4, headEnd + 4 + Number(length[1])) : undefined;
    found.push({ status, body });
    at = out.indexOf('HTTP/1.', headEnd + 4 + (body?.length ?? 0));
  }
  return found;
}

describe('HTTP fuzz against a real server (opaque scheme on SQLite)', () => {
  let srv: ServerProcess;
  let ledger: Ledger;
  let pool: TokenPool;

  before(async () => {
    const env = serverEnv(RELIABILITY, { TESSERA_SCHEME: 'opaque', TESSERA_LOG_LEVEL: 'warn' });
    await addUsers(env, ['alice', 'bob']);
    srv = await startServer(RELIABILITY, env);
    pool = { access: [], refresh: [], foreign: [] };
    for (let i = 0; i < 6; i++) {
      const t = await login(srv.url, i % 2 ? 'bob' : 'alice');
      pool.access.push(t.access_token);
      pool.refresh.push(t.refresh_token);
    }
    // Valid-looking opaque tokens of another deployment.
    const foreign = createTokenService({ scheme: 'opaque', secret: generateSecret(), store: new MemoryStore() });
    for (let i = 0; i < 4; i++) {
      const p = await foreign.issue({ sub: `u${i}` });
      pool.foreign.push(p.accessToken, p.refreshToken);
    }
    ledger = newLedger(pool, PASSWORD);
  });
  after(async () => {
    await srv?.kill();
  });

  test(`${RUNS} random requests over real sockets`, async () => {
    // One connection per request: a keep-alive socket the server closes after an error (413, a
    // body it did not read) would otherwise fail the next request with a reset that is the client's race.
    const agent = new Agent({ keepAlive: false });
    await fc.assert(
      fc.asyncProperty(caseArb({ pool, password: PASSWORD, outages: false }), async (generated) => {
        const c = materialize(generated, ledger);
        // Characters node:http refuses to send in a header (NUL, controls, > U+00FF) are dropped:
        // the client would throw before the server saw anything (inject, in fuzz-http.test.ts, sends them).
        for (const [k, v] of Object.entries(c.headers)) c.headers[k] = v.replace(/[^\t\x20-\x7e\x80-\xff]/g, '');
        // Every third body goes chunked (Transfer-Encoding) instead of with a Content-Length.
        if (c.body !== undefined && c.body.length % 3 === 0) c.headers['transfer-encoding'] = 'chunked';
        const res = await call(srv.url, c.method, c.path, { headers: c.headers, body: c.body }, agent);
        const problem = judge(
          c,
          { status: res.status, body: res.text, contentType: res.headers['content-type'] as string | undefined },
          ledger,
          parseBearer,
          leakProblem,
        );
        assert.equal(problem, undefined, `${problem}: ${c.method} ${c.path} -> ${res.status} ${res.text.slice(0, 300)}`);
        const usedLive = [generated.body, ...Object.values(generated.headers)].some((v) => v?.includes(LIVE_REFRESH));
        if (usedLive && !(res.status === 200 && ledger.liveRefresh !== c.refreshToken)) {
          const t = await login(srv.url, 'alice');
          ledger.issuedAccess.add(t.access_token);
          ledger.issuedRefresh.add(t.refresh_token);
          ledger.liveAccess = t.access_token;
          ledger.liveRefresh = t.refresh_token;
        }
      }),
      { numRuns: RUNS },
    );
    process.stdout.write(
      `# real server: statuses ${JSON.stringify([...ledger.counts].sort())}, refreshes ${ledger.consumed.size}\n`,
    );
    const count = (s: number) => ledger.counts.get(String(s)) ?? 0;
    assert.ok(count(200) > RUNS / 50, 'too few successes');
    assert.ok(ledger.consumed.size > 0, 'no refresh succeeded: the fuzzer did not reach rotation');
  });

  test(`${RAW_RUNS} malformed HTTP/1.1 messages on raw sockets`, async () => {
    const requestLine = fc.oneof(
      fc.constantFrom(
        'POST /auth/token HTTP/1.1',
        'GET /me HTTP/1.1',
        'POST /auth/refresh HTTP/1.0',
        'GET / HTTP/9.9',
        'GET /me',
        'POST  /auth/token HTTP/1.1',
        'get /health http/1.1',
        'GET /health\u0000 HTTP/1.1',
        `GET /${'a'.repeat(20_000)} HTTP/1.1`,
      ),
      fc.string({ maxLength: 60 }),
    );
    const header = fc.oneof(
      fc.constantFrom(
        'Host: 127.0.0.1',
        'Content-Length: 5',
        'Content-Length: -1',
        'Content-Length: 99999999999999999999',
        'Content-Length: 1\r\nContent-Length: 2',
        'Transfer-Encoding: chunked',
        'Transfer-Encoding: chunked\r\nContent-Length: 3',
        'Transfer-Encoding: gzip, chunked',
        'Content-Type: application/json',
        'Authorization: Bearer \u00ff\u00fe',
        `X-Big: ${'b'.repeat(17_000)}`,
        'Bad Header',
        ' leading-space: x',
        'Expect: 100-continue',
        'Connection: upgrade\r\nUpgrade: websocket',
      ),
      fc.string({ maxLength: 40 }),
    );
    const message = fc
      .tuple(
        requestLine,
        fc.array(header, { maxLength: 5 }),
        fc.oneof(fc.string({ maxLength: 80 }), fc.constantFrom('0\r\n\r\n', 'zz\r\nabc\r\n', '{"grant_type":"password"}')),
        fc.constantFrom('\r\n', '\n', '\r'),
      )
      .map(([line, headers, body, eol]) => [line, ...headers, '', body].join(eol));
    let answered = 0;
    await fc.assert(
      fc.asyncProperty(message, async (m) => {
        const out = await raw(srv.port, Buffer.from(m, 'latin1'));
        for (const res of responses(out)) {
          answered++;
          const what = `${JSON.stringify(m.slice(0, 200))} -> ${out.slice(0, 300)}`;
          assert.ok(res.status < 500, `raw message got ${res.status}: ${what}`);
          // Every error body is ours, even for requests Node's parser refused (417: Node's bare answer to Expect).
          if (res.status >= 400 && res.status !== 417 && res.body !== undefined) {
            const b = JSON.parse(res.body);
            assert.equal(typeof b.error, 'string', what);
            assert.equal(typeof b.error_description, 'string', what);
          }
        }
        assert.equal(leakProblem(out), undefined, `raw message leaked: ${out.slice(0, 300)}`);
      }),
      { numRuns: RAW_RUNS },
    );
    assert.ok(answered > RAW_RUNS / 4, `only ${answered} raw messages were answered`);
  });

  test('afterwards: the process is alive, still serves a login, logged nothing at error level', async () => {
    assert.equal(srv.child.exitCode, null);
    const t = await login(srv.url, 'alice');
    const me = await call(srv.url, 'GET', '/me', { token: t.access_token });
    assert.equal(me.status, 200);
    const { stdout, stderr } = srv.output();
    const errorLines = `${stdout}\n${stderr}`.split('\n').filter((l) => /"level":(50|60)/.test(l));
    assert.deepEqual(errorLines, [], 'error-level log lines');
  });
});
