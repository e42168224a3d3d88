/**
 * One test per recipe of test/vectors/data/jwt_attack_cases.md (1.1 ... 10.8, and
 * the Fernet extras), each building a concrete token and asserting the exact
 * TokenError code. The verifier key is the RFC 7515 A.1 key; attack tokens are
 * built here with node:crypto's createHmac (an implementation independent of
 * src/internal/crypto.ts). The clock is injected: NOW is fixed.
 */
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { describe, mock, test } from 'node:test';
import { inspect } from 'node:util';
import { ConfigError, TokenError, type TokenErrorCode } from '../../src/errors.js';
import { decodeBase64urlPadded, encodeBase64urlPadded } from '../../src/internal/base64url.js';
import { createKeyRing } from '../../src/keys.js';
import { createCodec } from '../../src/tokens/codec.js';
import { createJwtCodec } from '../../src/tokens/jwt.js';
import { codeOf } from '../support/codes.js';

const require = createRequire(import.meta.url);

/** RFC 7515 App. A.1 key (64 bytes). */
const K_B64 = 'AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow';
const K = Buffer.from(K_B64, 'base64url');
const NOW = 1_700_000_000;
const codec = createCodec({ format: 'jwt', secret: K_B64, clock: () => NOW * 1000 });
const CLAIMS = { sub: 'alice', iat: NOW, exp: NOW + 900, jti: 'jti-attack-1', type: 'access' };
const HS = { alg: 'HS256', typ: 'JWT' };

type Part = string | Uint8Array | object;
/** base64url of a part: a string is taken as the exact JSON text (so duplicates and whitespace survive). */
function enc(part: Part): string {
  if (typeof part === 'string') return Buffer.from(part, 'utf8').toString('base64url');
  if (part instanceof Uint8Array) return Buffer.from(part).toString('base64url');
  return Buffer.from(JSON.stringify(part), 'utf8').toString('base64url');
}
function mac(input: string, key: Uint8Array | string = K, hash = 'sha256'): string {
  return createHmac(hash, key).update(input).digest('base64url');
}
/** A compact JWS over `header` and `payload`, MACed with `key` (default: the verifier key). */
function jws(header: Part, payload: Part = CLAIMS, key: Uint8Array | string = K, hash = 'sha256'): string {
  const input = `${enc(header)}.${enc(payload)}`;
  return `${input}.${mac(input, key, hash)}`;
}
/** Asserts the exact code `codec.decode` fails with at NOW. */
function refused(token: string, code: TokenErrorCode, message?: string): void {
  assert.equal(
    codeOf(() => codec.decode(token, { now: NOW * 1000 })),
    code,
    message ?? token,
  );
}
function errorOf(fn: () => unknown): TokenError {
  try {
    fn();
  } catch (e) {
    if (e instanceof TokenError) return e;
    throw e;
  }
  assert.fail('accepted');
}

const VALID = jws(HS);
const [H, P, S] = VALID.split('.') as [string, string, string];

test('control: a token built by these helpers is accepted (so every refusal below is the recipe, not the helper)', () => {
  assert.deepEqual(codec.decode(VALID, { now: NOW * 1000 }), CLAIMS);
  assert.deepEqual(codec.decode(jws({ alg: 'HS256' }), { now: NOW * 1000 }), CLAIMS);
  // And our own tokens.
  assert.equal(codec.decode(codec.encode({ sub: 'alice' }), { now: NOW * 1000 }).sub, 'alice');
});

describe('1. alg none', () => {
  test('1.1 alg:none, empty signature (H.P.) -> unsupported', () => {
    refused(`${enc({ alg: 'none', typ: 'JWT' })}.${P}.`, 'unsupported');
  });
  test('1.2 None / NONE / nOnE -> unsupported', () => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) refused(`${enc({ alg, typ: 'JWT' })}.${P}.`, 'unsupported', alg);
  });
  test('1.3 alg:none keeping the old signature -> unsupported', () => {
    refused(`${enc({ alg: 'none', typ: 'JWT' })}.${P}.${S}`, 'unsupported');
  });
  test('1.4 alg:none without the trailing dot (two segments) -> malformed', () => {
    refused(`${enc({ alg: 'none' })}.${P}`, 'malformed');
  });
  test('1.5 RFC 7519 §6.1 unsecured JWT given to a verifier with a key -> unsupported', () => {
    const unsecured =
      'eyJhbGciOiJub25lIn0.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.';
    assert.equal(
      codeOf(() => codec.decode(unsecured, { now: 1300819379 * 1000 })),
      'unsupported',
    );
  });
});

