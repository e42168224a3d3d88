/**
 * Every AES-CBC-PKCS5 case of Wycheproof (C2SP/wycheproof testvectors_v1/aes_cbc_pkcs5_test.json)
 * through aesCbcEncrypt / aesCbcDecrypt (sealed uses AES-256, fernet AES-128).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { aesCbcDecrypt, aesCbcEncrypt } from '../../src/internal/crypto.js';
import { hex, loadVectors } from './load.js';

interface CbcTest {
  tcId: number;
  comment: string;
  flags: string[];
  key: string;
  iv: string;
  msg: string;
  ct: string;
  result: 'valid' | 'invalid';
}
const file = loadVectors<{ numberOfTests: number; testGroups: { keySize: number; tests: CbcTest[] }[] }>(
  'wycheproof_aes_cbc_pkcs5_test.json',
);

describe('Wycheproof AES-CBC-PKCS5', () => {
  const all = file.testGroups.flatMap((g) => g.tests);
  test('all 216 cases are present (72 valid, 141 BadPadding, 3 NoPadding)', () => {
    assert.equal(all.length, file.numberOfTests);
    assert.equal(all.length, 216);
    assert.equal(all.filter((t) => t.result === 'valid').length, 72);
    assert.equal(all.filter((t) => t.flags.includes('BadPadding')).length, 141);
    assert.equal(all.filter((t) => t.flags.includes('NoPadding')).length, 3);
  });

  for (const group of file.testGroups) {
    test(`keySize ${group.keySize}: ${group.tests.length} cases`, () => {
      let valid = 0;
      let invalid = 0;
      for (const t of group.tests) {
        const key = hex(t.key);
        const iv = hex(t.iv);
        assert.equal(key.length * 8, group.keySize);
        const label = `tcId ${t.tcId} (${t.comment})`;
        if (t.result === 'valid') {
          assert.equal(aesCbcEncrypt(key, iv, hex(t.msg)).toString('hex'), t.ct, `${label}: encrypt`);
          const pt = aesCbcDecrypt(key, iv, hex(t.ct));
          assert.ok(pt, `${label}: decrypt refused a valid ciphertext`);
          assert.equal(pt.toString('hex'), t.msg, `${label}: decrypt`);
          valid++;
        } else {
          assert.equal(aesCbcDecrypt(key, iv, hex(t.ct)), null, `${label}: must be refused`);
          invalid++;
        }
      }
      assert.equal(valid + invalid, group.tests.length);
      assert.ok(valid > 0 && invalid > 0);
    });
  }

  test('ciphertext lengths that are not whole blocks are refused without calling the cipher', () => {
    const key = Buffer.alloc(16, 1);
    const iv = Buffer.alloc(16, 2);
    const ct = aesCbcEncrypt(key, iv, Buffer.from('sixteen bytes!!!'));
    assert.equal(ct.length, 32);
    assert.equal(aesCbcDecrypt(key, iv, ct.subarray(0, 31)), null);
    assert.equal(aesCbcDecrypt(key, iv, ct.subarray(0, 0)), null);
    assert.equal(aesCbcDecrypt(key, iv, Buffer.concat([ct, Buffer.alloc(1)])), null);
  });

  test('a key of a size AES does not have is a programming error (RangeError)', () => {
    assert.throws(() => aesCbcEncrypt(Buffer.alloc(20), Buffer.alloc(16), Buffer.alloc(1)), RangeError);
  });
});
