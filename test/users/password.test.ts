/** Password hashing (scrypt) and the user directory behind the password grant. */
import assert from 'node:assert/strict';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { describe, mock, test } from 'node:test';
import { openStore } from '../../src/stores/open.js';
import { hashPassword, needsRehash, verifyPassword } from '../../src/users/password.js';
import { createUserService, UserInputError } from '../../src/users/users.js';

const require = createRequire(import.meta.url);
const FAST = { N: 1024, r: 8, p: 1, keyLength: 32 };

describe('hashPassword / verifyPassword', () => {
  test('encoded scrypt$N$r$p$salt$hash; verifies; per-user random salt', async () => {
    const a = await hashPassword('correct horse', FAST);
    const b = await hashPassword('correct horse', FAST);
    assert.match(a, /^scrypt\$1024\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a, b, 'a fresh salt every time');
    assert.equal(await verifyPassword('correct horse', a), true);
    assert.equal(await verifyPassword('correct horsE', a), false);
    assert.equal(await verifyPassword('', a), false);
  });

  test('Unicode passwords compare after NFC normalisation (RFC 8265)', async () => {
    const h = await hashPassword('caf\u00e9-password', FAST);
    assert.equal(await verifyPassword('cafe\u0301-password', h), true);
  });

  test('a corrupt or hostile stored hash never matches and never throws', async () => {
    const good = await hashPassword('pw-pw-pw-pw', FAST);
    const parts = good.split('$');
    const bad = [
      '',
      'plain',
      'bcrypt$2b$10$abc',
      good.replace('scrypt', 'Scrypt'),
      [...parts.slice(0, 1), '1000', ...parts.slice(2)].join('$'), // N not a power of two
      [...parts.slice(0, 1), String(2 ** 30), ...parts.slice(2)].join('$'), // memory bomb
      [...parts.slice(0, 2), '999', ...parts.slice(3)].join('$'), // r out of range
      [...parts.slice(0, 4), 'not base64!', parts[5]].join('$'),
      [...parts.slice(0, 5), `${parts[5]}=`].join('$'),
      `${good}$extra`,
    ];
    for (const h of bad) assert.equal(await verifyPassword('pw-pw-pw-pw', h), false, h);
  });

  test('needsRehash when the stored cost is below the current one', async () => {
    const h = await hashPassword('pw-pw-pw-pw', FAST);
    assert.equal(needsRehash(h, FAST), false);
    assert.equal(needsRehash(h, { ...FAST, N: 2048 }), true);
    assert.equal(needsRehash('garbage', FAST), true);
  });

  test('out-of-range parameters are refused when hashing', async () => {
    await assert.rejects(hashPassword('x', { ...FAST, N: 1000 }), TypeError);
  });
});

describe('createUserService', () => {
  test('add, verify, case-insensitive names, duplicates and input rules', async () => {
    const store = await openStore('memory');
    const users = createUserService(store, { scrypt: FAST });
    const alice = await users.add('Alice', 'a long password');
    assert.equal(alice.username, 'alice');
    assert.match(alice.id, /^u_[A-Za-z0-9_-]{16}$/);
    assert.equal((await users.verify('ALICE', 'a long password'))?.id, alice.id);
    assert.equal(await users.verify('alice', 'wrong password'), null);
    assert.equal(await users.verify('nobody', 'a long password'), null);
    assert.equal(await users.verify('bad name!', 'a long password'), null);
    assert.equal(await users.verify('alice', 'x'.repeat(5000)), null);
    await assert.rejects(users.add('alice', 'another password'), UserInputError);
    await assert.rejects(users.add('has space', 'a long password'), UserInputError);
    await assert.rejects(users.add('', 'a long password'), UserInputError);
    await assert.rejects(users.add('x'.repeat(65), 'a long password'), UserInputError);
    await assert.rejects(users.add('bob', 'short'), UserInputError);
    await store.close();
  });

  test('an unknown user runs the same scrypt as a wrong password: same parameters, against a dummy hash (no enumeration by timing)', async () => {
    // A spy on node:crypto's scrypt: src/internal/crypto.ts imports it as a live ESM
    // binding, which syncBuiltinESMExports() points at the spy (the real scrypt still
    // runs). Whether the two paths also take the same time is measured statistically,
    // over HTTP, in test/reliability/timing.test.ts; one sample here would be flaky.
    const nodeCrypto = require('node:crypto') as typeof import('node:crypto');
    const spy = mock.method(nodeCrypto, 'scrypt');
    syncBuiltinESMExports();
    const store = await openStore('memory');
    try {
      const users = createUserService(store, { scrypt: FAST });
      await users.add('alice', 'a long password');
      await users.verify('warm-up', 'x'); // the dummy hash is ready after the first call
      /** What scrypt was called with: [password, salt, key length, options]. */
      type Call = [string | Uint8Array, Uint8Array, number, { N: number; r: number; p: number; maxmem: number }];
      const callsOf = async (fn: () => Promise<unknown>): Promise<Call[]> => {
        const before = spy.mock.callCount();
        await fn();
        return spy.mock.calls.slice(before).map((c) => c.arguments.slice(0, 4) as Call);
      };
      const wrong = await callsOf(() => users.verify('alice', 'wrong password'));
      const unknown = await callsOf(() => users.verify('nobody', 'wrong password'));
      const badName = await callsOf(() => users.verify('bad name!', 'wrong password'));
      const tooLong = await callsOf(() => users.verify('nobody', 'x'.repeat(5000)));
      for (const [label, calls] of Object.entries({ wrong, unknown, badName, tooLong })) {
        assert.equal(calls.length, 1, `${label}: exactly one scrypt`);
      }
      const [w] = wrong as [Call];
      const aliceSalt = Buffer.from((await store.getUser('alice'))!.passwordHash.split('$')[4]!, 'base64url');
      assert.deepEqual(Buffer.from(w[1]), aliceSalt, "a wrong password is checked against the user's own hash");
      assert.equal(w[0], 'wrong password');
      for (const [label, calls] of Object.entries({ unknown, badName, tooLong })) {
        const [c] = calls as [Call];
        assert.equal(c[2], w[2], `${label}: same key length`);
        assert.deepEqual(c[3], w[3], `${label}: same N, r, p and maxmem`);
        assert.equal(c[1].length, w[1].length, `${label}: a salt of the same size`);
        assert.notDeepEqual(Buffer.from(c[1]), aliceSalt, `${label}: the dummy hash, not a real user's`);
      }
      // Every unknown user is checked against the one dummy hash (made once, with the same parameters).
      assert.deepEqual(Buffer.from((unknown[0] as Call)[1]), Buffer.from((badName[0] as Call)[1]));
      assert.deepEqual(Buffer.from((unknown[0] as Call)[1]), Buffer.from((tooLong[0] as Call)[1]));
      assert.equal((unknown[0] as Call)[0], 'wrong password', 'the password given is hashed, not a constant');
      assert.equal((tooLong[0] as Call)[0], '', 'an over-long password is not hashed (bounded work), but scrypt still runs');
    } finally {
      spy.mock.restore();
      syncBuiltinESMExports();
      await store.close();
    }
  });
});