describe('2. signature stripping and tampering', () => {
  test('2.1 null signature (H.P.) -> bad_signature', () => {
    refused(`${H}.${P}.`, 'bad_signature');
  });
  test('2.2 signature minus its last 4 characters -> malformed (39 characters, last one non-canonical)', () => {
    const broken = `${H}.${P}.${S.slice(0, -4)}`;
    // 39 = 3 mod 4: the last symbol carries 4 data bits and 2 unused ones. For this
    // (deterministic) token they are not zero, so the strict decoder refuses it before any MAC.
    assert.equal(S.slice(0, -4).length, 39);
    refused(broken, 'malformed');
    // Cut to a canonical length instead (remove 3 more), and it is the MAC check that refuses it.
    refused(`${H}.${P}.${S.slice(0, -7)}`, 'bad_signature');
  });
  test('2.3 MAC truncated to 16 bytes (re-encoded canonically) -> bad_signature', () => {
    const half = Buffer.from(S, 'base64url').subarray(0, 16).toString('base64url');
    assert.equal(half.length, 22);
    refused(`${H}.${P}.${half}`, 'bad_signature');
  });
  test('2.4 one bit flipped in the MAC -> bad_signature (every bit position)', () => {
    const bytes = Buffer.from(S, 'base64url');
    for (let bit = 0; bit < 256; bit++) {
      const flipped = Buffer.from(bytes);
      flipped[bit >> 3] = (flipped[bit >> 3] as number) ^ (1 << (bit & 7));
      refused(`${H}.${P}.${flipped.toString('base64url')}`, 'bad_signature', `bit ${bit}`);
    }
  });
  test('2.5 payload changed (admin:true), signature kept -> bad_signature', () => {
    refused(`${H}.${enc({ ...CLAIMS, admin: true })}.${S}`, 'bad_signature');
  });
  test('2.6 header changed, signature kept: unknown kid -> unknown_key; other field -> bad_signature', () => {
    refused(`${enc({ ...HS, kid: 'attacker' })}.${P}.${S}`, 'unknown_key');
    refused(`${enc({ alg: 'HS256', typ: 'at+jwt' })}.${P}.${S}`, 'bad_signature');
    // Our own header (with our kid) on a foreign payload: still the MAC.
    const ours = codec.encode({ sub: 'alice' });
    refused(`${ours.split('.')[0]}.${P}.${ours.split('.')[2]}`, 'bad_signature');
  });
  test('2.7 signature disclosure: the error never contains the expected MAC, the sent MAC or the token', () => {
    const ours = codec.encode({ sub: 'alice', exp: NOW + 60 });
    const [h, , s] = ours.split('.') as [string, string, string];
    const forgedPayload = enc({ sub: 'mallory', exp: NOW + 60 });
    const expectedMac = mac(`${h}.${forgedPayload}`);
    const token = `${h}.${forgedPayload}.${s}`;
    const e = errorOf(() => codec.decode(token, { now: NOW * 1000 }));
    assert.equal(e.code, 'bad_signature');
    const renderings = [e.message, String(e), e.stack ?? '', JSON.stringify(e), inspect(e, { depth: 5 })];
    for (const text of renderings) {
      for (const secret of [expectedMac, s, token, forgedPayload, K_B64]) {
        assert.ok(!text.includes(secret), `error text leaks ${secret.slice(0, 8)}...`);
      }
      // Nor any 16-character window of the expected MAC, in base64url or hex.
      const hex = Buffer.from(expectedMac, 'base64url').toString('hex');
      for (let i = 0; i + 16 <= expectedMac.length; i += 8) assert.ok(!text.includes(expectedMac.slice(i, i + 16)));
      for (let i = 0; i + 16 <= hex.length; i += 8) assert.ok(!text.includes(hex.slice(i, i + 16)));
    }
  });
  test('2.8 the MAC is compared with timingSafeEqual (constant time), on equal-length inputs', () => {
    // Spy on node:crypto's timingSafeEqual: src/internal/crypto.ts imports it as a
    // live ESM binding, which syncBuiltinESMExports() points at the spy.
    const nodeCrypto = require('node:crypto') as typeof import('node:crypto');
    const spy = mock.method(nodeCrypto, 'timingSafeEqual');
    syncBuiltinESMExports();
    try {
      refused(`${H}.${P}.${mac('something else')}`, 'bad_signature');
      assert.equal(spy.mock.callCount(), 1, 'the MAC comparison must go through timingSafeEqual');
      const [a, b] = spy.mock.calls[0]!.arguments as [Uint8Array, Uint8Array];
      // The whole MAC, never a prefix: equal lengths, full size (the 32 bytes or their
      // 43-character canonical base64url, which is the same comparison).
      assert.equal(a.length, b.length);
      assert.ok(a.length === 32 || a.length === 43, `compared ${a.length} bytes`);
      // An accepted token goes through it as well (no early-exit string compare on success).
      assert.equal(
        codeOf(() => codec.decode(VALID, { now: NOW * 1000 })),
        'accepted',
      );
      assert.equal(spy.mock.callCount(), 2);
    } finally {
      spy.mock.restore();
      syncBuiltinESMExports();
    }
  });
});

