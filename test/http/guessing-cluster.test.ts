/**
 * The guessing limiter on a Redis Cluster: every key of one address lives in one hash
 * slot (`{IPv4 address}` or `{IPv6 /48}`), so both scripts run (a CROSSSLOT error
 * would make the limiter fail open, silently); a concurrent burst is held to its budget.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { createGuessingLimiter } from '../../src/http/core/guessing-limiter.js';
import { clusterNodes, deletePrefix, newCluster, QUICK, skipUnlessAvailable, uniquePrefix } from '../stores/harness.js';

const found = QUICK ? { error: 'the quick suite leaves the Redis Cluster out' } : await clusterNodes();

describe('guessing limiter on a Redis Cluster', skipUnlessAvailable('error' in found ? found.error : undefined), () => {
  const cluster = 'nodes' in found ? newCluster(found.nodes) : undefined;
  const ns = uniquePrefix('gl-cluster');
  after(async () => {
    if (cluster) {
      await deletePrefix(cluster, ns);
      cluster.disconnect();
    }
  });

  for (const address of ['192.0.2.77', '2001:db8:5:6::7']) {
    test(`a concurrent burst from ${address} is held to its budget, and every script runs in one slot`, async () => {
      const clock = { now: Date.now() };
      const limiter = createGuessingLimiter({
        max: 20,
        perUser: 5,
        windowSeconds: 60,
        redis: cluster,
        nameSpace: ns,
        clock: () => clock.now,
      });
      const burst = await Promise.all(Array.from({ length: 30 }, () => limiter.reserve(address, 'alice')));
      const admitted = burst.filter((r) => r.ok);
      assert.equal(admitted.length, 4, 'the in-flight cap per (username, address)');
      for (const r of admitted) if (r.ok) await r.done('failed');
      const last = await limiter.reserve(address, 'alice');
      assert.ok(last.ok, 'the fifth attempt');
      await last.done('failed');
      assert.deepEqual(await limiter.reserve(address, 'alice'), { ok: false, reason: 'blocked', waitMs: 60_000 });
      const other = await limiter.reserve(address, 'bob');
      assert.ok(other.ok);
      await other.done('succeeded');
      assert.equal(await limiter.register(address), 0);
    });
  }
});
