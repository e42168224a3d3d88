/**
 * The auth endpoints as functions of a neutral request ({@link AuthRequest})
 * to a neutral answer ({@link AuthResponse}), shared by the Fastify, Express
 * and Hono adapters (docs/http-api.md). Which method and path each answers, and
 * with which parameter rules, is the endpoint table (endpoints.ts).
 *
 * A handler either returns the answer or throws: an {@link HttpError}, a store
 * outage, an InvalidScopeError, ... which the adapter maps with `toHttpError`
 * (core/errors.ts). Parameters arrive parsed and checked (request.ts: by the
 * adapter, or by Fastify's schemas); a handler still reads them as `unknown`.
 *
 * @module
 */

import { isStoreUnavailable, TesseraError, type TokenErrorCode } from '../../errors.js';
import { type ClientService, createClientService, NO_CLIENTS } from '../../oauth-clients/clients.js';
import type { ClientRecord } from '../../oauth-clients/types.js';
import { sessionJson } from '../../refresh/sessions.js';
import type { AccessGrant, Introspection, IssueInput, Principal, TokenPair, TokenService } from '../../refresh/types.js';
import type { JwkSet } from '../../tokens/jwk.js';
import { UserInputError, type UserService } from '../../users/users.js';
import { type AuthorizeEndpoint, type AuthorizeOptions, createAuthorizeEndpoint } from './authorize.js';
import { type AuthenticatedClient, authenticateClient, invalidClient } from './client-auth.js';
import { type CookieCore, type CookieModeOptions, createCookieCore } from './cookies.js';
import { createDpopChecker, type DpopChecker, type DpopOptions } from './dpop.js';
import { JWKS_PATH, SESSIONS_PATH } from './endpoints.js';
import {
  badRequest,
  errorBody,
  errorHeaders,
  HttpError,
  type HttpErrorCode,
  invalidDpopProof,
  isTokenRefusal,
  refreshTokenError,
  storeUnavailable,
} from './errors.js';
import {
  type AuthEventSink,
  type EventSubject,
  guardedEmitter,
  observedGrant,
  observedRefresh,
  requestSubject,
} from './events.js';
import { tooManyAttempts } from './grants/password.js';
import { rotate } from './grants/refresh-token.js';
import { builtinGrants, createGrantRegistry, type GrantRegistry, REGISTERED_GRANT_TYPES } from './grants/registry.js';
import type { Grant, GrantContext, GrantResult } from './grants/types.js';
import {
  createGuessingLimiter,
  createHashGate,
  type GuessingLimiter,
  HashQueueFull,
  type RateLimitSettings,
} from './guessing-limiter.js';
import { DEFAULT_REALM } from './limits.js';
import { authorizationServerMetadata, openidConfiguration } from './metadata.js';
import { createIdTokens, type OidcOptions } from './oidc.js';
import { type AuthRequest, type AuthResponse, type CookieOp, type CoreLogger, deviceOf, NO_STORE_HEADERS } from './request.js';

export type { RateLimitSettings };

/**
 * Per 60 s: 5 wrong passwords per (username, address), 20 per address (IPv6: /64) and, unless
 * set, 5 × that per IPv6 /48 and as many registrations per address as `max`; then 60 s,
 * doubling per block to 1 h. At most 4 password checks in flight per (username, address) and 16
 * per address; per instance, as many hashes at once as CPUs (at most 4) and 64 waiting.
 */
export const DEFAULT_RATE_LIMIT: RateLimitSettings = {
  max: 20,
  perUser: 5,
  inFlightPerUser: 4,
  inFlightPerAddress: 16,
  hashQueue: 64,
  windowSeconds: 60,
  maxBackoffSeconds: 3600,
};