describe('3. weak or blank keys', () => {
  test('3.1 re-signed with the empty key -> bad_signature; an empty key is refused for signing and verifying', () => {
    refused(jws(HS, CLAIMS, ''), 'bad_signature');
    assert.throws(() => createCodec({ format: 'jwt', secret: '' }), ConfigError);
    assert.throws(() => createCodec({ format: 'jwt', secret: new Uint8Array(0) }), ConfigError);
    assert.throws(() => createKeyRing([{ secret: '' }]), ConfigError);
  });
  test('3.2 re-signed with key 0x00 (same MAC as empty and as 32 zero bytes) -> bad_signature', () => {
    const t = jws(HS, CLAIMS, Buffer.from([0]));
    assert.equal(t, jws(HS, CLAIMS, ''));
    assert.equal(t, jws(HS, CLAIMS, Buffer.alloc(32)));
    refused(t, 'bad_signature');
    assert.throws(() => createCodec({ format: 'jwt', secret: Buffer.from([0]) }), ConfigError);
  });
  test('3.3 re-signed with common secrets -> bad_signature; short secrets refused as keys (RFC 7518 §3.2)', () => {
    const common = ['secret', '12345', 'password', 'changeme', 'your-256-bit-secret', 'jwt_secret', 'key', 'test', 'admin'];
    for (const s of common) {
      refused(jws(HS, CLAIMS, s), 'bad_signature', s);
      assert.throws(() => createCodec({ format: 'jwt', secret: Buffer.from(s) }), ConfigError, s);
    }
  });
});

describe('4. algorithm confusion', () => {
  test('4.1 RS256 -> HS256 key confusion (HMAC keyed with the RSA public key PEM) -> bad_signature', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    refused(jws(HS, CLAIMS, pem), 'bad_signature');
    // And a PEM is not key material for us at all: configuration refuses it.
    assert.throws(() => createCodec({ format: 'jwt', secret: pem }), ConfigError);
  });
  test('4.2 alg RS256 / ES256 / PS256 with a valid HMAC-SHA256 -> unsupported', () => {
    for (const alg of ['RS256', 'ES256', 'PS256', 'EdDSA']) refused(jws({ alg, typ: 'JWT' }), 'unsupported', alg);
  });
  test("4.3 alg case or spacing variants ('hs256', 'Hs256', 'HS256 ', ' HS256') -> unsupported", () => {
    for (const alg of ['hs256', 'Hs256', 'hS256', 'HS256 ', ' HS256', 'HS256\u0000']) refused(jws({ alg }), 'unsupported', alg);
  });
  test('4.4 HS384 / HS512 correctly MACed with the same key -> unsupported', () => {
    refused(jws({ alg: 'HS384' }, CLAIMS, K, 'sha384'), 'unsupported');
    refused(jws({ alg: 'HS512' }, CLAIMS, K, 'sha512'), 'unsupported');
  });
  test('4.5 alg missing or not a string -> malformed; a string other than HS256 -> unsupported', () => {
    refused(jws({ typ: 'JWT' }), 'malformed');
    for (const alg of [null, ['HS256'], 256, true, false, 0, { HS256: true }])
      refused(jws({ alg }), 'malformed', JSON.stringify(alg));
    refused(jws({ alg: 'jwt_tool' }), 'unsupported');
  });
});

