/**
 * Key configuration: short or malformed secrets are refused with a message that
 * says how to make a key, and TESSERA_KEYS rotation (first key signs, every key
 * verifies; a removed key's tokens are refused).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, type TokenErrorCode } from '../../src/errors.js';
import { createKeyRing, deriveKid, generateSecret, keyRingFromEnv, MIN_SECRET_BYTES, parseSecret } from '../../src/keys.js';
import { createCodec, SELF_CONTAINED_FORMATS, type SelfContainedFormat } from '../../src/tokens/codec.js';
import { codeOf } from '../support/codes.js';

const NOW = 1_750_000_000;
const clock = () => NOW * 1000;

/** Asserts fn throws a ConfigError whose message tells the user to run `tessera keygen` and does not echo `secret`. */
function refusedWithHint(fn: () => unknown, secret?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    assert.equal(e.code, 'invalid_config');
    assert.match(e.message, /tessera keygen/);
    if (secret) assert.ok(!e.message.includes(secret), 'the message must not echo the secret');
    return true;
  });
}

describe('short or malformed secrets are refused, with a hint to run `tessera keygen`', () => {
  const short = Buffer.alloc(31, 1).toString('base64url');
  const exact = Buffer.alloc(32, 1).toString('base64url');

  test('31 bytes refused, 32 accepted (RFC 7518 §3.2)', () => {
    assert.equal(MIN_SECRET_BYTES, 32);
    refusedWithHint(() => parseSecret(short), short);
    assert.equal(parseSecret(exact).length, 32);
    refusedWithHint(() => parseSecret(new Uint8Array(31)));
  });

  test('for every format, as a string or bytes', () => {
    for (const format of SELF_CONTAINED_FORMATS) {
      for (const secret of ['', 'secret', 'changeme-please', short, Buffer.from('short'), new Uint8Array(0)]) {
        // ('secret' itself is a word of the message, so only longer strings are checked for an echo.)
        refusedWithHint(
          () => createCodec({ format, secret }),
          typeof secret === 'string' && secret.length > 6 ? secret : undefined,
        );
      }
    }
  });

  test('the message says how many bytes there were and how many are needed', () => {
    assert.throws(() => parseSecret(short), /31 bytes.*at least 32/);
  });

  test('non-base64url text (standard alphabet, spaces inside, a PEM) is refused with the hint', () => {
    const std = Buffer.alloc(32, 0xfb).toString('base64'); // contains + and /
    assert.match(std, /[+/]/);
    refusedWithHint(() => parseSecret(std), std);
    refusedWithHint(() => parseSecret('abcd efgh ijkl mnop qrst uvwx yzAB CDEF GHIJ KLMN'));
    refusedWithHint(() => parseSecret('-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----'));
  });

  test('from the environment: TESSERA_SECRET and TESSERA_KEYS entries', () => {
    refusedWithHint(() => keyRingFromEnv({ TESSERA_SECRET: short }), short);
    refusedWithHint(() => keyRingFromEnv({ TESSERA_KEYS: `a:${exact},b:${short}` }), short);
    assert.equal(keyRingFromEnv({}), undefined);
    assert.throws(() => createKeyRing([]), /tessera keygen/);
  });

  test('fernet needs exactly 32 bytes: a longer secret is refused with the hint', () => {
    const long = Buffer.alloc(64, 2).toString('base64url');
    assert.equal(
      codeOf(() => createCodec({ format: 'jwt', secret: long })),
      'accepted',
    );
    refusedWithHint(() => createCodec({ format: 'fernet', secret: long }), long);
  });

  test('generateSecret (what `tessera keygen` prints) is accepted by every format', () => {
    const s = generateSecret();
    assert.match(s, /^[A-Za-z0-9_-]{43}$/);
    for (const format of SELF_CONTAINED_FORMATS) createCodec({ format, secret: s });
    assert.notEqual(generateSecret(), s);
  });

  test('bad key ids and duplicate ids are refused', () => {
    assert.throws(() => createKeyRing([{ kid: 'a b', secret: exact }]), ConfigError);
    assert.throws(() => createKeyRing([{ kid: '../x/', secret: exact }]), ConfigError);
    assert.throws(() => keyRingFromEnv({ TESSERA_KEYS: `k:${exact},k:${exact}` }), /appears twice/);
    // A bare secret is an entry with its derived key id (the id TESSERA_SECRET would give it).
    assert.equal(keyRingFromEnv({ TESSERA_KEYS: exact })!.primary.kid, keyRingFromEnv({ TESSERA_SECRET: exact })!.primary.kid);
    assert.throws(() => keyRingFromEnv({ TESSERA_KEYS: `${exact},${exact}` }), /appears twice/);
  });
});

