/**
 * Token-type confusion (RFC 8725 §2.8, §3.11): an access token is never accepted
 * where a refresh token is required, nor the reverse, for every self-contained
 * format; and a token of one format is never accepted by another format's codec.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createCodec, SELF_CONTAINED_FORMATS } from '../../src/tokens/codec.js';
import { codeOf } from '../support/codes.js';

const SECRET = Buffer.alloc(32, 0x2a);
const NOW = 1_750_000_000;
const clock = () => NOW * 1000;

for (const format of SELF_CONTAINED_FORMATS) {
  describe(`${format}: access vs refresh`, () => {
    const codec = createCodec({ format, secret: SECRET, clock });
    const access = codec.encode({ sub: 'alice', type: 'access' });
    const refresh = codec.encode({ sub: 'alice', type: 'refresh', fam: 'family-1' });
    const untyped = codec.encode({ sub: 'alice' });
    const other = codec.encode({ sub: 'alice', type: 'password_reset' });

    test('each is accepted where its own type is required', () => {
      assert.equal(codec.decode(access, { now: NOW * 1000, type: 'access' }).type, 'access');
      assert.equal(codec.decode(refresh, { now: NOW * 1000, type: 'refresh' }).type, 'refresh');
    });
    test('an access token where a refresh token is required -> wrong_type', () => {
      assert.equal(
        codeOf(() => codec.decode(access, { now: NOW * 1000, type: 'refresh' })),
        'wrong_type',
      );
    });
    test('a refresh token where an access token is required -> wrong_type', () => {
      assert.equal(
        codeOf(() => codec.decode(refresh, { now: NOW * 1000, type: 'access' })),
        'wrong_type',
      );
    });
    test('a token without a type, or of another kind, is neither -> wrong_type', () => {
      for (const type of ['access', 'refresh'] as const) {
        assert.equal(
          codeOf(() => codec.decode(untyped, { now: NOW * 1000, type })),
          'wrong_type',
        );
        assert.equal(
          codeOf(() => codec.decode(other, { now: NOW * 1000, type })),
          'wrong_type',
        );
      }
    });
    test('the type check comes after the signature and expiry checks', () => {
      // An expired access token presented as refresh says 'expired', not 'wrong_type':
      // nothing about a token is reported before it is authenticated and current.
      assert.equal(
        codeOf(() => codec.decode(access, { now: (NOW + 901) * 1000, type: 'refresh' })),
        'expired',
      );
    });
  });
}

describe('format confusion: a token of one format is refused by the others (same secret)', () => {
  const codecs = Object.fromEntries(SELF_CONTAINED_FORMATS.map((f) => [f, createCodec({ format: f, secret: SECRET, clock })]));
  for (const from of SELF_CONTAINED_FORMATS) {
    for (const to of SELF_CONTAINED_FORMATS) {
      if (from === to) continue;
      test(`${from} token given to the ${to} codec -> malformed`, () => {
        const token = codecs[from]!.encode({ sub: 'alice', type: 'access' });
        assert.equal(
          codeOf(() => codecs[to]!.decode(token, { now: NOW * 1000, type: 'access' })),
          'malformed',
        );
      });
    }
  }
});
