/**
 * DPoP proofs (RFC 9449 §4), verified by hand on the signatures of src/internal: a compact
 * JWS whose header names `typ: dpop+jwt`, an asymmetric `alg` and the public `jwk` that
 * signed it, and whose claims bind it to one request (`htm`, `htu`), one moment (`iat`),
 * one use (`jti`) and, at a protected resource, one access token (`ath`).
 *
 * Rules kept here (RFC 9449 §4.3, the numbered checks):
 * - one JWS in compact form, canonical base64url, at most {@link MAX_PROOF_LENGTH} characters;
 * - `typ` is `dpop+jwt`; `alg` is one of {@link DPOP_ALGS} and the one the key's type implies
 *   (`none`, HS256 and every MAC are refused: the proof must be signed by the key it carries);
 * - `jwk` is a public key: a JWK with a private member (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`,
 *   `k`) is refused (§4.3 check 7, "does not contain a private key");
 * - `crit` is refused (RFC 7515 §4.1.11: no extension is understood here);
 * - `htm` equals the request's method; `htu` equals the request's URI compared per §4.3 and
 *   RFC 3986 §6.2.2-6.2.3 (scheme and host case-insensitive, default port dropped), and carries
 *   no query and no fragment (§4.2 defines it without them);
 * - `iat` within the window around the verifier's clock (§11.1);
 * - `ath` equals base64url(SHA-256(access token)) when an access token is presented (§4.3 check 10).
 *
 * The replay check (a `jti` accepted once within the window, §11.1) needs a store and is the
 * caller's (src/http/core/dpop.ts); this module is pure.
 *
 * @module
 */
import { TesseraError } from '../errors.js';
import { decodeBase64url, decodeBase64urlText, isBase64url } from '../internal/base64url.js';
import { sha256Base64url } from '../internal/crypto.js';
import { algForKeyType, type PreparedVerifier, type PublicKeyMembers, prepareVerifier } from '../internal/signatures.js';
import { jwkThumbprint } from './jwk.js';

/**
 * The proof algorithms (RFC 9449 §5.1 `dpop_signing_alg_values_supported`): `Ed25519` is the
 * fully-specified name of EdDSA on Ed25519 (RFC 9864 §2.2), which WebCrypto clients such as
 * oauth4webapi write; both name the same signature.
 */
export const DPOP_ALGS = ['ES256', 'EdDSA', 'Ed25519', 'RS256'] as const;
export type DpopAlg = (typeof DPOP_ALGS)[number];

/** A proof is a few hundred characters; an EC or OKP key cannot make it longer than this. */
export const MAX_PROOF_LENGTH = 4096;
/** Default acceptance window of `iat`, seconds either side of the clock (RFC 9449 §11.1). */
export const DEFAULT_DPOP_WINDOW_SECONDS = 60;
const MAX_JTI_LENGTH = 256;

/** Members of a JWK that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/**
 * Why a proof was refused. `code` is stable: `invalid_dpop_proof` (RFC 9449 §7.1, §12.2) for
 * any fault of the proof, `dpop_key_mismatch` for a valid proof by a key the token is not bound to.
 */
export type DpopErrorCode = 'invalid_dpop_proof' | 'dpop_key_mismatch' | 'use_dpop_nonce';

export class DpopError extends TesseraError {
  override readonly name = 'DpopError';
  declare readonly code: DpopErrorCode;
  /** With `use_dpop_nonce` (RFC 9449 §8): the nonce the next proof must carry (the `DPoP-Nonce` header). */
  readonly nonce: string | undefined;
  constructor(code: DpopErrorCode, message: string, nonce?: string) {
    super(code, message);
    this.nonce = nonce;
  }
}

export function isDpopError(e: unknown): e is DpopError {
  return e instanceof DpopError;
}

const refuse = (why: string): DpopError => new DpopError('invalid_dpop_proof', `DPoP proof refused: ${why}`);

/** What the request the proof came with was. */
export interface DpopRequest {
  /** The HTTP method, as received (RFC 9110 §9.1: case-sensitive). */
  htm: string;
  /** The request's URI as this server is known by (its configured issuer, never `Host`), without query. */
  htu: string;
  /** The access token presented with the proof, at a protected resource (§4.3 check 10, `ath`). */
  accessToken?: string;
}

export interface DpopVerifyOptions {
  /** Milliseconds since the epoch. */
  now: number;
  /** Seconds either side of `now` within which `iat` must lie. Default {@link DEFAULT_DPOP_WINDOW_SECONDS}. */
  windowSeconds?: number;
}

