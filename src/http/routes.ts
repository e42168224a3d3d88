/**
 * The HTTP contract of the reference server (docs/http-api.md) as a Fastify plugin.
 *
 * The endpoints are the rows of core/endpoints.ts and their handlers those of
 * core/app.ts (shared with Express and Hono); this plugin is the Fastify adapter:
 * parsers, the rows' schemas (validation and OpenAPI, schemas.ts `routeSchema`),
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
import type { FastifyReply, FastifyRequest, FastifySchema, preValidationHookHandler } from 'fastify';
import { applyCookieOps } from './cookies.js';
import { endpointRunners } from './core/app.js';
import { type DocContext, ENDPOINTS } from './core/endpoints.js';
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
import { type AuthRequest, type AuthResponse, PRINCIPAL_HEADERS, parseCookieHeader, parseQuery } from './core/request.js';
import { findDuplicateKey } from './core/strict-json.js';
import { badRequest, httpErrorHandler } from './errors.js';
import { routeSchema } from './schemas.js';

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
    // @fastify/cookie's parse in cookie mode; else the header, read only by the routes that use cookies.
    cookies: (request as { cookies?: Record<string, string | undefined> }).cookies ?? parseCookieHeader(request.headers.cookie),
    log: request.log,
    id: request.id,
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
async function run(reply: FastifyReply, answer: () => AuthResponse | Promise<AuthResponse>): Promise<never> {
  try {
    return write(reply, await answer()) as never;
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
    // A route that reads no body (logout-all, the session routes) ignores an empty one, as the
    // Express and Hono adapters do: a client's default JSON content type is no error there.
    if (text === '' && request.routeOptions.schema?.body === undefined) return done(null, undefined);
    if (findDuplicateKey(text) !== undefined) return done(badRequest('The JSON body has a duplicate member name'), undefined);
    return parseJson(request, text, done);
  });
  if (cookies && !app.hasRequestDecorator('cookies')) await app.register(cookiePlugin);

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

  // Every row of the endpoint table (core/endpoints.ts) but the JWK Set, which `jwksRoute`
  // serves from its own row when there is a set to publish.
  const runners = endpointRunners(core, {});
  const docs: DocContext = { grantTypes: core.grants.types, csrfHeader: cookies?.csrfHeader ?? 'x-csrf-token' };
  for (const row of ENDPOINTS) {
    if (
      row.feature === 'jwks' ||
      (row.feature === 'register' && !core.allowRegister) ||
      (row.feature === 'authorize' && core.authorizeEndpoint === undefined) ||
      (row.feature === 'oidc' && !core.oidc)
    )
      continue;
    const runner = runners[row.handler];
    app.route({
      method: row.method,
      // A `{name}` segment (OpenAPI) is Fastify's `:name`.
      url: row.path.replace(/\{([a-z_]+)\}$/, ':$1'),
      ...(row.public ? { config: { public: true } } : {}),
      schema: routeSchema(row, docs, core.grants) as FastifySchema,
      handler:
        row.handler === 'me'
          ? // Synchronous: the guard already has the principal, and a value returned by a sync
            // handler is sent without a promise (the one hot route: no neutral request either).
            (request, reply) => {
              // RFC 6750 §5.3 / RFC 6749 §5.1: an answer about who holds a token is not for caches.
              reply.headers(PRINCIPAL_HEADERS);
              return meBody(request.principal!);
            }
          : async (request, reply) => run(reply, () => runner(neutral(request), request.principal)),
    });
  }
};
