/**
 * The guard, framework-neutral: parse the Bearer credential (RFC 6750 §2.1),
 * authenticate it, check the route's scope (RFC 6750 §3.1), and the refusal
 * for each way that can fail. The adapters (plugin.ts, express.ts, hono.ts)
 * call these in that order and only write the result their framework's way.
 *
 * Nothing here allocates on the success path beyond what the token service
 * does: with a service of ours, {@link Guard.start} returns the principal itself
 * when no store is asked (a self-contained token: no promise, no microtask), the
 * service's promise otherwise, or a refusal, synchronously.
 *
 * @module
 */
import { isDependencyUnavailable, isTokenError, TokenError } from '../../errors.js';
import type { Principal, SyncAuthenticator, TokenService } from '../../refresh/types.js';
import type { Claims } from '../../tokens/claims.js';
import { boundJkt, isDpopError, type VerifiedDpopProof } from '../../tokens/dpop.js';
import { createDpopChecker, type DpopChecker, type DpopOptions } from './dpop.js';
import {
  accessTokenError,
  dependencyUnavailable,
  dpopChallenge,
  dpopRefusal,
  HttpError,
  insufficientScope,
  malformedAuthorization,
  missingToken,
} from './errors.js';
import { DEFAULT_REALM } from './limits.js';
import type { CoreLogger } from './request.js';

/** Anything that verifies an access token into claims: `createJwksVerifier(...)` is one. */
export interface AccessTokenVerifier {
  verify(token: string): Promise<Claims>;
}

/**
 * RFC 6750 §2.1: `credentials = "Bearer" 1*SP b64token`, where
 * `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
 * The scheme name is case-insensitive (RFC 9110 §11.1).
 */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
const BEARER_SCHEME = /^Bearer(?: |$)/i;

/** The Bearer token of a header value: a string, `null` for another scheme or none, or `false` when malformed. */
export function parseBearer(header: string | undefined): string | null | false {
  if (header === undefined || header === '') return null;
  const m = BEARER.exec(header);
  if (m) return m[1] as string;
  // "Bearer" with nothing usable after it is a malformed request (RFC 6750 §3.1 invalid_request);
  // another scheme (Basic, ...) is simply not a Bearer credential.
  return BEARER_SCHEME.test(header) ? false : null;
}

/** ASCII "bearer" (any case, RFC 9110 §11.1) at the start of `h`, followed by a space. */
function bearerScheme(h: string): boolean {
  return (
    h.length > 7 &&
    h.charCodeAt(6) === 0x20 &&
    (h.charCodeAt(0) | 0x20) === 0x62 && // b
    (h.charCodeAt(1) | 0x20) === 0x65 && // e
    (h.charCodeAt(2) | 0x20) === 0x61 && // a
    (h.charCodeAt(3) | 0x20) === 0x72 && // r
    (h.charCodeAt(4) | 0x20) === 0x65 && // e
    (h.charCodeAt(5) | 0x20) === 0x72 // r
  );
}

/**
 * {@link parseBearer} without the b64token check: the credential after "Bearer" and its spaces,
 * trailing spaces cut. Checking the syntax of a 400-character token costs about as much as
 * finding it in the verified-token cache; an authenticator that accepts nothing but b64token
 * strings (every format of ours decodes strictly) lets the check wait until authentication
 * fails ({@link syntaxOr}), and the answers stay those of parseBearer first.
 */
function bearerCandidate(header: string | undefined): string | null | false {
  if (header === undefined || !bearerScheme(header)) return parseBearer(header);
  let start = 7;
  while (start < header.length && header.charCodeAt(start) === 0x20) start++;
  let end = header.length;
  while (end > start && header.charCodeAt(end - 1) === 0x20) end--;
  return end > start ? header.slice(start, end) : false;
}

const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * RFC 6750 §3.1: a credential that is not a b64token is a malformed request (400), however
 * authenticating it failed; a refused b64token keeps its refusal (401, or 503 for an outage).
 */
function syntaxOr(e: unknown, token: string, realm: string): unknown {
  return B64TOKEN.test(token) ? e : malformedAuthorization(realm);
}

