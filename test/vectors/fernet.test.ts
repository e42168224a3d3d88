/**
 * The fernet/spec vectors (generate.json, verify.json, invalid.json) through our
 * Fernet implementation, with the clock injected from each vector's `now`.
 * The expected error code of each invalid vector follows the layer table of
 * jwt_attack_cases.md ("Fernet / AES-CBC + HMAC").
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fernetNpm from 'fernet';
import { TokenError, type TokenErrorCode } from '../../src/errors.js';
import { decodeBase64urlPadded, encodeBase64urlPadded } from '../../src/internal/base64url.js';
import { constantTimeEqual } from '../../src/internal/crypto.js';
import { prepareHmacSha256 } from '../../src/internal/hmac.js';
import { createCodec } from '../../src/tokens/codec.js';
import { fernetDecrypt, fernetEncrypt, prepareFernetKey } from '../../src/tokens/fernet.js';
import { loadVectors } from './load.js';

interface GenerateVector {
  token: string;
  now: string;
  iv: number[];
  src: string;
  secret: string;
}
interface VerifyVector {
  token: string;
  now: string;
  ttl_sec: number;
  src: string;
  secret: string;
}
interface InvalidVector {
  desc: string;
  token: string;
  now: string;
  ttl_sec: number;
  secret: string;
}

const generate = loadVectors<GenerateVector[]>('fernet_generate.json');
const verify = loadVectors<VerifyVector[]>('fernet_verify.json');
const invalid = loadVectors<InvalidVector[]>('fernet_invalid.json');

/** RFC 3339 (with offset) to seconds since the epoch. */
function seconds(rfc3339: string): number {
  const ms = Date.parse(rfc3339);
  assert.ok(Number.isFinite(ms), `unparsable time ${rfc3339}`);
  return ms / 1000;
}

function keyOf(secret: string) {
  const bytes = decodeBase64urlPadded(secret);
  assert.ok(bytes, 'the spec key is padded base64url');
  return prepareFernetKey(bytes);
}

function isCode(code: TokenErrorCode) {
  return (e: unknown) => e instanceof TokenError && e.code === code;
}

/**
 * The layer that must reject each invalid.json vector (jwt_attack_cases.md), the code it maps to,
 * and whether the vector's HMAC is valid (so the layer, not the MAC, is what rejects it).
 */
const EXPECTED: Record<string, { code: TokenErrorCode; macValid: boolean | null }> = {
  'incorrect mac': { code: 'bad_signature', macValid: false },
  'too short': { code: 'malformed', macValid: null },
  'invalid base64': { code: 'malformed', macValid: null },
  // The MAC is valid, but a 15-byte ciphertext makes the token 72 bytes, under the 73-byte minimum
  // (1 + 8 + 16 + 16 + 32) that the "too short" row of the table prescribes as the first check. So the
  // structural length check refuses it as 'malformed' before the MAC is computed (a length is public:
  // no oracle). The table's "% 16 after the MAC" layer is reached only by longer tokens: see the
  // "17-byte ciphertext" test below, which is 'bad_signature'.
  'payload size not multiple of block size': { code: 'malformed', macValid: true },
  'payload padding error': { code: 'bad_signature', macValid: true },
  'far-future TS (unacceptable clock skew)': { code: 'not_yet_valid', macValid: true },
  'expired TTL': { code: 'expired', macValid: true },
  'incorrect IV (causes padding error)': { code: 'bad_signature', macValid: true },
};

describe('fernet/spec generate.json', () => {
  assert.equal(generate.length, 1);
  for (const v of generate) {
    test(`reproduces the token exactly (${v.now})`, () => {
      const nowSec = seconds(v.now);
      assert.equal(nowSec, 499162800);
      const token = fernetEncrypt(keyOf(v.secret), Buffer.from(v.src, 'utf8'), nowSec, Buffer.from(v.iv));
      assert.equal(token, v.token);
    });
  }
});

