/**
 * The only place where failures become HTTP (framework-neutral; errors.ts adds
 * Fastify's own errors, express.ts and hono.ts theirs): TokenError codes and request
 * problems are mapped to RFC 6749 §5.2 / RFC 6750 §3.1 error responses.
 *
 * Rules kept here:
 * - A body is always `{error, error_description}`; the description is a fixed
 *   string chosen by the code, never an upstream message, so neither a token nor
 *   a piece of the request is ever echoed back.
 * - A refused token adds `reason`, the {@link TokenError} code (`reused`,
 *   `revoked`, `expired`, ...): programs decide on it, never on the English
 *   description, which may change.
 * - A bad input is a 4xx; an unavailable dependency ({@link DependencyUnavailableError}: the
 *   token store, or the JWK Set a verifier fetches) is a 503 with `Retry-After`, a description
 *   naming the dependency and no `reason` (fail closed: never an accept, and nothing a client
 *   could read as "this token is dead, sign out"); anything else is a plain 500 without a stack.
 *
 * @module
 */
import {
  ConfigError,
  type DependencyUnavailableError,
  InvalidScopeError,
  isDependencyUnavailable,
  isStoreUnavailable,
  isTokenError,
  type StoreUnavailableError,
  TesseraError,
  TOKEN_ERROR_CODES,
  type TokenError,
  type TokenErrorCode,
  type UnavailableDependency,
} from '../../errors.js';
import { DPOP_ALGS, isDpopError } from '../../tokens/dpop.js';
import { DEFAULT_REALM } from './limits.js';

/** Error codes of our responses: RFC 6749 §5.2, RFC 6750 §3.1, plus HTTP-only ones. */
export type HttpErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'invalid_scope'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'unauthorized'
  | 'temporarily_unavailable'
  | 'not_found'
  | 'conflict'
  | 'server_error'
  /** RFC 9449 §7.1, §12.2: a DPoP proof that is missing where required, or invalid. */
  | 'invalid_dpop_proof'
  /** RFC 9449 §8, §12.2: the server wants a proof with its nonce. */
  | 'use_dpop_nonce';

/**
 * The `reason` of an error body: why a token (or the credentials of a password
 * grant) was refused. The {@link TokenError} codes (a store outage is not one:
 * it is a 503 without a reason), plus `invalid_credentials` for a wrong
 * username or password.
 */
export type ErrorReason = TokenErrorCode | 'invalid_credentials';

/** Every {@link ErrorReason}, for the OpenAPI enum and for tests. */
export const ERROR_REASONS: readonly ErrorReason[] = [...TOKEN_ERROR_CODES, 'invalid_credentials'];

/** Seconds a client should wait after a 503 before retrying (RFC 9110 §10.2.3). */
export const RETRY_AFTER_SECONDS = 5;

/**
 * A store outage ({@link StoreUnavailableError}).
 * @deprecated the same function as `isStoreUnavailable` of `tessera-auth`; use that name.
 */
export const isStoreOutage: (e: unknown) => e is StoreUnavailableError = isStoreUnavailable;

/** A TokenError: a verdict on the token (an outage never is one), which a route may answer itself. */
export function isTokenRefusal(e: unknown): e is TokenError {
  return isTokenError(e);
}

/** An error that already knows its HTTP form. */
export class HttpError extends TesseraError {
  override readonly name = 'HttpError';
  /** The same as `error`: the RFC 6749 §5.2 / RFC 6750 §3.1 code. */
  declare readonly code: HttpErrorCode;
  readonly statusCode: number;
  readonly error: HttpErrorCode;
  readonly headers: Record<string, string>;
  /** Machine-readable cause of a refused token or grant, sent as `reason`. */
  readonly reason: ErrorReason | undefined;

  constructor(
    statusCode: number,
    error: HttpErrorCode,
    description: string,
    headers: Record<string, string> = {},
    reason?: ErrorReason,
  ) {
    super(error, description);
    this.statusCode = statusCode;
    this.error = error;
    this.headers = headers;
    this.reason = reason;
  }

  get description(): string {
    return this.message;
  }
}

/** The JSON body of an error: `{error, error_description[, reason]}` (RFC 6749 §5.2 allows extra members; `reason` is ours). */
export function errorBody(err: HttpError): { error: HttpErrorCode; error_description: string; reason?: ErrorReason } {
  return err.reason === undefined
    ? { error: err.error, error_description: err.description }
    : { error: err.error, error_description: err.description, reason: err.reason };
}

/**
 * Headers of an error answer: no-store (RFC 6749 §5.1 asks it of token responses; an error
 * of an auth endpoint must not be cached either), then the error's own (challenges, Retry-After).
 */
export function errorHeaders(err: HttpError): Record<string, string> {
  return { 'cache-control': 'no-store', pragma: 'no-cache', ...err.headers };
}

/** The reason a TokenError gives: its code. */
function reasonOf(err: TokenError): ErrorReason {
  return err.code;
}

export function badRequest(description: string): HttpError {
  return new HttpError(400, 'invalid_request', description);
}

