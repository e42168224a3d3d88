/**
 * HS256 JWT (RFC 7519) as a JWS Compact Serialization (RFC 7515 §7.1), written
 * by hand: BASE64URL(header) '.' BASE64URL(payload) '.' BASE64URL(HMAC-SHA256).
 *
 * What the verifier refuses, and why:
 * - `alg` is pinned to HS256 and never taken from the token (RFC 8725 §3.1):
 *   `none`, other HMAC sizes, case variants and asymmetric algs are `unsupported`.
 * - One header parser for every algorithm ({@link parseJwsHeader}): a malformed header
 *   (e.g. a `crit` that is not an array, RFC 7515 §4.1.11) is `malformed` whichever key would
 *   verify it; any well-formed `crit` and `b64: false` (RFC 7797) are `unsupported`.
 * - `jwk`, `jku`, `x5u`, `x5c` are never read: keys come only from the key ring (the
 *   asymmetric codecs refuse them outright, RFC 8725 §3.10).
 * - `kid` selects a key of the ring, nothing else (no paths, no queries).
 * - The MAC is compared in constant time, and the payload is parsed only after it
 *   verified. Segments must be canonical unpadded base64url (RFC 7515 §2).
 *
 * @module
 */
import { TokenError } from '../errors.js';
import {
  decodeBase64url,
  decodeBase64urlInto,
  decodeBase64urlText,
  encodeBase64url,
  isBase64url,
} from '../internal/base64url.js';
import { type PreparedHmac, prepareHmacSha256 } from '../internal/hmac.js';
import type { AsymmetricAlg, PreparedSigner } from '../internal/signatures.js';
import type { Key, KeyRing } from '../keys.js';
import { type Claims, isClaimsObject, parseClaimsText } from './claims.js';
import type { VerificationKey } from './jwk.js';
import { DEFAULT_MAX_TOKEN_LENGTH } from './limits.js';

interface JwtKey {
  kid: string;
  hmac: PreparedHmac;
  /** The header we emit with this key, already encoded: lets verify skip header parsing. */
  headerB64: string;
}

export { DEFAULT_MAX_TOKEN_LENGTH };

/** An HS256 MAC: 32 bytes (RFC 7518 §3.2), 43 characters of unpadded base64url. */
const HS256_MAC_BYTES = 32;
const HS256_MAC_BASE64URL_LENGTH = 43;

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

// --- The JWS header and compact serialization, for every algorithm -----------------------------

/** The header members that would let a token bring its own key (RFC 8725 §3.10, Wycheproof "Attacker-Chosen Verification Key"). */
const EMBEDDED_KEY_HEADERS = ['jwk', 'jku', 'x5u', 'x5c'] as const;

/** The positions of the two dots of a compact JWS (exactly two), its signature not yet looked at. */
function locateCompactJws(token: string, maxTokenLength: number): { d1: number; d2: number } {
  if (typeof token !== 'string' || token.length === 0) throw new TokenError('malformed', 'The token is empty');
  if (token.length > maxTokenLength) throw new TokenError('malformed', 'The token is too long');
  const d1 = token.indexOf('.');
  const d2 = d1 < 0 ? -1 : token.indexOf('.', d1 + 1);
  if (d2 < 0 || token.indexOf('.', d2 + 1) !== -1) {
    throw new TokenError('malformed', 'A JWS compact serialization has exactly three parts');
  }
  return { d1, d2 };
}

/** `malformed` unless the signature of a compact JWS (after its second dot, `d2`) is canonical base64url. */
function checkSignatureText(token: string, d2: number): void {
  if (!isBase64url(token.slice(d2 + 1))) throw new TokenError('malformed', 'The JWS signature is not base64url');
}

/** The parts of a compact JWS: the positions of its two dots (exactly two), its signature canonical base64url. */
export function splitCompactJws(token: string, maxTokenLength = DEFAULT_MAX_TOKEN_LENGTH): { d1: number; d2: number } {
  const dots = locateCompactJws(token, maxTokenLength);
  checkSignatureText(token, dots.d2);
  return dots;
}

/**
 * The payload of a compact JWS whose signature verified (`token[d1 + 1, d2)`): canonical
 * base64url, decoded in JavaScript (see {@link decodeBase64urlInto}: on the asymmetric path,
 * Node's SIMD decoder slows the signature verification of the next token). `malformed` otherwise.
 */