describe('5. key-injection headers (never verify with a key from the token, never fetch)', () => {
  const attacker = Buffer.alloc(32, 0x41);
  const attackerK = attacker.toString('base64url');

  /** Runs fn with every outbound network primitive replaced by a spy; fails if any was called. */
  function assertNoNetwork(fn: () => void): void {
    const modules = ['node:http', 'node:https', 'node:net', 'node:dns', 'node:tls'].map((m) => require(m));
    const names = ['request', 'get', 'connect', 'createConnection', 'lookup', 'resolve'];
    const spies = modules.flatMap((m) =>
      names.filter((n) => typeof m[n] === 'function').map((n) => mock.method(m, n, () => assert.fail(`network: ${n}`))),
    );
    const fetchSpy = mock.method(globalThis, 'fetch', () => assert.fail('network: fetch'));
    syncBuiltinESMExports();
    try {
      fn();
    } finally {
      for (const s of spies) s.mock.restore();
      fetchSpy.mock.restore();
      syncBuiltinESMExports();
    }
    for (const s of [...spies, fetchSpy]) assert.equal(s.mock.callCount(), 0);
  }

  test('5.1 embedded jwk (oct and RSA) signed with the attacker key -> bad_signature', () => {
    refused(jws({ ...HS, jwk: { kty: 'oct', k: attackerK } }, CLAIMS, attacker), 'bad_signature');
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    refused(jws({ ...HS, jwk: publicKey.export({ format: 'jwk' }) }, CLAIMS, attacker), 'bad_signature');
  });
  test('5.2 jku pointing at an attacker JWKS -> bad_signature, and nothing is fetched', () => {
    assertNoNetwork(() => {
      refused(jws({ ...HS, jku: 'https://attacker.example/jwks.json', kid: undefined }, CLAIMS, attacker), 'bad_signature');
    });
  });
  test('5.3 x5u / x5c carrying an attacker certificate -> bad_signature, and nothing is fetched', () => {
    assertNoNetwork(() => {
      refused(jws({ ...HS, x5u: 'https://attacker.example/cert.pem' }, CLAIMS, attacker), 'bad_signature');
      refused(jws({ ...HS, x5c: ['MIIBszCCAVmgAwIBAgIUQ'] }, CLAIMS, attacker), 'bad_signature');
      refused(jws({ ...HS, x5t: 'abc', 'x5t#S256': 'def' }, CLAIMS, attacker), 'bad_signature');
    });
  });
  test('5.4 every header and claim set to an attacker URL: no network call (signed by us: accepted; by them: bad_signature)', () => {
    const url = 'http://127.0.0.1:9/probe';
    const header = { ...HS, jku: url, x5u: url, jwk: url, cty: url, iss: url };
    const claims = { ...CLAIMS, iss: url, aud: url, azp: url, jku: url, x5u: url, picture: url, website: url };
    assertNoNetwork(() => {
      // Signed with the real key: headers we do not use are ignored, URL-valued claims are just data.
      assert.equal(codec.decode(jws(header, claims), { now: NOW * 1000 }).iss, url);
      refused(jws(header, claims, attacker), 'bad_signature');
    });
  });
});

describe('6. kid injection (kid only selects a key of the ring)', () => {
  const cases: [string, string, Uint8Array | string][] = [
    ['6.1', '../../../../../../dev/null', ''],
    ['6.2', '/dev/null', ''],
    ['6.3', '', ''],
    ['6.4', '/invalid_path', ''],
    ['6.5', "x' UNION SELECT '1';--", '1'],
    ['6.6', '|sleep 10', ''],
    ['6.7', '/proc/sys/kernel/randomize_va_space', '2\n'],
    ['6.8', 'http://evil.example/custom.key', 'attacker key'],
  ];
  for (const [id, kid, key] of cases) {
    test(`${id} kid ${JSON.stringify(kid)} signed with ${JSON.stringify(typeof key === 'string' ? key : '<bytes>')} -> unknown_key`, () => {
      refused(jws({ ...HS, kid }, CLAIMS, key), 'unknown_key');
      // Even with the real key's MAC, an unknown kid is unknown: the kid is never a path, query or URL.
      refused(jws({ ...HS, kid }), 'unknown_key');
    });
  }
  test('6.x control: the right kid with the right key is accepted; | and | curl variant refused', () => {
    const kid = createKeyRing([{ secret: K_B64 }]).primary.kid;
    assert.equal(
      codeOf(() => codec.decode(jws({ ...HS, kid }), { now: NOW * 1000 })),
      'accepted',
    );
    refused(jws({ ...HS, kid: '| curl http://listener.example' }, CLAIMS, ''), 'unknown_key');
    refused(jws({ ...HS, kid: 7 }), 'malformed');
  });
});

