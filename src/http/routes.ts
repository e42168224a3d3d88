/**
 * The HTTP contract of the reference server (docs/http-api.md):
 *
 *     POST /auth/token        RFC 6749 §4.3 (password) and §6 (refresh_token)
 *     POST /auth/refresh      the seed's refresh path: {"refresh_token"} or the refresh cookie
 *     POST /auth/revoke       RFC 7009 (a client's own tokens)
 *     POST /auth/introspect   RFC 7662 (client authentication, clients registered for it)
 *     GET  /.well-known/oauth-authorization-server   RFC 8414 metadata
 *     POST /auth/logout       ends the presented refresh token's family
 *     POST /auth/logout-all   ends every family of the caller (Bearer)
 *     POST /auth/register     only with `allowRegister`
 *     GET  /me  /health  /ready
 *
 * Register {@link tesseraAuth} on a parent first: it guards every route here
 * that is not `config: { public: true }`.
 *
 * @module
 */
import cookiePlugin from '@fastify/cookie';
import formbody from '@fastify/formbody';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyReply } from 'fastify';
import { type ClientService, createClientService, NO_CLIENTS } from '../clients/clients.js';
import type { TokenErrorCode } from '../errors.js';
import type { RefreshOptions, TokenPair } from '../refresh/types.js';
import { UserInputError, type UserService } from '../users/users.js';
import { type AuthenticatedClient, authenticateClient, invalidClient } from './client-auth.js';
import { type CookieModeOptions, createCookieMode } from './cookies.js';
import {
  badRequest,
  HttpError,
  httpErrorHandler,
  invalidCredentials,
  isStoreOutage,
  isTokenRefusal,
  refreshTokenError,
  storeUnavailable,
} from './errors.js';
import { createGuessingLimiter, type GuessingLimiter, type GuessingLimitSettings } from './guessing-limiter.js';
import { jwksUriFor } from './jwks.js';
import { BODY_LIMIT_BYTES, DEFAULT_REALM } from './limits.js';
import { authorizationServerMetadata, METADATA_PATH } from './metadata.js';
import {
  Empty,
  ErrorResponse,
  errors,
  IntrospectionResponse,
  MeResponse,
  NoContent,
  RefreshRequest,
  RegisterRequest,
  StatusResponse,
  TokenParam,
  TokenRequest,
  TokenResponse,
  UserResponse,
} from './schemas.js';
import { findDuplicateKey } from './strict-json.js';

/** Brute-force protection of the credential endpoints (guessing-limiter.ts). */
export type RateLimitSettings = GuessingLimitSettings;

export interface TesseraRoutesOptions {
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
  /** RFC 8414 `issuer` of the metadata (a function when known only after listen). Default: the request's origin. */
  issuer?: string | (() => string);
  /**
   * The JWS `alg` of the jwt access tokens. EdDSA or ES256 puts `jwks_uri` (the issuer's
   * `/.well-known/jwks.json`, served by `jwksRoute`) into the metadata; HS256 (the default)
   * leaves it out: that key is never published.
   */
  accessAlg?: string;
}

/** 20 failures per client address, 5 per username and address, per 60 s; then 60 s, doubling to 1 h. */
export const DEFAULT_RATE_LIMIT: RateLimitSettings = { max: 20, perUser: 5, windowSeconds: 60, maxBackoffSeconds: 3600 };

/** 429 with `Retry-After` (RFC 6585 §4); the code is RFC 6749's "retry later" one (docs/security.md says why). */
function tooManyAttempts(waitMs: number): HttpError {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return new HttpError(
    429,
    'temporarily_unavailable',
    `Too many failed attempts from this client; retry after ${seconds} seconds`,
    {
      'retry-after': String(seconds),
    },
  );
}

/** Outcomes of a logout that leave nothing to end: the session is already over, so logout succeeds. */
const ALREADY_ENDED: ReadonlySet<TokenErrorCode> = new Set(['expired', 'revoked', 'reused', 'unknown_token']);

const tokenHeaders = { 'cache-control': 'no-store', pragma: 'no-cache' };

