/**
 * The HTTP contract of the reference server (docs/http-api.md):
 *
 *     POST /auth/token        RFC 6749 §3.2: the registered grants (core/grants/: password §4.3, refresh_token §6, the `grants` option)
 *     POST /auth/refresh      the refresh path of the original request: {"refresh_token"} or the refresh cookie
 *     POST /auth/revoke       RFC 7009 (a client's own tokens)
 *     POST /auth/introspect   RFC 7662 (client authentication, clients registered for it)
 *     GET  /.well-known/oauth-authorization-server   RFC 8414 metadata
 *     POST /auth/logout       ends the presented refresh token's family
 *     POST /auth/logout-all   ends every family of the caller (Bearer)
 *     POST /auth/register     only with `allowRegister`
 *     GET  /me  /health  /ready
 *
 * The behaviour lives in core/handlers.ts (shared with Express and Hono); this
 * plugin is the Fastify adapter: parsers, schemas (validation and OpenAPI),
 * and writing the neutral answers to the reply.
 *
 * Register {@link tesseraAuth} on a parent first: it guards every route here
 * that is not `config: { public: true }`.
 *
 * @module
 */
import cookiePlugin from '@fastify/cookie';
import formbody from '@fastify/formbody';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest, preValidationHookHandler } from 'fastify';
import { applyCookieOps } from './cookies.js';
import {
  type AuthHandlers,
  type AuthHandlersOptions,
  CookieClearingError,
  createAuthHandlers,
  DEFAULT_RATE_LIMIT,
  meBody,
  type RateLimitSettings,
} from './core/handlers.js';
import { BODY_LIMIT_BYTES } from './core/limits.js';
import { METADATA_PATH } from './core/metadata.js';
import { type AuthRequest, type AuthResponse, PRINCIPAL_HEADERS, parseQuery } from './core/request.js';
import { findDuplicateKey } from './core/strict-json.js';
import { badRequest, httpErrorHandler } from './errors.js';
import {
  EmptyObject,
  ErrorResponse,
  errors,
  IntrospectionResponse,
  MeResponse,
  NoContent,
  ReadyResponse,
  RefreshRequest,
  RegisterRequest,
  StatusResponse,
  TokenParam,
  TokenResponse,
  tokenRequestSchema,
  UserResponse,
} from './schemas.js';

export { DEFAULT_RATE_LIMIT, type RateLimitSettings };

/**
 * The routes' options: the core's ({@link AuthHandlersOptions}), less the token
 * service, which the routes take from `tesseraAuth` (registered first).
 */
export type TesseraRoutesOptions = Omit<AuthHandlersOptions, 'tokens'>;

/** The neutral request of a Fastify request (auth routes only: not on the GET /me path). */
function neutral(request: FastifyRequest): AuthRequest {
  return {
    method: request.method,
    path: request.url,
    headers: request.headers,
    body: (request.body ?? {}) as Record<string, unknown>,
    query: parseQuery(request.url),
    ip: request.ip,
    cookies: (request as { cookies?: Record<string, string | undefined> }).cookies ?? {},
    log: request.log,
  };
}

/** Writes a neutral answer: status, headers, cookies; returns the body for Fastify's serializer. */
function write(reply: FastifyReply, res: AuthResponse): unknown {
  reply.code(res.status);
  reply.headers(res.headers);
  if (res.cookies) applyCookieOps(reply, res.cookies);
  return res.body === undefined || res.body === null ? reply.send(res.body) : res.body;
}

/**
 * Runs a core handler; a refusal that also clears the refresh cookies writes them first.
 * Typed `never` so it fits every route's reply type: the body goes to Fastify's serializer,
 * which writes it through the route's response schema (fields not listed are never sent).
 */
async function run(reply: FastifyReply, answer: Promise<AuthResponse>): Promise<never> {
  try {
    return write(reply, await answer) as never;
  } catch (e) {
    if (e instanceof CookieClearingError) {
      applyCookieOps(reply, e.cookies);
      throw e.error;
    }
    throw e;
  }
}