describe('7. crit and extension headers (correct MAC: only crit handling decides)', () => {
  test('7.1 RFC 7515 example crit ["exp"] with exp in the header -> unsupported', () => {
    refused(jws({ alg: 'HS256', crit: ['exp'], exp: 1363284000 }), 'unsupported');
  });
  test('7.2 crit lists an unknown name present in the header -> unsupported', () => {
    refused(jws({ alg: 'HS256', crit: ['x-custom'], 'x-custom': 1 }), 'unsupported');
  });
  test('7.3 crit: [] -> unsupported', () => {
    refused(jws({ alg: 'HS256', crit: [] }), 'unsupported');
  });
  test('7.4 crit: ["alg"] (a registered name) -> unsupported', () => {
    refused(jws({ alg: 'HS256', crit: ['alg'] }), 'unsupported');
  });
  test('7.5 crit names a parameter absent from the header -> unsupported', () => {
    refused(jws({ alg: 'HS256', crit: ['missing'] }), 'unsupported');
  });
  test('7.6 crit is not an array -> malformed', () => {
    refused(jws({ alg: 'HS256', crit: 'exp', exp: 1 }), 'malformed');
    refused(jws({ alg: 'HS256', crit: null }), 'malformed');
  });
  test('7.7 b64:false with crit ["b64"] (RFC 7797) -> unsupported; b64:false alone too', () => {
    refused(jws({ alg: 'HS256', b64: false, crit: ['b64'] }), 'unsupported');
    refused(jws({ alg: 'HS256', b64: false }), 'unsupported');
    // b64:true is the default and harmless.
    assert.equal(
      codeOf(() => codec.decode(jws({ alg: 'HS256', b64: true }), { now: NOW * 1000 })),
      'accepted',
    );
  });
});

describe('8. JSON and header parsing', () => {
  test('8.1 {"alg":"HS256","alg":"none"} with an empty signature -> unsupported (last one wins: none)', () => {
    refused(`${enc('{"alg":"HS256","alg":"none"}')}.${P}.`, 'unsupported');
  });
  test('8.2 POLICY PIN: {"alg":"none","alg":"HS256"} with a valid HS256 MAC is accepted (last wins)', () => {
    // RFC 7515 §4 lets a recipient either reject duplicate header names or use the
    // last one. JSON.parse keeps the last, so the effective alg is HS256 and the
    // token carries a valid HS256 MAC under our key: only the key holder can make
    // it, so accepting gives an attacker nothing (compare 8.1: last = none -> refused).
    // Should we ever switch to rejecting duplicates, this test must change on purpose.
    const t = jws('{"alg":"none","alg":"HS256"}');
    assert.deepEqual(codec.decode(t, { now: NOW * 1000 }), CLAIMS);
    // Same for duplicate kid: the last one selects the key.
    refused(jws('{"alg":"HS256","kid":"x","kid":"y"}'), 'unknown_key');
  });
  test('8.3 header not a JSON object ([] null "HS256" 42, truncated, BOM, invalid UTF-8) -> malformed', () => {
    for (const h of ['[]', 'null', '"HS256"', '42', 'true', '{"alg":"HS256"', '', '\uFEFF{"alg":"HS256"}', '{"alg":"HS256"}x']) {
      refused(jws(h), 'malformed', JSON.stringify(h));
    }
    const invalidUtf8 = Buffer.concat([Buffer.from('{"alg":"HS256","x":"'), Buffer.from([0xff]), Buffer.from('"}')]);
    refused(jws(invalidUtf8), 'malformed');
    // Lone surrogate halves encoded as CESU-8 are invalid UTF-8 too.
    refused(jws(Buffer.from([0x7b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x3a, 0x31, 0x7d])), 'malformed');
  });
  test('8.4 payload not a JSON object: the JWT API refuses (malformed), the raw JWS API accepts', () => {
    const jwsLayer = createJwtCodec(createKeyRing([{ secret: K_B64 }]));
    for (const p of ['[1,2]', 'null', '"text"', 'plain text', '42', '', '\uFEFF{}']) {
      const t = jws(HS, p);
      refused(t, 'malformed', JSON.stringify(p));
      assert.equal(jwsLayer.verifyJws(t).toString('utf8'), p);
    }
  });
  test('8.5 whitespace inside the header JSON (spaces, newline, tab) is legal -> accepted', () => {
    for (const h of ['{ "alg" : "HS256" }', '{\n\t"alg":"HS256",\r\n "typ":"JWT"\n}']) {
      assert.deepEqual(codec.decode(jws(h), { now: NOW * 1000 }), CLAIMS);
    }
  });
});

