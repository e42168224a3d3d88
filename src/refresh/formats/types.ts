/**
 * The token-format seam of the token service. An {@link AccessFormat} and a
 * {@link RefreshFormat} each mint, verify, introspect and revoke their tokens;
 * the service (src/refresh/service.ts) only orchestrates: it never asks which
 * format it holds. Two implementations of each:
 *
 * - opaque (./opaque.ts): random tokens that mean nothing without the store,
 *   which keeps a record under SHA-256 of each one;
 * - self-contained (./self-contained.ts): claims sealed or signed by a
 *   {@link Codec} (jwt, sealed, fernet today; any codec with the same API
 *   plugs in, e.g. an asymmetric JWT signer), verified without the store.
 *
 * Conventions. `now` is milliseconds since the epoch (the service's clock);
 * token times (`iat`, `exp`) are seconds (RFC 7519 NumericDate). Verification
 * failures throw {@link TokenError} synchronously, before any store call;
 * store outages reject with StoreUnavailableError.
 *
 * @module
 */

import type { Millis, PresentedRefresh } from '../../stores/types.js';
import type { Claims } from '../../tokens/claims.js';
import type { Introspection, Principal } from '../types.js';

/** What the service knows of a family (login session) when it mints a token. */
export interface Subject {
  sub: string;
  /** Space-separated scopes (RFC 6749 §3.3); '' for none. */
  scope: string;
  /** Extra access-token claims (with `client_id`, RFC 9068 §2.2, when bound to a client), carried across rotations. */
  extra: Claims;
  familyId: string;
}

/**
 * The next access token, reserved before the store call (the store must learn
 * everything it writes in that one call). An opaque token is complete here; a
 * self-contained one is minted by {@link AccessFormat.mint} once the subject is
 * known (after the store answers, when the refresh token is opaque).
 */
export interface AccessDraft {
  /** The token id (`jti`) of a self-contained token; '' for an opaque one (its id is its hash). */
  jti: string;
  /** Issued at and expiry, seconds since the epoch. */
  iat: number;
  exp: number;
  /** The token itself, when the format makes it without the subject. */
  token?: string;
  /** SHA-256 of the token, for a format whose tokens the store keeps (`NextTokens.accessHash`). */
  hash?: string;
}

export interface AccessFormat {
  /** Reserves the next access token of a user (`shard` = `userShard(sub)`), issued at `iat` (seconds). */
  draft(shard: string, iat: number): AccessDraft;
  /** The token of `draft` for `subject` (the draft's own token when it has one). Deterministic in (subject, draft) for jwt. */
  mint(subject: Subject, draft: AccessDraft): string;
  /**
   * Verifies an access token. Throws TokenError synchronously when the token does
   * not verify (no store asked); returns a promise when the store must be asked
   * (an opaque token, or a revocation check), else the principal itself: the
   * common case allocates no promise of its own.
   */
  authenticate(token: string, now: Millis): Principal | Promise<Principal>;
  /** True when `token` is a valid access token of this format, checked without the store; never throws. */
  accepts(token: string, now: Millis): boolean;
  /**
   * RFC 7662 for an access token: `undefined` (synchronously) when `token` is not a
   * valid access token of this format, so the service can try the refresh format;
   * else the answer (`{active: false}` for a revoked or unknown one).
   */
  introspect(token: string, now: Millis): Promise<Introspection> | undefined;
  /**
   * RFC 7009 for an access token: `undefined` when it is not one of this format, else the
   * revocation. With `clientId`, a token issued to another client is left alone (§2.1).
   */
  revoke(token: string, now: Millis, clientId?: string): Promise<void> | undefined;
}

/** A family, by id (self-contained tokens name it) or by the opaque token's hash (the store's record names it). */
export type FamilyKey = { familyId: string } | { refreshHash: string };

/** A verified refresh token, ready for the store's `rotate`. */
export interface PresentedToken {
  /** `userShard(sub)`: where the user's state lives. */
  shard: string;
  presented: PresentedRefresh;
  /** How the store finds the token's family (logout revokes it). */
  family: FamilyKey;
  /** Self-contained tokens carry what the next pair needs; opaque ones learn it from the store. */
  subject?: Subject;
  /** When the family began (seconds), when the token says so; else the store caps the lifetime. */
  authTime?: number;
}

/** A newly minted refresh token. */
export interface RefreshDraft {
  token: string;
  /** Its id in the store: the `jti`, or SHA-256 of an opaque token (`NextTokens.refreshId`). */
  id: string;
  /** True when the store keeps a record of the token under `id` (`NextTokens.refreshOpaque`). */
  stored: boolean;
}

export interface RefreshFormat {
  /** Verifies a refresh token without the store; throws TokenError. */
  parse(token: string, now: Millis): PresentedToken;
  /**
   * Mints the next refresh token of a family. `subject` is known at login and for
   * self-contained presented tokens; an opaque format does not need it.
   * Times in seconds; `authTime` is when the family began (OIDC Core §2 `auth_time`).
   */
  mint(shard: string, subject: Subject | undefined, iat: number, exp: number, authTime: number): RefreshDraft;
  /** True when `token` is a valid refresh token of this format, checked without the store; never throws. */
  accepts(token: string, now: Millis): boolean;
  /** RFC 7662 for a refresh token: `undefined` when not one of this format, else the answer. */
  introspect(token: string, now: Millis): Promise<Introspection> | undefined;
  /**
   * RFC 7009 §2.1 for a refresh token (its whole family): `undefined` when not one of this
   * format. With `clientId`, a token issued to another client is left alone (§2.1).
   */
  revoke(token: string, now: Millis, clientId?: string): Promise<void> | undefined;
}
