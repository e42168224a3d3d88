/**
 * One verdict per JWS header, whichever algorithm's key would verify it: the same header
 * members are refused with the same code by the HS256 codec, the EdDSA, ES256 and RS256 codecs and a
 * resource server's JWKS verifier (one parser, src/tokens/jwt.ts `parseJwsHeader`). Every
 * token carries a valid signature of its algorithm, so only the header decides. RFC 7515
 * §4.1.1 (alg), §4.1.4 (kid), §4.1.11 (crit: "an array listing the Header Parameter names";
 * one not understood MUST be rejected), RFC 7797 (b64).
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { TokenError, type TokenErrorCode } from '../../src/errors.js';
import { createCodec } from '../../src/tokens/codec.js';
import { generateSigningJwk, parseSigningKeySet } from '../../src/tokens/jwk.js';
import { createJwksVerifier } from '../../src/verify/jwks.js';
import { b64, publicOf, signWith, stubFetch } from '../support/asymmetric.js';

const NOW = 1_750_000_000;
const clock = () => NOW * 1000;
const ISS = 'https://auth.example';
const AUD = 'https://api.example';
const CLAIMS = { sub: 'alice', iss: ISS, aud: AUD, iat: NOW, exp: NOW + 900, jti: 'j1', type: 'access' };
const SECRET = Buffer.alloc(32, 7);
const ed = generateSigningJwk('EdDSA');
const ec = generateSigningJwk('ES256');
const rs = generateSigningJwk('RS256');

const hsCodec = createCodec({ format: 'jwt', secret: SECRET, clock, issuer: ISS, audience: AUD, typ: 'at+jwt' });
const edCodec = createCodec({
  format: 'jwt',
  signingKeys: parseSigningKeySet({ keys: [ed] }),
  clock,
  issuer: ISS,
  audience: AUD,
});
const ecCodec = createCodec({
  format: 'jwt',
  signingKeys: parseSigningKeySet({ keys: [ec] }),
  clock,
  issuer: ISS,
  audience: AUD,
});
const rsCodec = createCodec({
  format: 'jwt',
  signingKeys: parseSigningKeySet({ keys: [rs] }),
  clock,
  issuer: ISS,
  audience: AUD,
});
const verifier = createJwksVerifier({
  jwksUri: `${ISS}/.well-known/jwks.json`,
  issuer: ISS,
  audience: AUD,
  clock,
  fetch: stubFetch({ keys: [publicOf(ed), publicOf(ec), publicOf(rs)] }).fetch,
});

type Verdict = TokenErrorCode | 'accepted';
const verdictOf = async (verify: () => unknown): Promise<Verdict> => {
  try {
    await verify();
    return 'accepted';
  } catch (e) {
    if (!(e instanceof TokenError)) throw e;
    return e.code;
  }
};
const hs256 = (header: object | string) => {
  const input = `${b64(header)}.${b64(CLAIMS)}`;
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`;
};

/** The verdict of every verifier on a header, each token signed by its own algorithm's key. */
async function verdicts(extra: Record<string, unknown>): Promise<Record<string, Verdict>> {
  const edToken = signWith(ed, { alg: 'EdDSA', typ: 'at+jwt', kid: ed.kid, ...extra }, CLAIMS);
  const ecToken = signWith(ec, { alg: 'ES256', typ: 'at+jwt', kid: ec.kid, ...extra }, CLAIMS);
  const rsToken = signWith(rs, { alg: 'RS256', typ: 'at+jwt', kid: rs.kid, ...extra }, CLAIMS);
  return {
    HS256: await verdictOf(() => hsCodec.decode(hs256({ alg: 'HS256', typ: 'at+jwt', ...extra }))),
    EdDSA: await verdictOf(() => edCodec.decode(edToken)),
    ES256: await verdictOf(() => ecCodec.decode(ecToken)),
    RS256: await verdictOf(() => rsCodec.decode(rsToken)),
    'EdDSA (JWKS)': await verdictOf(() => verifier.verify(edToken)),
    'ES256 (JWKS)': await verdictOf(() => verifier.verify(ecToken)),
    'RS256 (JWKS)': await verdictOf(() => verifier.verify(rsToken)),
  };
}
const all = (v: Verdict) => ({
  HS256: v,
  EdDSA: v,
  ES256: v,
  RS256: v,
  'EdDSA (JWKS)': v,
  'ES256 (JWKS)': v,
  'RS256 (JWKS)': v,
});

describe('one verdict per JWS header for HS256, EdDSA, ES256 and RS256', () => {
  test('the baseline header of each algorithm is accepted by every verifier', async () => {
    assert.deepEqual(await verdicts({}), all('accepted'));
  });

  const malformed: [string, Record<string, unknown>][] = [
    ['crit a string', { crit: 'exp', exp: 1 }],
    ['crit null', { crit: null }],
    ['crit an object', { crit: { exp: true } }],
    ['crit a number', { crit: 1 }],
    ['crit an array holding a non-string', { crit: [1] }],
    ['kid a number', { kid: 7 }],
    ['kid null', { kid: null }],
  ];
  for (const [what, extra] of malformed) {
    test(`${what}: malformed for every algorithm (RFC 7515 §4.1.11, §4.1.4)`, async () => {
      assert.deepEqual(await verdicts(extra), all('malformed'));
    });
  }

  const unsupported: [string, Record<string, unknown>][] = [
    ['crit ["exp"] (a well-formed extension list)', { crit: ['exp'], exp: 1 }],
    ['crit []', { crit: [] }],
    ['b64: false with crit ["b64"] (RFC 7797)', { b64: false, crit: ['b64'] }],
    ['b64: false alone', { b64: false }],
  ];
  for (const [what, extra] of unsupported) {
    test(`${what}: unsupported for every algorithm`, async () => {
      assert.deepEqual(await verdicts(extra), all('unsupported'));
    });
  }

  test('a malformed member outranks an unsupported one: crit not an array beside b64:false is malformed', async () => {
    assert.deepEqual(await verdicts({ b64: false, crit: 'b64' }), all('malformed'));
  });

  test('a malformed crit outranks an alg no verifier accepts: {"alg":"none","crit":"x"} is malformed', async () => {
    const header = { alg: 'none', crit: 'x' };
    const token = `${b64(header)}.${b64(CLAIMS)}.`;
    for (const decode of [hsCodec.decode, edCodec.decode, ecCodec.decode, rsCodec.decode, verifier.verify]) {
      assert.equal(await verdictOf(() => decode(token)), 'malformed');
    }
    const noneOnly = `${b64({ alg: 'none' })}.${b64(CLAIMS)}.`;
    for (const decode of [hsCodec.decode, edCodec.decode, ecCodec.decode, rsCodec.decode, verifier.verify]) {
      assert.equal(await verdictOf(() => decode(noneOnly)), 'unsupported');
    }
  });

  test('a header without alg, or not a JSON object: malformed for every algorithm', async () => {
    for (const header of [{ typ: 'at+jwt' }, [1, 2], 'not json', { alg: 256 }]) {
      const token = `${b64(typeof header === 'string' ? header : JSON.stringify(header))}.${b64(CLAIMS)}.c2ln`;
      for (const decode of [hsCodec.decode, edCodec.decode, ecCodec.decode, rsCodec.decode, verifier.verify]) {
        assert.equal(await verdictOf(() => decode(token)), 'malformed', JSON.stringify(header));
      }
    }
  });
});