/** True when `granted` (space-separated) holds every scope of `required`. */
export function hasScopes(granted: string | undefined, required: string): boolean {
  const have = new Set((granted ?? '').split(' '));
  return required.split(' ').every((s) => s === '' || have.has(s));
}

/** The principal of verified claims (a resource server's view: no family, no store). */
export function principalOfClaims(claims: Claims): Principal {
  if (typeof claims.sub !== 'string' || claims.sub === '') throw new TokenError('invalid_claims', 'The token has no sub claim');
  const principal: Principal = { sub: claims.sub, exp: claims.exp as number, claims };
  if (typeof claims.scope === 'string') principal.scope = claims.scope;
  if (typeof claims.jti === 'string') principal.tokenId = claims.jti;
  if (typeof claims.iat === 'number') principal.iat = claims.iat;
  return principal;
}

export type Authenticator = Pick<TokenService, 'authenticate'>;

/**
 * Either `tokens` (the auth server: a token service) or `verifier` (a resource server
 * that is not the auth server: e.g. `createJwksVerifier({ jwksUri, issuer, audience })`).
 */
export type GuardOptions = {
  /** The realm of the `WWW-Authenticate` challenge (RFC 6750 §3). Default `tessera`. */
  realm?: string;
  /**
   * Accept `Authorization: DPoP <token>` with a `DPoP` proof (RFC 9449 §7). The proof must name
   * `issuer` (default: the token service's) plus the request's path as its `htu`. Without it a
   * DPoP credential is not one this guard knows (401); a DPoP-bound token presented as Bearer is
   * refused either way (§7.2).
   */
  dpop?: GuardDpopOptions;
} & ({ tokens: TokenService; verifier?: undefined } | { verifier: AccessTokenVerifier; tokens?: undefined });

/** DPoP at the guard: the replay store and window, and the URL this server is known by. */
export interface GuardDpopOptions extends DpopOptions {
  /** The base of the `htu` a proof must name. Default: the token service's `issuer`. */
  issuer?: string | (() => string | undefined);
}

/**
 * Where the guard reads the request's `DPoP` header, only for a DPoP credential: the adapter's
 * headers object as it is (no copy on the Bearer path).
 */
export type DpopHeaderSource = Readonly<Record<string, unknown>> | { get(name: string): string | null };

function dpopHeaderOf(h: DpopHeaderSource | undefined): unknown {
  if (h === undefined) return undefined;
  return typeof h.get === 'function'
    ? ((h as { get(name: string): string | null }).get('dpop') ?? undefined)
    : (h as Record<string, unknown>).dpop;
}

/** RFC 9449 §7.1: `DPoP 1*SP token68`, the scheme name case-insensitive (RFC 9110 §11.1). */
const DPOP_CREDENTIAL = /^DPoP +([A-Za-z0-9\-._~+/]+=*) *$/i;
const DPOP_SCHEME = /^DPoP(?: |$)/i;

/** ASCII "dpop" (any case) then a space at the start of `h`: four comparisons before any regex. */
function dpopScheme(h: string): boolean {
  return (
    h.length > 5 &&
    h.charCodeAt(4) === 0x20 &&
    (h.charCodeAt(0) | 0x20) === 0x64 && // d
    (h.charCodeAt(1) | 0x20) === 0x70 && // p
    (h.charCodeAt(2) | 0x20) === 0x6f && // o
    (h.charCodeAt(3) | 0x20) === 0x70 // p
  );
}

/**
 * RFC 9449 §7.1 with RFC 9110 §11.6.1: a resource that takes both schemes challenges with both
 * when no credential came (the DPoP one names its algorithms).
 */
function missingTokenEither(realm: string): HttpError {
  const e = missingToken(realm);
  return new HttpError(401, e.error, 'This resource needs a Bearer or DPoP access token', {
    'www-authenticate': `${e.headers['www-authenticate']}, ${dpopChallenge(realm)}`,
  });
}

/** RFC 9449 §7.2: a token bound to a key (any `cnf`) is no bearer token. */
function boundAsBearer(realm: string): HttpError {
  return dpopRefusal(realm, 'invalid_token', 'The access token is DPoP-bound: present it with the DPoP scheme and a proof');
}