export function decodeJwsPayload(token: string, d1: number, d2: number): Buffer {
  const len = d2 - d1 - 1;
  const out = Buffer.allocUnsafe((len >> 2) * 3 + ((len & 3) === 0 ? 0 : (len & 3) - 1));
  if (decodeBase64urlInto(token, d1 + 1, d2, out) !== out.length) {
    throw new TokenError('malformed', 'The JWS payload is not base64url');
  }
  return out;
}

/**
 * The claims of a compact JWS whose signature verified: the payload `token[d1 + 1, d2)`
 * decoded straight to text (no Buffer; see {@link decodeBase64urlInto}), strict UTF-8, a
 * JSON object. `malformed` otherwise.
 */
export function decodeJwsClaims(token: string, d1: number, d2: number): Claims {
  const text = decodeBase64urlText(token, d1 + 1, d2);
  if (text === null) throw new TokenError('malformed', 'The JWS payload is not base64url of UTF-8 JSON');
  return parseClaimsText(text);
}

/** A JWS protected header that passed {@link parseJwsHeader}. */
export type JwsHeader = { alg: string; kid?: string; typ?: unknown } & Claims;

/**
 * The one parser of a JWS protected header, for every algorithm (HS256, EdDSA, ES256, RS256), so a
 * header gets the same verdict whichever key would verify it. Every `malformed` verdict comes
 * before any `unsupported` one:
 * - `malformed`: not canonical base64url, not UTF-8 JSON, not an object (RFC 7515 §4, §5.2);
 *   no string `alg` (§4.1.1); a `crit` that is not an array of strings (§4.1.11: "an array
 *   listing the Header Parameter names"); a `kid` that is not a string (§4.1.4).
 * - `unsupported`: any well-formed `crit`, including `[]` (§4.1.11: a recipient MUST reject
 *   an extension it does not understand; we understand none); `b64` other than true
 *   (RFC 7797: unencoded payloads are not JWTs); with `embeddedKeys: 'refuse'` (the default),
 *   a key named by the token (`jwk`, `jku`, `x5u`, `x5c`: RFC 8725 §3.10), where keys come
 *   only from the configured set.
 * The value of `alg` is the caller's to check: it decides against its own keys (RFC 8725 §3.1).
 */
export function parseJwsHeader(headerB64: string, options: { embeddedKeys?: 'refuse' | 'ignore' } = {}): JwsHeader {
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
  if (typeof alg !== 'string') throw new TokenError('malformed', 'The JWS header has no alg');
  if (crit !== undefined && !(Array.isArray(crit) && crit.every((name) => typeof name === 'string'))) {
    throw new TokenError('malformed', 'The crit header must be an array of header names');
  }
  if (kid !== undefined && typeof kid !== 'string') throw new TokenError('malformed', 'The kid header must be a string');
  if (crit !== undefined) throw new TokenError('unsupported', 'No critical header extension is supported');
  if (b64 !== undefined && b64 !== true) throw new TokenError('unsupported', 'Unencoded payloads are not supported');
  if (options.embeddedKeys !== 'ignore') {
    for (const name of EMBEDDED_KEY_HEADERS) {
      if (header[name] !== undefined) throw new TokenError('unsupported', `Keys named by the token (${name}) are never used`);
    }
  }
  return header as JwsHeader;
}

/**
 * RFC 7515 §4.1.9: `typ` is a media type, compared case-insensitively, and the
 * `application/` prefix may be left out; RFC 9068 §4 accepts `at+jwt` and
 * `application/at+jwt`. `expected` false: no check.
 */
export function checkJwsType(typ: unknown, expected: string | false): void {
  if (expected === false) return;
  if (typeof typ !== 'string') throw new TokenError('invalid_claims', `The typ header must be "${expected}"`);
  const t = typ.toLowerCase();
  const e = expected.toLowerCase();
  if (t !== e && t !== `application/${e}`) throw new TokenError('invalid_claims', `The typ header must be "${expected}"`);
}

/** RFC 9068 §2.1: the `typ` of a JWT access token; §4 also accepts the full media type. */
export const ACCESS_TOKEN_TYP = 'at+jwt';

