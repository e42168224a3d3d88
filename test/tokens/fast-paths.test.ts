/**
 * The verify fast paths answer exactly as the full path (property tests, fast-check).
 *
 * `codec.decode` of a `jwt` codec recognises the exact header bytes of its own keys and skips
 * the header parser for them; it reads an HS256 signature with the strict JavaScript decoder
 * (no separate alphabet scan), and an asymmetric one is checked for canonical base64url only
 * when the signature does not verify. The oracle here is the full path written out from the
 * RFCs: split on the dots, the signature canonical base64url (RFC 7515 §2) or `malformed`, the
 * one header parser (`parseJwsHeader`), the key and `typ` rules, the MAC with `createHmac` and
 * `timingSafeEqual` (or the signature over the signing input's bytes), the payload decoded by
 * Node's decoder and kept only when canonical, strict UTF-8, JSON, then the claim checks. For
 * valid tokens of ours and every kind of change to them (a character anywhere, another header,
 * another payload, a re-signed token, a non-canonical, shortened or lengthened signature), the
 * codec and the oracle give the same claims or the same error code. Runs are CI-sized; FC_RUNS
 * scales them.
 */
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { TokenError } from '../../src/errors.js';
import { decodeBase64url, isBase64url } from '../../src/internal/base64url.js';
import { type ClaimRules, type Claims, checkClaims, parseClaims } from '../../src/tokens/claims.js';
import { createCodec } from '../../src/tokens/codec.js';
import { type AsymmetricAlg, generateSigningJwk, parseSigningKeySet } from '../../src/tokens/jwk.js';
import { checkJwsType, DEFAULT_MAX_TOKEN_LENGTH, parseJwsHeader, selectVerificationKey } from '../../src/tokens/jwt.js';
import { b64, signatureOf } from '../support/asymmetric.js';
import { codeOf } from '../support/codes.js';

const RUNS = Number(process.env.FC_RUNS ?? 300);
const NOW = 1_750_000_000;
const clock = () => NOW * 1000;

/** The verdict of a decode: the claims it returned (as JSON) or its error code. */
function verdict(fn: () => Claims): string {
  let claims: Claims | undefined;
  const code = codeOf(() => {
    claims = fn();
  });
  return code === 'accepted' ? `accepted ${JSON.stringify(claims)}` : code;
}

/** The three parts of a compact JWS, or `malformed` (RFC 7515 §7.1: exactly two dots). */
function splitStrictly(token: string): [string, string, string] {
  if (typeof token !== 'string' || token.length === 0 || token.length > DEFAULT_MAX_TOKEN_LENGTH) {
    throw new TokenError('malformed');
  }
  const parts = token.split('.');
  if (parts.length !== 3) throw new TokenError('malformed');
  const [h, p, s] = parts as [string, string, string];
  if (!isBase64url(s)) throw new TokenError('malformed');
  return [h, p, s];
}

/** The payload's claims: canonical base64url (Node's decoder, kept only when it re-encodes alike), UTF-8 JSON object. */
function claimsOf(p: string, rules: ClaimRules): Claims {
  const bytes = decodeBase64url(p);
  if (bytes === null) throw new TokenError('malformed');
  return checkClaims(parseClaims(bytes), NOW, rules, undefined);
}

/** The full HS256 path for a codec with one key (`kid`). */
function fullHs256(token: string, kid: string, secret: Buffer, typ: string | false): Claims {
  const [h, p, s] = splitStrictly(token);
  const header = parseJwsHeader(h, { embeddedKeys: 'ignore' });
  if (header.alg !== 'HS256') throw new TokenError('unsupported');
  if (header.kid !== undefined && header.kid !== kid) throw new TokenError('unknown_key');
  checkJwsType(header.typ, typ);
  const mac = createHmac('sha256', secret).update(`${h}.${p}`).digest();
  const given = Buffer.from(s, 'base64url');
  if (given.length !== mac.length || !timingSafeEqual(mac, given)) throw new TokenError('bad_signature');
  return claimsOf(p, { leewaySeconds: 0 });
}

// --- How tokens are changed -------------------------------------------------------------------

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** Characters put into a token: its alphabet, separators, padding, and characters outside ASCII and Latin-1. */
const anyChar = fc.oneof(
  fc.constantFrom(...B64URL),
  fc.constantFrom('.', '=', '+', '/', ' ', '\u0000', 'é', '\u00ff', '\u0141', '\uFEFF', '\uD800', '\u4e00'),
);

type Change =
  | { kind: 'none' }
  | { kind: 'char'; op: 'replace' | 'delete' | 'insert'; at: number; ch: string }
  /** The signature's last character moved by 1..3 (non-canonical unused bits for most symbols). */
  | { kind: 'sigLast'; by: number }
  /** The signature shortened or lengthened by a few symbols. */
  | { kind: 'sigLength'; by: number; ch: string };

