import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryStore } from '../../src/stores/memory.js';
import { userShard } from '../../src/tokens/opaque.js';
import { runStoreContract } from './contract.js';
import { FakeClock } from './harness.js';

runStoreContract('memory', async (clock) => ({
  store: new MemoryStore({ clock: clock.now }),
  realExpiry: false,
  cleanup: async () => {},
}));

test('memory: expired entries are swept on a later write once the purge interval has passed', async () => {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock: clock.now, purgeIntervalMs: 10_000 });
  const shard = userShard('x');
  await store.revokeAccess({ shard, now: clock.ms, jti: 'j', expiresAt: clock.ms + 5000 });
  assert.equal(await store.countStateEntries(), 1);
  clock.advance(10);
  await store.revokeAccess({ shard, now: clock.ms, jti: 'k', expiresAt: clock.ms + 60_000 });
  assert.equal(await store.countStateEntries(), 1, 'the expired entry went with the write that came after the interval');
});