describe('9. claims (valid MAC: refusal comes from the claim checks)', () => {
  test('9.1 exp in the past -> expired (A.1 exp 2011 and a token of ours)', () => {
    refused(jws(HS, { ...CLAIMS, exp: 1300819380 }), 'expired');
    refused(jws(HS, { ...CLAIMS, exp: NOW - 1 }), 'expired');
    refused(jws(HS, { ...CLAIMS, exp: NOW }), 'expired'); // on exp itself (RFC 7519 §4.1.4: "on or after")
  });
  test('9.2 nbf in the future -> not_yet_valid', () => {
    refused(jws(HS, { ...CLAIMS, nbf: NOW + 1 }), 'not_yet_valid');
    assert.equal(
      codeOf(() => codec.decode(jws(HS, { ...CLAIMS, nbf: NOW }), { now: NOW * 1000 })),
      'accepted',
    );
  });
  test('9.3 exp (or nbf, iat) as a string, null or true -> invalid_claims; exp missing -> invalid_claims', () => {
    for (const exp of ['1466270722', String(NOW + 900), null, true, [NOW + 900], { n: 1 }]) {
      refused(jws(HS, { ...CLAIMS, exp }), 'invalid_claims', JSON.stringify(exp));
    }
    const { exp: _exp, ...noExp } = CLAIMS;
    refused(jws(HS, noExp), 'invalid_claims');
    refused(jws(HS, { ...CLAIMS, nbf: 'yesterday' }), 'invalid_claims');
    refused(jws(HS, { ...CLAIMS, iat: null }), 'invalid_claims');
    refused(jws(HS, { ...CLAIMS, sub: 42 }), 'invalid_claims');
  });
  test('9.4 duplicate exp (far future, then 0) -> expired (last wins)', () => {
    const json = JSON.stringify(CLAIMS).replace(/}$/, ',"exp":4102444800,"exp":0}');
    refused(jws(HS, json), 'expired');
  });
  test('9.5 wrong iss / aud, or a token of another kind -> invalid_claims / wrong_type', () => {
    const strict = createCodec({ format: 'jwt', secret: K_B64, issuer: 'https://auth.example', audience: 'api' });
    const ok = { ...CLAIMS, iss: 'https://auth.example', aud: ['other', 'api'] };
    assert.equal(
      codeOf(() => strict.decode(jws(HS, ok), { now: NOW * 1000, type: 'access' })),
      'accepted',
    );
    const bad = (claims: object) => codeOf(() => strict.decode(jws(HS, claims), { now: NOW * 1000, type: 'access' }));
    assert.equal(bad({ ...ok, iss: 'https://evil.example' }), 'invalid_claims');
    assert.equal(bad({ ...ok, iss: undefined }), 'invalid_claims');
    assert.equal(bad({ ...ok, aud: 'web' }), 'invalid_claims');
    assert.equal(bad({ ...ok, aud: [] }), 'invalid_claims');
    assert.equal(bad({ ...ok, aud: undefined }), 'invalid_claims');
    // Cross-JWT confusion (RFC 8725 §2.8): a password-reset or refresh token presented as an access token.
    // The kind of a token is its `type` claim (covered by the MAC); the JOSE header `typ` is not
    // consulted, as every token we issue says "JWT" there.
    assert.equal(bad({ ...ok, type: 'password_reset' }), 'wrong_type');
    assert.equal(bad({ ...ok, type: 'refresh' }), 'wrong_type');
    assert.equal(bad({ ...ok, type: undefined }), 'wrong_type');
  });
  test('9.6 wait until expiry: valid until exp, refused from exp on (injected clock)', () => {
    const t = codec.encode({ sub: 'alice', type: 'access' }); // iat NOW, exp NOW + 900
    assert.equal(
      codeOf(() => codec.decode(t, { now: (NOW + 899) * 1000 })),
      'accepted',
    );
    assert.equal(
      codeOf(() => codec.decode(t, { now: (NOW + 900) * 1000 })),
      'expired',
    );
    assert.equal(
      codeOf(() => codec.decode(t, { now: (NOW + 900) * 1000 })),
      'expired',
    );
  });
});