export interface AuthHandlersOptions {
  /** The token service. */
  tokens: TokenService;
  /** Enables `grant_type=password` (and registration). Without it only refresh grants are served. */
  users?: UserService;
  /** Serve `POST /auth/register`. Default false. */
  allowRegister?: boolean;
  /** Browser mode: the refresh token in an HttpOnly cookie (see cookies.ts). Default off. */
  cookie?: CookieModeOptions | false;
  /** Brute-force protection of the credential endpoints; `false` turns it off. Default {@link DEFAULT_RATE_LIMIT}. */
  rateLimit?: RateLimitSettings | false;
  /** Scope granted at login (RFC 6749 §3.3). Default none. */
  scope?: string;
  /** Realm of the `WWW-Authenticate` challenges. Default `tessera`. */
  realm?: string;
  /** Registered clients (RFC 6749 §2). Default: none but the built-in public client `tessera`. */
  clients?: ClientService;
  /**
   * RFC 8414 `issuer` of the metadata (a function when known only after listen). Default: the
   * token service's `issuer` (`createTokenService({ issuer })`). Never taken from the request:
   * `Host` and `X-Forwarded-Host` are the client's to choose, and a metadata document built
   * from them could send other clients (and their secrets) elsewhere through a shared cache.
   * With neither, the metadata route answers 404 `not_found`.
   */
  issuer?: string | (() => string);
  /**
   * The JWS `alg` of the jwt access tokens. EdDSA or ES256 puts `jwks_uri` (the issuer's
   * `/.well-known/jwks.json`) into the metadata; HS256 (the default) leaves it out: that key is never published.
   */
  accessAlg?: string;
  /**
   * Extra grants of the token endpoint (grants/types.ts), after the built-in ones
   * (password, with `users`; refresh_token). Each is dispatched by its `grant_type`, listed
   * in the metadata's `grant_types_supported` and in the OpenAPI schema of `/auth/token`.
   */
  grants?: readonly Grant[];
  /**
   * The authorization endpoint (`GET /authorize`, RFC 6749 §4.1) with its hosted login and consent
   * pages, and the authorization_code grant (authorize.ts). Needs `users`. Default off.
   */
  authorize?: AuthorizeOptions | false;
  /** The password grant (RFC 6749 §4.3; RFC 9700 §2.4 says MUST NOT be used). Default true when there are `users`. */
  passwordGrant?: boolean;
  /**
   * OpenID Connect (oidc.ts): ID tokens for the code flow with scope `openid`, `GET /userinfo`,
   * `GET /.well-known/openid-configuration` and the end-session endpoint `/logout`. Needs
   * `authorize` and an asymmetric signing key set. Default off.
   */
  oidc?: OidcOptions | false;
  /** Receives the security events (events.ts): sign-ins, refreshes, reuse, logouts, revocations, client authentication failures, limiter blocks. */
  events?: AuthEventSink;
  /**
   * DPoP (RFC 9449, dpop.ts): a `DPoP` proof at the token and refresh endpoints binds the tokens
   * to the proof's key (`token_type: DPoP`, `cnf.jkt`), and the metadata lists the proof
   * algorithms. Needs the store's one-time records (replay, §11.1). Default off: a `DPoP` header
   * is then ignored, and a client registered with `dpopBoundAccessTokens` is refused.
   */
  dpop?: DpopOptions | false;
}

/** RFC 6749 §5.1 token response. */
export interface TokenResponseBody {
  access_token: string;
  token_type: 'Bearer' | 'DPoP';
  expires_in: number;
  refresh_token?: string;
  refresh_expires_in?: number;
  scope: string;
  /** OIDC Core §3.1.3.3: with scope `openid` on the code flow. */
  id_token?: string;
}

/** RFC 6749 §4.4.3: a grant that answers an access token alone has no refresh token. */
function isPair(p: TokenPair | AccessGrant): p is TokenPair {
  return (p as TokenPair).refreshToken !== undefined;
}

/** GET /me: who the access token speaks for. */
export interface MeBody {
  sub: string;
  preferred_username: string | undefined;
  client_id: string | undefined;
  scope: string | undefined;
  iat: number | undefined;
  exp: number;
}

