/**
 * A deaf revocation feed: instance B's Redis subscriber connection goes through a TCP proxy
 * (loopback) that keeps the connection open and forwards what B sends but drops everything
 * Redis sends back (a middlebox that silently dropped the idle flow). Instance A revokes
 * tokens meanwhile. The subscriber's PING goes unanswered, so B's feed turns 'down' within the
 * liveness interval + timeout and B asks the store for every token; when the flow comes back,
 * B resubscribes, and the tokens revoked while it was deaf are still refused (the new 'up' is
 * not complete: every token issued before it is checked against the store once). On one Redis
 * and on a Redis Cluster (the proxy sits in front of the node B's subscriber uses).
 *
 * The intervals are short here (real sockets and timers are what is under test); the
 * defaults are 2000 ms + 1000 ms.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, type TestContext, test } from 'node:test';
import { Cluster, Redis } from 'ioredis';
import { createAuthHandlers } from '../../src/http/core/handlers.js';
import { type ConfiguredTokenService, createTokenService } from '../../src/refresh/service.js';
import { RedisStore, redisClientOptions } from '../../src/stores/redis.js';
import type { TokenStore } from '../../src/stores/types.js';
import { codeOf, waitUntil } from '../stores/contract.js';
import {
  clusterNodes,
  deletePrefix,
  FakeClock,
  REDIS_URL,
  redisUnavailable,
  SECRET,
  skipUnlessAvailable,
  uniquePrefix,
} from '../stores/harness.js';
import { startTcpProxy, type TcpProxy } from '../stores/tcp-proxy.js';

// Services are probed before any test is registered: node:test drops a test registered after a
// top-level await once the tests before it have finished.
const redisReason = await redisUnavailable();
const cluster = redisReason === undefined ? await clusterNodes() : { error: redisReason };

const PING_MS = 200;
const TIMEOUT_MS = 200;
/** Detection is bounded by interval + timeout; the rest is scheduling slack on a shared machine. */
const BOUND_MS = PING_MS + TIMEOUT_MS + 400;

interface Instance {
  store: RedisStore;
  tokens: ConfiguredTokenService;
  lookups(): number;
}

function instance(store: RedisStore, clock: FakeClock): Instance {
  let n = 0;
  const checkAccess = store.checkAccess;
  store.checkAccess = (input) => {
    n++;
    return checkAccess.call(store, input);
  };
  const tokens = createTokenService({ secret: SECRET, store: store as TokenStore, clock: clock.now });
  return { store, tokens, lookups: () => n };
}