/**
 * @param typ the `typ` header of the tokens signed. `JWT` (the default) verifies tokens of
 *   any `typ`; any other value (`at+jwt`) is also required of every token verified
 *   (`invalid_claims` otherwise, as in the asymmetric codec), so a JWT of another kind signed
 *   with the same key cannot pass for one (RFC 9068 §4, RFC 8725 §3.11).
 */
export function createJwtCodec(ring: KeyRing, maxTokenLength = DEFAULT_MAX_TOKEN_LENGTH, typ = 'JWT'): JwtCodec {
  const requiredTyp = typ === 'JWT' ? false : typ;
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
    // The header members that would name a key (jwk, jku, x5u, x5c) are never read here: an
    // HS256 key is a shared secret that no token can bring, so they cannot select one.
    const header = parseJwsHeader(headerB64, { embeddedKeys: 'ignore' });
    if (header.alg !== 'HS256') throw new TokenError('unsupported', 'Only HS256 is accepted');
    const key = header.kid === undefined ? undefined : byKid.get(header.kid);
    if (header.kid !== undefined && !key) throw new TokenError('unknown_key');
    // RFC 9068 §4: typ is `at+jwt` or `application/at+jwt`; the same rule and code as the asymmetric codec.
    checkJwsType(header.typ, requiredTyp);
    return key ? [key] : keys;
  }

  /** The MAC a token carries, decoded from its signature (verification is synchronous: one scratch buffer). */
  const carriedMac = Buffer.alloc(HS256_MAC_BYTES);

  /**
   * Reads the signature `token[d2 + 1, end)`: `malformed` unless it is canonical unpadded
   * base64url (RFC 7515 §2); true when it is a MAC's size (then decoded into `carriedMac`),
   * false when it has another size (no key can have made it). The decoder checks the alphabet
   * and the unused bits itself, so the common case needs no separate scan.
   */
  function readMac(token: string, d2: number): boolean {
    if (token.length - d2 - 1 === HS256_MAC_BASE64URL_LENGTH) {
      if (decodeBase64urlInto(token, d2 + 1, token.length, carriedMac) === HS256_MAC_BYTES) return true;
    } else if (isBase64url(token.slice(d2 + 1))) {
      return false;
    }
    throw new TokenError('malformed', 'The JWS signature is not base64url');
  }

  /** Verifies the MAC of a compact JWS; the positions of its two dots. */
  function verifyMac(token: string): { d1: number; d2: number } {
    const dots = locateCompactJws(token, maxTokenLength);
    const { d1, d2 } = dots;
    const sized = readMac(token, d2);
    // Tokens we issued carry one of our exact headers: a prefix compare finds the key
    // without parsing the header or hashing it for a map lookup.
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
      // Constant-time comparison of the 32 MAC bytes (RFC 7518 §3.2).
      if (sized && key.hmac.verify(signingInput, carriedMac)) ok = true;
    }
    if (!ok) throw new TokenError('bad_signature');
    return dots;
  }

  /** The payload of a token whose MAC verified, decoded strictly (see {@link decodeJwsPayload}). */
  function verifyJws(token: string): Buffer {
    const { d1, d2 } = verifyMac(token);
    return decodeJwsPayload(token, d1, d2);
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
      const { d1, d2 } = verifyMac(token);
      return decodeJwsClaims(token, d1, d2);
    },
  };
}

// --- Asymmetric algorithms (EdDSA, ES256, RS256) --------------------------------------------------
// Keys and their algorithms come from a JWK Set (src/tokens/jwk.ts); signatures from
// src/internal/signatures.ts; the header from the one parser above.

/** What {@link createAsymmetricJwtCodec} needs: keys that verify, and optionally the one that signs. */
export interface AsymmetricKeys {
  readonly keys: readonly VerificationKey[];
  readonly signer?: { readonly kid: string; readonly alg: AsymmetricAlg; readonly signer: PreparedSigner };
}

export interface AsymmetricJwtOptions {
  /** The `typ` header written and required (default `at+jwt`, RFC 9068 §2.1); false: none written, none checked. */
  typ?: string | false;
  maxTokenLength?: number;
}

/**
 * The key a token's header selects. The algorithm is the key's, never the token's
 * (RFC 8725 §3.1): a header whose `alg` differs from the key's is refused, so an
 * HS256 token "signed" with a public key, or a swap between EdDSA, ES256 and RS256, never verifies.
 */