/** A verified proof. */
export interface VerifiedDpopProof {
  /** RFC 7638 thumbprint of the proof's key: what `cnf.jkt` holds (RFC 9449 §6.1). */
  jkt: string;
  jti: string;
  /** Seconds since the epoch. */
  iat: number;
  alg: DpopAlg;
  /** The server-provided `nonce` claim (RFC 9449 §8), when the proof carries one. */
  nonce?: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** `text` as a JSON object; `what` names the part of the proof it is, for the refusal. */
function parseObject(text: string, what: string): Obj {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw refuse(`the ${what} is not JSON`);
  }
  if (!isObj(v)) throw refuse(`the ${what} is not a JSON object`);
  return v;
}

function json(part: string, what: string): Obj {
  const bytes = decodeBase64url(part);
  if (bytes === null) throw refuse(`the ${what} is not canonical base64url`);
  return parseObject(bytes.toString('utf8'), what);
}

/** The payload `proof[d1 + 1, d2)` of a proof whose signature verified: canonical base64url of a UTF-8 JSON object. */
function payloadOf(proof: string, d1: number, d2: number): Obj {
  const text = decodeBase64urlText(proof, d1 + 1, d2);
  if (text === null) throw refuse('the payload is not canonical base64url of UTF-8');
  return parseObject(text, 'payload');
}

/** What a proof's header says, once checked: its algorithm, the key's prepared verifier and thumbprint. */
interface CheckedHeader {
  alg: DpopAlg;
  verifier: PreparedVerifier;
  jkt: string;
}

/**
 * Checked headers by their encoded text. A client signs every proof with one key and writes the
 * same header each time, so that text is decoded, checked and its key imported once; the text
 * is the cache key, so a hit is exactly the header that was checked. Bounded (oldest out).
 */
const HEADER_CACHE_SIZE = 1024;
const headerCache = new Map<string, CheckedHeader>();

function checkHeader(h: string): CheckedHeader {
  const hit = headerCache.get(h);
  if (hit) return hit;
  const header = json(h, 'header');
  // §4.3 check 4: typ is dpop+jwt (explicit typing, RFC 8725 §3.11).
  if (header.typ !== 'dpop+jwt') throw refuse('typ is not dpop+jwt');
  if (header.crit !== undefined) throw refuse('crit is not understood');
  const alg = header.alg;
  // §4.3 check 5: an asymmetric algorithm we support; none and MACs are never one.
  if (!(DPOP_ALGS as readonly unknown[]).includes(alg)) throw refuse('alg is not supported');
  const jwk = header.jwk;
  if (!isObj(jwk)) throw refuse('no jwk');
  // §4.3 check 7: the jwk is a public key.
  for (const m of PRIVATE_MEMBERS) if (jwk[m] !== undefined) throw refuse('the jwk holds a private key');
  // The algorithm is the key's (RFC 8725 §3.1): an EC P-256 key signs ES256, an Ed25519 key EdDSA.
  const keyAlg = algForKeyType(jwk.kty, jwk.crv);
  if (keyAlg === undefined || (keyAlg !== alg && !(alg === 'Ed25519' && keyAlg === 'EdDSA')))
    throw refuse('alg does not match the jwk');
  let members: PublicKeyMembers;
  if (keyAlg === 'RS256') {
    // RFC 7518 §6.3.1: an RSA public key is its modulus and exponent (2048 bits at least: prepareVerifier).
    if (typeof jwk.n !== 'string' || typeof jwk.e !== 'string') throw refuse('the jwk lacks n or e');
    members = { kty: 'RSA', n: jwk.n, e: jwk.e };
  } else {
    if (typeof jwk.x !== 'string' || (keyAlg === 'ES256' && typeof jwk.y !== 'string')) throw refuse('the jwk lacks coordinates');
    members =
      keyAlg === 'EdDSA' ? { kty: 'OKP', crv: 'Ed25519', x: jwk.x } : { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y as string };
  }
  const verifier = prepareVerifier(keyAlg, members);
  if (!verifier) throw refuse('the jwk is not a valid key');
  const checked: CheckedHeader = { alg: alg as DpopAlg, verifier, jkt: jwkThumbprint(members) };
  if (headerCache.size >= HEADER_CACHE_SIZE) headerCache.delete(headerCache.keys().next().value as string);
  headerCache.set(h, checked);
  return checked;
}

