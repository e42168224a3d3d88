/** `tessera user add`: password from stdin, exit statuses, help. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { PASSWORD, runCli, tempDir } from '../support/processes.js';
import { E2E } from './helpers.js';

describe('tessera user add', () => {
  const env = { TESSERA_STORE: `sqlite:${join(tempDir(), 'users.db')}`, TESSERA_SCRYPT_N: '1024' };

  test('reads the first line of stdin; a taken name (any case) exits 1', async () => {
    const ok = await runCli(E2E, ['user', 'add', 'Carol'], env, `${PASSWORD}\nignored second line\n`);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^created user carol \(id u_[A-Za-z0-9_-]+\) in sqlite:/);
    assert.ok(!ok.stdout.includes(PASSWORD) && !ok.stderr.includes(PASSWORD));
    const taken = await runCli(E2E, ['user', 'add', 'CAROL'], env, PASSWORD);
    assert.equal(taken.code, 1);
    assert.match(taken.stderr, /^tessera: user "carol" already exists\n$/);
  });

  test('bad name or short password exits 1; usage errors exit 2', async () => {
    const short = await runCli(E2E, ['user', 'add', 'dave'], env, 'short');
    assert.equal(short.code, 1);
    assert.match(short.stderr, /password must have at least 8 characters/);
    const name = await runCli(E2E, ['user', 'add', 'no/slash'], env, PASSWORD);
    assert.equal(name.code, 1);
    assert.match(name.stderr, /username must be 1-64 characters/);
    const none = await runCli(E2E, ['user', 'add'], env, PASSWORD);
    assert.equal(none.code, 2);
    const other = await runCli(E2E, ['user', 'delete', 'x'], env);
    assert.equal(other.code, 2);
    const help = await runCli(E2E, ['user', 'add', '--help'], env);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /password is read from stdin/);
  });
});