export const tesseraRoutes: FastifyPluginAsyncTypebox<TesseraRoutesOptions> = async (app, options) => {
  const { users } = options;
  const tokens = app.tokens;
  if (!tokens) throw new TypeError('tesseraRoutes: register tesseraAuth (the token service) before the routes');
  const realm = options.realm ?? DEFAULT_REALM;
  const cookies = options.cookie ? createCookieMode(options.cookie) : undefined;
  const limit = options.rateLimit === false ? undefined : { ...DEFAULT_RATE_LIMIT, ...options.rateLimit };
  const clients = options.clients ?? createClientService(NO_CLIENTS);
  /** RFC 6749 §2.3: who is calling (throws 401 invalid_client). */
  const callerOf = (request: { headers: { authorization?: string }; body: unknown }): Promise<AuthenticatedClient> =>
    authenticateClient(clients, { authorization: request.headers.authorization, body: request.body }, realm);

  // Encapsulated: this error handler and these parsers apply to these routes only,
  // so an embedding app keeps its own.
  app.setErrorHandler(httpErrorHandler(realm));
  // RFC 6749 §4.3.2 / RFC 7009 §2.1 / RFC 7662 §2.1 requests are form-encoded; JSON is accepted too.
  await app.register(formbody, { bodyLimit: BODY_LIMIT_BYTES });
  // JSON bodies: Fastify's parser (prototype poisoning refused) after a scan for duplicate
  // names, which JSON.parse would silently resolve to the last one (strict-json.ts).
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (findDuplicateKey(text) !== undefined) return done(badRequest('The JSON body has a duplicate member name'), undefined);
    return parseJson(request, text, done);
  });
  if (cookies && !app.hasRequestDecorator('cookies')) await app.register(cookiePlugin);
  const limiter: GuessingLimiter | undefined = limit ? createGuessingLimiter(limit) : undefined;

  function sendTokens(reply: FastifyReply, pair: TokenPair, viaCookie: boolean): TokenResponse {
    reply.headers(tokenHeaders);
    const body: TokenResponse = {
      access_token: pair.accessToken,
      token_type: 'Bearer',
      expires_in: pair.expiresIn,
      refresh_expires_in: pair.refreshExpiresIn,
      scope: pair.scope ?? '',
    };
    if (viaCookie && cookies) cookies.set(reply, pair.refreshToken, pair.refreshExpiresIn);
    else body.refresh_token = pair.refreshToken;
    return body;
  }

  /**
   * A refresh, counted by the limiter only when the token is refused: a refresh with a
   * valid token costs no counter round trip. A block this process knows of refuses first.
   */
  async function rotate(refreshToken: string, log: FastifyBaseLogger, address: string, by: RefreshOptions): Promise<TokenPair> {
    if (limiter) {
      const wait = limiter.blockedLocally(address);
      if (wait > 0) throw tooManyAttempts(wait);
    }
    try {
      return await tokens.refresh(refreshToken, by);
    } catch (e) {
      // A store outage is not a verdict on the token, nor is a wider scope (InvalidScopeError,
      // 400 invalid_scope): the error handler answers those.
      if (isTokenRefusal(e)) {
        if (limiter) await limiter.fail(address);
        // A replayed refresh token means it leaked (RFC 9700 §4.14.2): worth an operator's attention;
        // so is another client's refresh token (RFC 6749 §6), refused and not consumed.
        if (e.code === 'reused')
          log.warn({ event: 'refresh_token_reuse' }, 'refresh token reuse detected; its session was revoked');
        else if (e.code === 'wrong_client')
          log.warn({ event: 'refresh_token_wrong_client' }, 'refresh token presented by another client');
        else log.debug({ code: e.code }, 'refresh token refused');
        throw refreshTokenError(e);
      }
      throw e;
    }
  }

  // Store outages (here and in every route below) are left to the error handler: 503 + Retry-After.
  function issueFor(user: { id: string; username: string }, clientId: string): Promise<TokenPair> {
    // preferred_username (OIDC Core §5.1) rides with the family, so GET /me and introspection can name the user.
    const claims = { preferred_username: user.username };
    return tokens.issue({ sub: user.id, clientId, claims, ...(options.scope ? { scope: options.scope } : {}) });
  }

  function checkPassword(username: string, password: string) {
    if (!users) throw new HttpError(400, 'unsupported_grant_type', 'The password grant is not enabled');
    return users.verify(username, password);
  }

  const form = ['application/x-www-form-urlencoded', 'application/json'];

  // A POST without a body (curl -X POST, a cookie-only refresh) is an empty parameter
  // set, so a missing parameter gets its own message instead of "body must be object".
  // Callback style: it runs for every route here (GET /me too), and an async hook costs a promise each time.
  app.addHook('preValidation', (request, _reply, done) => {
    if (request.body === undefined || request.body === null) request.body = {};
    done();
  });

  app.post(
    '/auth/token',
    {
      config: { public: true },
      schema: {
        summary: 'Token endpoint (RFC 6749 §4.3 password grant, §6 refresh grant)',
        description: CLIENT_AUTH_DOC,
        tags: ['auth'],
        security: CLIENT_SECURITY,
        consumes: form,
        body: TokenRequest,
        response: { 200: TokenResponse, ...errors(400, 401, 413, 415, 429, 503) },
      },
    },
    async (request, reply) => {
      const body = request.body;
      // RFC 6749 §3.2.1: the client authenticates before its grant is looked at.
      const { client } = await callerOf(request);
      switch (body.grant_type) {
        case 'password': {
          // RFC 6749 §4.3.2: both are REQUIRED.
          if (body.username === undefined || body.password === undefined) {
            throw badRequest('grant_type=password needs username and password');
          }
          const address = request.ip;
          // Checked before scrypt: a blocked guesser costs no hashing and learns nothing.
          const state = limiter ? await limiter.check(address, body.username) : undefined;
          if (state && state.waitMs > 0) throw tooManyAttempts(state.waitMs);
          const user = await checkPassword(body.username, body.password);
          // One answer for an unknown user and a wrong password (no enumeration).
          if (!user) {
            await limiter?.fail(address, body.username);
            throw invalidCredentials();
          }
          // Only a login after failures costs a second round trip (to forget them).
          if (limiter && state && state.userFailures > 0) await limiter.succeed(address, body.username);
          return sendTokens(reply, await issueFor(user, client.clientId), cookies !== undefined);
        }
        case 'refresh_token':
          // RFC 6749 §6: refresh_token is REQUIRED.
          if (!body.refresh_token) throw badRequest('grant_type=refresh_token needs refresh_token');
          return sendTokens(
            reply,
            await rotate(body.refresh_token, request.log, request.ip, refreshBy(client.clientId, body.scope)),
            false,
          );
        default:
          throw new HttpError(400, 'unsupported_grant_type', 'Supported grant types: password, refresh_token');
      }
    },
  );

  app.post(
    '/auth/refresh',
    {
      config: { public: true },
      schema: {
        summary: 'Rotates a refresh token: the old one is consumed, a new pair is issued',
        description: `Send {"refresh_token": "..."}, or in cookie mode the refresh cookie with the ${cookies?.csrfHeader ?? 'x-csrf-token'} header.`,
        tags: ['auth'],
        consumes: form,
        body: RefreshRequest,
        response: { 200: TokenResponse, ...errors(400, 403, 429, 503) },
      },
    },
    async (request, reply) => {
      const { client } = await callerOf(request);
      let token = request.body?.refresh_token;
      let viaCookie = false;
      if (!token && cookies) {
        token = cookies.read(request);
        viaCookie = token !== undefined;
      }
      if (!token)
        throw badRequest(cookies ? 'refresh_token is required (in the body or the refresh cookie)' : 'refresh_token is required');
      try {
        const pair = await rotate(token, request.log, request.ip, { clientId: client.clientId });
        return sendTokens(reply, pair, viaCookie);
      } catch (e) {
        // A dead refresh cookie is useless to the browser: drop it along with the error.
        if (viaCookie && cookies && e instanceof HttpError && e.statusCode === 400) cookies.clear(reply);
        throw e;
      }
    },
  );

  app.post(
    '/auth/revoke',
    {
      config: { public: true },
      schema: {
        summary: "Token revocation (RFC 7009): the client's own tokens; 200 even for unknown, invalid or other clients' tokens",
        description: CLIENT_AUTH_DOC,
        tags: ['auth'],
        security: CLIENT_SECURITY,
        consumes: form,
        body: TokenParam,
        response: { 200: Empty, ...errors(400, 401, 503) },
      },
    },
    async (request, reply) => {
      // RFC 7009 §2.1: a confidential client authenticates; the server revokes only the client's own tokens.
      const { client } = await callerOf(request);
      const token = request.body?.token;
      if (!token) throw badRequest('token is required (RFC 7009 §2.1)');
      try {
        await tokens.revoke(token, request.body?.token_type_hint, { clientId: client.clientId });
      } catch (e) {
        // RFC 7009 §2.2: "invalid tokens do not cause an error response", so a client
        // cannot use this endpoint to probe which tokens are valid. A store outage is
        // the error handler's 503 (RFC 7009 §2.2.1).
        if (!isTokenRefusal(e)) throw e;
      }
      reply.headers(tokenHeaders);
      // RFC 7009 §2.2: the body is ignored by the client; send none.
      return reply.code(200).send();
    },
  );

  app.post(
    '/auth/introspect',
    {
      // Public to the Bearer guard: the caller is a client, authenticated below (RFC 7662 §2.1).
      config: { public: true },
      schema: {
        summary: 'Token introspection (RFC 7662): for clients registered with --introspect, authenticated',
        description:
          "A confidential client registered with `tessera client add ID --confidential --introspect` authenticates with HTTP Basic or client_secret_post. An end user's Bearer token is not accepted (401).",
        tags: ['auth'],
        security: [{ basic: [] }],
        consumes: form,
        body: TokenParam,
        response: { 200: IntrospectionResponse, ...errors(400, 401, 403, 503) },
      },
    },
    async (request, reply) => {
      const caller = await callerOf(request);
      // RFC 7662 §2.1: the endpoint MUST require authorization; a public client cannot authenticate.
      if (!caller.authenticated) throw invalidClient(realm, 'Introspection needs client authentication (RFC 7662 §2.1)');
      if (!caller.client.introspect) {
        throw new HttpError(403, 'unauthorized_client', 'This client is not registered for introspection');
      }
      const token = request.body?.token;
      if (!token) throw badRequest('token is required (RFC 7662 §2.1)');
      reply.headers(tokenHeaders);
      try {
        return await tokens.introspect(token, request.body?.token_type_hint);
      } catch (e) {
        // RFC 7662 §2.2: any token we cannot vouch for is simply inactive (a store outage is not such a token: 503).
        if (isTokenRefusal(e)) return { active: false };
        throw e;
      }
    },
  );

  app.post(
    '/auth/logout',
    {
      config: { public: true },
      schema: {
        summary: "Ends the presented refresh token's session (its family)",
        tags: ['auth'],
        consumes: form,
        body: RefreshRequest,
        response: { 204: NoContent, ...errors(400, 403, 503) },
      },
    },
    async (request, reply) => {
      let token = request.body?.refresh_token;
      if (!token && cookies) token = cookies.read(request);
      if (!token) throw badRequest('refresh_token is required');
      try {
        await tokens.logout(token);
      } catch (e) {
        if (!isTokenRefusal(e)) throw e;
        if (!ALREADY_ENDED.has(e.code)) throw refreshTokenError(e);
      }
      cookies?.clear(reply);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/auth/logout-all',
    {
      schema: {
        summary: 'Ends every session of the caller (logout everywhere)',
        tags: ['auth'],
        security: [{ bearer: [] }],
        response: { 204: NoContent, ...errors(401, 503) },
      },
    },
    async (request, reply) => {
      await tokens.revokeUser(request.principal!.sub);
      cookies?.clear(reply);
      return reply.code(204).send(null);
    },
  );

  if (options.allowRegister) {
    if (!users) throw new TypeError('tesseraRoutes: allowRegister needs `users`');
    app.post(
      '/auth/register',
      {
        config: { public: true },
        schema: {
          summary: 'Creates a user (only when registration is enabled)',
          tags: ['auth'],
          consumes: form,
          body: RegisterRequest,
          response: { 201: UserResponse, ...errors(400, 409, 429, 503) },
        },
      },
      async (request, reply) => {
        // Every registration attempt counts against the address: a 409 tells whether a
        // username exists, and each success creates an account.
        if (limiter) {
          const state = await limiter.check(request.ip);
          if (state.waitMs > 0) throw tooManyAttempts(state.waitMs);
          await limiter.fail(request.ip);
        }
        try {
          const user = await users.add(request.body.username, request.body.password);
          return reply.code(201).send({ id: user.id, username: user.username });
        } catch (e) {
          if (e instanceof UserInputError) {
            throw e.code === 'username_taken' ? new HttpError(409, 'conflict', 'The username is taken') : badRequest(e.message);
          }
          throw e;
        }
      },
    );
  }

  app.get(
    '/me',
    {
      schema: {
        summary: 'Who the access token speaks for (an example of a protected route)',
        tags: ['example'],
        security: [{ bearer: [] }],
        response: { 200: MeResponse, ...errors(400, 401, 503) },
      },
    },
    async (request, reply) => {
      const p = request.principal!;
      const username = p.claims?.preferred_username;
      // RFC 6750 §5.3 / RFC 6749 §5.1: an answer about who holds a token is not for caches.
      reply.headers(tokenHeaders);
      return {
        sub: p.sub,
        preferred_username: typeof username === 'string' ? username : undefined,
        client_id: p.clientId,
        scope: p.scope,
        iat: p.iat,
        exp: p.exp,
      };
    },
  );

  app.get(
    METADATA_PATH,
    {
      config: { public: true },
      schema: { summary: 'Authorization server metadata (RFC 8414)', tags: ['auth'] },
    },
    async (request) => {
      const issuer =
        typeof options.issuer === 'function' ? options.issuer() : (options.issuer ?? `${request.protocol}://${request.host}`);
      const jwksUri = jwksUriFor(issuer, options.accessAlg);
      return authorizationServerMetadata({
        issuer,
        passwordGrant: users !== undefined,
        scope: options.scope,
        ...(jwksUri === undefined ? {} : { jwksUri }),
      });
    },
  );

  app.get(
    '/health',
    {
      config: { public: true },
      schema: { summary: 'Liveness: the process answers', tags: ['ops'], response: { 200: StatusResponse } },
    },
    async () => ({ status: 'ok' }),
  );

  app.get(
    '/ready',
    {
      config: { public: true },
      schema: {
        summary: 'Readiness: the token store answers (503 otherwise)',
        tags: ['ops'],
        response: { 200: StatusResponse, 503: ErrorResponse },
      },
    },
    async (request) => {
      try {
        await tokens.ping();
      } catch (e) {
        request.log.warn({ code: isStoreOutage(e) ? 'store_unavailable' : 'error' }, 'store ping failed');
        throw storeUnavailable();
      }
      return { status: 'ready' };
    },
  );
};
/** OpenAPI: HTTP Basic (client_secret_basic), or none (client_secret_post and public clients use the body). */
const CLIENT_SECURITY: { [scheme: string]: string[] }[] = [{ basic: [] }, {}];
const CLIENT_AUTH_DOC =
  'Client authentication (RFC 6749 §2.3): HTTP Basic with the form-urlencoded client_id and client_secret ' +
  '(client_secret_basic), or client_id and client_secret in the body (client_secret_post); a public client sends ' +
  'client_id alone; a request that names no client acts as the default public client. Failure: 401 invalid_client.';

/** RFC 6749 §6 for the refresh_token grant: the client, and a narrower scope when asked for. */
function refreshBy(clientId: string, scope: string | undefined): RefreshOptions {
  const s = scope?.trim().split(/\s+/).filter(Boolean).join(' ');
  return s ? { clientId, scope: s } : { clientId };
}
