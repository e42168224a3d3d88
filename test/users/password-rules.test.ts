/**
 * NIST SP 800-63B §5.1.1.2: repetitive or sequential passwords are refused with the
 * code every password rule uses (`invalid_password`), by the user service, by
 * `POST /auth/register` and by `tessera user add`; ordinary passwords are not.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { checkPassword, isRepetitiveOrSequential, UserInputError } from '../../src/users/users.js';
import { E2E } from '../e2e/helpers.js';
import { setup } from '../http/helpers.js';
import { PASSWORD, runCli, tempDir } from '../support/processes.js';

const TRIVIAL = [
  'aaaaaaaa',
  'AAAAAAAAAAAA',
  'abababab',
  'abcabcabc',
  'xyzwxyzw',
  'abcdefgh',
  'ABCDEFGHIJ',
  'hgfedcba',
  '23456789',
  '98765432',
  '1234abcd',
  'aaaabbbb',
  'qwertyui',
  'QWERTYUIOP',
  'iuytrewq',
  'asdfghjk',
  'zxcvbnm,',
  '1qaz2wsx3edc',
  'qwertzui',
  'azertyui',
];
const FINE = [PASSWORD, 'a long password', 'Tr0ub4dor&3x', 'ünïcödéx', 'aabbccddee', 'abcdxyz12', 'plum-fork-river'];

describe('repetitive or sequential passwords', () => {
  test('recognised: repeated units, steps of -1/0/+1 in up to two runs, keyboard rows and columns', () => {
    for (const p of TRIVIAL) assert.equal(isRepetitiveOrSequential(p), true, p);
    for (const p of FINE) assert.equal(isRepetitiveOrSequential(p), false, p);
  });

  test('refused by the password rules with the code invalid_password', async () => {
    for (const p of ['abcdefgh', 'aaaaaaaa', 'qwertyui', 'hgfedcba', 'abababab']) {
      await assert.rejects(checkPassword(p), (e: unknown) => {
        assert.ok(e instanceof UserInputError, p);
        assert.equal(e.code, 'invalid_password', p);
        assert.match(e.message, /repetitive or sequential|commonly used/, p);
        return true;
      });
    }
    for (const p of FINE) await checkPassword(p);
  });

  test('POST /auth/register refuses them (400) and accepts an ordinary password', async () => {
    const h = await setup({ app: { allowRegister: true } });
    try {
      const reg = (username: string, password: string) =>
        h.app.inject({ method: 'POST', url: '/auth/register', payload: { username, password } });
      const refused = await reg('dora', 'abcdefgh');
      assert.equal(refused.statusCode, 400);
      assert.match(refused.json().error_description, /repetitive or sequential/);
      assert.equal((await reg('dora', 'aaaaaaaaaa')).statusCode, 400);
      assert.equal((await reg('dora', PASSWORD)).statusCode, 201);
    } finally {
      await h.close();
    }
  });

  test('tessera user add refuses them (exit 1)', async () => {
    const env = { TESSERA_STORE: `sqlite:${join(tempDir(), 'users.db')}`, TESSERA_SCRYPT_N: '1024' };
    const r = await runCli(E2E, ['user', 'add', 'erin'], env, 'abcdefgh\n');
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /repetitive or sequential/);
    const ok = await runCli(E2E, ['user', 'add', 'erin'], env, `${PASSWORD}\n`);
    assert.equal(ok.code, 0, ok.stderr);
  });
});