/** The 503 description of each dependency: it names what could not be reached. */
const UNAVAILABLE_DESCRIPTIONS: Record<UnavailableDependency, string> = {
  store: 'The token store is unavailable; retry later',
  jwks: 'The JWK Set of the token issuer is unavailable; retry later',
};

/**
 * 503 `temporarily_unavailable` (RFC 6749 §4.1.2.1, RFC 9110 §15.6.4) with `Retry-After`:
 * a dependency could not be reached, and the description says which.
 */
export function dependencyUnavailable(dependency: UnavailableDependency): HttpError {
  return new HttpError(503, 'temporarily_unavailable', UNAVAILABLE_DESCRIPTIONS[dependency], {
    'retry-after': String(RETRY_AFTER_SECONDS),
  });
}

/** The 503 of a token store outage. */
export function storeUnavailable(): HttpError {
  return dependencyUnavailable('store');
}

/** RFC 6750 §3: the challenge. `error` is left out when no token was presented at all (§3.1). */
export function bearerChallenge(
  realm: string,
  error?: 'invalid_token' | 'invalid_request' | 'insufficient_scope',
  description?: string,
  scope?: string,
): string {
  let value = `Bearer realm="${realm}"`;
  if (error) value += `, error="${error}"`;
  // Our descriptions are fixed ASCII without quotes or backslashes (RFC 6750 §3: %x20-21 / %x23-5B / %x5D-7E).
  if (description) value += `, error_description="${description}"`;
  if (scope) value += `, scope="${scope}"`;
  return value;
}

const ACCESS_DESCRIPTIONS: Partial<Record<TokenErrorCode, string>> = {
  expired: 'The access token expired',
  revoked: 'The access token was revoked',
  wrong_type: 'The token is not an access token',
};

/** 401 for a request without any Bearer token (RFC 6750 §3.1: no error code in the challenge). */
export function missingToken(realm: string): HttpError {
  return new HttpError(401, 'unauthorized', 'This resource needs a Bearer access token', {
    'www-authenticate': bearerChallenge(realm),
  });
}

/** 400 for an Authorization header that is not a well-formed Bearer credential (RFC 6750 §2.1, §3.1). */
export function malformedAuthorization(realm: string): HttpError {
  const description = 'The Authorization header is not a well-formed Bearer credential';
  return new HttpError(400, 'invalid_request', description, {
    'www-authenticate': bearerChallenge(realm, 'invalid_request', description),
  });
}

/** 403 when the token lacks a scope the route requires (RFC 6750 §3.1). */
export function insufficientScope(realm: string, scope: string): HttpError {
  const description = 'The access token does not grant the required scope';
  return new HttpError(403, 'insufficient_scope', description, {
    'www-authenticate': bearerChallenge(realm, 'insufficient_scope', description, scope),
  });
}

/**
 * A TokenError raised while authenticating an access token: 401 `invalid_token`
 * (RFC 6750 §3.1) with its code as `reason`, or 503 when the store could not be asked.
 */
export function accessTokenError(err: TokenError | DependencyUnavailableError, realm: string): HttpError {
  if (isDependencyUnavailable(err)) return dependencyUnavailable(err.dependency);
  const description = ACCESS_DESCRIPTIONS[err.code] ?? 'The access token is invalid';
  return new HttpError(
    401,
    'invalid_token',
    description,
    { 'www-authenticate': bearerChallenge(realm, 'invalid_token', description) },
    reasonOf(err),
  );
}

const GRANT_DESCRIPTIONS: Partial<Record<TokenErrorCode, string>> = {
  expired: 'The refresh token expired',
  revoked: 'The refresh token was revoked',
  reused: 'Refresh token reused: it was already used once, so its session was revoked',
  wrong_type: 'The token is not a refresh token',
  // RFC 6749 §5.2 invalid_grant: "... or was issued to another client".
  wrong_client: 'The refresh token was issued to another client',
};

/**
 * A TokenError raised while using a refresh token (token or refresh endpoint):
 * RFC 6749 §5.2 `invalid_grant` (400) with its code as `reason`, or 503 when
 * the store could not be asked.
 */
export function refreshTokenError(err: TokenError | DependencyUnavailableError): HttpError {
  if (isDependencyUnavailable(err)) return dependencyUnavailable(err.dependency);
  const description = GRANT_DESCRIPTIONS[err.code] ?? 'The refresh token is invalid';
  return new HttpError(400, 'invalid_grant', description, {}, reasonOf(err));
}

/**
 * RFC 6749 §5.2 `invalid_scope` (a refresh asked for more than the grant holds, §6). No
 * `reason`: the refresh token was not refused and is still good.
 */
export function invalidScope(): HttpError {
  return new HttpError(400, 'invalid_scope', 'The requested scope exceeds the scope granted');
}

/** RFC 6749 §5.2: a password grant with an unknown user or a wrong password (one answer for both: no enumeration). */
export function invalidCredentials(): HttpError {
  return new HttpError(400, 'invalid_grant', 'Invalid username or password', {}, 'invalid_credentials');
}

/**
 * RFC 9449 §7.1: the `DPoP` challenge of a protected resource, with the algorithms it accepts.
 * Sent with the Bearer one when a token was refused without a DPoP credential (RFC 9110 §11.6.1).
 */
