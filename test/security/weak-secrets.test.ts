/**
 * NODE_ENV=production refuses low-entropy secrets (a
 * repeated byte, a base64url'd passphrase, few distinct bytes) with one line
 * pointing to `tessera keygen`; random keys pass; development still starts.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { generateSecret, weakSecretReason } from '../../src/keys.js';
import { parseConfig } from '../../src/server/config.js';
import { tempDir } from '../support/processes.js';

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64url');
const ZEROS = 'A'.repeat(43); // 32 zero bytes
const PASSPHRASE = b64('correct horse battery staple, my secret key!');
const FEW = b64(Buffer.from(Array.from({ length: 32 }, (_, i) => [1, 2, 3, 200][i % 4] as number)));

function refusedInProduction(env: NodeJS.ProcessEnv, message: RegExp): void {
  assert.throws(
    () => parseConfig({ NODE_ENV: 'production', ...env }),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.match(e.message, message);
      assert.match(e.message, /tessera keygen/);
      assert.ok(!e.message.includes('\n'), 'one line');
      return true;
    },
  );
}

describe('low-entropy secrets', () => {
  test('production refuses 32 zero bytes, a passphrase and few distinct bytes, naming the setting', () => {
    refusedInProduction({ TESSERA_SECRET: ZEROS }, /^TESSERA_SECRET looks low-entropy \(it is one byte repeated\)/);
    refusedInProduction({ TESSERA_SECRET: PASSPHRASE }, /^TESSERA_SECRET looks low-entropy \(it is printable text/);
    refusedInProduction({ TESSERA_SECRET: FEW }, /only 4 distinct byte values/);
    refusedInProduction(
      { TESSERA_KEYS: `new:${generateSecret()},old:${ZEROS}` },
      /^TESSERA_KEYS: key "old" \(#2\) looks low-entropy/,
    );
    const file = join(tempDir(), 'secret');
    writeFileSync(file, `${PASSPHRASE}\n`);
    refusedInProduction({ TESSERA_SECRET_FILE: file }, /^the secret in .*secret looks low-entropy/);
  });

  test('random keys pass in production; development accepts a weak key (tests and demos)', () => {
    for (let i = 0; i < 200; i++) assert.equal(weakSecretReason(Buffer.from(generateSecret(), 'base64url')), null);
    assert.ok(parseConfig({ NODE_ENV: 'production', TESSERA_SECRET: generateSecret(), TESSERA_ISSUER: 'https://a.test' }).keys);
    assert.ok(parseConfig({ TESSERA_SECRET: ZEROS }).keys);
  });
});
