/**
 * `createCodec`: one API over the self-contained formats (jwt, sealed, fernet).
 *
 * @module
 */
import { ConfigError, TokenError } from '../errors.js';
import { randomBase64url } from '../internal/crypto.js';
import { type KeyInput, type KeyRing, toKeyRing } from '../keys.js';
import { type ClaimRules, type Claims, checkClaims, type DecodeOptions, nowSeconds, parseClaims } from './claims.js';
import { FERNET_MAX_CLOCK_SKEW, fernetDecrypt, fernetEncrypt, fernetKeysOf, fernetTimestamp } from './fernet.js';
import type { SigningKeySet } from './jwk.js';
import { createAsymmetricJwtCodec, createJwtCodec, DEFAULT_MAX_TOKEN_LENGTH } from './jwt.js';
import { createSealedCodec } from './sealed.js';
import { deepFreeze, VerifiedTokenCache } from './verified-cache.js';

export const SELF_CONTAINED_FORMATS = ['jwt', 'sealed', 'fernet'] as const;
export type SelfContainedFormat = (typeof SELF_CONTAINED_FORMATS)[number];

export interface CodecOptions {
  format: SelfContainedFormat;
  /**
   * The key material: one secret (base64url string or bytes, >= 32 bytes), a list
   * `[{ kid?, secret }]` or a key ring (`createKeyRing`): the first key signs, all verify.
   * Not needed with `signingKeys`.
   */
  secret?: KeyInput;
  /** Lifetime given to tokens encoded without `exp` (seconds, default 900). */
  ttlSeconds?: number;
  /** Clock skew tolerated on `exp` and `nbf` (seconds, default 0). */
  leewaySeconds?: number;
  /** Accept only these issuers (`iss`). */
  issuer?: string | readonly string[];
  /** Accept only tokens for one of these audiences (`aud`). */
  audience?: string | readonly string[];
  /** Longest token accepted, in characters (default 8192). */
  maxTokenLength?: number;
  /** Milliseconds since the epoch (default `Date.now`). */
  clock?: () => number;
  /**
   * Remember up to this many verified tokens, so presenting the same token again
   * skips the MAC, decryption and JSON parsing (the claim checks still run every
   * time). Default 0: no cache. With a cache, `decode` returns deep-frozen claims
   * (the same object for the same token). See src/tokens/verified-cache.ts.
   */
  cacheSize?: number;
  /**
   * `jwt` only: sign with EdDSA, ES256 or RS256 instead of HS256, with the first key of this
   * set (src/tokens/jwk.ts `parseSigningKeySet`); every key of the set verifies.
   * No secret is needed then. Tokens carry `typ: "at+jwt"` (RFC 9068 §2.1) unless `typ` says otherwise.
   */
  signingKeys?: SigningKeySet;
  /**
   * `jwt` only: the `typ` header of the tokens encoded (default `JWT` for HS256, `at+jwt` with
   * `signingKeys`). Any value but `JWT`, such as `at+jwt` for access tokens (RFC 9068 §2.1), is
   * also required on decode (`invalid_claims` otherwise), so a JWT of another kind signed with
   * the same key cannot pass for one (RFC 8725 §3.11).
   */
  typ?: string;
}

export interface Codec {
  readonly format: SelfContainedFormat;
  /** The JWS algorithm of a `jwt` codec made with `signingKeys` (EdDSA, ES256, RS256); absent otherwise. */
  readonly alg?: string;
  /**
   * Encodes claims. `iat` (now), `exp` (now + ttl) and `jti` (random) are added
   * when absent; everything else is kept as given.
   */
  encode(claims: Claims): string;
  /** Verifies and returns the claims; throws `TokenError` with a stable `.code`. */
  decode(token: string, options?: DecodeOptions): Claims;
}

/** 128 random bits, base64url: unique token and family ids. */
export function newId(): string {
  return randomBase64url(16);
}

function positiveInt(v: number | undefined, fallback: number, name: string): number {
  if (v === undefined) return fallback;
  if (!Number.isFinite(v) || v < 0) throw new ConfigError(`${name} must be a non-negative number of seconds`);
  return v;
}