describe('10. structure and base64url', () => {
  test('10.1 extra segment (H.P.S. and H.P.S.foo) -> malformed', () => {
    refused(`${VALID}.`, 'malformed');
    refused(`${VALID}.foo`, 'malformed');
  });
  test('10.2 missing or empty segments -> malformed (empty payload with a wrong MAC: bad_signature)', () => {
    for (const t of ['', '.', '..', `.${P}.${S}`, `${P}.${S}`, `${H}.${P}`, H, `.${P}.`]) refused(t, 'malformed', t);
    // Empty payload (and signature): structurally a JWS; the MAC over 'H.' does not match.
    refused(`${H}..${S}`, 'bad_signature');
    refused(`${H}..`, 'bad_signature');
    // Empty payload with its own valid MAC: the JWS verifies, the empty payload is not JSON.
    refused(`${H}..${mac(`${H}.`)}`, 'malformed');
  });
  test('10.3 JWE-shaped five-segment string -> malformed', () => {
    refused(`${enc({ alg: 'dir', enc: 'A128CBC-HS256' })}..${enc('iv-iv-iv-iv-iv-i')}.${P}.${S}`, 'malformed');
    refused(`${H}.${P}.${S}.${S}.${S}`, 'malformed');
  });
  test('10.4 JWS JSON serialization given to the compact API -> malformed', () => {
    refused(JSON.stringify({ payload: P, protected: H, signature: S }), 'malformed');
    refused(JSON.stringify({ payload: P, signatures: [{ protected: H, signature: S }] }), 'malformed');
  });
  test('10.5 "=" padding on any segment -> malformed, also with the MAC recomputed over the padded text', () => {
    // Make every segment's length not a multiple of 4, so each has padding to add.
    const claims = { ...CLAIMS, pad: 'x' };
    const h = enc(HS);
    let p = enc(claims);
    for (let i = 0; p.length % 4 === 0 && i < 3; i++) p = enc({ ...claims, pad: 'x'.repeat(i + 2) });
    const pad = (s: string) => s + '='.repeat((4 - (s.length % 4)) % 4);
    assert.notEqual(p.length % 4, 0);
    assert.ok(S.length % 4 !== 0);
    refused(`${h}.${p}.${pad(S)}`, 'malformed');
    refused(`${h}.${pad(p)}.${mac(`${h}.${pad(p)}`)}`, 'malformed');
    const paddedHeader = pad(enc({ alg: 'HS256', t: 'x' }));
    assert.ok(paddedHeader.endsWith('='));
    refused(`${paddedHeader}.${p}.${mac(`${paddedHeader}.${p}`)}`, 'malformed');
  });
  test('10.6 standard alphabet (+ and /) in place of - and _ -> malformed', () => {
    // Find a deterministic claims set whose header, payload or MAC needs - or _.
    let token = '';
    for (let i = 0; ; i++) {
      token = jws(HS, { ...CLAIMS, n: i });
      if (/[-_]/.test(token)) break;
    }
    const standard = token.replace(/-/g, '+').replace(/_/g, '/');
    assert.notEqual(standard, token);
    refused(standard, 'malformed');
    assert.equal(
      codeOf(() => codec.decode(token, { now: NOW * 1000 })),
      'accepted',
    );
  });
  test('10.7 whitespace, newlines, ? or # in or around segments -> malformed', () => {
    const variants = [
      ` ${VALID}`,
      `${VALID} `,
      `${VALID}\n`,
      `${VALID}\r\n`,
      `\t${VALID}`,
      `${H} .${P}.${S}`,
      `${H}.${P}. ${S}`,
      `${H}.${P}.${S.slice(0, 10)} ${S.slice(10)}`,
      `${H}?.${P}.${S}`,
      `${H}.${P}.${S}?`,
      `${H}.${P}.${S}#`,
    ];
    for (const t of variants) refused(t, 'malformed', JSON.stringify(t));
    // Whitespace inside the payload with the old MAC: the MAC (over the ASCII as sent) fails first.
    refused(`${H}.${P}\n.${S}`, 'bad_signature');
    refused(`${H}.#${P}.${S}`, 'bad_signature');
    // Also with the MAC recomputed over the ASCII as sent (payload whitespace reaches the decoder).
    refused(`${H}.${P} .${mac(`${H}.${P} `)}`, 'malformed');
  });
  test('10.8 non-canonical trailing bits in the payload, MAC over the ASCII as sent -> malformed', () => {
    // A payload whose encoding ends with a 2-symbol group (length % 4 == 2): 4 unused bits.
    let claims: object = CLAIMS;
    for (let i = 0; enc(claims).length % 4 !== 2; i++) claims = { ...CLAIMS, pad: 'y'.repeat(i) };
    const p = enc(claims);
    const last = p[p.length - 1] as string;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const nonCanonical = p.slice(0, -1) + alphabet[alphabet.indexOf(last) | 1];
    // Node's lenient decoder reads both as the same bytes: only strictness catches it.
    assert.deepEqual(Buffer.from(nonCanonical, 'base64url'), Buffer.from(p, 'base64url'));
    refused(`${H}.${nonCanonical}.${mac(`${H}.${nonCanonical}`)}`, 'malformed');
    // Same trick on the MAC itself (43 chars, 2 unused bits).
    const sLast = S[S.length - 1] as string;
    const sNon = S.slice(0, -1) + alphabet[alphabet.indexOf(sLast) | 1];
    refused(`${H}.${P}.${sNon}`, 'malformed');
    // And the Wycheproof case itself: payload 'AB' (tcId 375) at the JWS layer.
    const jwsLayer = createJwtCodec(createKeyRing([{ secret: K_B64 }]));
    assert.equal(
      codeOf(() => jwsLayer.verifyJws(`${H}.AB.${mac(`${H}.AB`)}`)),
      'malformed',
    );
    assert.equal(
      codeOf(() => jwsLayer.verifyJws(`${H}.AA.${mac(`${H}.AA`)}`)),
      'accepted',
    );
  });
  test('10.x oversized tokens are refused before any MAC work -> malformed', () => {
    const big = jws(HS, { ...CLAIMS, blob: 'x'.repeat(9000) });
    refused(big, 'malformed');
    const roomy = createCodec({ format: 'jwt', secret: K_B64, maxTokenLength: 20_000 });
    assert.equal(
      codeOf(() => roomy.decode(big, { now: NOW * 1000 })),
      'accepted',
    );
  });
});

