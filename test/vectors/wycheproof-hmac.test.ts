/**
 * Every HMAC-SHA256 case of Wycheproof (C2SP/wycheproof testvectors_v1/hmac_sha256_test.json)
 * through prepareHmacSha256, the primitive behind jwt, sealed and fernet.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { constantTimeEqual, hmacSha256, prepareHmacSha256 } from '../../src/internal/crypto.js';
import { hex, loadVectors } from './load.js';

interface MacTest {
  tcId: number;
  comment: string;
  key: string;
  msg: string;
  tag: string;
  result: 'valid' | 'invalid';
}
interface MacGroup {
  keySize: number;
  tagSize: number;
  tests: MacTest[];
}
const file = loadVectors<{ numberOfTests: number; testGroups: MacGroup[] }>('wycheproof_hmac_sha256_test.json');

describe('Wycheproof HMAC-SHA256', () => {
  const all = file.testGroups.flatMap((g) => g.tests);
  test('all 174 cases are present (66 valid, 108 invalid)', () => {
    assert.equal(all.length, file.numberOfTests);
    assert.equal(all.length, 174);
    assert.equal(all.filter((t) => t.result === 'valid').length, 66);
  });

  for (const group of file.testGroups) {
    test(`keySize ${group.keySize}, tagSize ${group.tagSize}: ${group.tests.length} cases`, () => {
      const tagBytes = group.tagSize / 8;
      let checked = 0;
      for (const t of group.tests) {
        const key = hex(t.key);
        assert.equal(key.length * 8, group.keySize, `tcId ${t.tcId}: key size`);
        const msg = hex(t.msg);
        const full = prepareHmacSha256(key).mac(msg);
        assert.equal(full.length, 32);
        // Tag sizes below 256 bits are the leftmost bytes of the MAC (RFC 2104 §5).
        const computed = full.subarray(0, tagBytes);
        const ok = constantTimeEqual(computed, hex(t.tag));
        assert.equal(ok ? 'valid' : 'invalid', t.result, `tcId ${t.tcId} (${t.comment})`);
        // The prepared (state-copying) MAC must agree with a plain createHmac, for strings too.
        assert.deepEqual(full, hmacSha256(key, msg), `tcId ${t.tcId}: prepared vs one-shot`);
        checked++;
      }
      assert.equal(checked, group.tests.length);
    });
  }

  test('a prepared key is reusable: the same MAC on every call, strings as UTF-8', () => {
    const key = hex('1e225cafb90339bba1b24076d4206c3e79c355805d851682bc818baa4f5a7779');
    const h = prepareHmacSha256(key);
    const first = h.mac('héllo');
    for (let i = 0; i < 3; i++) assert.deepEqual(h.mac('héllo'), first);
    assert.deepEqual(first, hmacSha256(key, Buffer.from('héllo', 'utf8')));
    assert.equal(h.macBase64url('héllo'), first.toString('base64url'));
    // Preparing does not consume or alter the caller's key.
    assert.equal(key.toString('hex'), '1e225cafb90339bba1b24076d4206c3e79c355805d851682bc818baa4f5a7779');
  });

  test('constantTimeEqual: different lengths are unequal, never a throw', () => {
    assert.equal(constantTimeEqual(Buffer.alloc(32), Buffer.alloc(16)), false);
    assert.equal(constantTimeEqual(Buffer.alloc(0), Buffer.alloc(0)), true);
    assert.equal(constantTimeEqual(Buffer.from([1]), Buffer.from([2])), false);
  });
});
