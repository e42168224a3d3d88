/**
 * userShard (src/tokens/opaque.ts): a user's shard is the first 8 base64url characters of
 * SHA-256("tessera shard\0" + sub), the same on every call, whether it comes from the memo
 * of recent users or is computed again after the memo was cleared (over 10,000 users).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { userShard } from '../../src/tokens/opaque.js';

const expected = (sub: string) => createHash('sha256').update(`tessera shard\0${sub}`).digest('base64url').slice(0, 8);

test('userShard: SHA-256 derived, stable across the memo and its clearing', () => {
  const subs = ['alice', 'u_u_TG5BK8P4pSG7Vy', 'ü', ''];
  for (const sub of subs) assert.equal(userShard(sub), expected(sub), sub);
  for (const sub of subs) assert.equal(userShard(sub), expected(sub), `${sub}, again`);
  // More users than the memo holds: it is cleared on the way, answers stay the same.
  for (let i = 0; i < 25_000; i++) {
    const sub = `user-${i}`;
    if (i % 997 === 0) assert.equal(userShard(sub), expected(sub), sub);
    else userShard(sub);
  }
  for (const sub of subs) assert.equal(userShard(sub), expected(sub), `${sub}, after 25,000 others`);
  assert.equal(userShard('user-3'), expected('user-3'));
});