export function selectVerificationKey(
  header: { alg: string; kid?: string },
  byKid: ReadonlyMap<string, VerificationKey>,
  keys: readonly VerificationKey[],
  algorithms: readonly AsymmetricAlg[],
): VerificationKey {
  if (!(algorithms as readonly string[]).includes(header.alg)) {
    throw new TokenError('unsupported', `Only ${algorithms.join(', ')} ${algorithms.length === 1 ? 'is' : 'are'} accepted`);
  }
  let key: VerificationKey | undefined;
  if (header.kid !== undefined) {
    key = byKid.get(header.kid);
    if (!key) throw new TokenError('unknown_key');
  } else {
    // No kid: acceptable only when exactly one key of that algorithm could have signed.
    const matching = keys.filter((k) => k.alg === header.alg);
    if (matching.length !== 1) throw new TokenError('unknown_key', 'The token names no key (kid)');
    key = matching[0] as VerificationKey;
  }
  if (key.alg !== header.alg) throw new TokenError('unsupported', 'The alg header does not match the key');
  return key;
}

/** A JWT codec on an asymmetric key set: signs with the set's signer, verifies with the key its kid names. */
export function createAsymmetricJwtCodec(
  keySet: AsymmetricKeys,
  options: AsymmetricJwtOptions = {},
): JwtCodec & { alg: AsymmetricAlg } {
  const typ = options.typ ?? ACCESS_TOKEN_TYP;
  const maxTokenLength = options.maxTokenLength ?? DEFAULT_MAX_TOKEN_LENGTH;
  const keys = keySet.keys;
  if (keys.length === 0) throw new TokenError('unknown_key', 'No verification key');
  const byKid = new Map(keys.map((k) => [k.kid, k]));
  const algorithms = [...new Set(keys.map((k) => k.alg))];
  const headerOf = (k: { kid: string; alg: AsymmetricAlg }): string =>
    encodeBase64url(JSON.stringify(typ === false ? { alg: k.alg, kid: k.kid } : { alg: k.alg, typ, kid: k.kid }));
  /** Our exact headers, by the key they name: tokens we issued skip header parsing. */
  const own = keys.slice(0, 8).map((k) => ({ headerB64: headerOf(k), key: k }));
  const signer = keySet.signer;
  const signerPrefix = signer ? `${headerOf(signer)}.` : '';

  /** Verifies the signature; the positions of the two dots. */
  function verifySignature(token: string): { d1: number; d2: number } {
    const dots = locateCompactJws(token, maxTokenLength);
    const { d1, d2 } = dots;
    for (const o of own) {
      if (d1 === o.headerB64.length && token.startsWith(o.headerB64)) {
        // One of our exact headers: no header verdict is possible, and the key is known.
        // verifyCompact decodes the signature strictly, so a signature it accepts is canonical
        // base64url; only a refusal needs the separate check, to give the verdict the full
        // path gives (malformed for a non-canonical signature, else bad_signature).
        if (o.key.verifier.verifyCompact(token, d2)) return dots;
        checkSignatureText(token, d2);
        throw new TokenError('bad_signature');
      }
    }
    checkSignatureText(token, d2);
    const header = parseJwsHeader(token.slice(0, d1));
    const key = selectVerificationKey(header, byKid, keys, algorithms);
    checkJwsType(header.typ, typ);
    if (!key.verifier.verifyCompact(token, d2)) throw new TokenError('bad_signature');
    return dots;
  }

  function verifyJws(token: string): Buffer {
    const { d1, d2 } = verifySignature(token);
    return decodeJwsPayload(token, d1, d2);
  }

  return {
    alg: (signer?.alg ?? keys[0]?.alg) as AsymmetricAlg,
    sign(claims: Claims): string {
      if (!signer) throw new TypeError('this key set has no private key: it verifies only');
      const input = signerPrefix + encodeBase64url(JSON.stringify(claims));
      return `${input}.${signer.signer.signBase64url(input)}`;
    },
    verifyJws,
    verify(token: string): Claims {
      const { d1, d2 } = verifySignature(token);
      return decodeJwsClaims(token, d1, d2);
    },
  };
}