describe('Fernet extra recipes (fernet/spec Spec.md)', () => {
  const secret = 'cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=';
  const signKey = Buffer.from(secret, 'base64url').subarray(0, 16);
  const fernet = createCodec({ format: 'fernet', secret, clock: () => NOW * 1000 });
  const token = fernet.encode({ sub: 'alice', type: 'access' });
  const raw = decodeBase64urlPadded(token)!;
  const resign = (body: Buffer) =>
    encodeBase64urlPadded(Buffer.concat([body, createHmac('sha256', signKey).update(body).digest()]));
  const fRefused = (t: string, code: TokenErrorCode) =>
    assert.equal(
      codeOf(() => fernet.decode(t, { now: NOW * 1000 })),
      code,
    );

  test('control: the token and a re-MACed copy of it are accepted', () => {
    assert.equal(fernet.decode(token, { now: NOW * 1000 }).sub, 'alice');
    assert.equal(
      codeOf(() => fernet.decode(resign(raw.subarray(0, -32)), { now: NOW * 1000 })),
      'accepted',
    );
  });
  test('version byte other than 0x80 (correctly MACed) -> malformed', () => {
    for (const v of [0x00, 0x01, 0x7f, 0x81, 0xff]) {
      const body = Buffer.from(raw.subarray(0, -32));
      body[0] = v;
      fRefused(resign(body), 'malformed');
    }
  });
  test('HMAC truncated or missing -> malformed when under 73 bytes, bad_signature otherwise', () => {
    assert.ok(raw.length - 32 >= 73, 'claims take several blocks');
    fRefused(encodeBase64urlPadded(raw.subarray(0, -32)), 'bad_signature');
    fRefused(encodeBase64urlPadded(raw.subarray(0, -1)), 'bad_signature');
    fRefused(encodeBase64urlPadded(raw.subarray(0, 72)), 'malformed');
  });
  test('decrypt only after the MAC, and a padding failure looks exactly like a MAC failure', () => {
    const badMac = Buffer.from(raw);
    badMac[raw.length - 1] = (badMac[raw.length - 1] as number) ^ 1;
    // Last ciphertext block replaced: the MAC is valid, the PKCS#7 padding almost surely not.
    const body = Buffer.from(raw.subarray(0, -32));
    body.fill(0x5a, body.length - 16);
    const a = errorOf(() => fernet.decode(encodeBase64urlPadded(badMac), { now: NOW * 1000 }));
    const b = errorOf(() => fernet.decode(resign(body), { now: NOW * 1000 }));
    assert.equal(a.code, 'bad_signature');
    assert.equal(b.code, a.code);
    assert.equal(b.message, a.message);
  });
  test('Fernet is padded base64url (= accepted) while JWS refuses =: the unpadded Fernet token is malformed', () => {
    assert.ok(token.endsWith('='), 'this token needs padding');
    fRefused(token.replace(/=+$/, ''), 'malformed');
    let urlToken = token;
    while (!/[-_]/.test(urlToken)) urlToken = fernet.encode({ sub: 'alice' });
    fRefused(urlToken.replace(/-/g, '+').replace(/_/g, '/'), 'malformed');
    refused(`${H}.${P}.${S}=`, 'malformed');
  });
});
