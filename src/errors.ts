/**
 * The error taxonomy. Every refusal of a token is a {@link TokenError} with a
 * stable `code`; a store outage is a {@link StoreUnavailableError} instead; HTTP status codes are assigned only at the edge
 * (src/http/errors.ts). Messages never contain a token, a key or a password.
 *
 * @module
 */

/** Stable codes of {@link TokenError}. Part of the public contract: never renamed. */
export const TOKEN_ERROR_CODES = [
  /** Not a token of the expected format: structure, encoding, JSON, size. */
  'malformed',
  /** A header or feature we deliberately do not implement (alg other than HS256, `crit`, `b64:false`). */
  'unsupported',
  /** The MAC does not verify (or, for encrypted formats, anything about the ciphertext is wrong). */
  'bad_signature',
  /** The token names a key id that is not in the key ring. */
  'unknown_key',
  /** `exp` has passed (RFC 7519 §4.1.4). */
  'expired',
  /** `nbf` is in the future, or a Fernet timestamp too far ahead (RFC 7519 §4.1.5). */
  'not_yet_valid',
  /** An access token where a refresh token is expected, or the reverse. */
  'wrong_type',
  /** A required claim is missing or ill-typed, or `iss`/`aud` do not match. */
  'invalid_claims',
  /** The token, its family or its user was revoked. */
  'revoked',
  /** A refresh token that was already used: its whole family is now revoked. */
  'reused',
  /** An opaque token the store does not know (never issued, or expired and purged). */
  'unknown_token',
  /** A refresh token presented by a client it was not issued to (RFC 6749 §6); it was not consumed. */
  'wrong_client',
] as const;

export type TokenErrorCode = (typeof TOKEN_ERROR_CODES)[number];

const DEFAULT_MESSAGES: Record<TokenErrorCode, string> = {
  malformed: 'The token is malformed',
  unsupported: 'The token uses an unsupported feature',
  bad_signature: 'The token signature is invalid',
  unknown_key: 'The token was signed with an unknown key',
  expired: 'The token expired',
  not_yet_valid: 'The token is not yet valid',
  wrong_type: 'The token is of the wrong type',
  invalid_claims: 'The token claims are invalid',
  revoked: 'The token was revoked',
  reused: 'The refresh token was already used; its session was revoked',
  unknown_token: 'The token is unknown',
  wrong_client: 'The refresh token was issued to another client',
};

export class TokenError extends Error {
  override readonly name = 'TokenError';
  readonly code: TokenErrorCode;

  constructor(code: TokenErrorCode, message?: string, options?: { cause?: unknown }) {
    super(message ?? DEFAULT_MESSAGES[code], options);
    this.code = code;
  }

  toJSON(): { error: TokenErrorCode; message: string } {
    return { error: this.code, message: this.message };
  }
}

export function isTokenError(e: unknown, code?: TokenErrorCode): e is TokenError {
  return e instanceof TokenError && (code === undefined || e.code === code);
}

/**
 * Bad configuration (short secret, unknown format, unreachable store at start).
 * Thrown at construction time, never while handling a request.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'invalid_config' as const;
}

/**
 * The token store could not be reached (or answered something unreadable).
 * Deliberately NOT a {@link TokenError}: a token error means "this token is no
 * good, sign the user out", a store outage means "try again later" (503 with
 * `Retry-After` at the HTTP edge). Keeping them apart means
 * `catch (e) { if (e instanceof TokenError) logout() }` can never turn a
 * Redis outage into mass logouts.
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  readonly code = 'store_unavailable' as const;

  constructor(message = 'The token store is unavailable', options?: { cause?: unknown }) {
    super(message, options);
  }

  toJSON(): { error: 'store_unavailable'; message: string } {
    return { error: this.code, message: this.message };
  }
}

export function isStoreUnavailable(e: unknown): e is StoreUnavailableError {
  return e instanceof StoreUnavailableError;
}

/**
 * A refresh asked for a scope the grant does not hold (RFC 6749 §6: a refresh may only
 * narrow the scope; §5.2 `invalid_scope`). Deliberately NOT a {@link TokenError}: the refresh
 * token was not consumed and is still good, so a program that signs out on a TokenError must
 * not sign out here; the request was wrong, not the token.
 */
export class InvalidScopeError extends Error {
  override readonly name = 'InvalidScopeError';
  readonly code = 'invalid_scope' as const;

  constructor(message = 'The requested scope exceeds the scope granted', options?: { cause?: unknown }) {
    super(message, options);
  }

  toJSON(): { error: 'invalid_scope'; message: string } {
    return { error: this.code, message: this.message };
  }
}

export function isInvalidScope(e: unknown): e is InvalidScopeError {
  return e instanceof InvalidScopeError;
}