export interface AuthHandlers {
  readonly realm: string;
  /** Cookie mode, when on. */
  readonly cookies: CookieCore | undefined;
  /** Whether `POST /auth/register` is served. */
  readonly allowRegister: boolean;
  /** The grants of the token endpoint. */
  readonly grants: GrantRegistry;
  /** The authorization endpoint, when on (`authorize` option). */
  readonly authorizeEndpoint: AuthorizeEndpoint | undefined;
  /** GET /authorize (RFC 6749 §4.1.1). */
  authorize(req: AuthRequest): Promise<AuthResponse>;
  /** POST /authorize: the login and consent forms. */
  authorizeSubmit(req: AuthRequest): Promise<AuthResponse>;
  /** GET /logout: RP-Initiated Logout 1.0 (with `oidc`). */
  endSession(req: AuthRequest): Promise<AuthResponse>;
  /** POST /logout: its confirmation form. */
  endSessionSubmit(req: AuthRequest): Promise<AuthResponse>;
  /** GET /userinfo (OIDC Core §5.3): needs the guard's principal. */
  userinfo(principal: Principal): AuthResponse;
  /** GET /.well-known/openid-configuration (Discovery 1.0 §4); 404 without `oidc` or an issuer. */
  openidConfiguration(): AuthResponse;
  /** OpenID Connect is on. */
  readonly oidc: boolean;
  token(req: AuthRequest): Promise<AuthResponse>;
  refresh(req: AuthRequest): Promise<AuthResponse>;
  revoke(req: AuthRequest): Promise<AuthResponse>;
  introspect(req: AuthRequest): Promise<AuthResponse>;
  logout(req: AuthRequest): Promise<AuthResponse>;
  /** Needs the guard's principal. */
  logoutAll(principal: Principal, req?: AuthRequest): Promise<AuthResponse>;
  /** GET /auth/sessions: the principal's user's sessions, the principal's own marked `current`. */
  sessions(principal: Principal): Promise<AuthResponse>;
  /** DELETE /auth/sessions/{id} (the id is the request path's last segment): 204, or 404 for an id not the user's. */
  deleteSession(req: AuthRequest, principal: Principal): Promise<AuthResponse>;
  /** POST /auth/sessions/revoke-others: every session of the user but the principal's own. */
  revokeOtherSessions(principal: Principal): Promise<AuthResponse>;
  register(req: AuthRequest): Promise<AuthResponse>;
  /** RFC 8414 metadata of the configured issuer (never the request's); 404 `not_found` without one. */
  metadata(): AuthResponse;
  ready(log?: CoreLogger): Promise<AuthResponse>;
}

