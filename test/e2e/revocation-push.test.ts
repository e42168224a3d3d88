/**
 * The revocation push with real processes: two `tessera serve` on one store (one SQLite
 * file; one Redis prefix; one PostgreSQL schema). Logout everywhere, logout and RFC 7009 revocation on
 * instance A; instance B refuses the access token within a second. And `tessera client remove`:
 * B, which caches client records, refuses the removed client within a second.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import {
  deletePrefix,
  dropSchema,
  PG_URL,
  postgresUnavailable,
  skipUnlessAvailable,
  uniquePrefix,
  uniqueSchema,
} from '../stores/harness.js';
import {
  addIntrospector,
  call,
  PASSWORD,
  runCli,
  type ServerProcess,
  serverEnv,
  startServer,
  tempDir,
} from '../support/processes.js';
import { E2E, REDIS_URL, redisAvailable } from './helpers.js';

// Services are probed before any test is registered: node:test drops a test registered after a
// top-level await once the tests before it have finished.
const hasRedis = await redisAvailable();

async function login(base: string, username: string): Promise<{ access_token: string; refresh_token: string }> {
  const r = await call(base, 'POST', '/auth/token', { form: { grant_type: 'password', username, password: PASSWORD } });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

/** Polls B's /me until 401; the elapsed ms. */
async function refusedOn(base: string, token: string): Promise<number> {
  const started = performance.now();
  for (;;) {
    const r = await call(base, 'GET', '/me', { token });
    if (r.status === 401) return performance.now() - started;
    assert.equal(r.status, 200, r.text);
    if (performance.now() - started > 3000) throw new Error('still accepted after 3 s');
    await new Promise((res) => setTimeout(res, 5));
  }
}

function suite(
  title: string,
  store: () => Promise<{ env: Record<string, string>; cleanup(): Promise<void> }>,
  skip: { skip?: string } = {},
) {
  describe(`two tessera processes on ${title}: revocation reaches the other within 1 s`, skip, () => {
    let servers: ServerProcess[] = [];
    let cleanup: (() => Promise<void>) | undefined;
    after(async () => {
      await Promise.all(servers.map((s) => s.kill()));
      await cleanup?.();
    });

    test('logout-all, logout and revoke on A; B refuses the access token', async () => {
      const s = await store();
      cleanup = s.cleanup;
      const env = serverEnv(E2E, { ...s.env, TESSERA_ALLOW_REGISTER: '1' });
      servers = await Promise.all([startServer(E2E, env), startServer(E2E, env)]);
      const [a, b] = servers.map((x) => x.url) as [string, string];
      const r = await call(a, 'POST', '/auth/register', { json: { username: 'pushy', password: PASSWORD } });
      assert.equal(r.status, 201, r.text);
      const delays: number[] = [];

      const t1 = await login(a, 'pushy');
      assert.equal((await call(b, 'GET', '/me', { token: t1.access_token })).status, 200);
      assert.equal((await call(a, 'POST', '/auth/logout-all', { token: t1.access_token })).status, 204);
      delays.push(await refusedOn(b, t1.access_token));

      const t2 = await login(b, 'pushy');
      assert.equal((await call(b, 'GET', '/me', { token: t2.access_token })).status, 200);
      assert.equal((await call(a, 'POST', '/auth/logout', { json: { refresh_token: t2.refresh_token } })).status, 204);
      delays.push(await refusedOn(b, t2.access_token));

      const t3 = await login(a, 'pushy');
      assert.equal((await call(b, 'GET', '/me', { token: t3.access_token })).status, 200);
      assert.equal((await call(a, 'POST', '/auth/revoke', { form: { token: t3.access_token } })).status, 200);
      delays.push(await refusedOn(b, t3.access_token));
      // RFC 7662 §2.1: a resource server registered for introspection asks.
      const rs = await addIntrospector(E2E, env);
      const intro = await call(b, 'POST', '/auth/introspect', { form: { token: t3.access_token }, headers: rs });
      assert.equal(intro.json?.active, false, `introspection on B agrees: ${intro.text}`);

      // `tessera client remove`: B caches the client's record, and drops it when the removal is pushed.
      assert.equal((await call(b, 'POST', '/auth/introspect', { form: { token: t3.access_token }, headers: rs })).status, 200);
      const removed = await runCli(E2E, ['client', 'remove', 'rs'], env);
      assert.equal(removed.code, 0, removed.stderr);
      const started = performance.now();
      for (;;) {
        const res = await call(b, 'POST', '/auth/introspect', { form: { token: t3.access_token }, headers: rs });
        if (res.status === 401) break;
        assert.equal(res.status, 200, res.text);
        assert.ok(performance.now() - started < 1000, 'the removed client is refused on B within 1 s');
        await new Promise((r) => setTimeout(r, 5));
      }
      delays.push(performance.now() - started);

      for (const d of delays) assert.ok(d < 1000, `B refused after ${delays.map((x) => x.toFixed(0)).join(', ')} ms`);
    });
  });
}

suite('one SQLite file', async () => {
  const dir = tempDir();
  return { env: { TESSERA_STORE: `sqlite:${join(dir, 'shared.db')}` }, cleanup: async () => {} };
});

suite(
  'one Redis',
  async () => {
    const prefix = uniquePrefix('e2e-push');
    return {
      env: { TESSERA_STORE: REDIS_URL, TESSERA_REDIS_PREFIX: prefix },
      cleanup: async () => {
        const client = new Redis(REDIS_URL);
        await deletePrefix(client, prefix);
        client.disconnect();
      },
    };
  },
  hasRedis ? {} : { skip: `Redis at ${REDIS_URL} is not reachable` },
);

suite(
  'one PostgreSQL schema',
  async () => {
    const schema = uniqueSchema('e2e_push');
    return { env: { TESSERA_STORE: `${PG_URL}?schema=${schema}` }, cleanup: () => dropSchema(schema) };
  },
  skipUnlessAvailable(await postgresUnavailable()),
);