describe('fernet/spec verify.json', () => {
  assert.equal(verify.length, 1);
  for (const v of verify) {
    test(`decrypts to ${JSON.stringify(v.src)} within the TTL`, () => {
      const out = fernetDecrypt([keyOf(v.secret)], v.token, { nowSec: seconds(v.now), ttlSeconds: v.ttl_sec });
      assert.equal(out.plaintext.toString('utf8'), v.src);
      assert.equal(out.timestamp, 499162800);
    });
    test('the same token fails the TTL once it has passed (injected clock, no sleep)', () => {
      const key = keyOf(v.secret);
      const issued = 499162800;
      // Spec.md: expired when timestamp + ttl < now; exactly at the limit it is still valid.
      assert.ok(fernetDecrypt([key], v.token, { nowSec: issued + v.ttl_sec, ttlSeconds: v.ttl_sec }));
      assert.throws(
        () => fernetDecrypt([key], v.token, { nowSec: issued + v.ttl_sec + 1, ttlSeconds: v.ttl_sec }),
        isCode('expired'),
      );
    });
    test('a wrong key is bad_signature; with a second, right key in the list it verifies (MultiFernet)', () => {
      const other = prepareFernetKey(Buffer.alloc(32, 7));
      const opts = { nowSec: seconds(v.now), ttlSeconds: v.ttl_sec };
      assert.throws(() => fernetDecrypt([other], v.token, opts), isCode('bad_signature'));
      assert.equal(fernetDecrypt([other, keyOf(v.secret)], v.token, opts).plaintext.toString(), v.src);
    });
    test('through createCodec the MAC verifies but "hello" is not a claims object: malformed', () => {
      const codec = createCodec({ format: 'fernet', secret: v.secret });
      assert.throws(() => codec.decode(v.token, { now: seconds(v.now) * 1000 }), isCode('malformed'));
    });
  }
});

describe('fernet/spec invalid.json: every case rejected by the right layer', () => {
  test('all 8 cases are present and each has an expectation', () => {
    assert.equal(invalid.length, 8);
    assert.deepEqual(invalid.map((v) => v.desc).sort(), Object.keys(EXPECTED).sort());
  });

  for (const v of invalid) {
    const expected = EXPECTED[v.desc];
    test(`${v.desc} -> ${expected?.code}`, () => {
      assert.ok(expected);
      const key = keyOf(v.secret);
      assert.throws(
        () => fernetDecrypt([key], v.token, { nowSec: seconds(v.now), ttlSeconds: v.ttl_sec }),
        isCode(expected.code),
      );
      // Pin why: for the vectors whose HMAC is valid, it is the later layer that refuses.
      if (expected.macValid !== null) {
        const raw = decodeBase64urlPadded(v.token);
        assert.ok(raw);
        const signKey = decodeBase64urlPadded(v.secret)!.subarray(0, 16);
        const macOk = constantTimeEqual(prepareHmacSha256(signKey).mac(raw.subarray(0, -32)), raw.subarray(-32));
        assert.equal(macOk, expected.macValid);
      }
    });
  }

  test('far-future: 60 s of skew are tolerated (Python cryptography), 61 are not', () => {
    const v = invalid.find((x) => x.desc.startsWith('far-future'))!;
    const ts = Number(decodeBase64urlPadded(v.token)!.readBigUInt64BE(1));
    const key = keyOf(v.secret);
    assert.throws(() => fernetDecrypt([key], v.token, { nowSec: ts - 61 }), isCode('not_yet_valid'));
    assert.equal(fernetDecrypt([key], v.token, { nowSec: ts - 60 }).timestamp, ts);
  });
});