const changeArb: fc.Arbitrary<Change> = fc.oneof(
  fc.constant<Change>({ kind: 'none' }),
  fc.record({
    kind: fc.constant('char' as const),
    op: fc.constantFrom('replace' as const, 'delete' as const, 'insert' as const),
    at: fc.nat(),
    ch: anyChar,
  }),
  fc.record({ kind: fc.constant('sigLast' as const), by: fc.integer({ min: 1, max: 3 }) }),
  fc.record({
    kind: fc.constant('sigLength' as const),
    by: fc.integer({ min: -4, max: 4 }).filter((n) => n !== 0),
    ch: fc.constantFrom(...B64URL),
  }),
);

function applyChange(token: string, c: Change): string {
  switch (c.kind) {
    case 'none':
      return token;
    case 'char': {
      const i = c.at % (token.length + (c.op === 'insert' ? 1 : 0));
      if (c.op === 'delete') return token.slice(0, i) + token.slice(i + 1);
      if (c.op === 'insert') return token.slice(0, i) + c.ch + token.slice(i);
      return token.slice(0, i) + c.ch + token.slice(i + 1);
    }
    case 'sigLast': {
      const last = B64URL.indexOf(token.charAt(token.length - 1));
      return token.slice(0, -1) + B64URL.charAt((last + c.by) % 64);
    }
    case 'sigLength':
      return c.by < 0 ? token.slice(0, c.by) : token + c.ch.repeat(c.by);
  }
}

/** Headers put in place of ours: ours reordered, other algs, kids and typs, crit, b64, embedded keys, not JSON. */
function headerVariants(alg: string, kid: string, typ: string | undefined): string[] {
  const t = typ === undefined ? {} : { typ };
  return [
    b64({ alg, ...t, kid }),
    b64({ kid, ...t, alg }),
    b64({ alg, ...t }),
    b64({ alg, typ: 'JWT', kid }),
    b64({ alg, typ: 'application/at+jwt', kid }),
    b64({ alg, typ: 'AT+JWT', kid }),
    b64({ alg, kid }),
    b64({ alg, ...t, kid: 'another' }),
    b64({ alg, ...t, kid: 7 }),
    b64({ alg: 'none', ...t, kid }),
    b64({ alg: 'HS256', ...t, kid }),
    b64({ alg: 'RS256', ...t, kid }),
    b64({ alg: 'EdDSA', ...t, kid }),
    b64({ alg: 'hs256', ...t, kid }),
    b64({ alg, ...t, kid, crit: ['exp'] }),
    b64({ alg, ...t, kid, crit: 'exp' }),
    b64({ alg, ...t, kid, b64: false }),
    b64({ alg, ...t, kid, jwk: { kty: 'oct', k: 'AAAA' } }),
    b64({ alg, ...t, kid, jku: 'https://evil.example/jwks' }),
    b64('[]'),
    b64('not json'),
    `${b64({ alg, ...t, kid })}A`,
    '',
  ];
}

/** Payloads put in place of ours: valid, expired, not yet valid, without exp, other iss/aud, not an object, not JSON, not UTF-8, not canonical. */
function payloadVariants(base: Claims): string[] {
  return [
    b64(base),
    b64({ ...base, exp: NOW - 1 }),
    b64({ ...base, nbf: NOW + 60 }),
    b64({ ...base, exp: undefined }),
    b64({ ...base, exp: '2030' }),
    b64({ ...base, iss: 'https://other.example' }),
    b64({ ...base, aud: ['https://other.example', 'https://api.example'] }),
    b64({ ...base, aud: 42 }),
    b64({ ...base, sub: 42 }),
    b64({ ...base, name: 'Zoë 😀' }),
    b64('[1,2]'),
    b64('{"exp":'),
    b64(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d])),
    b64(`\uFEFF${JSON.stringify(base)}`),
    `${b64(base)}B`,
    '',
  ];
}

/** A token to verify: one of ours, or one assembled from a header and a payload variant, re-signed or not, then changed. */
function tokenArb(own: fc.Arbitrary<string>, headers: string[], payloads: string[], sign: (input: string) => string) {
  const assembled = fc
    .record({
      h: fc.nat({ max: headers.length - 1 }),
      p: fc.nat({ max: payloads.length - 1 }),
      resign: fc.boolean(),
      from: own,
    })
    .map(({ h, p, resign, from }) => {
      const input = `${headers[h]}.${payloads[p]}`;
      return `${input}.${resign ? sign(input) : from.slice(from.lastIndexOf('.') + 1)}`;
    });
  return fc.tuple(fc.oneof(own, assembled), changeArb).map(([t, c]) => applyChange(t, c));
}

/**
 * Every header variant with every payload variant, re-signed and with the signature of `own`,
 * each as is and with its signature made non-canonical, shortened and lengthened.
 */
