/**
 * The I/O budget (DESIGN "Budget"): one store round trip per refresh, at most
 * one per authenticated request. Counted twice: as store method calls on every
 * store, and as commands on the wire for Redis (MONITOR, filtered to the
 * store's own connection: every command it sends, script or not).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { createAuthHandlers } from '../../src/http/core/handlers.js';
import { createClientService } from '../../src/oauth-clients/clients.js';
import type { ClientDirectory } from '../../src/oauth-clients/types.js';
import { createTokenService } from '../../src/refresh/service.js';
import type { Scheme, TokenServiceOptions } from '../../src/refresh/types.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { RedisStore, redisClientOptions } from '../../src/stores/redis.js';
import { SqliteStore } from '../../src/stores/sqlite.js';
import type { TokenStore } from '../../src/stores/types.js';
import {
  deletePrefix,
  monitorOf,
  REDIS_URL,
  redisUnavailable,
  SECRET,
  skipUnlessAvailable,
  uniquePrefix,
} from '../stores/harness.js';

// Services are probed before any test is registered: node:test drops a test registered after a
// top-level await once the tests before it have finished.
const skip = skipUnlessAvailable(await redisUnavailable());

/** Wraps a store so every method call is counted by name. */
function counting(store: TokenStore): { store: TokenStore; calls: string[] } {
  const calls: string[] = [];
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        calls.push(String(prop));
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

async function measure(store: TokenStore, scheme: Scheme, extra: Partial<TokenServiceOptions> = {}) {
  const c = counting(store);
  const tokens = createTokenService({ secret: SECRET, store: c.store, scheme, ...extra });
  const take = async (fn: () => Promise<unknown>) => {
    c.calls.length = 0;
    await fn();
    return [...c.calls];
  };
  const p = await tokens.issue({ sub: 'budget' });
  return {
    issue: await take(() => tokens.issue({ sub: 'budget' })),
    authenticate: await take(() => tokens.authenticate(p.accessToken)),
    refresh: await take(() => tokens.refresh(p.refreshToken)),
  };
}

for (const [name, make] of [
  ['memory', () => new MemoryStore()],
  ['sqlite', () => new SqliteStore(':memory:')],
] as const) {
  describe(`budget in store calls: ${name}`, () => {
    for (const scheme of ['jwt', 'sealed', 'opaque'] as const) {
      test(`${scheme}: refresh = 1 call (rotate); issue = 1; authenticate = ${scheme === 'opaque' ? 1 : 0}`, async () => {
        const store = make();
        const m = await measure(store, scheme);
        assert.deepEqual(m.refresh, ['rotate']);
        assert.deepEqual(m.issue, ['createFamily']);
        assert.deepEqual(m.authenticate, scheme === 'opaque' ? ['checkAccess'] : []);
        const checked = await measure(store, scheme, { access: { checkRevocation: true } });
        assert.deepEqual(checked.authenticate, ['checkAccess'], 'with checkRevocation: exactly one');
        await store.close();
      });
    }
    test('opaque, DPoP-bound (RFC 9449 §5): a refresh by its key, without a proof, by another key = 1 call each (rotate)', async () => {
      const store = make();
      const c = counting(store);
      const tokens = createTokenService({ secret: SECRET, store: c.store, scheme: 'opaque' });
      let pair = await tokens.issue({ sub: 'budget', jkt: 'key-a' });
      for (const jkt of ['key-a', null, 'key-b']) {
        c.calls.length = 0;
        const next = await tokens.refresh(pair.refreshToken, { jkt }).catch(() => undefined);
        if (next) pair = next;
        assert.deepEqual(c.calls, ['rotate'], `jkt ${jkt}`);
      }
      await store.close();
    });
  });
}

/**
 * The refresh and introspection paths through a registered confidential client (HTTP core
 * handlers, client_secret_basic): the client record comes from the per-instance cache, so each
 * costs the token's one store call, as through the built-in client.
 */
async function throughClient(store: TokenStore & ClientDirectory, directory: TokenStore & ClientDirectory) {
  const tokens = createTokenService({ secret: SECRET, store: directory });
  const clients = createClientService(directory, { feed: store.revocations!() });
  const { secret } = await clients.add('api', { confidential: true, introspect: true });
  const handlers = createAuthHandlers({ tokens, clients, rateLimit: false });
  const authorization = `Basic ${Buffer.from(`api:${secret}`).toString('base64')}`;
  const call = (path: string, body: Record<string, unknown>) =>
    ({ method: 'POST', path, headers: { authorization }, body, query: {}, ip: '127.0.0.1', cookies: {} }) as const;
  let refreshToken = (await tokens.issue({ sub: 'budget-client', clientId: 'api' })).refreshToken;
  let accessToken = '';
  const refresh = async () => {
    const r = await handlers.refresh(call('/auth/refresh', { refresh_token: refreshToken }));
    assert.equal(r.status, 200);
    const body = r.body as { refresh_token: string; access_token: string };
    refreshToken = body.refresh_token;
    accessToken = body.access_token;
  };
  const introspect = async () => {
    const r = await handlers.introspect(call('/auth/introspect', { token: accessToken }));
    assert.equal((r.body as { active: boolean }).active, true);
  };
  return { refresh, introspect, close: () => clients.close() };
}

for (const [name, make] of [
  ['memory', () => new MemoryStore()],
  ['sqlite', () => new SqliteStore(':memory:')],
] as const) {
  test(`budget through a registered confidential client, ${name}: refresh = 1 call (rotate), introspection = 1 (checkAccess)`, async () => {
    const store = make();
    const c = counting(store);
    const x = await throughClient(store, c.store as TokenStore & ClientDirectory);
    await x.refresh(); // the first request reads the client record
    for (let i = 0; i < 3; i++) {
      c.calls.length = 0;
      await x.refresh();
      assert.deepEqual(c.calls, ['rotate']);
      c.calls.length = 0;
      await x.introspect();
      assert.deepEqual(c.calls, ['checkAccess']);
    }
    x.close();
    await store.close();
  });
}

describe('budget on the wire: Redis commands per operation (MONITOR)', skip, () => {
  test('one command per refresh (one script: EVAL once per connection, then EVALSHA), one per authenticate', async (t) => {
    const keyPrefix = uniquePrefix('budget');
    const client = new Redis(REDIS_URL, redisClientOptions());
    const monitorConn = new Redis(REDIS_URL);
    t.after(async () => {
      await deletePrefix(client, keyPrefix);
      client.disconnect();
      monitorConn.disconnect();
    });
    await new Promise((r) => client.once('ready', r));
    const store = new RedisStore(client, { keyPrefix });
    const ours = `${client.stream.localAddress}:${client.stream.localPort}`;
    const monitor = await monitorOf(monitorConn);
    t.after(() => monitor.disconnect());
    const seen: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source === ours) seen.push(args);
    });
    // MONITOR streams in execution order: once this marker (sent by another connection) shows up,
    // every command our client sent before it has been seen.
    const marker = new Redis(REDIS_URL);
    t.after(() => marker.disconnect());
    let markerSeen: (() => void) | undefined;
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args[0]?.toLowerCase() === 'echo' && args[1] === keyPrefix) markerSeen?.();
    });
    const settle = async (): Promise<string[][]> => {
      const done = new Promise<void>((r) => {
        markerSeen = r;
      });
      await marker.echo(keyPrefix);
      await done;
      return seen.splice(0);
    };

    for (const scheme of ['jwt', 'opaque'] as const) {
      const tokens = createTokenService({ secret: SECRET, store, scheme, access: { checkRevocation: true } });
      let pair = await tokens.issue({ sub: `budget-${scheme}` });
      await tokens.authenticate(pair.accessToken);
      pair = await tokens.refresh(pair.refreshToken);
      await settle(); // warm-up: the first call of each script on this connection is an EVAL

      const N = 20;
      for (let i = 0; i < N; i++) pair = await tokens.refresh(pair.refreshToken);
      const refreshes = await settle();
      assert.equal(refreshes.length, N, `${scheme}: ${refreshes.length} commands for ${N} refreshes`);
      assert.ok(refreshes.every((a) => a[0]?.toLowerCase() === 'evalsha'));

      for (let i = 0; i < N; i++) await tokens.authenticate(pair.accessToken);
      const auths = await settle();
      assert.equal(auths.length, N, `${scheme}: ${auths.length} commands for ${N} authentications`);

      await tokens.issue({ sub: `budget-${scheme}` });
      assert.equal((await settle()).length, 1, 'issue: one command');

      // DPoP-bound (RFC 9449 §5): the family's key is checked inside the rotation's one script.
      let bound = await tokens.issue({ sub: `budget-${scheme}`, jkt: 'key-a' });
      await settle();
      for (let i = 0; i < N; i++) bound = await tokens.refresh(bound.refreshToken, { jkt: 'key-a' });
      await tokens.refresh(bound.refreshToken, { jkt: null }).catch(() => {});
      const boundRefreshes = await settle();
      // A self-contained refresh token without its key is refused before the store (its claims name the key).
      assert.equal(
        boundRefreshes.length,
        scheme === 'opaque' ? N + 1 : N,
        `${scheme}: ${boundRefreshes.length} commands, DPoP-bound`,
      );
      assert.ok(boundRefreshes.every((a) => a[0]?.toLowerCase() === 'evalsha'));
    }

    // Through a registered confidential client: the record is cached, one command per refresh too.
    const x = await throughClient(store, store);
    t.after(() => x.close());
    await x.refresh();
    await x.introspect();
    await settle();
    const N = 10;
    for (let i = 0; i < N; i++) await x.refresh();
    const viaClient = await settle();
    assert.equal(viaClient.length, N, `${viaClient.length} commands for ${N} refreshes through a registered client`);
    for (let i = 0; i < N; i++) await x.introspect();
    assert.equal((await settle()).length, N, 'one command per introspection');
  });
});