export function createCodec(options: CodecOptions): Codec {
  const { format } = options;
  if (!SELF_CONTAINED_FORMATS.includes(format)) {
    throw new ConfigError(`unknown token format "${String(format)}"; expected one of ${SELF_CONTAINED_FORMATS.join(', ')}`);
  }
  // One name for key material; `keys` (an earlier name) would otherwise be silently ignored.
  if ((options as { keys?: unknown }).keys !== undefined) {
    throw new ConfigError('createCodec takes key material as `secret` (a secret, a list of keys or a key ring), not `keys`');
  }
  const keyInput = options.secret;
  const asymmetric = options.signingKeys;
  if (asymmetric !== undefined && format !== 'jwt')
    throw new ConfigError('signingKeys (EdDSA, ES256, RS256) apply to the jwt format only');
  if (keyInput === undefined && asymmetric === undefined) throw new ConfigError('createCodec needs a secret');
  const ring = keyInput === undefined ? undefined : toKeyRing(keyInput);
  const clock = options.clock ?? Date.now;
  const ttl = positiveInt(options.ttlSeconds, 900, 'ttlSeconds');
  const rules: ClaimRules = {
    leewaySeconds: positiveInt(options.leewaySeconds, 0, 'leewaySeconds'),
    issuer: options.issuer,
    audience: options.audience,
  };
  const maxLength = options.maxTokenLength ?? DEFAULT_MAX_TOKEN_LENGTH;
  const cacheSize = options.cacheSize ?? 0;
  if (!Number.isSafeInteger(cacheSize) || cacheSize < 0) throw new ConfigError('cacheSize must be a non-negative integer');
  const cache = cacheSize > 0 ? new VerifiedTokenCache(cacheSize) : undefined;

  let encodeClaims: (claims: Claims) => string;
  let decodeClaims: (token: string, nowSec: number) => Claims;
  /**
   * The time from which a verified token may come from the cache. Only Fernet's
   * verification depends on `now` (a timestamp more than the clock skew ahead is refused).
   */
  let validFromSec: (token: string) => number = () => Number.NEGATIVE_INFINITY;
  switch (format) {
    case 'jwt': {
      if (asymmetric !== undefined) {
        const jwt = createAsymmetricJwtCodec(asymmetric, {
          maxTokenLength: maxLength,
          ...(options.typ === undefined ? {} : { typ: options.typ }),
        });
        encodeClaims = jwt.sign;
        decodeClaims = jwt.verify;
        break;
      }
      const jwt = createJwtCodec(ring as KeyRing, maxLength, options.typ);
      encodeClaims = jwt.sign;
      decodeClaims = jwt.verify;
      break;
    }
    case 'sealed': {
      const sealed = createSealedCodec(ring as KeyRing, maxLength);
      encodeClaims = sealed.encode;
      decodeClaims = sealed.decode;
      break;
    }
    case 'fernet': {
      const keys = fernetKeysOf(ring as KeyRing);
      const signer = keys[0] as (typeof keys)[number];
      // The Fernet timestamp is the issue time (Spec.md), so Python's `decrypt(token, ttl=...)` works.
      encodeClaims = (claims) =>
        fernetEncrypt(
          signer,
          Buffer.from(JSON.stringify(claims), 'utf8'),
          typeof claims.iat === 'number' ? claims.iat : Math.floor(clock() / 1000),
        );
      decodeClaims = (token, nowSec) => parseClaims(fernetDecrypt(keys, token, { nowSec, maxTokenLength: maxLength }).plaintext);
      validFromSec = (token) => fernetTimestamp(token) - FERNET_MAX_CLOCK_SKEW;
      break;
    }
  }

  return {
    format,
    ...(asymmetric !== undefined ? { alg: asymmetric.alg } : {}),
    encode(claims) {
      const iat = typeof claims.iat === 'number' ? claims.iat : Math.floor(clock() / 1000);
      const exp = claims.exp ?? iat + ttl;
      const jti = claims.jti ?? newId();
      // Same result as `{ ...claims, iat, exp, jti }`, but on Node 20 each property added
      // after a spread takes a slow path (~0.5 µs each, more than signing itself; see
      // bench/): list them first, let the spread keep the caller's values, fix the rare
      // unusable ones (a non-numeric iat, a null exp or jti) afterwards.
      const out: Claims = { iat, exp, jti, ...claims };
      if (out.iat !== iat) out.iat = iat;
      if (out.exp !== exp) out.exp = exp;
      if (out.jti !== jti) out.jti = jti;
      return encodeClaims(out);
    },
    decode(token, opts = {}) {
      const nowSec = nowSeconds(opts.now, clock);
      if (cache === undefined) return checkClaims(decodeClaims(token, nowSec), nowSec, rules, opts.type);
      if (typeof token !== 'string') throw new TokenError('malformed');
      const cached = cache.get(token, nowSec);
      if (cached !== undefined) return checkClaims(cached, nowSec, rules, opts.type);
      const claims = checkClaims(decodeClaims(token, nowSec), nowSec, rules, opts.type);
      cache.set(token, deepFreeze(claims), validFromSec(token));
      return claims;
    },
  };
}
