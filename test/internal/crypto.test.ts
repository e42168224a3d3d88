/**
 * src/internal/crypto.ts beyond the Wycheproof vectors: the prepared HMAC against
 * createHmac on many keys and message sizes (its scratch buffer grows), its
 * verify helpers, the Node < 20.12 fallback path, and the pooled randomBytes.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac, randomBytes as nodeRandomBytes } from 'node:crypto';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { describe, test } from 'node:test';
import * as internal from '../../src/internal/crypto.js';

const require = createRequire(import.meta.url);

function checkAgainstCreateHmac(mod: typeof internal): void {
  const sizes = [0, 1, 55, 56, 63, 64, 65, 119, 200, 959, 960, 1023, 1024, 1025, 3000, 10_000];
  for (const keyLen of [0, 1, 16, 32, 63, 64, 65, 100]) {
    const key = nodeRandomBytes(keyLen);
    const h = mod.prepareHmacSha256(key);
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
  const h = mod.prepareHmacSha256(key);
  for (let n = 0; n < 300; n++) {
    const text = 'x'.repeat(n);
    assert.equal(h.macBase64url(text), createHmac('sha256', key).update(text).digest('base64url'), `length ${n}`);
  }
}

describe('prepareHmacSha256', () => {
  test('equals createHmac for keys of 0..100 bytes and messages of 0..10000 bytes (bytes and UTF-8 strings)', () => {
    checkAgainstCreateHmac(internal);
  });

  test('verify and verifyBase64url refuse every wrong tag, and tags of the wrong size', () => {
    const key = nodeRandomBytes(32);
    const h = internal.prepareHmacSha256(key);
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
    const h = internal.prepareHmacSha256(Buffer.alloc(32, 1));
    const a = h.mac('a');
    const copy = Buffer.from(a);
    h.mac('b');
    assert.deepEqual(a, copy);
    a.fill(0);
    assert.deepEqual(h.mac('a'), copy);
  });

  test('the fallback for Node < 20.12 (no crypto.hash) gives the same MACs', async () => {
    const cjs = require('node:crypto') as { hash?: unknown };
    const saved = cjs.hash;
    cjs.hash = undefined;
    syncBuiltinESMExports();
    let fallback: typeof internal;
    try {
      fallback = (await import(`../../src/internal/crypto.js?no-one-shot-hash=${Date.now()}`)) as typeof internal;
    } finally {
      cjs.hash = saved;
      syncBuiltinESMExports();
    }
    assert.notEqual(fallback, internal, 'a fresh instance of the module');
    checkAgainstCreateHmac(fallback);
  });
});

describe('randomBytes (pooled)', () => {
  test('gives the requested number of bytes, in buffers the caller owns', () => {
    for (const n of [0, 1, 12, 16, 32, 255, 256, 257, 1000, 5000]) assert.equal(internal.randomBytes(n).length, n);
    const a = internal.randomBytes(16);
    const copy = Buffer.from(a);
    internal.randomBytes(16);
    assert.deepEqual(a, copy, 'a later call does not overwrite an earlier result');
  });

  test('never repeats across many calls that cross the pool boundary', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      const hex = internal.randomBytes(16 + (i % 3)).toString('hex');
      assert.ok(!seen.has(hex), `repeat at call ${i}`);
      seen.add(hex);
    }
  });

  test('looks random: about half of the bits are set over 64 KiB', () => {
    let ones = 0;
    let total = 0;
    for (let i = 0; i < 2048; i++) {
      for (const byte of internal.randomBytes(32)) {
        let b = byte;
        while (b) {
          ones += b & 1;
          b >>= 1;
        }
        total += 8;
      }
    }
    // 524288 bits: the standard deviation of the count is ~362, so ±5000 never fails by chance.
    assert.ok(Math.abs(ones - total / 2) < 5000, `${ones} of ${total}`);
  });
});

describe('sha256Base64url', () => {
  test('equals createHash(...).digest(base64url) for ASCII and UTF-8 strings, and with the fallback', async () => {
    const inputs = ['', 'a', 'tessera shard\0user-1', 'aé€😀'.repeat(50), 'x'.repeat(10_000)];
    const expected = inputs.map((s) => createHash('sha256').update(s, 'utf8').digest('base64url'));
    assert.deepEqual(inputs.map(internal.sha256Base64url), expected);
    const cjs = require('node:crypto') as { hash?: unknown };
    const saved = cjs.hash;
    cjs.hash = undefined;
    syncBuiltinESMExports();
    let fallback: typeof internal;
    try {
      fallback = (await import(`../../src/internal/crypto.js?sha256-fallback=${Date.now()}`)) as typeof internal;
    } finally {
      cjs.hash = saved;
      syncBuiltinESMExports();
    }
    assert.deepEqual(inputs.map(fallback.sha256Base64url), expected);
  });
});

describe('randomBase64url (pooled)', () => {
  test('canonical unpadded base64url of n bytes, never repeating, across the pool boundary and above it', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const id = internal.randomBase64url(16);
      assert.equal(id.length, 22);
      assert.equal(Buffer.from(id, 'base64url').toString('base64url'), id);
      assert.ok(!seen.has(id));
      seen.add(id);
    }
    for (const n of [0, 1, 32, 255, 256, 257, 1000]) {
      const s = internal.randomBase64url(n);
      assert.equal(Buffer.from(s, 'base64url').length, n);
      assert.match(s, /^[A-Za-z0-9_-]*$/);
    }
  });
});
