/**
 * Authorization codes of the OAuth 2.1 authorization code flow (RFC 6749 §4.1,
 * with PKCE, RFC 7636), kept as one-time records of the token store
 * ({@link OneTimeRecords}).
 *
 * - A code is 32 random bytes, base64url (43 characters): 256 bits, far beyond
 *   RFC 6749 §10.10's "probability of an attacker guessing generated tokens ...
 *   MUST be less than or equal to 2^(-128)".
 * - The store holds SHA-256 of the code, never the code (RFC 6749 §10.5 asks codes
 *   be treated as secrets): a dump of the store redeems nothing.
 * - A code lives 60 seconds by default (RFC 6749 §4.1.2: "A maximum authorization
 *   code lifetime of 10 minutes is RECOMMENDED") and is consumed atomically: of any
 *   number of concurrent redeemers exactly one gets the grant (§4.1.2: "The client
 *   MUST NOT use the authorization code more than once").
 * - After tokens were issued from a code, the family they belong to is remembered
 *   under the same id, so that a replay of the code can revoke them once (§4.1.2:
 *   "the authorization server ... SHOULD revoke (when possible) all tokens
 *   previously issued based on that authorization code").
 *
 * Times: the injected clock answers milliseconds (as the stores take them); the
 * lifetimes are given in seconds; `CodeGrant.authTime` is in seconds.
 *
 * @module
 */
import { ConfigError, StoreUnavailableError } from '../errors.js';
import { isBase64url } from '../internal/base64url.js';
import { constantTimeEqualString, randomBase64url, sha256Base64url } from '../internal/crypto.js';
import type { OneTimeRecords } from '../stores/types.js';

/** What an authorization code stands for (RFC 6749 §4.1.2, §4.1.3; RFC 7636 §4.4). */
export interface CodeGrant {
  /** The client the code was issued to: the token request must come from it (RFC 6749 §4.1.3). */
  clientId: string;
  /** The `redirect_uri` of the authorization request: the token request must repeat it (RFC 6749 §4.1.3). */
  redirectUri: string;
  /** The S256 `code_challenge` (RFC 7636 §4.2): 43 base64url characters. Plain is not accepted (OAuth 2.1). */
  codeChallenge: string;
  /** The scope granted (space-separated). */
  scope: string;
  /** The user who authorized. */
  sub: string;
  username?: string;
  /** The OpenID Connect `nonce` of the authorization request, to be put in the ID token. */
  nonce?: string;
  /**
   * RFC 9449 §10 `dpop_jkt`: the SHA-256 JWK thumbprint (RFC 7638) of the DPoP key the token
   * request must present a proof by (43 base64url characters).
   */
  dpopJkt?: string;
  /** When the user authenticated (seconds since the epoch; OpenID Connect `auth_time`). */
  authTime: number;
}

export interface AuthorizationCodes {
  /**
   * A new code for `grant`: 32 random bytes, base64url (43 chars); stored under SHA-256 of the code
   * (never the code itself), kind `authorization_code`, living `ttlSeconds` (default 60).
   * A grant that is not well-formed (e.g. a `codeChallenge` that is not S256) throws a TypeError.
   */
  issue(grant: CodeGrant): Promise<string>;
  /**
   * Consumes the code: its grant, or null (unknown, expired, already used, malformed).
   * Exactly one of any number of concurrent redeemers gets the grant.
   */
  redeem(code: string): Promise<CodeGrant | null>;
  /**
   * After tokens were issued from a code: remembers which family they belong to (kind
   * `authorization_code_used`, same id, living `replayWindowSeconds`, default 3600), so a replay
   * can revoke them (RFC 6749 §4.1.2). A malformed code is ignored.
   */
  markRedeemed(code: string, familyId: string): Promise<void>;
  /** For a code that `redeem` refused: the family issued from it, consumed (so one replay revokes once), or null. */
  takeRedeemed(code: string): Promise<string | null>;
}

export interface AuthorizationCodesOptions {
  store: OneTimeRecords;
  /** Milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number;
  /** Lifetime of a code (seconds). Default 60; at most 600 (RFC 6749 §4.1.2). Out of range: ConfigError. */
  ttlSeconds?: number;
  /** How long a redeemed code's family is remembered for replay detection (whole seconds, at least 1). Default 3600. */
  replayWindowSeconds?: number;
}

/** The kind of the one-time record a code stands for. */
export const CODE_KIND = 'authorization_code';
/** The kind of the record naming the family issued from a redeemed code. */
export const USED_CODE_KIND = 'authorization_code_used';

const CODE_BYTES = 32;
/** 32 bytes in unpadded base64url. */
const CODE_LENGTH = 43;
const DEFAULT_TTL_SECONDS = 60;
/** RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED." */
const MAX_TTL_SECONDS = 600;
const DEFAULT_REPLAY_WINDOW_SECONDS = 3600;
/** A family id stored for replay detection: tessera's ids are far shorter. */
const MAX_FAMILY_ID_LENGTH = 256;
/** RFC 7636 §4.1: code-verifier = 43*128unreserved, unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~". */
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;

/** RFC 7636 §4.2: a valid S256 `code_challenge` is 43 base64url characters (the canonical encoding of 32 bytes). */
export function isS256Challenge(value: string): boolean {
  return typeof value === 'string' && value.length === CODE_LENGTH && isBase64url(value);
}

/** RFC 9449 §10, RFC 7638: a SHA-256 JWK thumbprint is likewise 43 base64url characters (32 bytes). */
export const isJwkThumbprint: (value: string) => boolean = isS256Challenge;

