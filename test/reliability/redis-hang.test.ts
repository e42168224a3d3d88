/**
 * Redis that hangs instead of dying (SIGSTOP, then SIGCONT): the harder case
 * of a lost reply. The connection stays open, so a refresh is sent,
 * times out (503 after the store's 2 s timeout), and is applied by Redis when
 * it resumes. The client, told to retry, presents the same token again:
 *
 * - with the default grace window of 0 s the retry is refused as a reuse (400)
 *   and the family is revoked: the rotation is never granted twice, at the
 *   price of the session (fail closed, documented in docs/reliability.md);
 * - with a grace window (TESSERA_REUSE_GRACE=10) the retry gets the pair the
 *   lost rotation produced, and a second retry the very same pair.
 *
 * While Redis hangs, every stateful request ends in 503 + Retry-After within a
 * bounded time (never hangs with it).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, PASSWORD, type ServerProcess, serverEnv, startServer } from '../support/processes.js';
import { login, needsRedisServer, RELIABILITY, type RedisProcess, startRedis, waitFor } from './support.js';

/** The store's command timeout is 2 s; the rate limiter's counter (same client) may wait as long first. */
const HANG_BOUND_MS = 5000;

describe('Redis hangs (SIGSTOP) during a refresh', needsRedisServer(), () => {
  let redis: RedisProcess;
  const servers: Record<'strict' | 'grace', ServerProcess | undefined> = { strict: undefined, grace: undefined };

  before(async () => {
    redis = await startRedis();
    const common = {
      TESSERA_STORE: redis.url,
      TESSERA_SCHEME: 'opaque',
      TESSERA_ALLOW_REGISTER: '1',
      TESSERA_RATE_LIMIT: '100000',
    };
    [servers.strict, servers.grace] = await Promise.all([
      startServer(RELIABILITY, serverEnv(RELIABILITY, { ...common, TESSERA_REDIS_PREFIX: 'hang0:', TESSERA_REUSE_GRACE: '0' })),
      startServer(RELIABILITY, serverEnv(RELIABILITY, { ...common, TESSERA_REDIS_PREFIX: 'hang10:', TESSERA_REUSE_GRACE: '10' })),
    ]);
    for (const s of Object.values(servers)) {
      const r = await call(s!.url, 'POST', '/auth/register', { json: { username: 'alice', password: PASSWORD } });
      assert.equal(r.status, 201);
    }
  });
  after(async () => {
    redis?.child.kill('SIGCONT');
    await Promise.all(Object.values(servers).map((s) => s?.kill()));
    await redis?.kill();
  });

  test('a timed-out rotation applied later: refused on retry without grace, replayed with grace', async () => {
    const strict = servers.strict!;
    const grace = servers.grace!;
    const s0 = await login(strict.url, 'alice');
    const g0 = await login(grace.url, 'alice');

    redis.child.kill('SIGSTOP');
    let resumed = false;
    try {
      const t0 = Date.now();
      const timed = async (p: Promise<{ status: number; headers: Record<string, unknown> }>, what: string) => {
        const r = await p;
        const ms = Date.now() - t0;
        assert.equal(r.status, 503, what);
        assert.equal(r.headers['retry-after'], '5', what);
        assert.ok(ms < HANG_BOUND_MS, `${what}: answered after ${ms} ms`);
      };
      await Promise.all([
        timed(call(strict.url, 'POST', '/auth/refresh', { json: { refresh_token: s0.refresh_token } }), 'refresh, no grace'),
        timed(call(grace.url, 'POST', '/auth/refresh', { json: { refresh_token: g0.refresh_token } }), 'refresh, grace'),
        timed(call(strict.url, 'GET', '/me', { token: s0.access_token }), '/me'),
        timed(call(grace.url, 'GET', '/ready'), '/ready'),
      ]);
      assert.equal((await call(strict.url, 'GET', '/health')).status, 200);
    } finally {
      redis.child.kill('SIGCONT');
      resumed = true;
    }
    assert.ok(resumed);
    await waitFor(
      async () =>
        (await call(strict.url, 'GET', '/ready')).status === 200 && (await call(grace.url, 'GET', '/ready')).status === 200,
      10_000,
      'both servers ready again',
    );

    // The rotations were applied when Redis resumed: the presented tokens are consumed now.
    const strictRetry = await call(strict.url, 'POST', '/auth/refresh', { json: { refresh_token: s0.refresh_token } });
    assert.equal(strictRetry.status, 400, 'without grace, the retry of a lost rotation is never granted');
    assert.match(strictRetry.json.error_description, /reused/);
    assert.equal((await call(strict.url, 'GET', '/me', { token: s0.access_token })).status, 401, 'and the family is revoked');

    const r1 = await call(grace.url, 'POST', '/auth/refresh', { json: { refresh_token: g0.refresh_token } });
    assert.equal(r1.status, 200, `with grace, the retry gets the lost pair: ${r1.text}`);
    const r2 = await call(grace.url, 'POST', '/auth/refresh', { json: { refresh_token: g0.refresh_token } });
    assert.equal(r2.status, 200);
    assert.equal(r2.json.refresh_token, r1.json.refresh_token, 'every retry gets the same pair');
    assert.equal((await call(grace.url, 'GET', '/me', { token: r1.json.access_token })).status, 200);
    const next = await call(grace.url, 'POST', '/auth/refresh', { json: { refresh_token: r1.json.refresh_token } });
    assert.equal(next.status, 200, 'the session continues');
  });
});