/** The `{id}` of `DELETE /auth/sessions/{id}`: the path's last segment (query dropped, percent-decoded), if it is one. */
export function sessionIdOf(path: string): string | undefined {
  const q = path.indexOf('?');
  const p = q === -1 ? path : path.slice(0, q);
  const prefix = `${SESSIONS_PATH}/`;
  if (!p.startsWith(prefix)) return undefined;
  const raw = p.slice(prefix.length);
  if (raw === '' || raw.includes('/')) return undefined;
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/** The JSON body of `GET /me` (`PRINCIPAL_HEADERS` go with it: RFC 6750 §5.3). Not wrapped, to keep the hot path lean. */
export function meBody(p: Principal): MeBody {
  const username = p.claims?.preferred_username;
  return {
    sub: p.sub,
    preferred_username: typeof username === 'string' ? username : undefined,
    client_id: p.clientId,
    scope: p.scope,
    iat: p.iat,
    exp: p.exp,
  };
}

/** RFC 7662 §2.2: the members we answer, and no others (what the Fastify response schema lets through). */
function introspectionBody(i: Introspection): Introspection {
  const out: Introspection = { active: i.active };
  for (const k of INTROSPECTION_MEMBERS) if (i[k] !== undefined) (out as unknown as Record<string, unknown>)[k] = i[k];
  return out;
}
const INTROSPECTION_MEMBERS = ['sub', 'scope', 'exp', 'iat', 'jti', 'token_type', 'iss', 'client_id', 'username', 'cnf'] as const;

/**
 * The token service as a grant of the token endpoint sees it. A session it starts records the
 * grant's `grant_type` (RFC 6749 §4.5) as the grant that created it, unless the grant names one.
 * When the request carried a DPoP proof by the key `jkt` (RFC 9449 §5), what it issues is bound
 * to that key, and a refresh names the proof's key. `jkt` null: DPoP is on and the request
 * carried no proof; undefined: DPoP is off.
 */
function grantTokens(tokens: TokenService, grantType: string, jkt: string | null | undefined): TokenService {
  const bound = Object.create(tokens) as TokenService;
  const bind = (input: IssueInput): IssueInput => {
    const named = input.grant === undefined ? { ...input, grant: grantType } : input;
    return typeof jkt === 'string' ? { ...named, jkt } : named;
  };
  bound.issue = (input) => tokens.issue(bind(input));
  bound.issueAccess = (input) => tokens.issueAccess(bind(input));
  if (jkt !== undefined) bound.refresh = (token, by = {}) => tokens.refresh(token, { ...by, jkt });
  return bound;
}

/** 503 with `Retry-After` (RFC 9110 §15.6.4): the password hash queue of this instance is full. */
function hashQueueFull(e: HashQueueFull): HttpError {
  const seconds = Math.max(1, Math.ceil(e.retryAfterMs / 1000));
  return new HttpError(503, 'temporarily_unavailable', `Too many password checks queued; retry after ${seconds} seconds`, {
    'retry-after': String(seconds),
  });
}

/** Outcomes of a logout that leave nothing to end: the session is already over, so logout succeeds. */
const ALREADY_ENDED: ReadonlySet<TokenErrorCode> = new Set(['expired', 'revoked', 'reused', 'unknown_token']);

/** A client id as presented on a failed authentication is the caller's text: an event keeps this much of it. */
const MAX_EVENT_CLIENT_ID = 128;

/** A parameter already checked to be a string or absent (request.ts, or the Fastify schemas). */
function str(body: Record<string, unknown>, name: string): string | undefined {
  const v = body[name];
  return typeof v === 'string' ? v : undefined;
}

export function createAuthHandlers(options: AuthHandlersOptions): AuthHandlers {
  const { users, tokens } = options;
  if (!tokens) throw new TypeError('tessera: the routes need `tokens` (a TokenService)');
  const realm = options.realm ?? DEFAULT_REALM;
  const cookies = options.cookie ? createCookieCore(options.cookie) : undefined;
  const limit = options.rateLimit === false ? undefined : { ...DEFAULT_RATE_LIMIT, ...options.rateLimit };
  const limiter: GuessingLimiter | undefined = limit ? createGuessingLimiter(limit) : undefined;
  // The hash queue bounds scrypt work with or without the limiter: it protects the instance, not an account.
  const gateSettings = limit || DEFAULT_RATE_LIMIT;
  const gate = createHashGate({ concurrency: gateSettings.hashConcurrency, queue: gateSettings.hashQueue });
  /** Runs a password hash through the queue; a full queue is a 503. */
  const hashing = async <T>(address: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await gate.run(address, fn);
    } catch (e) {
      throw e instanceof HashQueueFull ? hashQueueFull(e) : e;
    }
  };
  const clients = options.clients ?? createClientService(NO_CLIENTS);
  const emit = guardedEmitter(options.events);
  /** Who and where of a request, for an event. */
  const subject = (req: AuthRequest | undefined, clientId?: string): EventSubject =>
    clientId === undefined ? requestSubject(req) : { ...requestSubject(req), client_id: clientId };
  const allowRegister = options.allowRegister ?? false;
  if (allowRegister && !users) throw new TypeError('tesseraRoutes: allowRegister needs `users`');
  if (options.authorize && !users) throw new TypeError('tessera: the authorization endpoint (authorize) needs `users`');
  if (options.oidc && !options.authorize)
    throw new TypeError('tessera: OpenID Connect (oidc) needs the authorization endpoint (authorize)');
  const idTokens = options.oidc && options.authorize ? createIdTokens(options.oidc) : undefined;
  const dpop: DpopChecker | undefined = options.dpop ? createDpopChecker(options.dpop, () => issuerOf()) : undefined;
  /**
   * RFC 9449 §5: the thumbprint of the request's DPoP proof (checked, its jti recorded), `null`
   * for none, `undefined` when DPoP is off. A client registered with `dpopBoundAccessTokens`
   * (§5.2 `dpop_bound_access_tokens`) must send one.
   */
  const proofOf = async (req: AuthRequest, client: ClientRecord): Promise<string | null | undefined> => {
    const header = req.headers.dpop;
    if (!dpop) {
      if (client.dpopBoundAccessTokens) throw invalidDpopProof('This client must use DPoP, which this server does not serve');
      return undefined;
    }
    if (header === undefined || header === '') {
      if (client.dpopBoundAccessTokens) throw invalidDpopProof('This client must present a DPoP proof (RFC 9449 §5.2)');
      return null;
    }
    return (await dpop.check(header, req.method, req.path)).jkt;
  };
  const authorizeClock = (options.authorize ? options.authorize.clock : undefined) ?? Date.now;
  const authorize =
    options.authorize && users
      ? createAuthorizeEndpoint(options.authorize, {
          clients,
          users,
          limiter,
          hashing,
          issuer: () => issuerOf(),
          defaultScope: options.scope,
          idTokens,
          ...(emit ? { emit } : {}),
          dpop: dpop !== undefined,
          // RP-Initiated Logout 1.0 §2: signing out of a client ends the user's sessions with it.
          async endClientSessions(sub, clientId) {
            for (const s of await tokens.sessions(sub)) if (s.clientId === clientId) await tokens.endSession(sub, s.id);
          },
        })
      : undefined;
  const grants = createGrantRegistry([
    ...builtinGrants({
      users,
      codes: authorize?.codes,
      password: options.passwordGrant ?? true,
      oidc: idTokens ? { idTokens, issuer: () => issuerOf(), clock: authorizeClock } : undefined,
    }),
    ...(options.grants ?? []),
  ]);

  /** The configured issuer: the routes' option, else the token service's; `''`/undefined: none. */
  const issuerOf = (): string | undefined => {
    if (typeof options.issuer === 'function') return options.issuer();
    if (options.issuer !== undefined) return options.issuer;
    const own = (tokens as { issuer?: unknown }).issuer;
    return typeof own === 'string' ? own : undefined;
  };

  /** RFC 6749 §2.3: who is calling (throws 401 invalid_client). */
  const callerOf = (req: AuthRequest): Promise<AuthenticatedClient> => {
    const authorization = req.headers.authorization;
    return authenticateClient(
      clients,
      { authorization: typeof authorization === 'string' ? authorization : undefined, body: req.body },
      realm,
      emit &&
        ((reason, clientId) =>
          emit({ event: 'client_auth_failed', reason, ...subject(req, clientId?.slice(0, MAX_EVENT_CLIENT_ID)) })),
    );
  };

  function tokenResponse(pair: GrantResult, viaCookie: boolean): AuthResponse {
    const body: TokenResponseBody = {
      access_token: pair.accessToken,
      token_type: pair.tokenType === 'DPoP' ? 'DPoP' : 'Bearer',
      expires_in: pair.expiresIn,
      scope: pair.scope ?? '',
    };
    if (pair.idToken !== undefined) body.id_token = pair.idToken;
    const res: AuthResponse = { status: 200, headers: { ...NO_STORE_HEADERS }, body };
    // RFC 9449 §8.2: the nonce for the client's next proof, with every token response.
    const nonce = dpop?.nonce();
    if (nonce !== undefined) res.headers['dpop-nonce'] = nonce;
    if (!isPair(pair)) return res;
    body.refresh_expires_in = pair.refreshExpiresIn;
    if (viaCookie && cookies) res.cookies = cookies.set(pair.refreshToken, pair.refreshExpiresIn).ops;
    else body.refresh_token = pair.refreshToken;
    return res;
  }

  return {
    realm,
    cookies,
    allowRegister,
    grants,
    authorizeEndpoint: authorize,
    oidc: idTokens !== undefined,

    authorize(req) {
      if (!authorize) throw new HttpError(404, 'not_found', 'No such route');
      return authorize.start(req);
    },

    authorizeSubmit(req) {
      if (!authorize) throw new HttpError(404, 'not_found', 'No such route');
      return authorize.submit(req);
    },

    endSession(req) {
      if (!authorize || !idTokens) throw new HttpError(404, 'not_found', 'No such route');
      return authorize.endSession(req);
    },

    endSessionSubmit(req) {
      if (!authorize || !idTokens) throw new HttpError(404, 'not_found', 'No such route');
      return authorize.endSessionSubmit(req);
    },

    userinfo(principal) {
      // OIDC Core §5.3.1: the UserInfo endpoint answers an access token granted `openid`.
      if (!(principal.scope ?? '').split(' ').includes('openid'))
        throw new HttpError(403, 'insufficient_scope', 'The access token was not granted the openid scope');
      const username = principal.claims?.preferred_username;
      const body: Record<string, string> = { sub: principal.sub };
      if (typeof username === 'string') body.preferred_username = username;
      return { status: 200, headers: { 'cache-control': 'no-store' }, body };
    },

    openidConfiguration() {
      const issuer = issuerOf();
      if (!issuer || !idTokens) throw new HttpError(404, 'not_found', 'No such route');
      return {
        status: 200,
        headers: { 'cache-control': METADATA_CACHE_CONTROL },
        body: openidConfiguration(
          authorizationServerMetadata({
            issuer,
            grantTypes: grants.types,
            authorize: true,
            oidc: true,
            scope: options.scope,
            ...(dpop ? { dpopAlgs: dpop.algs } : {}),
            ...(jwksUriFor(issuer, options.accessAlg ?? idTokens.alg) === undefined
              ? {}
              : { jwksUri: jwksUriFor(issuer, options.accessAlg ?? idTokens.alg) as string }),
          }),
          idTokens.alg,
        ),
      };
    },

    async token(req) {
      const body = req.body;
      // RFC 6749 §3.2.1: the client authenticates before its grant is looked at.
      const { client, authenticated } = await callerOf(req);
      const grant = grants.get(body.grant_type);
      if (!grant) throw grants.unsupported();
      if (grant.clientAuthentication === 'required' && !authenticated)
        throw invalidClient(realm, `grant_type=${grant.type} needs client authentication (RFC 6749 §3.2.1)`);
      // RFC 6749 §5.2 unauthorized_client: "not authorized to use this authorization grant type".
      if (grant.clientTypes && !grant.clientTypes.includes(client.clientType))
        throw new HttpError(400, 'unauthorized_client', `This client may not use grant_type=${grant.type}`);
      if (REGISTERED_GRANT_TYPES.has(grant.type) && !client.grantTypes.includes(grant.type))
        throw new HttpError(400, 'unauthorized_client', `This client is not registered for grant_type=${grant.type}`);
      const missing = grants.missing(grant, body);
      if (missing) throw missing;
      const jkt = await proofOf(req, client);
      const ctx: GrantContext = {
        req,
        param: (name) => str(body, name),
        client,
        authenticated,
        tokens: grantTokens(tokens, grant.type, jkt),
        dpopJkt: jkt,
        users,
        scope: options.scope,
        limiter,
        hashing,
      };
      const pair = emit ? await observedGrant(grant, ctx, emit) : await grant.handle(ctx);
      return tokenResponse(pair, grant.refreshCookie === true && cookies !== undefined);
    },

    async refresh(req) {
      const { client } = await callerOf(req);
      if (!client.grantTypes.includes('refresh_token'))
        throw new HttpError(400, 'unauthorized_client', 'This client is not registered for grant_type=refresh_token');
      let token = str(req.body, 'refresh_token');
      let viaCookie = false;
      if (!token && cookies) {
        token = cookies.read(req.cookies, req.headers);
        viaCookie = token !== undefined;
      }
      if (!token)
        throw badRequest(cookies ? 'refresh_token is required (in the body or the refresh cookie)' : 'refresh_token is required');
      const jkt = await proofOf(req, client);
      try {
        const by = jkt === undefined ? { clientId: client.clientId } : { clientId: client.clientId, jkt };
        const rotation = () => rotate(tokens, token, req.log, { ...by, ...deviceOf(req) });
        return tokenResponse(await (emit ? observedRefresh(req, client.clientId, emit, rotation) : rotation()), viaCookie);
      } catch (e) {
        // A dead refresh cookie is useless to the browser: drop it along with the error.
        if (viaCookie && cookies && e instanceof HttpError && e.statusCode === 400)
          throw new CookieClearingError(e, cookies.clear());
        throw e;
      }
    },

    async revoke(req) {
      // RFC 7009 §2.1: a confidential client authenticates; the server revokes only the client's own tokens.
      const { client } = await callerOf(req);
      const token = str(req.body, 'token');
      if (!token) throw badRequest('token is required (RFC 7009 §2.1)');
      try {
        await tokens.revoke(token, str(req.body, 'token_type_hint'), { clientId: client.clientId });
        emit?.({ event: 'revocation', kind: 'revoke', ...subject(req, client.clientId) });
      } catch (e) {
        // RFC 7009 §2.2: "invalid tokens do not cause an error response", so a client
        // cannot use this endpoint to probe which tokens are valid. A store outage is
        // a 503 (RFC 7009 §2.2.1).
        if (!isTokenRefusal(e)) throw e;
      }
      // RFC 7009 §2.2: the content is ignored by the client, but clients parse it: `{}` as JSON
      // (an empty body makes simple-oauth2's revoke() throw, and its revokeAll() stop short).
      return { status: 200, headers: { ...NO_STORE_HEADERS }, body: {} };
    },

    async introspect(req) {
      const caller = await callerOf(req);
      // RFC 7662 §2.1: the endpoint MUST require authorization; a public client cannot authenticate.
      if (!caller.authenticated) throw invalidClient(realm, 'Introspection needs client authentication (RFC 7662 §2.1)');
      if (!caller.client.introspect) {
        throw new HttpError(403, 'unauthorized_client', 'This client is not registered for introspection');
      }
      const token = str(req.body, 'token');
      if (!token) throw badRequest('token is required (RFC 7662 §2.1)');
      try {
        return {
          status: 200,
          headers: { ...NO_STORE_HEADERS },
          body: introspectionBody(await tokens.introspect(token, str(req.body, 'token_type_hint'))),
        };
      } catch (e) {
        // RFC 7662 §2.2: any token we cannot vouch for is simply inactive (a store outage is not such a token: 503).
        if (isTokenRefusal(e)) return { status: 200, headers: { ...NO_STORE_HEADERS }, body: { active: false } };
        throw e;
      }
    },

    async logout(req) {
      // The client authenticates as for /auth/refresh (RFC 6749 §2.3: a confidential client's
      // secret is required) and ends only a session of its own (RFC 7009 §2.1). Another client's
      // token, or one already rotated, ends nothing: 204 all the same (RFC 7009 §2.2: no probing).
      const { client } = await callerOf(req);
      let token = str(req.body, 'refresh_token');
      if (!token && cookies) token = cookies.read(req.cookies, req.headers);
      if (!token) throw badRequest('refresh_token is required');
      let ended = false;
      try {
        ended = await tokens.logout(token, { clientId: client.clientId });
      } catch (e) {
        if (!isTokenRefusal(e)) throw e;
        if (!ALREADY_ENDED.has(e.code)) throw refreshTokenError(e);
      }
      if (emit) {
        emit({ event: 'logout', ended, ...subject(req, client.clientId) });
        if (ended) emit({ event: 'revocation', kind: 'logout', ...subject(req, client.clientId) });
      }
      return { status: 204, headers: {}, body: null, ...(cookies ? { cookies: cookies.clear() } : {}) };
    },

    async logoutAll(principal, req) {
      await tokens.revokeUser(principal.sub);
      if (emit) {
        const who: EventSubject = { ...subject(req, principal.clientId), user_id: principal.sub };
        if (principal.familyId !== undefined) who.session_id = principal.familyId;
        const name = principal.claims?.preferred_username;
        if (typeof name === 'string') who.username = name;
        emit({ event: 'logout_all', ...who });
        emit({ event: 'revocation', kind: 'logout_all', ...who });
      }
      return { status: 204, headers: {}, body: null, ...(cookies ? { cookies: cookies.clear() } : {}) };
    },

    async sessions(principal) {
      const list = await tokens.sessions(principal.sub, principal.familyId);
      return { status: 200, headers: { ...NO_STORE_HEADERS }, body: { sessions: list.map(sessionJson) } };
    },

    async deleteSession(req, principal) {
      const id = sessionIdOf(req.path);
      // RFC 9110 §15.5.5: another user's session is as unknown as one that never was (404, not 403).
      if (id === undefined || !(await tokens.endSession(principal.sub, id))) {
        throw new HttpError(404, 'not_found', 'No such session');
      }
      return { status: 204, headers: {}, body: null };
    },

    async revokeOtherSessions(principal) {
      await tokens.endOtherSessions(principal.sub, principal.familyId);
      return { status: 204, headers: {}, body: null };
    },

    async register(req) {
      if (!allowRegister || !users) throw new HttpError(404, 'not_found', 'No such route');
      // Every registration attempt counts against the address, on a budget of its own (not the
      // login budget): a 409 tells whether a username exists, and each success creates an account.
      if (limiter) {
        const wait = await limiter.register(req.ip);
        if (wait > 0) {
          if (emit) {
            emit({ event: 'registration', result: 'limited', ...subject(req) });
            emit({ event: 'limiter_block', scope: 'registration', ...subject(req) });
          }
          throw tooManyAttempts(wait, 'registrations');
        }
      }
      try {
        const user = await hashing(req.ip, () =>
          users.add(str(req.body, 'username') as string, str(req.body, 'password') as string),
        );
        emit?.({ event: 'registration', result: 'ok', ...subject(req), user_id: user.id, username: user.username });
        return { status: 201, headers: {}, body: { id: user.id, username: user.username } };
      } catch (e) {
        if (e instanceof UserInputError) {
          emit?.({ event: 'registration', result: 'refused', ...subject(req) });
          throw e.code === 'username_taken' ? new HttpError(409, 'conflict', 'The username is taken') : badRequest(e.message);
        }
        throw e;
      }
    },

    metadata() {
      const issuer = issuerOf();
      if (!issuer) throw new HttpError(404, 'not_found', 'No such route');
      const jwksUri = jwksUriFor(issuer, options.accessAlg);
      return {
        status: 200,
        // The same document for every request (nothing of the request goes into it): a shared
        // cache may keep it as long as a JWKS (RFC 9111 §5.2.2.9, §5.2.2.1).
        headers: { 'cache-control': METADATA_CACHE_CONTROL },
        body: authorizationServerMetadata({
          issuer,
          grantTypes: grants.types,
          authorize: authorize !== undefined,
          ...(idTokens ? { oidc: true } : {}),
          ...(dpop ? { dpopAlgs: dpop.algs } : {}),
          scope: options.scope,
          ...(jwksUri === undefined ? {} : { jwksUri }),
        }),
      };
    },

    async ready(log) {
      // The revocation push, when the service keeps one: 'down' means every access token is being
      // checked against the store (correct, one round trip per request), so the instance stays ready.
      const feed = (tokens as { revocations?: { live: boolean } }).revocations;
      const state = feed === undefined ? undefined : feed.live ? 'up' : 'down';
      try {
        await tokens.ping();
      } catch (e) {
        log?.warn({ code: isStoreUnavailable(e) ? 'store_unavailable' : 'error' }, 'store ping failed');
        // RFC 9110 §15.6.4 with Retry-After, and what is not ready (the store; the feed too, when down).
        const err = storeUnavailable();
        const notReady = state === 'down' ? ['store', 'revocation_feed'] : ['store'];
        return { status: 503, headers: errorHeaders(err), body: { ...errorBody(err), not_ready: notReady } };
      }
      const body: { status: string; revocation_feed?: 'up' | 'down' } = { status: 'ready' };
      if (state !== undefined) body.revocation_feed = state;
      return { status: 200, headers: {}, body };
    },
  };
}

