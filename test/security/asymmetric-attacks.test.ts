/**
 * Attacks on EdDSA/ES256 tokens, against both verifiers: the issuer's codec
 * (`createCodec({ format: 'jwt', signingKeys })`) and a resource server's
 * `createJwksVerifier`. Each builds a concrete token and asserts the exact code.
 * Recipes: test/vectors/data/jwt_attack_cases.md; RFC 8725 §2.1 and §3.1
 * (algorithm confusion, "none"), §3.10 (jku/x5u), Wycheproof json_web_crypto.md
 * ("Attacker-Chosen Verification Key", "Symmetric/Asymmetric Signature Type Confusion").
 */
import assert from 'node:assert/strict';
import { createHmac, createPublicKey } from 'node:crypto';
import { describe, test } from 'node:test';
import { TokenError, type TokenErrorCode } from '../../src/errors.js';
import { createCodec } from '../../src/tokens/codec.js';
import { generateSigningJwk, type PrivateJwk, parseSigningKeySet } from '../../src/tokens/jwk.js';
import { createJwksVerifier } from '../../src/verify/jwks.js';
import { b64, publicOf, signWith, stubFetch } from '../support/asymmetric.js';

const NOW = 1_750_000_000;
const clock = () => NOW * 1000;
const ISS = 'https://auth.example';
const AUD = 'https://api.example';
const ed = generateSigningJwk('EdDSA');
const ec = generateSigningJwk('ES256');
/** Both algorithms in one set, so alg swaps meet a real key of the other type. */
const set = parseSigningKeySet({ keys: [ed, ec] });
const issuerCodec = createCodec({ format: 'jwt', signingKeys: set, clock, issuer: ISS, audience: AUD });
const CLAIMS = { sub: 'alice', iss: ISS, aud: AUD, iat: NOW, exp: NOW + 900, jti: 'j1', type: 'access' };
const fetcher = stubFetch({ keys: [publicOf(ed), publicOf(ec)] });
const verifier = createJwksVerifier({
  jwksUri: `${ISS}/.well-known/jwks.json`,
  issuer: ISS,
  audience: AUD,
  clock,
  fetch: fetcher.fetch,
});

