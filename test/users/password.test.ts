/** Password hashing (scrypt) and the user directory behind the password grant. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { openStore } from '../../src/stores/open.js';
import { hashPassword, needsRehash, verifyPassword } from '../../src/users/password.js';
import { createUserService, UserInputError } from '../../src/users/users.js';

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

  test('an unknown user costs the same scrypt work as a wrong password (no enumeration by timing)', async () => {
    const store = await openStore('memory');
    const params = { N: 2 ** 14, r: 8, p: 1, keyLength: 32 };
    const users = createUserService(store, { scrypt: params });
    await users.add('alice', 'a long password');
    await users.verify('warm-up', 'x'); // the dummy hash is ready after the first call
    // Interleaved, so that load from other test files hits both series alike.
    const wrongTimes: number[] = [];
    const unknownTimes: number[] = [];
    const time = async (fn: () => Promise<unknown>) => {
      const t0 = process.hrtime.bigint();
      await fn();
      return Number(process.hrtime.bigint() - t0);
    };
    for (let i = 0; i < 9; i++) {
      wrongTimes.push(await time(() => users.verify('alice', 'wrong password')));
      unknownTimes.push(await time(() => users.verify('nobody', 'wrong password')));
    }
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    const wrong = median(wrongTimes);
    const unknown = median(unknownTimes);
    const ratio = unknown / wrong;
    assert.ok(ratio > 0.5 && ratio < 2, `unknown/wrong time ratio ${ratio.toFixed(2)}`);
    // And both are real scrypt work, not a shortcut.
    const t0 = process.hrtime.bigint();
    await hashPassword('x', params);
    const oneHash = Number(process.hrtime.bigint() - t0);
    assert.ok(unknown > oneHash * 0.5, 'an unknown user runs scrypt');
    await store.close();
  });
});
