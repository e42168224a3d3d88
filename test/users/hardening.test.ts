/**
 * The user service's password handling: hashes are upgraded at login
 * after the scrypt cost was raised, an unknown user costs what existing users
 * cost, and weak passwords are refused (NIST SP 800-63B §5.1.1.2).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openStore } from '../../src/stores/open.js';
import type { TokenStore, UserDirectory } from '../../src/stores/types.js';
import { hashParams } from '../../src/users/password.js';
import { checkPassword, createUserService, UserInputError } from '../../src/users/users.js';
import { dropSchema, PG_URL, QUICK, uniqueSchema } from '../stores/harness.js';
import { tempDir } from '../support/processes.js';

const OLD = { N: 1024, r: 8, p: 1, keyLength: 32 };
const NEW = { N: 2048, r: 8, p: 1, keyLength: 32 };
const PW = 'a long password';

describe('password rules', () => {
  test('common passwords, all-whitespace, too short and the username are refused with a clear message', async () => {
    const refused = async (password: string, message: RegExp, username?: string) => {
      await assert.rejects(checkPassword(password, username), (e: unknown) => {
        assert.ok(e instanceof UserInputError);
        assert.match(e.message, message);
        return true;
      });
    };
    await refused('12345678', /commonly used passwords/);
    await refused('password1', /commonly used passwords/);
    await refused('PassWord1', /commonly used passwords/);
    await refused('qwertyuiop', /commonly used passwords/);
    await refused('        ', /only spaces/);
    await refused('\t\t\t\t \n  ', /only spaces/);
    await refused('1234567', /at least 8 characters/);
    await refused('alice.smith', /not be the username/, 'Alice.Smith');
    await checkPassword(PW);
    await checkPassword('correct horse battery staple');
    await checkPassword('ünïcödé'.padEnd(8, 'x'));
  });

  test('user add and registration go through the rules', async () => {
    const store = await openStore('memory');
    const users = createUserService(store, { scrypt: OLD });
    await assert.rejects(users.add('carol', '12345678'), /commonly used/);
    await assert.rejects(users.add('carol', '        '), /only spaces/);
    assert.equal((await users.add('carol', PW)).username, 'carol');
    await store.close();
  });
});

const PG_SCHEMA = uniqueSchema('rehash');

describe('rehash at login after the cost was raised', () => {
  const stores: [string, () => Promise<TokenStore & UserDirectory>][] = [
    ['memory', () => openStore('memory')],
    ['sqlite', () => openStore(`sqlite:${join(tempDir(), 'users.db')}`)],
    // The quick loop needs no Redis or database server.
    ...(QUICK
      ? []
      : ([
          [
            'redis',
            () => openStore('redis://127.0.0.1:6379', { keyPrefix: `tessera:test:rehash:${process.pid}:${Date.now()}:` }),
          ],
          ['postgres', () => openStore(`${PG_URL}?schema=${PG_SCHEMA}`)],
        ] as [string, () => Promise<TokenStore & UserDirectory>][])),
  ];
  after(() => (QUICK ? undefined : dropSchema(PG_SCHEMA)));
  for (const [name, open] of stores) {
    test(`${name}: a successful login stores a hash with the configured parameters; a wrong password changes nothing`, async () => {
      const store = await open();
      try {
        await createUserService(store, { scrypt: OLD }).add('alice', PW);
        const before = (await store.getUser('alice'))?.passwordHash as string;
        const users = createUserService(store, { scrypt: NEW });
        assert.equal(await users.verify('alice', 'not the password'), null);
        assert.equal((await store.getUser('alice'))?.passwordHash, before);
        const user = await users.verify('alice', PW);
        assert.ok(user);
        const after = (await store.getUser('alice'))?.passwordHash as string;
        assert.notEqual(after, before);
        assert.equal(hashParams(after)?.N, NEW.N);
        assert.equal(user.passwordHash, after);
        assert.ok(await users.verify('alice', PW), 'the new hash verifies');
        assert.equal(await store.updatePasswordHash?.('nobody', after), false);
      } finally {
        if (store.kind === 'redis') {
          const { client, keyPrefix } = store as unknown as {
            client: { keys(p: string): Promise<string[]>; del(...k: string[]): Promise<number> };
            keyPrefix: string;
          };
          const keys = await client.keys(`${keyPrefix}*`);
          if (keys.length) await client.del(...keys);
        }
        await store.close();
      }
    });
  }

  test('after the cost was raised, a wrong password at an old-cost account costs what an unknown user costs (the configured work)', async () => {
    const store = await openStore('memory');
    const cheap = { N: 2 ** 10, r: 8, p: 1, keyLength: 32 };
    const dear = { N: 2 ** 15, r: 8, p: 1, keyLength: 32 }; // 32 times the work
    await createUserService(store, { scrypt: cheap }).add('alice', PW);
    const users = createUserService(store, { scrypt: dear });
    const time = async (fn: () => Promise<unknown>) => {
      const t0 = process.hrtime.bigint();
      await fn();
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    // Warm-up: the dummy hash is ready.
    await users.verify('alice', 'wrong password');
    await users.verify('mallory', 'wrong password');
    const wrong: number[] = [];
    const unknown: number[] = [];
    for (let i = 0; i < 9; i++) {
      wrong.push(await time(() => users.verify('alice', 'wrong password')));
      unknown.push(await time(() => users.verify('mallory', 'wrong password')));
    }
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    const ratio = median(unknown) / median(wrong);
    // Without the top-up of the old-cost check the ratio would be about 32.
    assert.ok(
      ratio < 4,
      `unknown/wrong median ratio ${ratio.toFixed(2)} (${median(unknown).toFixed(1)} vs ${median(wrong).toFixed(1)} ms)`,
    );
    await store.close();
  });
});