/** Polls until `x` refuses `token`: the elapsed real time (ms); fails past `limitMs`. */
async function refusedWithin(x: Instance, token: string, limitMs: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    const code = await codeOf(x.tokens.authenticate(token));
    const ms = performance.now() - started;
    if (code === 'revoked') return ms;
    assert.equal(code, 'ok');
    if (ms > limitMs) throw new Error(`still accepted after ${ms.toFixed(0)} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Backend {
  /** A client for the store (a Redis or a Cluster). */
  client(): RedisClient;
  /** Where B's subscriber connection should go: the proxy's target. */
  target: { host: string; port: number };
}
type RedisClient = Redis | Cluster;

function suite(title: string, backend: () => Promise<Backend>, skip: { skip?: string }): void {
  describe(`a stalled revocation subscriber: ${title}`, skip, () => {
    async function setup(t: TestContext) {
      const b = await backend();
      const keyPrefix = uniquePrefix('stall');
      const proxy: TcpProxy = await startTcpProxy(b.target.port, b.target.host);
      const clock = new FakeClock();
      const [ca, cb] = [b.client(), b.client()];
      // A cluster client knows its nodes (and a client takes commands) once ready.
      await Promise.all([ca, cb].map((c) => (c.status === 'ready' ? undefined : once(c, 'ready'))));
      const a = instance(new RedisStore(ca, { keyPrefix, ownsClient: true }), clock);
      const deaf = instance(
        new RedisStore(cb, {
          keyPrefix,
          ownsClient: true,
          feedPingIntervalMs: PING_MS,
          feedPingTimeoutMs: TIMEOUT_MS,
          subscriberOptions: { host: '127.0.0.1', port: proxy.port },
        }),
        clock,
      );
      t.after(async () => {
        for (const x of [a, deaf]) x.tokens.close();
        await deletePrefix(a.store.client, keyPrefix).catch(() => {});
        await Promise.all([a.store.close(), deaf.store.close()]);
        await proxy.close();
      });
      await waitUntil(() => a.tokens.revocations?.live === true && deaf.tokens.revocations?.live === true, 5000);
      // Past the trust margin: from now on B vouches for new tokens from memory alone.
      clock.advance(5);
      return { a, deaf, proxy, clock };
    }

    test('a token revoked while the flow is dropped is refused within the liveness bound, and after recovery', async (t) => {
      const { a, deaf, proxy, clock } = await setup(t);
      const early = await a.tokens.issue({ sub: 'stall-early' });
      const late = await a.tokens.issue({ sub: 'stall-late' });
      const kept = await a.tokens.issue({ sub: 'stall-kept' });
      for (const p of [early, late, kept]) assert.equal(await codeOf(deaf.tokens.authenticate(p.accessToken)), 'ok');
      assert.equal(deaf.lookups(), 0, 'vouched for from memory while the feed is up');

      proxy.stall();
      // The subscriber is deaf from here on: a revocation now is published but never heard.
      await a.tokens.revoke(early.accessToken);
      const detectedMs = await refusedWithin(deaf, early.accessToken, BOUND_MS);
      t.diagnostic(`revoked token refused ${detectedMs.toFixed(0)} ms after the stall (bound ${PING_MS} + ${TIMEOUT_MS} ms)`);
      assert.equal(deaf.tokens.revocations?.live, false, 'the feed reads down');
      assert.equal((deaf.store.revocations() as { up?: boolean }).up, false);
      const ready = createAuthHandlers({ tokens: deaf.tokens });
      assert.deepEqual((await ready.ready()).body, { status: 'ready', revocation_feed: 'down' }, '/ready says so');

      // While down, every request asks the store: a logout during the outage is refused at once.
      await a.tokens.logout(late.refreshToken);
      assert.equal(await codeOf(deaf.tokens.authenticate(late.accessToken)), 'revoked');
      const n = deaf.lookups();
      assert.equal(await codeOf(deaf.tokens.authenticate(kept.accessToken)), 'ok');
      assert.equal(await codeOf(deaf.tokens.authenticate(kept.accessToken)), 'ok');
      assert.equal(deaf.lookups(), n + 2, 'one store check per request while the feed is down');
      // Still deaf for a while: the feed stays down (it never claims 'up' through a dropped flow).
      await new Promise((r) => setTimeout(r, 3 * (PING_MS + TIMEOUT_MS)));
      assert.equal(deaf.tokens.revocations?.live, false);
      assert.ok(proxy.accepted > 1, 'the subscriber was replaced by new connections');

      proxy.restore();
      const restored = performance.now();
      await waitUntil(() => deaf.tokens.revocations?.live === true, 5000);
      assert.deepEqual((await ready.ready()).body, { status: 'ready', revocation_feed: 'up' });
      t.diagnostic(`feed up again ${(performance.now() - restored).toFixed(0)} ms after the flow came back`);
      // Recovered: what was revoked while deaf is refused, the rest accepted, once from the store each.
      assert.equal(await codeOf(deaf.tokens.authenticate(early.accessToken)), 'revoked');
      assert.equal(await codeOf(deaf.tokens.authenticate(late.accessToken)), 'revoked');
      assert.equal(await codeOf(deaf.tokens.authenticate(kept.accessToken)), 'ok');
      const m = deaf.lookups();
      assert.equal(await codeOf(deaf.tokens.authenticate(early.accessToken)), 'revoked');
      assert.equal(await codeOf(deaf.tokens.authenticate(kept.accessToken)), 'ok');
      assert.equal(deaf.lookups(), m, 'from memory again after one check each');

      // And the push is heard again: a revocation after recovery reaches B in well under a second.
      clock.advance(5);
      const after = await a.tokens.issue({ sub: 'stall-after' });
      assert.equal(await codeOf(deaf.tokens.authenticate(after.accessToken)), 'ok');
      await a.tokens.revoke(after.accessToken);
      const pushedMs = await refusedWithin(deaf, after.accessToken, 1000);
      assert.equal(deaf.lookups(), m, `heard through the push (${pushedMs.toFixed(1)} ms), not asked`);
    });
  });
}

// Every await before the first suite: with --test-force-exit the run ends once registered suites finish.

suite(
  'one Redis',
  async () => {
    const url = new URL(REDIS_URL);
    return {
      client: () => new Redis(REDIS_URL, redisClientOptions()),
      target: { host: url.hostname, port: Number(url.port || 6379) },
    };
  },
  skipUnlessAvailable(redisReason),
);

suite(
  'Redis Cluster',
  async () => {
    if ('error' in cluster) throw new Error(cluster.error);
    const nodes = cluster.nodes;
    const client = () =>
      new Cluster(nodes, { redisOptions: redisClientOptions(), enableOfflineQueue: false, slotsRefreshTimeout: 2000 });
    // Any node hears every PUBLISH (the cluster bus): B subscribes on the first one, through the proxy.
    return { client, target: nodes[0] as { host: string; port: number } };
  },
  skipUnlessAvailable('error' in cluster ? cluster.error : undefined),
);
