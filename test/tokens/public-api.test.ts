/**
 * The public API leaves no footgun: one unit for `now` (milliseconds, like
 * `clock`), one option for key material (`secret`), and nothing exported from
 * the root that returns claims without checking `exp` and `nbf`.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as root from '../../src/index.js';
import {
  ConfigError,
  createCodec,
  createKeyRing,
  createTokenService,
  MemoryStore,
  SELF_CONTAINED_FORMATS,
} from '../../src/index.js';
import { codeOf } from '../support/codes.js';

const SECRET = Buffer.alloc(32, 0x44);
const NOW_MS = 1_750_000_000_000;
const clock = () => NOW_MS;

describe('`now` is milliseconds since the epoch, like Date.now() and the clock', () => {
  for (const format of SELF_CONTAINED_FORMATS) {
    test(`${format}: milliseconds decide expiry; a seconds value is refused, not misread as 1970`, () => {
      const codec = createCodec({ format, secret: SECRET, clock, ttlSeconds: 60 });
      const token = codec.encode({ sub: 'alice' });
      assert.equal(codec.decode(token, { now: NOW_MS + 59_999 }).sub, 'alice');
      assert.equal(
        codeOf(() => codec.decode(token, { now: NOW_MS + 60_000 })),
        'expired',
      );
      // Read as milliseconds, these seconds would be January 1970: every token unexpired.
      for (const now of [NOW_MS / 1000 + 3600, 0, 1, -1]) {
        assert.throws(() => codec.decode(token, { now }), {
          name: 'TypeError',
          message: 'now is milliseconds since the epoch, like Date.now() (not seconds)',
        });
      }
      for (const now of [Number.NaN, Number.POSITIVE_INFINITY, '1750000000000' as unknown as number]) {
        assert.throws(() => codec.decode(token, { now }), TypeError, String(now));
      }
    });
  }
});

describe('one option for key material: secret', () => {
  test('createCodec takes a secret, a list of keys or a key ring as `secret`', () => {
    const ring = createKeyRing([{ kid: 'new', secret: SECRET }]);
    for (const secret of [SECRET, [{ kid: 'new', secret: SECRET }], ring]) {
      const codec = createCodec({ format: 'jwt', secret, clock });
      assert.equal(codec.decode(codec.encode({ sub: 'bob' })).sub, 'bob');
    }
  });

  test('`keys` (JavaScript callers) is a ConfigError that names `secret`, for the codec and the token service', () => {
    const keys = [{ kid: 'k', secret: SECRET }];
    for (const make of [
      () => createCodec({ format: 'jwt', keys } as never),
      () => createCodec({ format: 'sealed', secret: SECRET, keys } as never),
      () => createTokenService({ store: new MemoryStore(), keys } as never),
      // Even where no key is needed: a misnamed option is never silently ignored.
      () => createTokenService({ store: new MemoryStore(), scheme: 'opaque', keys } as never),
    ]) {
      assert.throws(make, (e: unknown) => e instanceof ConfigError && /`secret`/.test(e.message) && /`keys`/.test(e.message));
    }
  });
});

test('the root exports no codec that returns claims unchecked (createCodec is the public API)', () => {
  const names = Object.keys(root);
  for (const name of [
    'createJwtCodec',
    'createAsymmetricJwtCodec',
    'createSealedCodec',
    'fernetDecrypt',
    'fernetEncrypt',
    'prepareFernetKey',
  ]) {
    assert.ok(!names.includes(name), name);
  }
  assert.ok(names.includes('createCodec'));
});