export interface Guard {
  readonly realm: string;
  /**
   * Parses the Authorization header and authenticates: the principal (when the token service
   * answers without a store), its promise, or a refusal (400/401) at once.
   */
  start(
    authorization: string | undefined,
    method?: string,
    path?: string,
    headers?: DpopHeaderSource,
  ): Principal | Promise<Principal> | HttpError;
  /** 403 when the principal lacks a scope of `required` (space-separated); `undefined` when it has them all. */
  scopeRefusal(principal: Principal, required: string | undefined): HttpError | undefined;
  /**
   * The answer to a failed authentication: 401 `invalid_token` with its reason, or 503 for a
   * store or key-set outage (never "sign out"). `undefined` for anything else: a bug, for the
   * adapter's error path (500). Logs the outcome (never the token).
   */
  refusal(e: unknown, log?: CoreLogger): HttpError | undefined;
}

/** The guard of `options` (validated once: a bad option is a TypeError at start-up). */
export function createGuard(options: GuardOptions, who = 'tesseraAuth'): Guard {
  const { verifier } = options;
  if (verifier !== undefined && typeof verifier.verify !== 'function')
    throw new TypeError(`${who}: \`verifier\` must have a verify(token) method`);
  const maybe: Authenticator | undefined =
    verifier !== undefined ? { authenticate: async (token) => principalOfClaims(await verifier.verify(token)) } : options.tokens;
  if (!maybe || typeof maybe.authenticate !== 'function')
    throw new TypeError(`${who}: \`tokens\` (a TokenService) or \`verifier\` is required`);
  const tokens = maybe;
  // A service of ours (createTokenService, `tessera serve`): answers synchronously when it can and
  // accepts nothing but strict encodings, so the b64token check runs only when a token is refused.
  const fast = tokens as Authenticator & Partial<SyncAuthenticator>;
  const now = typeof fast.authenticateNow === 'function' ? (fast as SyncAuthenticator) : undefined;
  const realm = options.realm ?? DEFAULT_REALM;
  if (!/^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/.test(realm))
    throw new TypeError(`${who}: \`realm\` must be printable ASCII without " or \\`);

  const dpopOptions = options.dpop;
  let dpop: DpopChecker | undefined;
  if (dpopOptions) {
    const configured = dpopOptions.issuer;
    const issuer =
      typeof configured === 'function'
        ? configured
        : () => configured ?? ((tokens as { issuer?: unknown }).issuer as string | undefined);
    dpop = createDpopChecker(dpopOptions, issuer);
  }
  /** RFC 9449 §7.2: what a Bearer credential authenticated to, unless it is bound to a key. */
  const unbound = (p: Principal): Principal => {
    if (p.claims?.cnf !== undefined) throw boundAsBearer(realm);
    return p;
  };

  /**
   * RFC 9449 §7.1: a DPoP credential. The token authenticates as a Bearer one would; the proof
   * must be for this method and URL, carry `ath` of the token, and be by the key the token is
   * bound to (`cnf.jkt`). An unbound token with a valid proof is accepted: the proof adds a
   * check, never removes one (§7.2 leaves it to the resource).
   */
  function withProof(
    checker: DpopChecker,
    token: string,
    method: string | undefined,
    path: string | undefined,
    headers: DpopHeaderSource | undefined,
  ): Promise<Principal> | HttpError {
    let authenticated: Principal | Promise<Principal>;
    try {
      authenticated = now === undefined ? tokens.authenticate(token) : now.authenticateNow(token);
    } catch (e) {
      return Promise.reject(e).then(undefined, dpopTokenRefusal);
    }
    if (authenticated instanceof Promise)
      return authenticated.then((p) => proven(checker, p, token, method, path, headers), dpopTokenRefusal);
    try {
      return proven(checker, authenticated, token, method, path, headers);
    } catch (e) {
      return e instanceof HttpError ? e : Promise.reject(e);
    }
  }

  /** A refused token under the DPoP scheme: its 401 with a DPoP challenge (RFC 9449 §7.1). */
  function dpopTokenRefusal(e: unknown): never {
    if (!isTokenError(e)) throw e;
    throw dpopRefusal(realm, 'invalid_token', accessTokenError(e, realm).description, e.code);
  }

  /** The proof of an authenticated token: checked at once, its jti recorded (the one store call). */
  function proven(
    checker: DpopChecker,
    principal: Principal,
    token: string,
    method: string | undefined,
    path: string | undefined,
    headers: DpopHeaderSource | undefined,
  ): Promise<Principal> {
    const bound = boundJkt(principal.claims);
    if (bound === undefined && principal.claims?.cnf !== undefined) throw boundAsBearer(realm);
    if (method === undefined || path === undefined) throw dpopRefusal(realm, 'invalid_dpop_proof', 'The DPoP proof is invalid');
    const q = path.indexOf('?');
    let proof: VerifiedDpopProof;
    try {
      proof = checker.verify(dpopHeaderOf(headers), method, q === -1 ? path : path.slice(0, q), token);
    } catch (e) {
      throw proofRefusal(e);
    }
    if (bound !== undefined && bound !== proof.jkt)
      throw dpopRefusal(realm, 'invalid_dpop_proof', 'The DPoP proof is by another key than the access token is bound to');
    return checker.record(proof).then(
      () => principal,
      (e: unknown) => {
        throw proofRefusal(e);
      },
    );
  }

  /** A refused proof (RFC 9449 §7.1): 401 with a DPoP challenge; an outage stays one. */
  function proofRefusal(e: unknown): unknown {
    if (isDpopError(e) && e.code === 'use_dpop_nonce')
      return dpopRefusal(realm, 'use_dpop_nonce', 'The DPoP proof must carry the server nonce', undefined, e.nonce);
    if (isDpopError(e)) return dpopRefusal(realm, 'invalid_dpop_proof', 'The DPoP proof is invalid');
    return e;
  }

  return {
    realm,
    start(authorization, method, path, headers) {
      if (dpop !== undefined && authorization !== undefined && dpopScheme(authorization)) {
        const m = DPOP_CREDENTIAL.exec(authorization);
        if (!m) return malformedAuthorization(realm);
        return withProof(dpop, m[1] as string, method, path, headers);
      }
      const token = now === undefined ? parseBearer(authorization) : bearerCandidate(authorization);
      if (token === null) {
        if (dpop === undefined) return missingToken(realm);
        // "DPoP" with nothing usable after it is malformed, as "Bearer" alone is (RFC 6750 §3.1).
        return authorization !== undefined && DPOP_SCHEME.test(authorization)
          ? malformedAuthorization(realm)
          : missingTokenEither(realm);
      }
      if (token === false) return malformedAuthorization(realm);
      if (now === undefined) {
        try {
          return Promise.resolve(tokens.authenticate(token)).then(unbound);
        } catch (e) {
          return Promise.reject(e);
        }
      }
      let principal: Principal | Promise<Principal>;
      try {
        principal = now.authenticateNow(token);
      } catch (e) {
        const refusal = syntaxOr(e, token, realm);
        return refusal instanceof HttpError ? refusal : Promise.reject(refusal);
      }
      if (!(principal instanceof Promise)) return principal.claims?.cnf === undefined ? principal : boundAsBearer(realm);
      return principal.then(unbound, (e: unknown) => {
        throw syntaxOr(e, token, realm);
      });
    },
    scopeRefusal(principal, required) {
      return required && !hasScopes(principal?.scope, required) ? insufficientScope(realm, required) : undefined;
    },
    refusal(e, log) {
      if (e instanceof HttpError) return e;
      if (isDependencyUnavailable(e)) {
        // A store or key set (JWKS) that cannot be reached. A 503 is "try again", never "sign out".
        log?.warn({ code: e.code }, `${e.dependency} unavailable`);
        return dependencyUnavailable(e.dependency);
      }
      if (!isTokenError(e)) return undefined;
      // The specific cause is for the server log; the client gets a fixed description and the code as `reason`.
      log?.debug({ code: e.code }, 'access token refused');
      return accessTokenError(e, realm);
    },
  };
}
