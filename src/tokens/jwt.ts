/**
 * HS256 JWT (RFC 7519) as a JWS Compact Serialization (RFC 7515 §7.1), written
 * by hand: BASE64URL(header) '.' BASE64URL(payload) '.' BASE64URL(HMAC-SHA256).
 *
 * What the verifier refuses, and why:
 * - `alg` is pinned to HS256 and never taken from the token (RFC 8725 §3.1):
 *   `none`, other HMAC sizes, case variants and asymmetric algs are `unsupported`.
 * - `crit` (RFC 7515 §4.1.11): we implement no extension, so any `crit` is refused;
 *   `b64: false` (RFC 7797) likewise.
 * - `jwk`, `jku`, `x5u`, `x5c` are never read: keys come only from the key ring.
 * - `kid` selects a key of the ring, nothing else (no paths, no queries).
 * - The MAC is compared in constant time, and the payload is parsed only after it
 *   verified. Segments must be canonical unpadded base64url (RFC 7515 §2).
 *
 * @module
 */
import { TokenError } from '../errors.js';
import { decodeBase64url, encodeBase64url, isBase64url } from '../internal/base64url.js';
import { type PreparedHmac, prepareHmacSha256 } from '../internal/crypto.js';
import type { Key, KeyRing } from '../keys.js';
import { type Claims, isClaimsObject, parseClaims } from './claims.js';

interface JwtKey {
  kid: string;
  hmac: PreparedHmac;
  /** The header we emit with this key, already encoded: lets verify skip header parsing. */
  headerB64: string;
}

export const DEFAULT_MAX_TOKEN_LENGTH = 8192;

export interface JwtCodec {
  /** Signs a claims object. */
  sign(claims: Claims): string;
  /** Verifies the JWS and returns the payload bytes (no claim checks): the raw JWS layer. */
  verifyJws(token: string): Buffer;
  /** Verifies the JWS and parses the payload as a JWT claims set (no time checks). */
  verify(token: string): Claims;
}

function prepareKey(key: Key, typ: string): JwtKey {
  // Field order is fixed, so the encoded header is a constant per key.
  const headerB64 = encodeBase64url(JSON.stringify({ alg: 'HS256', typ, kid: key.kid }));
  return { kid: key.kid, hmac: prepareHmacSha256(key.bytes), headerB64 };
}

/** RFC 9068 §2.1: the `typ` of a JWT access token; §4 also accepts the full media type. */
export const ACCESS_TOKEN_TYP = 'at+jwt';

/**
 * @param typ the `typ` header of the tokens signed. `JWT` (the default) verifies tokens of
 *   any `typ`; any other value (`at+jwt`) is also required of every token verified, so a JWT
 *   of another kind signed with the same key cannot pass for one (RFC 9068 §4, RFC 8725 §3.11).
 */
