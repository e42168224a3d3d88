/**
 * The store contract on Redis Cluster: REDIS_CLUSTER_NODES (host:port,...) when
 * set, else a local 3-master cluster from scripts/redis-cluster.sh (started, or
 * reused when healthy). Every script touches one slot (the user's hash tag), so
 * the same code runs here as on a single Redis.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { Cluster } from 'ioredis';
import { createTokenService } from '../../src/refresh/service.js';
import { openStore } from '../../src/stores/open.js';
import type { RedisStore } from '../../src/stores/redis.js';
import { userShard } from '../../src/tokens/opaque.js';
import { codeOf, redisStoreMaker, runStoreContract } from './contract.js';
import { clusterNodes, deletePrefix, SECRET, skipUnlessAvailable, uniquePrefix } from './harness.js';

const found = await clusterNodes();
const skip = skipUnlessAvailable('error' in found ? found.error : undefined);
const spec = 'nodes' in found ? `redis+cluster://${found.nodes.map((n) => `${n.host}:${n.port}`).join(',')}` : '';

runStoreContract('redis-cluster', redisStoreMaker(spec, 'cluster'), skip);

describe('redis cluster specifics', skip, () => {
  const keyPrefix = uniquePrefix('cluster-spread');
  let store: RedisStore | undefined;
  after(async () => {
    if (!store) return;
    await deletePrefix(store.client, keyPrefix);
    await store.close();
  });

  test('users spread over the masters; each user stays in one slot, on all presets', async () => {
    store = (await openStore(spec, { keyPrefix })) as RedisStore;
    const cluster = store.client as Cluster;
    const masters = cluster.nodes('master');
    assert.ok(masters.length >= 3, 'a 3-master cluster');
    const users = Array.from({ length: 24 }, (_, i) => `spread-${i}`);
    for (const scheme of ['jwt', 'sealed', 'opaque'] as const) {
      const tokens = createTokenService({ secret: SECRET, store, scheme, access: { checkRevocation: true } });
      for (const sub of users) {
        const p = await tokens.issue({ sub });
        const p1 = await tokens.refresh(p.refreshToken);
        assert.equal(await codeOf(tokens.authenticate(p1.accessToken)), 'ok');
        assert.equal(await codeOf(tokens.refresh(p.refreshToken)), 'reused');
      }
      await tokens.revokeUser(users[0] as string);
    }
    const perNode = await Promise.all(masters.map((m) => m.keys(`${keyPrefix}*`)));
    assert.ok(perNode.filter((keys) => keys.length > 0).length >= 2, 'keys on more than one master');
    for (const sub of users) {
      const tag = `{${userShard(sub)}}`;
      const holders = perNode.filter((keys) => keys.some((k) => k.includes(tag)));
      assert.equal(holders.length, 1, `${sub}: all keys on one node`);
      const slots = new Set(
        await Promise.all(
          (holders[0] as string[]).filter((k) => k.includes(tag)).map((k) => cluster.cluster('KEYSLOT', k) as Promise<number>),
        ),
      );
      assert.equal(slots.size, 1, `${sub}: all keys in one slot`);
    }
  });
});
