/**
 * A revocation on any instance reaches every instance within a second,
 * and each refuses the affected self-contained access tokens from memory (no
 * store round trip per request). Instances here are separate TokenService
 * objects on separate store connections: SqliteStore objects on one file,
 * RedisStore clients on one Redis or one Redis Cluster, PostgresStore pools on one
 * PostgreSQL schema (LISTEN/NOTIFY). The real-process
 * variant is test/e2e/revocation-push.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { StoreUnavailableError } from '../../src/errors.js';
import { createClientService } from '../../src/oauth-clients/clients.js';
import type { ClientDirectory } from '../../src/oauth-clients/types.js';
import { type ConfiguredTokenService, createTokenService } from '../../src/refresh/service.js';
import type { TokenPair } from '../../src/refresh/types.js';
import { openStore } from '../../src/stores/open.js';
import { openPostgresStore, type PostgresStore } from '../../src/stores/postgres.js';
import type { RedisStore } from '../../src/stores/redis.js';
import { SqliteStore } from '../../src/stores/sqlite.js';
import type { TokenStore } from '../../src/stores/types.js';
import { codeOf, waitUntil } from '../stores/contract.js';
import {
  clusterNodes,
  deletePrefix,
  dropSchema,
  FakeClock,
  PG_URL,
  postgresUnavailable,
  REDIS_URL,
  redisUnavailable,
  SECRET,
  skipUnlessAvailable,
  tempSqlitePath,
  uniquePrefix,
  uniqueSchema,
} from '../stores/harness.js';

// Services are probed before any test is registered: node:test drops a test registered after a
// top-level await once the tests before it have finished.
const redisReason = await redisUnavailable();
const cluster = redisReason === undefined ? await clusterNodes() : { error: redisReason };
const pgReason = await postgresUnavailable();

interface Instance {
  store: TokenStore;
  tokens: ConfiguredTokenService;
  lookups(): number;
}

type Backend = { open(): Promise<TokenStore>; cleanup(): Promise<void> };

function instance(store: TokenStore, clock: FakeClock): Instance {
  let n = 0;
  const checkAccess = store.checkAccess;
  store.checkAccess = (input) => {
    n++;
    return checkAccess.call(store, input);
  };
  const tokens = createTokenService({ secret: SECRET, store, clock: clock.now });
  return { store, tokens, lookups: () => n };
}

async function instances(t: TestContext, backend: Backend, clock: FakeClock, count: number): Promise<Instance[]> {
  const list: Instance[] = [];
  for (let i = 0; i < count; i++) list.push(instance(await backend.open(), clock));
  t.after(async () => {
    for (const x of list) {
      x.tokens.close();
      await x.store.close();
    }
  });
  await waitUntil(() => list.every((x) => x.tokens.revocations?.live === true));
  // Past the trust margin: tokens issued from now on are vouched for by the push alone.
  clock.advance(5);
  return list;
}

/** Polls until every instance refuses `token`; the elapsed real time (ms). */
async function refusedEverywhere(list: Instance[], token: string): Promise<number> {
  const started = performance.now();
  for (;;) {
    const codes = await Promise.all(list.map((x) => codeOf(x.tokens.authenticate(token))));
    if (codes.every((c) => c === 'revoked')) return performance.now() - started;
    if (performance.now() - started > 2000) throw new Error(`still accepted after 2 s: ${codes.join(', ')}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Drops instance `b`'s push connection from the server side (CLIENT KILL, pg_terminate_backend). */
type KillPush = (a: Instance, b: Instance) => Promise<void>;

function suite(title: string, backend: () => Promise<Backend>, skip: { skip?: string } = {}, kill?: KillPush): void {
  describe(`revocation push across instances: ${title}`, skip, () => {
    async function setup(t: TestContext) {
      const b = await backend();
      t.after(() => b.cleanup());
      return b;
    }

    for (const count of [2, 3]) {
      test(`${count} instances: logout-all, logout, revoke, reuse on one; the others refuse within 1 s, with no lookup`, async (t) => {
        const clock = new FakeClock();
        const list = await instances(t, await setup(t), clock, count);
        const [a] = list as [Instance];
        const pair = (sub: string) => a.tokens.issue({ sub });
        const victims: Record<string, TokenPair> = {
          revoke: await pair('u-revoke'),
          logout: await pair('u-logout'),
          reuse: await pair('u-reuse'),
          logoutAll: await pair('u-all'),
        };
        const bystander = await pair('u-bystander');
        for (const x of list)
          for (const p of [...Object.values(victims), bystander]) {
            assert.equal(await codeOf(x.tokens.authenticate(p.accessToken)), 'ok');
          }
        const delays: number[] = [];
        const on = (i: number) => (list[i % count] as Instance).tokens;
        await on(0).revoke(victims.revoke!.accessToken);
        delays.push(await refusedEverywhere(list, victims.revoke!.accessToken));
        await on(1).logout(victims.logout!.refreshToken);
        delays.push(await refusedEverywhere(list, victims.logout!.accessToken));
        await on(2).refresh(victims.reuse!.refreshToken);
        assert.equal(await codeOf(on(0).refresh(victims.reuse!.refreshToken)), 'reused');
        delays.push(await refusedEverywhere(list, victims.reuse!.accessToken));
        clock.advance(1);
        await on(1).revokeUser('u-all');
        delays.push(await refusedEverywhere(list, victims.logoutAll!.accessToken));
        for (const d of delays) assert.ok(d < 1000, `propagation ${delays.map((x) => x.toFixed(1)).join(', ')} ms`);
        for (const x of list) assert.equal(await codeOf(x.tokens.authenticate(bystander.accessToken)), 'ok');
        assert.deepEqual(
          list.map((x) => x.lookups()),
          list.map(() => 0),
          'every acceptance and refusal came from memory',
        );
      });
    }

    test('logout-all in the second a token was issued, after another instance vouched for it: still refused', async (t) => {
      const clock = new FakeClock();
      const b = await setup(t);
      const list = [instance(await b.open(), clock), instance(await b.open(), clock)];
      t.after(async () => {
        for (const x of list) {
          x.tokens.close();
          await x.store.close();
        }
      });
      await waitUntil(() => list.every((x) => x.tokens.revocations?.live === true));
      const [a, other] = list as [Instance, Instance];
      // Issued within the trust margin: B asks the store once and remembers "not revoked".
      const p = await a.tokens.issue({ sub: 'same-second' });
      assert.equal(await codeOf(other.tokens.authenticate(p.accessToken)), 'ok');
      assert.equal(await codeOf(other.tokens.authenticate(p.accessToken)), 'ok');
      await a.tokens.revokeUser('same-second');
      assert.ok((await refusedEverywhere(list, p.accessToken)) < 1000);
    });

    test('restart: a new instance refuses what was revoked before it started, from the first request', async (t) => {
      const clock = new FakeClock();
      const b = await setup(t);
      const [a] = await instances(t, b, clock, 1);
      const revoked = await a!.tokens.issue({ sub: 'r1' });
      const kept = await a!.tokens.issue({ sub: 'r1' });
      await a!.tokens.logout(revoked.refreshToken);
      const cli = await a!.tokens.issue({ sub: 'r2' });
      clock.advance(1);
      await a!.tokens.revokeUser('r2');
      clock.advance(1);
      const fresh = instance(await b.open(), clock);
      t.after(async () => {
        fresh.tokens.close();
        await fresh.store.close();
      });
      // Before its feed is even up: the store is asked.
      assert.equal(await codeOf(fresh.tokens.authenticate(revoked.accessToken)), 'revoked');
      assert.equal(await codeOf(fresh.tokens.authenticate(cli.accessToken)), 'revoked');
      await waitUntil(() => fresh.tokens.revocations?.live === true);
      assert.equal(await codeOf(fresh.tokens.authenticate(kept.accessToken)), 'ok');
      const n = fresh.lookups();
      assert.equal(await codeOf(fresh.tokens.authenticate(kept.accessToken)), 'ok');
      assert.equal(await codeOf(fresh.tokens.authenticate(revoked.accessToken)), 'revoked');
      assert.equal(fresh.lookups(), n, 'checked once, then from memory');
    });

    if (kill) {
      test('a dropped push connection (killed by the server): a token revoked meanwhile is never accepted; then recovery', async (t) => {
        const clock = new FakeClock();
        const list = await instances(t, await setup(t), clock, 2);
        const [a, b] = list as [Instance, Instance];
        const victim = await a.tokens.issue({ sub: 'dropped' });
        const kept = await a.tokens.issue({ sub: 'dropped-2' });
        assert.equal(await codeOf(b.tokens.authenticate(victim.accessToken)), 'ok');
        // The revocation is sent the moment B's feed goes down: B cannot hear its PUBLISH / NOTIFY.
        let revokedWhileDown: Promise<void> | undefined;
        const stop = b.store.revocations!().subscribe({
          event: () => {},
          status: (s) => {
            if (s === 'down' && !revokedWhileDown) revokedWhileDown = a.tokens.revoke(victim.accessToken);
          },
        });
        t.after(stop);
        await kill(a, b);
        await waitUntil(() => revokedWhileDown !== undefined);
        await revokedWhileDown;
        // B may be down (asks the store) or back up (asks once: the token predates the new subscription).
        assert.equal(await codeOf(b.tokens.authenticate(victim.accessToken)), 'revoked');
        await waitUntil(() => b.tokens.revocations?.live === true);
        assert.equal(await codeOf(b.tokens.authenticate(victim.accessToken)), 'revoked');
        assert.equal(await codeOf(b.tokens.authenticate(kept.accessToken)), 'ok');
        const n = b.lookups();
        assert.equal(await codeOf(b.tokens.authenticate(kept.accessToken)), 'ok');
        assert.equal(await codeOf(b.tokens.authenticate(victim.accessToken)), 'revoked');
        assert.equal(b.lookups(), n, 'recovered: from memory again');
        // And the push works again: a new revocation on A reaches B.
        clock.advance(5);
        const after = await a.tokens.issue({ sub: 'dropped-3' });
        assert.equal(await codeOf(b.tokens.authenticate(after.accessToken)), 'ok');
        await a.tokens.revoke(after.accessToken);
        assert.ok((await refusedEverywhere([b], after.accessToken)) < 1000);
      });
    }

    test('a client removed on one instance is refused by the others within 1 s; records cached meanwhile, bypassed while down', async (t) => {
      const clock = new FakeClock();
      const list = await instances(t, await setup(t), clock, 2);
      const [a, b] = list as [Instance, Instance];
      let reads = 0;
      const getClient = (b.store as unknown as ClientDirectory).getClient;
      (b.store as unknown as ClientDirectory).getClient = (id) => {
        reads++;
        return getClient.call(b.store, id);
      };
      const cached = createClientService(b.store as unknown as ClientDirectory, { feed: b.store.revocations!() });
      t.after(() => cached.close());
      // `tessera client add` / `client remove`: a service of its own, no cache, on another connection.
      const cli = createClientService(a.store as unknown as ClientDirectory);
      const { secret } = await cli.add('svc', { confidential: true });
      const presented = { clientId: 'svc', secret };
      for (let i = 0; i < 3; i++) assert.equal((await cached.authenticate(presented)).ok, true);
      assert.equal(reads, 1, 'the record is read once, then cached');

      assert.equal(await cli.remove('svc'), true);
      const started = performance.now();
      for (;;) {
        const r = await cached.authenticate(presented);
        if (!r.ok) {
          assert.equal(r.reason, 'unknown_client');
          break;
        }
        assert.ok(performance.now() - started < 1000, 'removal seen within 1 s');
        await new Promise((r) => setTimeout(r, 2));
      }
      const removalMs = performance.now() - started;
      t.diagnostic(`removal seen after ${removalMs.toFixed(1)} ms`);

      // While the push is down, nothing is cached: every lookup reads the store.
      await cli.add('svc2', { confidential: false });
      (b.store.revocations!() as unknown as { status(s: 'up' | 'down'): void }).status('down');
      const before = reads;
      for (let i = 0; i < 3; i++) assert.equal((await cached.authenticate({ clientId: 'svc2' })).ok, true);
      assert.equal(reads, before + 3, 'one store read per lookup while the feed is down');
    });

    test('while the feed is down, every request asks the store: an outage is 503, never an accept', async (t) => {
      const clock = new FakeClock();
      const [a] = await instances(t, await setup(t), clock, 1);
      const p = await a!.tokens.issue({ sub: 'down' });
      a!.tokens.revocations!.status('down');
      const n = a!.lookups();
      assert.equal(await codeOf(a!.tokens.authenticate(p.accessToken)), 'ok');
      assert.equal(await codeOf(a!.tokens.authenticate(p.accessToken)), 'ok');
      assert.equal(a!.lookups(), n + 2, 'one lookup per request while down');
      const checkAccess = a!.store.checkAccess;
      a!.store.checkAccess = () => Promise.reject(new StoreUnavailableError('gone'));
      t.after(() => {
        a!.store.checkAccess = checkAccess;
      });
      await assert.rejects(a!.tokens.authenticate(p.accessToken), { name: 'StoreUnavailableError' });
    });
  });
}

suite('one SQLite file', async () => {
  const file = tempSqlitePath();
  const opened: SqliteStore[] = [];
  return {
    open: async () => {
      const s = new SqliteStore(file.path);
      opened.push(s);
      return s;
    },
    cleanup: async () => {
      for (const s of opened) await s.close();
      file.remove();
    },
  };
});

function redisBackend(spec: () => Promise<string>, label: string): () => Promise<Backend> {
  return async () => {
    const url = await spec();
    const keyPrefix = uniquePrefix(label);
    const opened: TokenStore[] = [];
    return {
      open: async () => {
        const s = await openStore(url, { keyPrefix });
        opened.push(s);
        return s;
      },
      cleanup: async () => {
        const first = opened[0] as RedisStore | undefined;
        if (first) await deletePrefix(first.client, keyPrefix);
        for (const s of opened) await s.close();
      },
    };
  };
}

/** CLIENT KILL of B's subscriber, by its address: not other suites' connections. */
const clientKill: KillPush = async (a, b) => {
  const sub = (b.store as RedisStore).subscriberConnection;
  assert.ok(sub);
  const stream = (sub as unknown as { stream: { localAddress: string; localPort: number } }).stream;
  const addr = `${stream.localAddress}:${stream.localPort}`;
  const node = (a.store as RedisStore).client as unknown as { call(...args: string[]): Promise<unknown> };
  const admin = (a.store as RedisStore).client.isCluster ? null : node;
  if (admin) await admin.call('CLIENT', 'KILL', 'ADDR', addr);
  else {
    const direct = sub.duplicate();
    await direct.call('CLIENT', 'KILL', 'ADDR', addr);
    direct.disconnect();
  }
};

suite(
  'Redis',
  redisBackend(async () => REDIS_URL, 'push'),
  skipUnlessAvailable(redisReason),
  clientKill,
);

suite(
  'Redis Cluster',
  redisBackend(async () => {
    if ('error' in cluster) throw new Error(cluster.error);
    return `redis+cluster://${cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
  }, 'push-cluster'),
  skipUnlessAvailable('error' in cluster ? cluster.error : undefined),
  clientKill,
);

/**
 * pg_terminate_backend of B's LISTEN connection: the backend whose last statement was its
 * LISTEN (or the heartbeat's SELECT 1) on this schema's channel, and whose pid is B's.
 */
const terminateListener: KillPush = async (a, b) => {
  const pid = (b.store as PostgresStore).listenerPid;
  assert.ok(pid, 'B listens');
  const { rows } = await (a.store as PostgresStore).pool.query(
    `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
     WHERE pid = $1 AND (query LIKE 'LISTEN%' OR query = 'SELECT 1')`,
    [pid],
  );
  assert.deepEqual(
    rows.map((r) => r.killed),
    [true],
  );
};

suite(
  'PostgreSQL',
  async () => {
    const schema = uniqueSchema('push');
    const opened: TokenStore[] = [];
    return {
      open: async () => {
        const s = await openPostgresStore(PG_URL, { schema, purgeIntervalMs: 0, poolSize: 3 });
        opened.push(s);
        return s;
      },
      cleanup: async () => {
        for (const s of opened) await s.close();
        await dropSchema(schema);
      },
    };
  },
  skipUnlessAvailable(pgReason),
  terminateListener,
);
