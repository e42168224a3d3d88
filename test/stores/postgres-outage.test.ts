/**
 * PostgreSQL away and back, without stopping the shared server: the store talks to it
 * through a TCP proxy the test cuts (connections reset and refused), black-holes
 * (accepted, never answered: a hung database) and restores. Plus two OS processes
 * racing on one token.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { createTokenService } from '../../src/refresh/service.js';
import { openPostgresStore } from '../../src/stores/postgres.js';
import { codeOf, isOutage } from './contract.js';
import { dropSchema, PG_URL, postgresUnavailable, SECRET, skipUnlessAvailable, uniqueSchema } from './harness.js';
import { startTcpProxy } from './tcp-proxy.js';

const skip = skipUnlessAvailable(await postgresUnavailable());
const execFileP = promisify(execFile);

describe('postgres outage: fail fast and closed, recover without restart', skip, () => {
  test('server gone (reset, refused): StoreUnavailableError at once; back: the same store works again', async (t) => {
    const proxy = await startTcpProxy(Number(new URL(PG_URL).port || 5432));
    const schema = uniqueSchema('outage');
    const url = new URL(PG_URL);
    url.port = String(proxy.port);
    const store = await openPostgresStore(url.toString(), { schema, purgeIntervalMs: 0, connectTimeoutMs: 1000 });
    t.after(async () => {
      await store.close();
      await proxy.close();
      await dropSchema(schema);
    });
    const tokens = createTokenService({ secret: SECRET, store, access: { checkRevocation: true } });
    const p = await tokens.issue({ sub: 'o' });

    proxy.refuse();
    const t0 = Date.now();
    for (const op of [() => tokens.refresh(p.refreshToken), () => tokens.authenticate(p.accessToken), () => store.ping()]) {
      const e = await op().catch((err: unknown) => err);
      assert.ok(isOutage(e), `expected StoreUnavailableError, got ${String(e)}`);
    }
    assert.ok(Date.now() - t0 < 3000, `failed fast (${Date.now() - t0} ms)`);

    proxy.restore();
    // The pool opens new connections on demand: no restart, no reconnect call.
    const p1 = await tokens.refresh(p.refreshToken);
    assert.equal(await codeOf(tokens.authenticate(p1.accessToken)), 'ok');
    assert.equal(
      await codeOf(tokens.refresh(p.refreshToken)),
      'reused',
      'consumed once, by the refresh after recovery (the refused ones changed nothing)',
    );
  });

  test('server hung (black hole): StoreUnavailableError after the statement timeout, not a hang; then recovery', async (t) => {
    const proxy = await startTcpProxy(Number(new URL(PG_URL).port || 5432));
    const schema = uniqueSchema('hang');
    const url = new URL(PG_URL);
    url.port = String(proxy.port);
    const store = await openPostgresStore(url.toString(), {
      schema,
      purgeIntervalMs: 0,
      statementTimeoutMs: 400,
      connectTimeoutMs: 400,
      poolSize: 2,
    });
    t.after(async () => {
      await store.close();
      await proxy.close();
      await dropSchema(schema);
    });
    const tokens = createTokenService({ secret: SECRET, store });
    const p = await tokens.issue({ sub: 'h' });
    proxy.blackhole();
    const t0 = Date.now();
    const results = await Promise.all(Array.from({ length: 5 }, () => tokens.refresh(p.refreshToken).catch((e: unknown) => e)));
    const elapsed = Date.now() - t0;
    for (const e of results) assert.ok(isOutage(e), String(e));
    assert.ok(elapsed < 3000, `bounded by the timeouts (${elapsed} ms)`);
    proxy.restore();
    // The timed-out rotations may have been applied before the network went (here they were
    // not: nothing reached the server). Either way, the store answers again.
    await store.ping();
    const code = await codeOf(tokens.refresh(p.refreshToken));
    assert.ok(code === 'ok', code);
  });

  test('pg_terminate_backend of every store connection: StoreUnavailableError or a fresh connection, never a crash', async (t) => {
    const schema = uniqueSchema('term');
    const store = await openPostgresStore(PG_URL, { schema, purgeIntervalMs: 0 });
    t.after(async () => {
      await store.close();
      await dropSchema(schema);
    });
    const tokens = createTokenService({ secret: SECRET, store });
    let p = await tokens.issue({ sub: 'k' });
    const admin = await store.pool.connect();
    const { rows } = await admin.query('SELECT pg_backend_pid() AS pid');
    admin.release();
    // Terminate the idle pooled connections (ours included) from another connection.
    const killer = await import('pg');
    const c = new killer.default.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tessera' AND pid <> pg_backend_pid() AND datname = current_database() AND pid = $1",
      [rows[0].pid],
    );
    await c.end();
    let outages = 0;
    for (let i = 0; i < 5; i++) {
      try {
        p = await tokens.refresh(p.refreshToken);
      } catch (e) {
        assert.ok(isOutage(e), String(e));
        outages++;
      }
    }
    assert.ok(outages <= 1, `at most the one call on the killed connection fails (${outages})`);
  });
});

describe('two OS processes racing on one token', skip, () => {
  for (const scheme of ['jwt', 'opaque'] as const) {
    test(`${scheme}: 2 processes x 50 concurrent refreshes: exactly one winner`, async (t) => {
      const schema = uniqueSchema('procs');
      const store = await openPostgresStore(PG_URL, { schema, purgeIntervalMs: 0 });
      t.after(async () => {
        await store.close();
        await dropSchema(schema);
      });
      const tokens = createTokenService({ secret: SECRET, store, scheme });
      const p = await tokens.issue({ sub: 'procs' });
      const env = {
        ...process.env,
        PG_URL,
        SCHEMA: schema,
        TOKEN: p.refreshToken,
        START_AT: String(Date.now() + 2500),
        RACERS: '50',
        SCHEME: scheme,
      };
      const racer = new URL('./postgres-racer.ts', import.meta.url).pathname;
      const runs = await Promise.all(
        [0, 1].map(() => execFileP(process.execPath, ['--import', 'tsx', racer], { env, timeout: 30_000 })),
      );
      const out = runs.map((r) => JSON.parse(r.stdout) as { won: number; codes: string[] });
      assert.equal(out[0]!.won + out[1]!.won, 1, JSON.stringify(out));
      assert.deepEqual(new Set([...out[0]!.codes, ...out[1]!.codes]), new Set(['reused']));
    });
  }
});