function everyCombination(own: string, headers: string[], payloads: string[], sign: (input: string) => string): string[] {
  const tokens = [own];
  const ownSignature = own.slice(own.lastIndexOf('.') + 1);
  for (const h of headers) {
    for (const p of payloads) {
      const input = `${h}.${p}`;
      for (const signature of [sign(input), ownSignature]) {
        const token = `${input}.${signature}`;
        tokens.push(token, applyChange(token, { kind: 'sigLast', by: 1 }));
        tokens.push(applyChange(token, { kind: 'sigLength', by: -1, ch: 'A' }));
        tokens.push(applyChange(token, { kind: 'sigLength', by: 4, ch: 'A' }));
      }
    }
  }
  return tokens;
}

/** Every answer a decode can give here: each must be reached, so that none goes untested. */
const EVERY_ANSWER = [
  'accepted',
  'malformed',
  'bad_signature',
  'unsupported',
  'unknown_key',
  'invalid_claims',
  'expired',
  'not_yet_valid',
];

/** Asserts the codec and the oracle agree on every token, and that every answer was reached. */
/** The same verdict from `decode` and `full` for `runs` tokens drawn from `tokens` (fast-check). */
function assertSameOnDrawn(
  tokens: fc.Arbitrary<string>,
  decode: (t: string) => Claims,
  full: (t: string) => Claims,
  runs: number,
): void {
  fc.assert(
    fc.property(tokens, (token) => {
      assert.equal(
        verdict(() => decode(token)),
        verdict(() => full(token)),
        token,
      );
    }),
    { numRuns: runs },
  );
}

function assertSameAnswers(tokens: string[], decode: (t: string) => Claims, full: (t: string) => Claims): void {
  const seen = new Set<string>();
  for (const token of tokens) {
    const got = verdict(() => decode(token));
    assert.equal(
      got,
      verdict(() => full(token)),
      token,
    );
    seen.add(got.startsWith('accepted') ? 'accepted' : got);
  }
  for (const v of EVERY_ANSWER) assert.ok(seen.has(v), `${v} was reached (${[...seen].join(', ')})`);
}

const subArb = fc.string({ maxLength: 24, unit: 'binary' });

describe('HS256: codec.decode answers as the full path', () => {
  const secret = Buffer.alloc(32, 0x5c);
  const kid = 'k1';
  const hs = (input: string) => createHmac('sha256', secret).update(input).digest('base64url');
  for (const typ of ['JWT', 'at+jwt']) {
    test(`typ ${typ}: our tokens and every kind of change to them`, () => {
      const codec = createCodec({ format: 'jwt', secret: [{ kid, secret }], typ, clock });
      const required = typ === 'JWT' ? false : typ;
      const base = { sub: 'alice', iat: NOW, exp: NOW + 900, jti: 'j1' };
      const full = (token: string) => fullHs256(token, kid, secret, required);
      const headers = headerVariants('HS256', kid, typ);
      const payloads = payloadVariants(base);
      assertSameAnswers(everyCombination(codec.encode({ sub: 'alice' }), headers, payloads, hs), codec.decode, full);
      const own = subArb.map((sub) => codec.encode({ sub, type: 'access' }));
      assertSameOnDrawn(tokenArb(own, headers, payloads, hs), codec.decode, full, RUNS * 4);
    });
  }
});

for (const alg of ['RS256', 'EdDSA'] as const satisfies readonly AsymmetricAlg[]) {
  describe(`${alg}: codec.decode answers as the full path`, () => {
    const jwk = generateSigningJwk(alg);
    const set = parseSigningKeySet({ keys: [jwk] });
    const iss = 'https://auth.example';
    const aud = 'https://api.example';
    const rules: ClaimRules = { leewaySeconds: 0, issuer: iss, audience: aud };
    const byKid = new Map(set.keys.map((k) => [k.kid, k]));

    /** The full path: the signature over the signing input's bytes (one per character, as the codec writes them). */
    function fullAsymmetric(token: string): Claims {
      const [h, p, s] = splitStrictly(token);
      const header = parseJwsHeader(h);
      const key = selectVerificationKey(header, byKid, set.keys, [alg]);
      checkJwsType(header.typ, 'at+jwt');
      if (!key.verifier.verifyBytes(Buffer.from(`${h}.${p}`, 'latin1'), Buffer.from(s, 'base64url'))) {
        throw new TokenError('bad_signature');
      }
      return claimsOf(p, rules);
    }

    test('our tokens and every kind of change to them', () => {
      const codec = createCodec({ format: 'jwt', signingKeys: set, issuer: iss, audience: aud, clock });
      const base = { sub: 'alice', iss, aud, iat: NOW, exp: NOW + 900, jti: 'j1' };
      const headers = headerVariants(alg, jwk.kid, 'at+jwt');
      const payloads = payloadVariants(base);
      const sign = (input: string) => signatureOf(jwk, input);
      assertSameAnswers(
        everyCombination(codec.encode({ sub: 'alice', iss, aud }), headers, payloads, sign),
        codec.decode,
        fullAsymmetric,
      );
      const own = subArb.map((sub) => codec.encode({ sub, iss, aud }));
      assertSameOnDrawn(tokenArb(own, headers, payloads, sign), codec.decode, fullAsymmetric, alg === 'RS256' ? RUNS : RUNS * 2);
    });
  });
}