async function codes(token: string): Promise<{ codec: TokenErrorCode | 'accepted'; jwks: TokenErrorCode | 'accepted' }> {
  let codec: TokenErrorCode | 'accepted' = 'accepted';
  try {
    issuerCodec.decode(token);
  } catch (e) {
    if (!(e instanceof TokenError)) throw e;
    codec = e.code;
  }
  let jwks: TokenErrorCode | 'accepted' = 'accepted';
  try {
    await verifier.verify(token);
  } catch (e) {
    if (!(e instanceof TokenError)) throw e;
    jwks = e.code;
  }
  return { codec, jwks };
}
const both = (code: TokenErrorCode | 'accepted') => ({ codec: code, jwks: code });
const hs256 = (key: Uint8Array | string, kid: string) => {
  const input = `${b64({ alg: 'HS256', typ: 'at+jwt', kid })}.${b64(CLAIMS)}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
};
const pem = (jwk: PrivateJwk) =>
  createPublicKey({ key: publicOf(jwk) as import('node:crypto').JsonWebKey, format: 'jwk' }).export({
    type: 'spki',
    format: 'pem',
  }) as string;
const rawPublic = (jwk: PrivateJwk) =>
  jwk.kty === 'EC'
    ? Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y as string, 'base64url')])
    : Buffer.from(jwk.x, 'base64url');

describe('asymmetric tokens: the baseline verifies', () => {
  test('tokens of both keys (EdDSA first, then ES256 by kid) verify in the codec and the JWKS verifier', async () => {
    assert.deepEqual(await codes(issuerCodec.encode(CLAIMS)), both('accepted'));
    const esToken = signWith(ec, { alg: 'ES256', typ: 'at+jwt', kid: ec.kid }, CLAIMS);
    assert.deepEqual(await codes(esToken), both('accepted'));
  });
});

describe('asymmetric tokens: attacks refused', () => {
  for (const jwk of [ed, ec]) {
    test(`HS256 with the ${jwk.alg} public key as the HMAC secret (JWK JSON, raw bytes, PEM): unsupported`, async () => {
      for (const key of [JSON.stringify(publicOf(jwk)), rawPublic(jwk), pem(jwk), jwk.x]) {
        assert.deepEqual(await codes(hs256(key, jwk.kid)), both('unsupported'));
      }
    });
  }

  test('alg swapped: an EdDSA header on the ES256 key, and the reverse (each signed by the named key): unsupported', async () => {
    // The ES256 key signs, but the header claims EdDSA under its kid (and the reverse): the key decides the algorithm.
    assert.deepEqual(await codes(signWith(ec, { alg: 'EdDSA', typ: 'at+jwt', kid: ec.kid }, CLAIMS)), both('unsupported'));
    assert.deepEqual(await codes(signWith(ed, { alg: 'ES256', typ: 'at+jwt', kid: ed.kid }, CLAIMS)), both('unsupported'));
  });

  test('alg none (any case), with and without a signature: unsupported', async () => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const input = `${b64({ alg, typ: 'at+jwt', kid: ed.kid })}.${b64(CLAIMS)}`;
      for (const sig of ['', 'AAAA']) {
        const r = await codes(`${input}.${sig}`);
        assert.ok(r.codec === 'unsupported' && r.jwks === 'unsupported', `${alg} "${sig}": ${JSON.stringify(r)}`);
      }
    }
  });

  test('a jwk, jku, x5u or x5c header, even with a valid signature by a key of the set: unsupported', async () => {
    const attacker = generateSigningJwk('EdDSA');
    const headers = [
      { jwk: publicOf(attacker) },
      { jku: 'https://evil.example/jwks.json' },
      { x5u: 'https://evil.example/cert.pem' },
      { x5c: ['MIIB'] },
    ];
    for (const extra of headers) {
      // Signed with the real key: the header alone must end it, before any key is fetched.
      const token = signWith(ed, { alg: 'EdDSA', typ: 'at+jwt', kid: ed.kid, ...extra }, CLAIMS);
      assert.deepEqual(await codes(token), both('unsupported'), Object.keys(extra)[0]);
      // And signed by the attacker's embedded key, without a kid.
      const forged = signWith(attacker, { alg: 'EdDSA', typ: 'at+jwt', ...extra }, CLAIMS);
      assert.deepEqual(await codes(forged), both('unsupported'));
    }
  });

  test('a valid signature by a key not in the set, under a known kid: bad_signature', async () => {
    for (const [real, alg] of [
      [ed, 'EdDSA'],
      [ec, 'ES256'],
    ] as const) {
      const other = generateSigningJwk(alg);
      const token = signWith(other, { alg, typ: 'at+jwt', kid: real.kid }, CLAIMS);
      assert.deepEqual(await codes(token), both('bad_signature'));
    }
  });

  test('an unknown kid: unknown_key', async () => {
    const other = generateSigningJwk('EdDSA');
    assert.deepEqual(await codes(signWith(other, { alg: 'EdDSA', typ: 'at+jwt', kid: other.kid }, CLAIMS)), both('unknown_key'));
  });

  test('ES256 signatures in DER, or with r or s out of range (0, n, > n), or of the wrong size: bad_signature', async () => {
    const der = signWith(ec, { alg: 'ES256', typ: 'at+jwt', kid: ec.kid }, CLAIMS, { der: true });
    assert.deepEqual(await codes(der), both('bad_signature'));
    const good = signWith(ec, { alg: 'ES256', typ: 'at+jwt', kid: ec.kid }, CLAIMS);
    const [h, p, s] = good.split('.') as [string, string, string];
    const sig = Buffer.from(s, 'base64url');
    const r = sig.subarray(0, 32);
    const sv = sig.subarray(32);
    const n = Buffer.from('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551', 'hex');
    const zero = Buffer.alloc(32);
    const ff = Buffer.alloc(32, 0xff);
    const rPlusN = (BigInt(`0x${r.toString('hex')}`) + BigInt(`0x${n.toString('hex')}`)).toString(16).padStart(66, '0');
    const variants = [
      Buffer.concat([zero, sv]),
      Buffer.concat([r, zero]),
      Buffer.concat([n, sv]),
      Buffer.concat([r, n]),
      Buffer.concat([ff, sv]),
      Buffer.concat([r, ff]),
      Buffer.from(rPlusN + sv.toString('hex'), 'hex'), // r + n: 65 bytes
      Buffer.concat([Buffer.from([0]), sig]),
      sig.subarray(0, 63),
      Buffer.concat([zero, zero]),
    ];
    for (const v of variants) {
      assert.deepEqual(await codes(`${h}.${p}.${v.toString('base64url')}`), both('bad_signature'), v.toString('hex'));
    }
  });

  test('Ed25519 signatures malleated (S + L), truncated or padded: bad_signature', async () => {
    const good = issuerCodec.encode(CLAIMS);
    const [h, p, s] = good.split('.') as [string, string, string];
    const sig = Buffer.from(s, 'base64url');
    const L = BigInt('0x1000000000000000000000000000000014def9dea2f79cd65812631a5cf5d3ed');
    const S = BigInt(`0x${Buffer.from(sig.subarray(32)).reverse().toString('hex')}`);
    const sPlusL = Buffer.from((S + L).toString(16).padStart(64, '0'), 'hex').reverse();
    for (const v of [Buffer.concat([sig.subarray(0, 32), sPlusL]), sig.subarray(0, 63), Buffer.concat([sig, Buffer.from([0])])]) {
      assert.deepEqual(await codes(`${h}.${p}.${v.toString('base64url')}`), both('bad_signature'));
    }
  });

  test('a payload changed after signing: bad_signature', async () => {
    const [h, , s] = issuerCodec.encode(CLAIMS).split('.');
    assert.deepEqual(await codes(`${h}.${b64({ ...CLAIMS, sub: 'mallory' })}.${s}`), both('bad_signature'));
  });

  test('crit and b64:false: unsupported; a non-string kid: malformed', async () => {
    assert.deepEqual(
      await codes(signWith(ed, { alg: 'EdDSA', typ: 'at+jwt', kid: ed.kid, crit: ['exp'], exp: 1 }, CLAIMS)),
      both('unsupported'),
    );
    assert.deepEqual(
      await codes(signWith(ed, { alg: 'EdDSA', typ: 'at+jwt', kid: ed.kid, b64: false }, CLAIMS)),
      both('unsupported'),
    );
    assert.deepEqual(await codes(signWith(ed, { alg: 'EdDSA', typ: 'at+jwt', kid: 7 }, CLAIMS)), both('malformed'));
  });

  test('a wrong typ (a JWT that is not an access token, e.g. an ID token): invalid_claims; application/at+jwt passes', async () => {
    for (const typ of ['JWT', 'id_token+jwt', undefined]) {
      const t = signWith(ed, { alg: 'EdDSA', ...(typ ? { typ } : {}), kid: ed.kid }, CLAIMS);
      assert.deepEqual(await codes(t), both('invalid_claims'), String(typ));
    }
    const ok = signWith(ed, { alg: 'EdDSA', typ: 'application/AT+JWT', kid: ed.kid }, CLAIMS);
    assert.deepEqual(await codes(ok), both('accepted'));
  });

  test('iss, aud, exp and nbf are checked', async () => {
    const t = (c: object) => signWith(ed, { alg: 'EdDSA', typ: 'at+jwt', kid: ed.kid }, { ...CLAIMS, ...c });
    assert.deepEqual(await codes(t({ iss: 'https://evil.example' })), both('invalid_claims'));
    assert.deepEqual(await codes(t({ aud: 'https://other-api.example' })), both('invalid_claims'));
    assert.deepEqual(await codes(t({ aud: ['x', AUD] })), both('accepted'));
    assert.deepEqual(await codes(t({ exp: NOW })), both('expired'));
    assert.deepEqual(await codes(t({ exp: undefined })), both('invalid_claims'));
    assert.deepEqual(await codes(t({ nbf: NOW + 60 })), both('not_yet_valid'));
  });
});
