/**
 * The error taxonomy. Every error the library throws is a {@link TesseraError} with a
 * stable `code` (a program decides on the code, never on the message). Every refusal of
 * a token is a {@link TokenError}; a dependency that cannot be reached is a
 * {@link DependencyUnavailableError} naming it (the token store, a JWK Set), never a
 * TokenError; HTTP status codes are assigned only at the edge (src/http/core/errors.ts).
 * Messages never contain a token, a key or a password.
 *
 * @module
 */

/**
 * The base of every error class of the library: `instanceof TesseraError` tells the
 * library's errors from anything else, `code` says which (stable, machine-readable,
 * snake_case). Each subclass narrows `code` to its own codes.
 */
export class TesseraError extends Error {
  override readonly name: string = 'TesseraError';
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** `{ error, message }`: what a log line or an API answer shows of it (no stack, no cause). */
  toJSON<T extends TesseraError>(this: T): { error: T['code']; message: string } {
    return { error: this.code, message: this.message };
  }
}

/** Whether `e` is an error of the library, optionally with the given `code`. */
export function isTesseraError(e: unknown, code?: string): e is TesseraError {
  return e instanceof TesseraError && (code === undefined || e.code === code);
}

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

export class TokenError extends TesseraError {
  override readonly name = 'TokenError';
  declare readonly code: TokenErrorCode;

  constructor(code: TokenErrorCode, message?: string, options?: { cause?: unknown }) {
    super(code, message ?? DEFAULT_MESSAGES[code], options);
  }
}

export function isTokenError(e: unknown, code?: TokenErrorCode): e is TokenError {
  return e instanceof TokenError && (code === undefined || e.code === code);
}

/**
 * Bad configuration (short secret, unknown format, unreachable store at start).
 * Thrown at construction time, never while handling a request.
 */
export class ConfigError extends TesseraError {
  override readonly name = 'ConfigError';
  declare readonly code: 'invalid_config';

  constructor(message = 'The configuration is invalid', options?: { cause?: unknown }) {
    super('invalid_config', message, options);
  }
}

/** What a {@link DependencyUnavailableError} could not reach: the token store, or a JWK Set (`jwks_uri`). */
export type UnavailableDependency = 'store' | 'jwks';

/**
 * A dependency could not be reached (or answered something unreadable): the token store
 * ({@link StoreUnavailableError}) or the JWK Set a resource server verifies with
 * ({@link JwksUnavailableError}); `dependency` and `code` say which. Deliberately NOT a
 * {@link TokenError}: a token error means "this token is no good, sign the user out", an
 * outage means "try again later" (503 with `Retry-After` at the HTTP edge). Keeping them apart
 * means `catch (e) { if (e instanceof TokenError) logout() }` can never turn a Redis outage
 * into mass logouts.
 */
export class DependencyUnavailableError extends TesseraError {
  override readonly name: string = 'DependencyUnavailableError';
  declare readonly code: `${UnavailableDependency}_unavailable`;
  readonly dependency: UnavailableDependency;

  constructor(dependency: UnavailableDependency, message: string, options?: { cause?: unknown }) {
    super(`${dependency}_unavailable`, message, options);
    this.dependency = dependency;
  }
}

/** Whether `e` is an outage of a dependency (the store, a JWK Set): a 503, never a verdict on a token. */
export function isDependencyUnavailable(e: unknown): e is DependencyUnavailableError {
  return e instanceof DependencyUnavailableError;
}

/** The token store could not be reached (or answered something unreadable). */
export class StoreUnavailableError extends DependencyUnavailableError {
  override readonly name = 'StoreUnavailableError';
  declare readonly code: 'store_unavailable';
  declare readonly dependency: 'store';

  constructor(message = 'The token store is unavailable', options?: { cause?: unknown }) {
    super('store', message, options);
  }
}

export function isStoreUnavailable(e: unknown): e is StoreUnavailableError {
  return e instanceof StoreUnavailableError;
}

/**
 * The JWK Set of a token issuer (`createJwksVerifier`'s `jwksUri`) could not be fetched, or
 * was not a JWK Set, and no usable copy was cached: the token may be fine, the verifier
 * cannot tell. Not a {@link StoreUnavailableError}: no token store was asked.
 */
export class JwksUnavailableError extends DependencyUnavailableError {
  override readonly name = 'JwksUnavailableError';
  declare readonly code: 'jwks_unavailable';
  declare readonly dependency: 'jwks';

  constructor(message = 'The JWK Set is unavailable', options?: { cause?: unknown }) {
    super('jwks', message, options);
  }
}

/**
 * A refresh asked for a scope the grant does not hold (RFC 6749 §6: a refresh may only
 * narrow the scope; §5.2 `invalid_scope`). Deliberately NOT a {@link TokenError}: the refresh
 * token was not consumed and is still good, so a program that signs out on a TokenError must
 * not sign out here; the request was wrong, not the token.
 */
export class InvalidScopeError extends TesseraError {
  override readonly name = 'InvalidScopeError';
  declare readonly code: 'invalid_scope';

  constructor(message = 'The requested scope exceeds the scope granted', options?: { cause?: unknown }) {
    super('invalid_scope', message, options);
  }
}

export function isInvalidScope(e: unknown): e is InvalidScopeError {
  return e instanceof InvalidScopeError;
}
