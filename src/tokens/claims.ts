/**
 * Claim types and the checks every self-contained format shares
 * (RFC 7519 §4.1). Times are NumericDate: seconds since the epoch.
 *
 * @module
 */
import { TokenError } from '../errors.js';

export type TokenType = 'access' | 'refresh';

/** The claims of a token. Registered claims are typed; anything else is carried as is. */
export interface Claims {
  sub?: string;
  /** Expiry, seconds since the epoch (required on decode). */
  exp?: number;
  iat?: number;
  nbf?: number;
  jti?: string;
  iss?: string;
  aud?: string | string[];
  /** `access` or `refresh`: checked so one can never stand in for the other (RFC 8725 §3.11). */
  type?: TokenType | string;
  /** Refresh family id (set by the token service). */
  fam?: string;
  scope?: string;
  [claim: string]: unknown;
}

/** Options of a single decode. */
export interface DecodeOptions {
  /** Require this token type; without it any type (or none) is accepted. */
  type?: TokenType;
  /**
   * The current time in milliseconds since the epoch, as `Date.now()` returns it
   * and like the `clock` option (default: the codec's clock). A value below 1e11
   * (before 1973) can only be seconds passed by mistake, and would make every
   * token look unexpired: it throws a `TypeError` instead of being misread.
   */
  now?: number;
}

export interface ClaimRules {
  leewaySeconds: number;
  issuer?: string | readonly string[];
  audience?: string | readonly string[];
}

/** Below this, a `now` is seconds (or garbage), never milliseconds: 1e11 ms is March 1973. */
const MIN_NOW_MS = 1e11;

/**
 * Seconds since the epoch (NumericDate, RFC 7519 §2) from a `now` option or the
 * clock, both milliseconds since the epoch. A seconds value is refused, not
 * guessed at: read as milliseconds it is 1970, and every token looks unexpired.
 */
export function nowSeconds(now: number | undefined, clock: () => number): number {
  if (now === undefined) return Math.floor(clock() / 1000);
  if (typeof now !== 'number' || !Number.isFinite(now) || now < MIN_NOW_MS) {
    throw new TypeError('now is milliseconds since the epoch, like Date.now() (not seconds)');
  }
  return Math.floor(now / 1000);
}

function isNumericDate(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** True for a plain JSON object (not an array, not null). */
export function isClaimsObject(v: unknown): v is Claims {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Validates parsed claims. Called only after the MAC (or AEAD tag) verified:
 * claims of an unauthenticated token are never looked at.
 */
export function checkClaims(claims: Claims, nowSec: number, rules: ClaimRules, type: TokenType | undefined): Claims {
  const { exp, nbf, iat } = claims;
  // RFC 7519 §4.1.4: "MUST NOT be accepted for processing" on or after exp.
  if (!isNumericDate(exp)) throw new TokenError('invalid_claims', 'The token has no numeric exp claim');
  if (nbf !== undefined && !isNumericDate(nbf)) throw new TokenError('invalid_claims', 'The nbf claim is not a number');
  if (iat !== undefined && !isNumericDate(iat)) throw new TokenError('invalid_claims', 'The iat claim is not a number');
  if (nowSec >= exp + rules.leewaySeconds) throw new TokenError('expired');
  // RFC 7519 §4.1.5: not before nbf.
  if (nbf !== undefined && nbf > nowSec + rules.leewaySeconds) throw new TokenError('not_yet_valid');
  if (claims.sub !== undefined && typeof claims.sub !== 'string') {
    throw new TokenError('invalid_claims', 'The sub claim is not a string');
  }
  if (type !== undefined && claims.type !== type) {
    throw new TokenError('wrong_type', `Expected a${type === 'access' ? 'n access' : ' refresh'} token`);
  }
  if (rules.issuer !== undefined && !(typeof claims.iss === 'string' && isAllowed(claims.iss, rules.issuer))) {
    throw new TokenError('invalid_claims', 'The iss claim does not match');
  }
  if (rules.audience !== undefined && !audienceMatches(claims.aud, rules.audience)) {
    throw new TokenError('invalid_claims', 'The aud claim does not match');
  }
  return claims;
}

/** Whether `value` is the allowed string or one of the allowed list (no array made per token). */
function isAllowed(value: string, allowed: string | readonly string[]): boolean {
  return typeof allowed === 'string' ? value === allowed : allowed.includes(value);
}

/** RFC 7519 §4.1.3: `aud` is one string or an array of them; one of them must be allowed. */
function audienceMatches(aud: unknown, allowed: string | readonly string[]): boolean {
  if (typeof aud === 'string') return isAllowed(aud, allowed);
  return Array.isArray(aud) && aud.some((a) => typeof a === 'string' && isAllowed(a, allowed));
}

/** Strict UTF-8 (no replacement characters, BOM kept so JSON.parse refuses it). Stateless when not streaming. */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Parses a JSON claims set from verified bytes: strict UTF-8, a top-level object. */
export function parseClaims(bytes: Buffer): Claims {
  // MAC already verified; still refuse invalid UTF-8 (RFC 8259 §8.1) instead of replacing it.
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    throw new TokenError('malformed', 'The token payload is not JSON');
  }
  return parseClaimsText(text);
}

/** Parses a JSON claims set from verified text (already strict UTF-8): a top-level object. */
export function parseClaimsText(text: string): Claims {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new TokenError('malformed', 'The token payload is not JSON');
  }
  if (!isClaimsObject(parsed)) throw new TokenError('malformed', 'The token payload is not a JSON object');
  return parsed;
}
