/**
 * The scrypt work of a login does not tell whether the username exists, and no
 * client can steer it: an unknown user costs the configured parameters, whatever
 * the mix of recent logins; a wrong password at an account stored with older,
 * weaker parameters is topped up to the same work. Counted as N·r·p over the calls
 * to node:crypto's scrypt (a spy: src/internal/crypto.ts imports it as a live ESM
 * binding, which syncBuiltinESMExports() points at the spy; the real scrypt runs).
 * The timings over HTTP: test/reliability/timing.test.ts.
 */
import assert from 'node:assert/strict';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { after, before, describe, test } from 'node:test';
import { openStore } from '../../src/stores/open.js';
import type { TokenStore, UserDirectory } from '../../src/stores/types.js';
import { hashParams, hashPassword } from '../../src/users/password.js';
import { createUserService, type UserService } from '../../src/users/users.js';

const require = createRequire(import.meta.url);
const OLD = { N: 2 ** 8, r: 8, p: 1, keyLength: 32 };
const NOW = { N: 2 ** 11, r: 8, p: 1, keyLength: 32 };
const work = (p: { N: number; r: number; p: number }) => p.N * p.r * p.p;
const PW = 'a long password';

describe('the unknown-user cost is fixed at the configured parameters', () => {
  const nodeCrypto = require('node:crypto') as typeof import('node:crypto');
  let spy: ReturnType<typeof import('node:test').mock.method>;
  let store: TokenStore & UserDirectory;
  let users: UserService;
  before(async () => {
    const { mock } = await import('node:test');
    spy = mock.method(nodeCrypto, 'scrypt');
    syncBuiltinESMExports();
    store = await openStore('memory');
    // Accounts stored before the cost was raised.
    for (const name of ['old-attacker', 'old-dormant'])
      await store.createUser({ id: `u_${name}`, username: name, passwordHash: await hashPassword(PW, OLD), createdAt: 0 });
    users = createUserService(store, { scrypt: NOW });
    await users.add('current', PW);
    await users.verify('warm-up', 'x'); // the dummy hash is ready
  });
  after(async () => {
    spy.mock.restore();
    syncBuiltinESMExports();
    await store.close();
  });

  /** The scrypt work (N·r·p summed over its calls) of one verify. */
  const workOf = async (username: string, password: string) => {
    const before = spy.mock.callCount();
    await users.verify(username, password);
    return spy.mock.calls
      .slice(before)
      .map((c) => c.arguments[3] as { N: number; r: number; p: number })
      .reduce((sum, o) => sum + work(o), 0);
  };

  test('after 100 logins to an old-cost account, an unknown user still costs the configured work', async () => {
    for (let i = 0; i < 100; i++) await users.verify('old-attacker', 'wrong password');
    for (let i = 0; i < 5; i++) assert.equal(await workOf(`nobody${i}`, 'wrong password'), work(NOW));
  });

  test('a wrong password costs the configured work at an old-cost account, a current one and none', async () => {
    assert.equal(await workOf('old-dormant', 'wrong password'), work(NOW));
    assert.equal(await workOf('current', 'wrong password'), work(NOW));
    assert.equal(await workOf('nobody', 'wrong password'), work(NOW));
    assert.equal(await workOf('bad name!', 'wrong password'), work(NOW));
  });

  test('a corrupt stored hash costs the configured work too, and never matches', async () => {
    await store.createUser({ id: 'u_corrupt', username: 'corrupt', passwordHash: 'scrypt$garbage', createdAt: 0 });
    assert.equal(await workOf('corrupt', PW), work(NOW));
    assert.equal(await users.verify('corrupt', PW), null);
  });

  test('the right password at an old-cost account logs in and is rehashed with the configured parameters', async () => {
    const user = await users.verify('old-dormant', PW);
    assert.ok(user);
    assert.deepEqual(hashParams((await store.getUser('old-dormant'))?.passwordHash ?? ''), NOW);
    assert.equal(await workOf('old-dormant', 'wrong password'), work(NOW));
  });
});
