/**
 * src/internal/crypto.ts beyond the Wycheproof AES-CBC vectors: the pooled
 * random bytes, the one-shot SHA-256 and the constant-time comparison. The
 * prepared HMAC has its own file (hmac.test.ts).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import * as internal from '../../src/internal/crypto.js';

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
  test('equals createHash(...).digest(base64url) for ASCII and UTF-8 strings', () => {
    const inputs = ['', 'a', 'tessera shard\0user-1', 'aé€😀'.repeat(50), 'x'.repeat(10_000)];
    const expected = inputs.map((s) => createHash('sha256').update(s, 'utf8').digest('base64url'));
    assert.deepEqual(inputs.map(internal.sha256Base64url), expected);
  });
});

describe('sha256Base64', () => {
  test('equals createHash(...).digest(base64), padding included, for ASCII and UTF-8 strings', () => {
    const inputs = ['', 'a', 'body{color:#000}', 'aé€😀'.repeat(50), 'x'.repeat(10_000)];
    const expected = inputs.map((s) => createHash('sha256').update(s, 'utf8').digest('base64'));
    assert.deepEqual(inputs.map(internal.sha256Base64), expected);
    assert.ok(expected.every((b) => b.length === 44 && b.endsWith('=')));
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

describe('constantTimeEqual', () => {
  test('different lengths are unequal, never a throw', () => {
    assert.equal(internal.constantTimeEqual(Buffer.alloc(32), Buffer.alloc(16)), false);
    assert.equal(internal.constantTimeEqual(Buffer.alloc(0), Buffer.alloc(0)), true);
    assert.equal(internal.constantTimeEqual(Buffer.from([1]), Buffer.from([2])), false);
    assert.equal(internal.constantTimeEqual(Buffer.from([7, 8]), Buffer.from([7, 8])), true);
  });
});