describe('Spec.md recipes without vectors', () => {
  const v = verify[0]!;
  const key = keyOf(v.secret);
  const nowSec = seconds(v.now);
  const raw = decodeBase64urlPadded(v.token)!;

  function resign(body: Buffer): string {
    const signKey = decodeBase64urlPadded(v.secret)!.subarray(0, 16);
    return encodeBase64urlPadded(Buffer.concat([body, prepareHmacSha256(signKey).mac(body)]));
  }

  test('version byte other than 0x80 (even re-MACed) is malformed', () => {
    for (const version of [0x00, 0x81, 0x7f, 0xff]) {
      const body = Buffer.from(raw.subarray(0, -32));
      body[0] = version;
      assert.throws(() => fernetDecrypt([key], resign(body), { nowSec }), isCode('malformed'));
    }
  });

  test('truncated or missing HMAC is rejected', () => {
    // 'hello' is one block: the token is exactly the 73-byte minimum.
    assert.equal(raw.length, 73);
    assert.throws(() => fernetDecrypt([key], encodeBase64urlPadded(raw.subarray(0, -32)), { nowSec }), isCode('malformed'));
    assert.throws(() => fernetDecrypt([key], encodeBase64urlPadded(raw.subarray(0, -16)), { nowSec }), isCode('malformed'));
    // With three blocks of ciphertext a half MAC still leaves 89 bytes: the last 32 are taken as the MAC and fail.
    const long = decodeBase64urlPadded(fernetEncrypt(key, Buffer.alloc(40, 0x61), nowSec))!;
    assert.equal(long.length, 105);
    assert.throws(() => fernetDecrypt([key], encodeBase64urlPadded(long.subarray(0, -16)), { nowSec }), isCode('bad_signature'));
  });

  test('a 17-byte ciphertext with a valid MAC is refused after the MAC (not a whole block): bad_signature', () => {
    const body = Buffer.concat([raw.subarray(0, 25), Buffer.alloc(17, 0x42)]);
    assert.throws(() => fernetDecrypt([key], resign(body), { nowSec }), isCode('bad_signature'));
  });

  test('padding failure and MAC failure are indistinguishable (same code, same message)', () => {
    const badMac = invalid.find((x) => x.desc === 'incorrect mac')!;
    const badPad = invalid.find((x) => x.desc === 'payload padding error')!;
    const errOf = (t: string) => {
      try {
        fernetDecrypt([key], t, { nowSec: seconds(badMac.now) });
      } catch (e) {
        return e as TokenError;
      }
      assert.fail('accepted');
    };
    const a = errOf(badMac.token);
    const b = errOf(badPad.token);
    assert.equal(a.code, 'bad_signature');
    assert.equal(a.code, b.code);
    assert.equal(a.message, b.message);
  });

  test('tokens are padded base64url: the unpadded form is malformed', () => {
    assert.ok(v.token.endsWith('=='));
    assert.throws(() => fernetDecrypt([key], v.token.replace(/=+$/, ''), { nowSec }), isCode('malformed'));
  });
});

describe('interop with the fernet npm package (an independent implementation)', () => {
  const secret = 'cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=';
  const npmSecret = new fernetNpm.Secret(secret);

  test('the package decodes a token we made', () => {
    const token = fernetEncrypt(keyOf(secret), Buffer.from('{"sub":"alice"}'), Math.floor(Date.now() / 1000));
    assert.equal(new fernetNpm.Token({ secret: npmSecret, token, ttl: 0 }).decode(), '{"sub":"alice"}');
  });

  test('we decode a token the package made, and through createCodec its claims', () => {
    const claims = { sub: 'bob', exp: 2000000000, type: 'access' };
    const token = new fernetNpm.Token({ secret: npmSecret, ttl: 0 }).encode(JSON.stringify(claims));
    const out = fernetDecrypt([keyOf(secret)], token, { nowSec: Math.floor(Date.now() / 1000) });
    assert.equal(out.plaintext.toString('utf8'), JSON.stringify(claims));
    const codec = createCodec({ format: 'fernet', secret });
    assert.deepEqual(codec.decode(token, { now: 1900000000 * 1000, type: 'access' }), claims);
  });
});