export function createJwtCodec(ring: KeyRing, maxTokenLength = DEFAULT_MAX_TOKEN_LENGTH, typ = 'JWT'): JwtCodec {
  const requiredTyp = typ === 'JWT' ? undefined : typ.toLowerCase();
  const keys = ring.keys.map((k) => prepareKey(k, typ));
  const signer = keys[0] as JwtKey;
  const byHeader = new Map(keys.map((k) => [k.headerB64, k]));
  const byKid = new Map(keys.map((k) => [k.kid, k]));
  const signerPrefix = `${signer.headerB64}.`;
  let encodeScratch = Buffer.alloc(2048);
  /** Our headers (the first few keys, signing key first: the most likely one). */
  const ownHeaders = keys.slice(0, 8).map((k) => ({ headerB64: k.headerB64, keys: [k] as const }));

  /** Keys that may have signed a token with this header (parsing it when it is not one of ours). */
  function keysForHeader(headerB64: string): readonly JwtKey[] {
    const known = byHeader.get(headerB64);
    if (known) return [known];
    const bytes = decodeBase64url(headerB64);
    if (bytes === null || bytes.length === 0) throw new TokenError('malformed', 'The JWS header is not base64url');
    let header: unknown;
    try {
      header = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes));
    } catch {
      throw new TokenError('malformed', 'The JWS header is not JSON');
    }
    if (!isClaimsObject(header)) throw new TokenError('malformed', 'The JWS header is not a JSON object');
    const { alg, crit, b64, kid } = header;
    // RFC 7515 §4.1.1: alg MUST be present; it is case-sensitive.
    if (typeof alg !== 'string') throw new TokenError('malformed', 'The JWS header has no alg');
    if (alg !== 'HS256') throw new TokenError('unsupported', 'Only HS256 is accepted');
    // RFC 7515 §4.1.11: a recipient MUST reject a crit it does not understand; we understand none.
    if (crit !== undefined) {
      if (!Array.isArray(crit)) throw new TokenError('malformed', 'The crit header must be an array');
      throw new TokenError('unsupported', 'No critical header extension is supported');
    }
    // RFC 7797: unencoded payloads are not JWTs.
    if (b64 !== undefined && b64 !== true) throw new TokenError('unsupported', 'Unencoded payloads are not supported');
    if (requiredTyp !== undefined) {
      // RFC 9068 §4: typ is `at+jwt` or `application/at+jwt` (media types compare case-insensitively).
      const t = typeof header.typ === 'string' ? header.typ.toLowerCase() : undefined;
      if (t !== requiredTyp && t !== `application/${requiredTyp}`) {
        throw new TokenError('wrong_type', `The token's typ header is not ${typ}`);
      }
    }
    if (kid === undefined) return keys;
    if (typeof kid !== 'string') throw new TokenError('malformed', 'The kid header must be a string');
    const key = byKid.get(kid);
    if (!key) throw new TokenError('unknown_key');
    return [key];
  }

  function verifyJws(token: string): Buffer {
    if (typeof token !== 'string' || token.length === 0) throw new TokenError('malformed', 'The token is empty');
    if (token.length > maxTokenLength) throw new TokenError('malformed', 'The token is too long');
    const d1 = token.indexOf('.');
    const d2 = d1 < 0 ? -1 : token.indexOf('.', d1 + 1);
    if (d2 < 0 || token.indexOf('.', d2 + 1) !== -1) {
      throw new TokenError('malformed', 'A JWS compact serialization has exactly three parts');
    }
    const signature = token.slice(d2 + 1);
    if (!isBase64url(signature)) throw new TokenError('malformed', 'The JWS signature is not base64url');
    // Tokens we issued carry one of our exact headers: a prefix compare finds the key
    // without hashing the header string for a map lookup.
    let candidates: readonly JwtKey[] | undefined;
    for (const own of ownHeaders) {
      if (d1 === own.headerB64.length && token.startsWith(own.headerB64)) {
        candidates = own.keys;
        break;
      }
    }
    candidates ??= keysForHeader(token.slice(0, d1));
    const signingInput = token.slice(0, d2);
    let ok = false;
    for (const key of candidates) {
      // Constant-time comparison of the MAC bytes; `signature` was checked to be canonical above.
      if (key.hmac.verifyBase64url(signingInput, signature)) ok = true;
    }
    if (!ok) throw new TokenError('bad_signature');
    const payload = decodeBase64url(token.slice(d1 + 1, d2));
    if (payload === null) throw new TokenError('malformed', 'The JWS payload is not base64url');
    return payload;
  }

  return {
    sign(claims: Claims): string {
      const json = JSON.stringify(claims);
      // UTF-8 into a reused buffer, then base64url straight out of it: saves a Buffer per token.
      if (json.length * 3 > encodeScratch.length) encodeScratch = Buffer.alloc(json.length * 3);
      const n = encodeScratch.write(json, 0, 'utf8');
      const input = signerPrefix + encodeScratch.toString('base64url', 0, n);
      return `${input}.${signer.hmac.macBase64url(input)}`;
    },
    verifyJws,
    verify(token: string): Claims {
      return parseClaims(verifyJws(token));
    },
  };
}