/**
 * RFC 7636 §4.6: BASE64URL(SHA256(ASCII(code_verifier))) === code_challenge, compared in
 * constant time; false for a verifier outside §4.1 syntax (43-128 chars of [A-Za-z0-9-._~])
 * and for a challenge that is not S256-shaped.
 */
export function verifyPkceS256(codeVerifier: string, codeChallenge: string): boolean {
  if (typeof codeVerifier !== 'string' || !VERIFIER.test(codeVerifier)) return false;
  if (!isS256Challenge(codeChallenge)) return false;
  // The verifier is ASCII (checked above), so its UTF-8 bytes are its ASCII bytes.
  return constantTimeEqualString(sha256Base64url(codeVerifier), codeChallenge);
}

/**
 * A code as {@link AuthorizationCodes.issue} makes it: 43 characters of canonical base64url.
 * Anything else (another length, however long, another alphabet) is refused without a store call.
 */
function isWellFormedCode(code: unknown): code is string {
  return typeof code === 'string' && code.length === CODE_LENGTH && isBase64url(code);
}

/** The record id of a code: SHA-256 of the code, base64url. */
function recordId(code: string): string {
  return sha256Base64url(code);
}

function positiveSeconds(name: string, value: number | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new ConfigError(`createAuthorizationCodes: ${name} must be a whole number of seconds from 1 to ${max}`);
  }
  return value;
}

const isString = (v: unknown): v is string => typeof v === 'string';

/**
 * The grant's own fields, checked: a copy without anything else, or null when a field is
 * missing or ill-typed. Used on what is issued and on what the store hands back (a record
 * that does not read back as a grant is treated as no record).
 */
function toGrant(v: unknown): CodeGrant | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const g = v as Record<string, unknown>;
  if (!isString(g.clientId) || g.clientId === '') return null;
  if (!isString(g.redirectUri) || g.redirectUri === '') return null;
  if (!isString(g.codeChallenge) || !isS256Challenge(g.codeChallenge)) return null;
  if (!isString(g.scope)) return null;
  if (!isString(g.sub) || g.sub === '') return null;
  if (g.username !== undefined && !isString(g.username)) return null;
  if (g.nonce !== undefined && !isString(g.nonce)) return null;
  if (g.dpopJkt !== undefined && (!isString(g.dpopJkt) || !isJwkThumbprint(g.dpopJkt))) return null;
  if (typeof g.authTime !== 'number' || !Number.isFinite(g.authTime) || g.authTime < 0) return null;
  const grant: CodeGrant = {
    clientId: g.clientId,
    redirectUri: g.redirectUri,
    codeChallenge: g.codeChallenge,
    scope: g.scope,
    sub: g.sub,
    authTime: g.authTime,
  };
  if (g.username !== undefined) grant.username = g.username;
  if (g.nonce !== undefined) grant.nonce = g.nonce;
  if (g.dpopJkt !== undefined) grant.dpopJkt = g.dpopJkt;
  return grant;
}

function parseGrant(value: string): CodeGrant | null {
  try {
    return toGrant(JSON.parse(value));
  } catch {
    return null;
  }
}

/** The authorization-code store on any {@link OneTimeRecords} (memory, SQLite, Redis, Redis Cluster, PostgreSQL). */
export function createAuthorizationCodes(options: AuthorizationCodesOptions): AuthorizationCodes {
  const { store } = options;
  const clock = options.clock ?? Date.now;
  const ttlMs = positiveSeconds('ttlSeconds', options.ttlSeconds, DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS) * 1000;
  const replayWindowMs =
    positiveSeconds('replayWindowSeconds', options.replayWindowSeconds, DEFAULT_REPLAY_WINDOW_SECONDS) * 1000;

  return {
    async issue(grant) {
      const checked = toGrant(grant);
      if (!checked) {
        throw new TypeError(
          'AuthorizationCodes.issue: the grant needs clientId, redirectUri, sub, scope, an S256 codeChallenge and authTime (seconds)',
        );
      }
      const value = JSON.stringify(checked);
      // A fresh 256-bit code never meets a live one; a store that refuses two in a row is broken.
      for (let attempt = 0; attempt < 2; attempt++) {
        const code = randomBase64url(CODE_BYTES);
        const now = clock();
        if (await store.putOnce({ kind: CODE_KIND, id: recordId(code), value, now, expiresAt: now + ttlMs })) return code;
      }
      throw new StoreUnavailableError('The token store refused to store a fresh authorization code');
    },

    async redeem(code) {
      if (!isWellFormedCode(code)) return null;
      const value = await store.consumeOnce({ kind: CODE_KIND, id: recordId(code), now: clock() });
      return value === null ? null : parseGrant(value);
    },

    async markRedeemed(code, familyId) {
      if (!isWellFormedCode(code)) return;
      if (typeof familyId !== 'string' || familyId === '' || familyId.length > MAX_FAMILY_ID_LENGTH) {
        throw new TypeError('AuthorizationCodes.markRedeemed: familyId must be a non-empty string');
      }
      const now = clock();
      // The code was consumed once, so one mark: a second one (false) keeps the first family.
      await store.putOnce({ kind: USED_CODE_KIND, id: recordId(code), value: familyId, now, expiresAt: now + replayWindowMs });
    },

    async takeRedeemed(code) {
      if (!isWellFormedCode(code)) return null;
      const familyId = await store.consumeOnce({ kind: USED_CODE_KIND, id: recordId(code), now: clock() });
      if (familyId === null || familyId === '' || familyId.length > MAX_FAMILY_ID_LENGTH) return null;
      return familyId;
    },
  };
}