describe('TESSERA_KEYS rotation', () => {
  const oldSecret = generateSecret();
  const newSecret = generateSecret();
  const codecFor = (format: SelfContainedFormat, env: NodeJS.ProcessEnv) =>
    createCodec({ format, secret: keyRingFromEnv(env)!, clock });

  test('TESSERA_KEYS wins over TESSERA_SECRET', () => {
    const ring = keyRingFromEnv({ TESSERA_SECRET: oldSecret, TESSERA_KEYS: `k1:${newSecret}` })!;
    assert.equal(ring.primary.kid, 'k1');
    assert.equal(ring.keys.length, 1);
  });

  for (const format of SELF_CONTAINED_FORMATS) {
    test(`${format}: old tokens verify after a new key is put first; new tokens use the new key; removal refuses the old`, () => {
      const before = codecFor(format, { TESSERA_KEYS: `old:${oldSecret}` });
      const during = codecFor(format, { TESSERA_KEYS: `new:${newSecret}, old:${oldSecret}` });
      const after = codecFor(format, { TESSERA_KEYS: `new:${newSecret}` });
      const oldToken = before.encode({ sub: 'alice', type: 'refresh' });
      const newToken = during.encode({ sub: 'alice', type: 'refresh' });

      assert.equal(during.decode(oldToken, { now: NOW * 1000, type: 'refresh' }).sub, 'alice');
      assert.equal(during.decode(newToken, { now: NOW * 1000, type: 'refresh' }).sub, 'alice');
      // The new token is signed by the new key: the old-only ring does not know it, the new-only ring does.
      assert.notEqual(
        codeOf(() => before.decode(newToken, { now: NOW * 1000 })),
        'accepted',
      );
      assert.equal(after.decode(newToken, { now: NOW * 1000 }).sub, 'alice');
      // Old key removed: jwt and sealed name the key (unknown_key); fernet has no key id, so its MAC fails.
      const expected: TokenErrorCode = format === 'fernet' ? 'bad_signature' : 'unknown_key';
      assert.equal(
        codeOf(() => after.decode(oldToken, { now: NOW * 1000 })),
        expected,
      );
    });
  }

  for (const format of ['jwt', 'sealed'] as const) {
    test(`${format}: moving from TESSERA_SECRET to TESSERA_KEYS with the old secret listed bare keeps old tokens valid`, () => {
      // A TESSERA_SECRET key has a kid derived from the key (deriveKid) and jwt/sealed tokens carry it.
      // A bare entry in TESSERA_KEYS keeps that derived kid; so does naming it explicitly.
      const legacy = createCodec({ format, secret: keyRingFromEnv({ TESSERA_SECRET: oldSecret })!, clock });
      const token = legacy.encode({ sub: 'alice' });
      const derived = deriveKid(parseSecret(oldSecret));
      for (const keys of [`new:${newSecret},${oldSecret}`, `new:${newSecret},${derived}:${oldSecret}`]) {
        const ring = keyRingFromEnv({ TESSERA_KEYS: keys })!;
        assert.equal(ring.primary.kid, 'new', 'the first entry signs');
        assert.equal(createCodec({ format, secret: ring, clock }).decode(token, { now: NOW * 1000 }).sub, 'alice');
      }
      // Renaming the old key breaks its tokens: they name the derived kid.
      const renamed = createCodec({
        format,
        secret: keyRingFromEnv({ TESSERA_KEYS: `new:${newSecret},old:${oldSecret}` })!,
        clock,
      });
      assert.equal(
        codeOf(() => renamed.decode(token, { now: NOW * 1000 })),
        'unknown_key',
      );
    });
  }

  test('an empty key id before ":" is refused', () => {
    assert.throws(() => keyRingFromEnv({ TESSERA_KEYS: `:${newSecret}` }), ConfigError);
  });
});