export function dpopChallenge(
  realm: string,
  error?: 'invalid_token' | 'invalid_dpop_proof' | 'use_dpop_nonce',
  description?: string,
): string {
  let value = `DPoP realm="${realm}"`;
  if (error) value += `, error="${error}"`;
  if (description) value += `, error_description="${description}"`;
  return `${value}, algs="${DPOP_ALGS.join(' ')}"`;
}

/**
 * RFC 9449 §7.1: a refusal at a protected resource presented with `Authorization: DPoP`, or of a
 * DPoP-bound token presented as Bearer: 401 with a `DPoP` challenge.
 */
export function dpopRefusal(
  realm: string,
  error: 'invalid_token' | 'invalid_dpop_proof' | 'use_dpop_nonce',
  description: string,
  reason?: ErrorReason,
  nonce?: string,
): HttpError {
  const headers: Record<string, string> = { 'www-authenticate': dpopChallenge(realm, error, description) };
  // RFC 9449 §9: the nonce the next proof must carry.
  if (nonce !== undefined) headers['dpop-nonce'] = nonce;
  return new HttpError(401, error, description, headers, reason);
}

/** RFC 9449 §8, §9: the proof lacks the server's nonce; `DPoP-Nonce` gives it (400 at the token endpoint). */
export function useDpopNonce(nonce: string | undefined): HttpError {
  return new HttpError(
    400,
    'use_dpop_nonce',
    'The DPoP proof must carry the nonce of the DPoP-Nonce header',
    nonce === undefined ? {} : { 'dpop-nonce': nonce },
  );
}

/** RFC 9449 §5, §12.2: a token-endpoint request whose DPoP proof is missing (where required) or invalid: 400. */
export function invalidDpopProof(description = 'The DPoP proof is invalid'): HttpError {
  return new HttpError(400, 'invalid_dpop_proof', description);
}

/**
 * Maps anything thrown while handling a request (framework-neutral part; the
 * adapters map their own framework's errors first). Exported for tests and for embedding apps.
 */
export function toHttpError(err: unknown, realm = DEFAULT_REALM): HttpError {
  if (err instanceof HttpError) return err;
  if (isDependencyUnavailable(err)) return dependencyUnavailable(err.dependency);
  if (err instanceof InvalidScopeError) return invalidScope();
  // A proof refused at the token or refresh endpoint (the guard answers its own, 401).
  if (isDpopError(err) && err.code === 'use_dpop_nonce') return useDpopNonce(err.nonce);
  if (isDpopError(err))
    return invalidDpopProof(
      err.code === 'dpop_key_mismatch'
        ? 'The refresh token is DPoP-bound: a proof by its key is required'
        : 'The DPoP proof is invalid',
    );
  if (isTokenError(err)) return accessTokenError(err, realm);
  // A deployment that lacks what this request needs (an optional peer such as the common-password
  // list): the request was fine and may succeed once the operator fixes it, so 503 (RFC 9110
  // §15.6.4), never the message (it names packages and paths); logFailure logs it at error.
  if (err instanceof ConfigError) {
    return new HttpError(
      503,
      'temporarily_unavailable',
      'This server cannot handle this request until its operator fixes its configuration',
    );
  }
  const fe = err as { statusCode?: unknown } | null;
  if (fe && typeof fe === 'object') {
    const status = fe.statusCode;
    if (status === 429) return new HttpError(429, 'temporarily_unavailable', 'Too many requests; retry later');
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return new HttpError(status, status === 404 ? 'not_found' : 'invalid_request', 'The request is invalid');
    }
  }
  return new HttpError(500, 'server_error', 'Internal server error');
}

/** Status 5xx but 503: a bug or an unexpected failure (logged at error level, with the error). */
export function isServerFault(mapped: HttpError): boolean {
  return mapped.statusCode >= 500 && mapped.statusCode !== 503;
}

/** The logger {@link logFailure} writes to (pino's shape). */
export interface FailureLogger {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/**
 * The one rule for logging a failed request, on every framework: a server fault or a missing
 * piece of configuration at error, with the error (ours never hold secrets); an unavailable dependency (503) at warn, naming it; any
 * other refusal at debug, without its message (it may quote the request).
 */
export function logFailure(log: FailureLogger | undefined, err: unknown, mapped: HttpError): void {
  if (!log) return;
  if (isServerFault(mapped) || err instanceof ConfigError) log.error({ err }, 'request failed');
  else if (mapped.statusCode === 503) {
    const outage = isDependencyUnavailable(err) ? err : undefined;
    log.warn({ code: outage?.code ?? mapped.error }, `${outage?.dependency ?? 'dependency'} unavailable`);
  } else {
    // The error's own code (a TokenError's, a framework's such as FST_ERR_CTP_INVALID_MEDIA_TYPE), when it has one.
    const code = (err as { code?: unknown } | null)?.code;
    log.debug(
      { status: mapped.statusCode, error: mapped.error, ...(typeof code === 'string' ? { code } : {}) },
      'request refused',
    );
  }
}