/**
 * An error answer that also expires the refresh cookies (a dead refresh cookie is useless
 * to the browser). Adapters write `cookies`, then answer `error`.
 */
export class CookieClearingError extends TesseraError {
  override readonly name = 'CookieClearingError';
  /** The code of the HTTP error it answers with. */
  declare readonly code: HttpErrorCode;
  readonly error: HttpError;
  readonly cookies: CookieOp[];
  constructor(error: HttpError, cookies: CookieOp[]) {
    super(error.code, error.message);
    this.error = error;
    this.cookies = cookies;
  }
}

/**
 * Five minutes. Verifiers refetch on an unknown `kid` anyway (ours, jose and PyJWT
 * all do), so a cached copy delays nothing for them; the max-age only bounds how long
 * a shared HTTP cache (a CDN, a proxy) may serve a set that lacks a new key. The
 * rotation procedure (docs/keys.md) publishes a new key in second place for longer
 * than this before it starts signing, so no cache can hold a set without it by then.
 */
export const JWKS_CACHE_CONTROL = 'public, max-age=300';

/**
 * The RFC 8414 document changes only with the configuration (a restart), and is built from
 * the configured issuer alone, so it is the same for every client: five minutes, as the JWKS.
 */
export const METADATA_CACHE_CONTROL = 'public, max-age=300';

/**
 * The `jwks_uri` of the RFC 8414 metadata (`issuer` + {@link JWKS_PATH}) when the
 * access tokens are signed with an asymmetric algorithm; `undefined` for HS256,
 * whose key must never be published (the metadata route then leaves `jwks_uri` out).
 */
export function jwksUriFor(issuer: string, accessAlg: string | undefined): string | undefined {
  if (accessAlg === undefined || accessAlg === 'HS256') return undefined;
  return `${issuer.replace(/\/+$/, '')}${JWKS_PATH}`;
}

/** The JWK Set document with public members only (`kty`, `crv`, `x`, `y`, `n`, `e`, `kid`, `alg`, `use`), serialized once. */
export function publicJwksJson(jwks: JwkSet): string {
  return JSON.stringify({
    keys: jwks.keys.map(({ kty, crv, x, y, n, e, kid, alg, use }) => ({ kty, crv, x, y, n, e, kid, alg, use })),
  });
}