export const tesseraRoutes: FastifyPluginAsyncTypebox<TesseraRoutesOptions> = async (app, options) => {
  const tokens = app.tokens;
  if (!tokens) throw new TypeError('tesseraRoutes: register tesseraAuth (the token service) before the routes');
  const core: AuthHandlers = createAuthHandlers({ ...options, tokens } satisfies AuthHandlersOptions);
  const { realm, cookies } = core;

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

  const form = ['application/x-www-form-urlencoded', 'application/json'];

  // A POST without a body (curl -X POST, a cookie-only refresh) is an empty parameter
  // set, so a missing parameter gets its own message instead of "body must be object".
  // On the POST routes only (GET /me, the one hot route, runs no hook it does not need);
  // callback style, as an async hook costs a promise each time.
  const emptyBody: preValidationHookHandler = (request, _reply, done) => {
    if (request.body === undefined || request.body === null) request.body = {};
    done();
  };
  app.addHook('onRoute', (route) => {
    if (route.method !== 'POST') return;
    const own = route.preValidation;
    route.preValidation = own === undefined ? emptyBody : [emptyBody, ...(Array.isArray(own) ? own : [own])];
  });

  app.post(
    '/auth/token',
    {
      config: { public: true },
      schema: {
        summary: `Token endpoint (RFC 6749 §3.2): grant_type ${core.grants.types.join(', ')}`,
        description: CLIENT_AUTH_DOC,
        tags: ['auth'],
        security: CLIENT_SECURITY,
        consumes: form,
        body: tokenRequestSchema(core.grants),
        response: { 200: TokenResponse, ...errors(400, 401, 413, 415, 429, 503) },
      },
    },
    async (request, reply) => run(reply, core.token(neutral(request))),
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
    async (request, reply) => run(reply, core.refresh(neutral(request))),
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
        response: { 200: EmptyObject, ...errors(400, 401, 503) },
      },
    },
    async (request, reply) => run(reply, core.revoke(neutral(request))),
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
    async (request, reply) => run(reply, core.introspect(neutral(request))),
  );

  app.post(
    '/auth/logout',
    {
      config: { public: true },
      schema: {
        summary: "Ends the presented refresh token's session (its family), if it is the client's and current",
        description: `${CLIENT_AUTH_DOC} A confidential client authenticates as for /auth/refresh. Another client's refresh token, or one already rotated, ends nothing and is answered 204 all the same (RFC 7009 §2.1, §2.2).`,
        tags: ['auth'],
        security: CLIENT_SECURITY,
        consumes: form,
        body: RefreshRequest,
        response: { 204: NoContent, ...errors(400, 401, 403, 503) },
      },
    },
    async (request, reply) => run(reply, core.logout(neutral(request))),
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
    async (request, reply) => run(reply, core.logoutAll(request.principal!)),
  );

  if (core.allowRegister) {
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
      async (request, reply) => run(reply, core.register(neutral(request))),
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
    // Synchronous: the guard already has the principal, and a value returned by a sync handler
    // is sent without a promise.
    (request, reply) => {
      // RFC 6750 §5.3 / RFC 6749 §5.1: an answer about who holds a token is not for caches.
      reply.headers(PRINCIPAL_HEADERS);
      return meBody(request.principal!);
    },
  );

  app.get(
    METADATA_PATH,
    {
      config: { public: true },
      schema: { summary: 'Authorization server metadata (RFC 8414)', tags: ['auth'] },
    },
    async (_request, reply) => {
      const res = core.metadata();
      reply.headers(res.headers);
      return res.body as never;
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
        response: { 200: ReadyResponse, 503: ErrorResponse },
      },
    },
    async (request) => (await core.ready(request.log)).body as never,
  );
};
/** OpenAPI: HTTP Basic (client_secret_basic), or none (client_secret_post and public clients use the body). */
const CLIENT_SECURITY: { [scheme: string]: string[] }[] = [{ basic: [] }, {}];
const CLIENT_AUTH_DOC =
  'Client authentication (RFC 6749 §2.3): HTTP Basic with the form-urlencoded client_id and client_secret ' +
  '(client_secret_basic), or client_id and client_secret in the body (client_secret_post); a public client sends ' +
  'client_id alone; a request that names no client acts as the default public client. Failure: 401 invalid_client.';
