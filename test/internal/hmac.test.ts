/**
 * src/internal/hmac.ts, the prepared HMAC-SHA256 behind jwt, sealed and fernet:
 * the RFC 4231 §4 test cases, every HMAC-SHA256 case of Wycheproof
 * (C2SP/wycheproof testvectors_v1/hmac_sha256_test.json), and createHmac as an
 * oracle on many keys and message sizes (the scratch buffer grows).
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes as nodeRandomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { prepareHmacSha256 } from '../../src/internal/hmac.js';
import { hex, loadVectors } from '../vectors/load.js';

/** RFC 4231 §4.2-4.8: HMAC-SHA-256 of test cases 1-7 (case 5 is truncated to 128 bits, §4.6). */
const RFC4231: { name: string; key: Buffer; data: Buffer; mac: string }[] = [
  {
    name: '4.2 test case 1',
    key: Buffer.alloc(20, 0x0b),
    data: Buffer.from('Hi There'),
    mac: 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
  },
  {
    name: '4.3 test case 2 (a key shorter than the output)',
    key: Buffer.from('Jefe'),
    data: Buffer.from('what do ya want for nothing?'),
    mac: '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
  },
  {
    name: '4.4 test case 3',
    key: Buffer.alloc(20, 0xaa),
    data: Buffer.alloc(50, 0xdd),
    mac: '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe',
  },
  {
    name: '4.5 test case 4',
    key: hex('0102030405060708090a0b0c0d0e0f10111213141516171819'),
    data: Buffer.alloc(50, 0xcd),
    mac: '82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b',
  },
  {
    name: '4.6 test case 5 (truncated to 128 bits)',
    key: Buffer.alloc(20, 0x0c),
    data: Buffer.from('Test With Truncation'),
    mac: 'a3b6167473100ee06e0c796c2955552b',
  },
  {
    name: '4.7 test case 6 (a key longer than the block: hashed first)',
    key: Buffer.alloc(131, 0xaa),
    data: Buffer.from('Test Using Larger Than Block-Size Key - Hash Key First'),
    mac: '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
  },
  {
    name: '4.8 test case 7 (key and data longer than the block)',
    key: Buffer.alloc(131, 0xaa),
    data: Buffer.from(
      'This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.',
    ),
    mac: '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2',
  },
];

describe('RFC 4231 HMAC-SHA-256 test cases', () => {
  for (const c of RFC4231) {
    test(c.name, () => {
      const h = prepareHmacSha256(c.key);
      const full = h.mac(c.data);
      // Truncated outputs are the leftmost bits (RFC 4231 §4.6, RFC 2104 §5).
      assert.equal(full.subarray(0, c.mac.length / 2).toString('hex'), c.mac);
      if (c.mac.length === 64) assert.ok(h.verify(c.data, hex(c.mac)));
      // The string entry points hash UTF-8, which is the same bytes for the ASCII cases.
      if (c.mac.length === 64 && c.data.every((b) => b < 0x80)) {
        const text = c.data.toString('ascii');
        assert.equal(h.macBase64url(text), hex(c.mac).toString('base64url'));
        assert.ok(h.verifyBase64url(text, hex(c.mac).toString('base64url')));
      }
    });
  }
});

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
        const ok = full.subarray(0, tagBytes).equals(hex(t.tag));
        assert.equal(ok ? 'valid' : 'invalid', t.result, `tcId ${t.tcId} (${t.comment})`);
        // And the other three entry points agree with mac().
        const h = prepareHmacSha256(key);
        if (tagBytes === 32) {
          assert.equal(h.verify(msg, hex(t.tag)), t.result === 'valid', `tcId ${t.tcId}: verify`);
        }
        const text = msg.toString('latin1');
        const ofText = createHmac('sha256', key).update(text, 'utf8').digest();
        assert.equal(h.macBase64url(text), ofText.toString('base64url'), `tcId ${t.tcId}: macBase64url`);
        assert.ok(h.verifyBase64url(text, ofText.toString('base64url')), `tcId ${t.tcId}: verifyBase64url`);
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
    assert.deepEqual(first, createHmac('sha256', key).update(Buffer.from('héllo', 'utf8')).digest());
    assert.equal(h.macBase64url('héllo'), first.toString('base64url'));
    // Preparing does not consume or alter the caller's key.
    assert.equal(key.toString('hex'), '1e225cafb90339bba1b24076d4206c3e79c355805d851682bc818baa4f5a7779');
  });
});

