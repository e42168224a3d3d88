/**
 * The store contract on a single Redis (REDIS_URL, default redis://127.0.0.1:6379),
 * plus what only Redis has: hash-tagged key layout, the seed's used_count, and
 * failing fast (never hanging, never accepting) when Redis is away.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { ConfigError } from '../../src/errors.js';
import { createTokenService } from '../../src/refresh/service.js';
import { openStore } from '../../src/stores/open.js';
import { packScriptArgs, RedisStore, redisClientOptions } from '../../src/stores/redis.js';
import { hashOpaqueToken, userShard } from '../../src/tokens/opaque.js';
import { isOutage, redisStoreMaker, runStoreContract } from './contract.js';
import { deletePrefix, monitorOf, REDIS_URL, redisUnavailable, SECRET, skipUnlessAvailable, uniquePrefix } from './harness.js';

const skip = skipUnlessAvailable(await redisUnavailable());

runStoreContract('redis', redisStoreMaker(REDIS_URL, 'contract'), skip);

describe('redis store specifics', skip, () => {
  const keyPrefix = uniquePrefix('specifics');
  let client: Redis;
  let store: RedisStore;
  const ready = (async () => {
    if (skip.skip) return;
    client = new Redis(REDIS_URL, redisClientOptions());
    await new Promise((r) => client.once('ready', r));
    store = new RedisStore(client, { keyPrefix });
  })();
  after(async () => {
    if (!client) return;
    await deletePrefix(client, keyPrefix);
    client.disconnect();
  });

  test('every key of a user carries the user hash tag; tokens are stored only as hashes', async () => {
    await ready;
    const tokens = createTokenService({ secret: SECRET, store, scheme: 'opaque' });
    const p = await tokens.issue({ sub: 'tagged', scope: 'read' });
    const p1 = await tokens.refresh(p.refreshToken);
    await tokens.revokeUser('tagged');
    const keys = await client.keys(`${keyPrefix}*`);
    const tag = `{${userShard('tagged')}}`;
    assert.ok(keys.length >= 5);
    for (const k of keys) assert.ok(k.startsWith(`${keyPrefix}${tag}:`), `${k} is outside the user's slot`);
    for (const k of keys) {
      for (const raw of [p.accessToken, p.refreshToken, p1.accessToken, p1.refreshToken]) assert.ok(!k.includes(raw));
    }
    const dump = JSON.stringify(
      await Promise.all(
        keys.map(async (k): Promise<unknown> => ((await client.type(k)) === 'hash' ? client.hgetall(k) : client.dump(k))),
      ),
    );
    for (const raw of [p.accessToken, p.refreshToken, p1.accessToken, p1.refreshToken]) assert.ok(!dump.includes(raw));
  });

  test('a script call is one EVALSHA with one argument, the JSON array of its arguments', async () => {
    await ready;
    const tokens = createTokenService({ secret: SECRET, store });
    const p = await tokens.issue({ sub: 'packed', scope: 'read' });
    const monitor = await monitorOf(client.duplicate());
    const seen: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (/^eval(sha)?$/i.test(args[0] ?? '')) seen.push(args);
    });
    const next = await tokens.refresh(p.refreshToken);
    // MONITOR reports a command after running it: the round trip of a PING behind it flushes it.
    await client.ping();
    await new Promise((r) => setTimeout(r, 50));
    monitor.disconnect();
    assert.ok(next.refreshToken);
    const rotation = seen.at(-1) as string[];
    assert.equal(rotation.length, 5, `EVALSHA sha 1 key packed: ${JSON.stringify(rotation.slice(0, 6))}`);
    assert.equal(rotation[2], '1');
    assert.ok((rotation[4] as string).startsWith('['), 'one JSON array');
    assert.ok((rotation[4] as string).split(',').length >= 20, 'the rotation sends its twenty arguments as one');
  });

  test('an argument or a reply value holding a NUL (a sub given through the library) travels whole', async () => {
    await ready;
    const sub = 'nul\u0000inside';
    const tokens = createTokenService({ secret: SECRET, store, scheme: 'opaque' });
    const p = await tokens.issue({ sub, scope: 'read' });
    const p1 = await tokens.refresh(p.refreshToken);
    const p2 = await tokens.refresh(p1.refreshToken);
    const seen = await tokens.introspect(p2.refreshToken);
    assert.equal(seen.active, true);
    assert.equal((seen as { sub?: string }).sub, sub);
    await assert.rejects(tokens.refresh(p1.refreshToken), (e: Error & { code?: string }) => e.code === 'reused');
  });

  test('a lone surrogate (which JSON escapes and cjson refuses) goes as UTF-8 carries it: U+FFFD, no store error', async () => {
    await ready;
    const tokens = createTokenService({ secret: SECRET, store, scheme: 'opaque' });
    const p = await tokens.issue({ sub: 'lone\ud800surrogate', scope: 'read' });
    const p1 = await tokens.refresh(p.refreshToken);
    const seen = await tokens.introspect(p1.refreshToken);
    assert.equal(seen.active, true);
    assert.equal((seen as { sub?: string }).sub, 'lone\ufffdsurrogate');
    // The escape as text (a claims JSON holding one) passes unchanged.
    assert.equal(packScriptArgs(['a', 1, '{"x":"\\ud800"}']), JSON.stringify(['a', 1, '{"x":"\\ud800"}']));
    assert.equal(packScriptArgs(['x\udc00']), '["x\ufffd"]');
  });

  test("the seed's opaque records: rt:<hash> with used_count counting every presentation", async () => {
    await ready;
    const tokens = createTokenService({ secret: SECRET, store, scheme: 'opaque' });
    const p = await tokens.issue({ sub: 'counter', scope: 'read' });
    const base = store.base(userShard('counter'));
    const rt = `${base}rt:${hashOpaqueToken(p.refreshToken)}`;
    const at = `${base}at:${hashOpaqueToken(p.accessToken)}`;
    const record = await client.hgetall(rt);
    assert.deepEqual(Object.keys(record).sort(), ['family', 'issued_at', 'refresh_expires_in', 'used_count', 'user_id']);
    assert.equal(record.user_id, 'counter');
    assert.equal(record.refresh_expires_in, '2592000');
    assert.equal(record.used_count, '0');
    const access = await client.hgetall(at);
    assert.equal(access.expires_in, '900');
    assert.equal(access.scope, 'read');
    const pttl = await client.pttl(at);
    assert.ok(pttl > 895_000 && pttl <= 900_000, `access record TTL ${pttl}`);
    await tokens.refresh(p.refreshToken);
    assert.equal(await client.hget(rt, 'used_count'), '1');
    await tokens.refresh(p.refreshToken).catch(() => {});
    assert.equal(await client.hget(rt, 'used_count'), '2', 'the replay counted too');
  });

  test('rolling upgrade: a family the index lacks (written before the listing) is listed from its next refresh, in that one script', async () => {
    await ready;
    const tokens = createTokenService({ secret: SECRET, store });
    const p = await tokens.issue({ sub: 'upgraded', grant: 'password' });
    // The family as a tessera before the session listing wrote it: no device, no grant, no index entry.
    const base = store.base(userShard('upgraded'));
    await client.hdel(`${base}f:${p.familyId}`, 'ua', 'ad', 'gr');
    await client.del(`${base}s:upgraded`, `${base}ss:upgraded`);
    assert.deepEqual(await tokens.sessions('upgraded'), [], 'not listed before its next refresh (docs/stores.md)');
    await tokens.refresh(p.refreshToken, { userAgent: 'curl/8' });
    assert.deepEqual(
      (await tokens.sessions('upgraded')).map((s) => [s.id, s.userAgent, s.grant]),
      [[p.familyId, 'curl/8', null]],
    );
  });

  test("rolling upgrade: a summary without the grant (the previous tessera's rotation) reads grant null until the next refresh restores it", async () => {
    await ready;
    const tokens = createTokenService({ secret: SECRET, store });
    const p = await tokens.issue({ sub: 'mixed', grant: 'authorization_code', userAgent: 'Firefox/140' });
    const summaries = `${store.base(userShard('mixed'))}ss:mixed`;
    const written = JSON.parse((await client.hget(summaries, p.familyId)) as string) as string[];
    assert.deepEqual(written.slice(4), ['Firefox/140', '', '', 'authorization_code'], 'device, client, grant');
    await client.hset(summaries, p.familyId, JSON.stringify(written.slice(0, 7)));
    assert.deepEqual(
      (await tokens.sessions('mixed')).map((s) => [s.userAgent, s.grant]),
      [['Firefox/140', null]],
    );
    await tokens.refresh(p.refreshToken);
    assert.deepEqual(
      (await tokens.sessions('mixed')).map((s) => [s.userAgent, s.grant]),
      [['Firefox/140', 'authorization_code']],
      'the family keeps its grant; the rotation writes it back into the summary',
    );
  });

  test('a Redis prefix with a brace is refused (the hash tag must be the shard)', async () => {
    await ready;
    assert.throws(() => new RedisStore(client, { keyPrefix: 'a{b}:' }), ConfigError);
  });
});

describe('redis outage: fail fast and closed', () => {
  test('openStore refuses an unreachable Redis at start with a ConfigError', async () => {
    await assert.rejects(openStore('redis://127.0.0.1:1', { connectTimeoutMs: 300 }), ConfigError);
  });

  test('a down Redis is StoreUnavailableError at once (no offline queue)', async () => {
    const client = new Redis('redis://127.0.0.1:1', redisClientOptions({ lazyConnect: true, retryStrategy: () => null }));
    const store = new RedisStore(client, { ownsClient: true });
    const tokens = createTokenService({ secret: SECRET, store, access: { checkRevocation: true } });
    const t0 = Date.now();
    const issued = await tokens.issue({ sub: 'x' }).catch((e: unknown) => e);
    assert.ok(isOutage(issued));
    await assert.rejects(store.ping(), (e: unknown) => isOutage(e));
    assert.ok(Date.now() - t0 < 2000, 'failed fast');
    await store.close();
  });

  test('a Redis that accepts but never answers is StoreUnavailableError after timeoutMs, not a hang', async (t) => {
    const sockets = new Set<import('node:net').Socket>();
    const server: Server = createServer((s) => void sockets.add(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => {
      for (const s of sockets) s.destroy();
      server.close();
    });
    const port = (server.address() as import('node:net').AddressInfo).port;
    // A client configured without our fail-fast options: the store's own timeout still bounds every call.
    const client = new Redis({ port, host: '127.0.0.1', enableReadyCheck: false, maxRetriesPerRequest: null });
    t.after(() => client.disconnect());
    const store = new RedisStore(client, { timeoutMs: 300 });
    const tokens = createTokenService({ secret: SECRET, store });
    const t0 = Date.now();
    const e = await tokens.issue({ sub: 'y' }).catch((err: unknown) => err);
    assert.ok(isOutage(e));
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 250 && elapsed < 1500, `took ${elapsed} ms`);
  });
});