/** The server's own request URIs, each normalized once (a server has a handful of routes). Bounded. */
const requestUris = new Map<string, string | undefined>();
function normalizedRequestUri(uri: string): string | undefined {
  if (requestUris.has(uri)) return requestUris.get(uri);
  const n = normalizeHtu(uri);
  if (requestUris.size >= 1024) requestUris.clear();
  requestUris.set(uri, n);
  return n;
}

/**
 * RFC 9449 §4.3 with RFC 3986 §6.2.2-6.2.3: the URI without query and fragment, scheme and host
 * lowercased, the scheme's default port dropped, an empty path as `/`. `undefined` when it is no
 * absolute http(s) URI.
 */
export function normalizeHtu(uri: string): string | undefined {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return undefined;
  if (u.username !== '' || u.password !== '') return undefined;
  // URL lowercases the scheme and host and drops the default port (WHATWG URL, RFC 3986 §6.2.3).
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/**
 * Verifies a DPoP proof for `request`: everything of RFC 9449 §4.3 but the replay check. Throws
 * {@link DpopError} (`invalid_dpop_proof`) with the reason; never a TypeError for bad input.
 */
export function verifyDpopProof(proof: unknown, request: DpopRequest, options: DpopVerifyOptions): VerifiedDpopProof {
  if (typeof proof !== 'string' || proof.length === 0) throw refuse('no proof');
  if (proof.length > MAX_PROOF_LENGTH) throw refuse('too long');
  const d1 = proof.indexOf('.');
  const d2 = d1 < 0 ? -1 : proof.indexOf('.', d1 + 1);
  if (d2 < 0 || proof.indexOf('.', d2 + 1) !== -1) throw refuse('not a compact JWS');
  const { alg, verifier, jkt } = checkHeader(proof.slice(0, d1));
  // §4.3 check 6: the signature, by the key in the header, canonically encoded (RFC 7515 §2):
  // verifyCompact decodes it strictly, so only a refusal needs the separate check for its reason.
  if (!verifier.verifyCompact(proof, d2)) {
    throw refuse(isBase64url(proof.slice(d2 + 1)) ? 'bad signature' : 'the signature is not canonical base64url');
  }
  const claims = payloadOf(proof, d1, d2);
  // §4.3 check 3: the required claims.
  const { jti, htm, htu, iat } = claims;
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH) throw refuse('no jti');
  // §4.3 check 8: the method, exactly.
  if (typeof htm !== 'string' || htm !== request.htm) throw refuse('htm does not match the request method');
  // §4.3 check 9 (and §4.2: htu carries no query or fragment).
  if (typeof htu !== 'string' || /[?#]/.test(htu)) throw refuse('htu does not match the request URI');
  const mine = normalizedRequestUri(request.htu);
  // The very text of the normalized request URI (what clients send) needs no parse.
  if (mine === undefined || (htu !== mine && normalizeHtu(htu) !== mine)) throw refuse('htu does not match the request URI');
  // §4.3 check 11 and §11.1: iat within the window.
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw refuse('no iat');
  const window = options.windowSeconds ?? DEFAULT_DPOP_WINDOW_SECONDS;
  if (Math.abs(iat - options.now / 1000) > window) throw refuse('iat is outside the acceptance window');
  // §4.3 check 10: bound to the access token it comes with.
  if (request.accessToken !== undefined) {
    if (typeof claims.ath !== 'string' || claims.ath !== accessTokenHash(request.accessToken))
      throw refuse('ath does not match the access token');
  }
  const out: VerifiedDpopProof = { jkt, jti, iat, alg };
  if (typeof claims.nonce === 'string') out.nonce = claims.nonce;
  return out;
}

/**
 * `ath` of the access tokens seen lately: a client presents one token with many proofs until it
 * refreshes, so its hash is computed once. Bounded (cleared when full).
 */
const athCache = new Map<string, string>();

/** RFC 9449 §4.2 `ath`: base64url(SHA-256(ASCII access token)). */
export function accessTokenHash(accessToken: string): string {
  let ath = athCache.get(accessToken);
  if (ath === undefined) {
    ath = sha256Base64url(accessToken);
    if (athCache.size >= 1024) athCache.clear();
    athCache.set(accessToken, ath);
  }
  return ath;
}

/** The `cnf.jkt` of claims (RFC 9449 §6.1), when bound. */
export function boundJkt(claims: Readonly<Obj> | undefined): string | undefined {
  const cnf = claims?.cnf;
  if (!isObj(cnf)) return undefined;
  return typeof cnf.jkt === 'string' ? cnf.jkt : undefined;
}