function checkAgainstCreateHmac(): void {
  const sizes = [0, 1, 55, 56, 63, 64, 65, 119, 200, 959, 960, 1023, 1024, 1025, 3000, 10_000];
  for (const keyLen of [0, 1, 16, 32, 63, 64, 65, 100]) {
    const key = nodeRandomBytes(keyLen);
    const h = prepareHmacSha256(key);
    for (const n of sizes) {
      const bytes = nodeRandomBytes(n);
      const expected = createHmac('sha256', key).update(bytes).digest();
      assert.deepEqual(h.mac(bytes), expected, `key ${keyLen}, ${n} bytes`);
      assert.ok(h.verify(bytes, expected));
      // Strings are UTF-8, including characters of 2, 3 and 4 bytes.
      const text = 'aé€😀'.repeat(Math.ceil(n / 4)).slice(0, n);
      const expectedText = createHmac('sha256', key).update(text, 'utf8').digest();
      assert.deepEqual(h.mac(text), expectedText, `key ${keyLen}, string of ${n}`);
      assert.equal(h.macBase64url(text), expectedText.toString('base64url'));
      assert.ok(h.verifyBase64url(text, expectedText.toString('base64url')));
    }
    // After the scratch buffer grew, short messages still use the right key block, and
    // lengths seen before the growth are hashed from the new buffer (cached views).
    assert.deepEqual(h.mac('abc'), createHmac('sha256', key).update('abc').digest());
    for (const n of [1, 55, 200, 1024]) {
      const bytes = nodeRandomBytes(n);
      assert.deepEqual(h.mac(bytes), createHmac('sha256', key).update(bytes).digest(), `again: key ${keyLen}, ${n} bytes`);
    }
  }
  // More distinct lengths than the view cache holds.
  const key = nodeRandomBytes(32);
  const h = prepareHmacSha256(key);
  for (let n = 0; n < 300; n++) {
    const text = 'x'.repeat(n);
    assert.equal(h.macBase64url(text), createHmac('sha256', key).update(text).digest('base64url'), `length ${n}`);
  }
}

describe('prepareHmacSha256 against createHmac', () => {
  test('equals createHmac for keys of 0..100 bytes and messages of 0..10000 bytes (bytes and UTF-8 strings)', () => {
    checkAgainstCreateHmac();
  });

  test('verify and verifyBase64url refuse every wrong tag, and tags of the wrong size', () => {
    const key = nodeRandomBytes(32);
    const h = prepareHmacSha256(key);
    const tag = createHmac('sha256', key).update('message').digest();
    for (let i = 0; i < 32; i++) {
      const bad = Buffer.from(tag);
      bad[i] = (bad[i] as number) ^ 0x01;
      assert.equal(h.verify('message', bad), false);
      assert.equal(h.verifyBase64url('message', bad.toString('base64url')), false);
    }
    assert.equal(h.verify('message', tag.subarray(0, 16)), false);
    assert.equal(h.verify('message', Buffer.concat([tag, Buffer.alloc(1)])), false);
    assert.equal(h.verify('message', Buffer.alloc(0)), false);
    assert.equal(h.verifyBase64url('message', tag.toString('base64url').slice(0, 42)), false);
    assert.equal(h.verifyBase64url('message', `${tag.toString('base64url')}A`), false);
    assert.equal(h.verifyBase64url('message', ''), false);
    assert.equal(h.verify('other', tag), false);
    assert.ok(h.verify('message', tag));
  });

  test('mac() returns a new buffer each time (never the internal scratch)', () => {
    const h = prepareHmacSha256(Buffer.alloc(32, 1));
    const a = h.mac('a');
    const copy = Buffer.from(a);
    h.mac('b');
    assert.deepEqual(a, copy);
    a.fill(0);
    assert.deepEqual(h.mac('a'), copy);
  });
});
