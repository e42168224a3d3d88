/**
 * createCodec options and defaults that every format must honour.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createCodec, SELF_CONTAINED_FORMATS } from '../../src/tokens/codec.js';
import { codeOf } from '../support/codes.js';

const SECRET = Buffer.alloc(32, 0x33);
const NOW = 1_750_000_000;
const clock = () => NOW * 1000;

for (const format of SELF_CONTAINED_FORMATS) {
  describe(`${format} codec`, () => {
    test('maxTokenLength is honoured, below and above the 8192 default', () => {
      const big = createCodec({ format, secret: SECRET, clock, maxTokenLength: 50_000 });
      const token = big.encode({ sub: 'alice', blob: 'x'.repeat(9000) });
      assert.ok(token.length > 8192);
      assert.equal(
        codeOf(() => big.decode(token, { now: NOW * 1000 })),
        'accepted',
      );
      assert.equal(
        codeOf(() => createCodec({ format, secret: SECRET, clock }).decode(token, { now: NOW * 1000 })),
        'malformed',
      );
      const small = createCodec({ format, secret: SECRET, clock });
      const short = small.encode({ sub: 'alice' });
      const tight = (n: number) => createCodec({ format, secret: SECRET, clock, maxTokenLength: n });
      assert.equal(
        codeOf(() => tight(short.length).decode(short, { now: NOW * 1000 })),
        'accepted',
      );
      assert.equal(
        codeOf(() => tight(short.length - 1).decode(short, { now: NOW * 1000 })),
        'malformed',
      );
    });

    test('encode fills iat, exp (iat + ttl) and a random jti, and keeps usable given values', () => {
      const codec = createCodec({ format, secret: SECRET, clock, ttlSeconds: 60 });
      const a = codec.decode(codec.encode({ sub: 'alice' }), { now: NOW * 1000 });
      assert.deepEqual([a.iat, a.exp, typeof a.jti], [NOW, NOW + 60, 'string']);
      assert.match(a.jti as string, /^[A-Za-z0-9_-]{22}$/);
      assert.notEqual(codec.decode(codec.encode({ sub: 'alice' }), { now: NOW * 1000 }).jti, a.jti);
      const given = { sub: 'bob', iat: NOW - 10, exp: NOW + 5, jti: 'given', extra: [1, { x: null }] };
      assert.deepEqual(codec.decode(codec.encode(given), { now: NOW * 1000 }), given);
    });

    test('encode replaces unusable iat / exp / jti (non-numeric iat, null or undefined exp and jti)', () => {
      const codec = createCodec({ format, secret: SECRET, clock, ttlSeconds: 60 });
      const unusable = JSON.parse('{"sub":"carol","iat":"yesterday","exp":null,"jti":null}');
      const claims = codec.decode(codec.encode(unusable), { now: NOW * 1000 });
      assert.equal(claims.iat, NOW);
      assert.equal(claims.exp, NOW + 60);
      assert.equal(typeof claims.jti, 'string');
      // exp is computed from the given numeric iat.
      assert.equal(codec.decode(codec.encode({ sub: 'carol', iat: NOW - 30 }), { now: NOW * 1000 }).exp, NOW + 30);
      // The caller's object is not modified.
      const input = { sub: 'dave' };
      codec.encode(input);
      assert.deepEqual(input, { sub: 'dave' });
    });

    test('a "__proto__" claim stays a plain claim (no prototype change on encode or decode)', () => {
      const codec = createCodec({ format, secret: SECRET, clock });
      const input = JSON.parse('{"sub":"eve","__proto__":{"admin":true}}');
      const out = codec.decode(codec.encode(input), { now: NOW * 1000 });
      assert.equal(Object.getPrototypeOf(out), Object.prototype);
      assert.equal((out as { admin?: unknown }).admin, undefined);
      assert.deepEqual(Object.getOwnPropertyDescriptor(out, '__proto__')?.value, { admin: true });
    });
  });
}
