/**
 * The auth server without a framework: the handler of each row of the endpoint
 * table (endpoints.ts), the route map of the served rows (method + path → handler,
 * with the parameter rules of each), which paths are public, and the error
 * answer of anything a handler throws. Express and Hono (express.ts, hono.ts)
 * are adapters over it: they read the body, build an {@link AuthRequest} and
 * write the {@link AuthResponse}. The Fastify routes (routes.ts) register the
 * same rows, with the same handlers, as Fastify routes (with OpenAPI schemas).
 *
 * @module
 */

import type { Principal } from '../../refresh/types.js';
import type { JwkSet } from '../../tokens/jwk.js';
import { ENDPOINTS, type EndpointFeature, type EndpointHandler, PUBLIC_ENDPOINT_PATHS } from './endpoints.js';
import { errorBody, errorHeaders, type HttpError, logFailure, toHttpError } from './errors.js';
import { createGuard, type Guard, type GuardOptions } from './guard.js';
import {
  type AuthHandlers,
  type AuthHandlersOptions,
  CookieClearingError,
  createAuthHandlers,
  JWKS_CACHE_CONTROL,
  meBody,
  publicJwksJson,
} from './handlers.js';
import { type AuthRequest, type AuthResponse, type CoreLogger, type ParamRules, PRINCIPAL_HEADERS } from './request.js';

/** A logger for the adapters: the handlers' two levels, and `error` for a failure that is a bug. */
export interface AdapterLogger extends CoreLogger {
  error(obj: object, msg: string): void;
}

/** Options of the Express and Hono adapters: the routes' options, and the guard's. */
export interface AuthAppOptions extends AuthHandlersOptions {
  /** Paths (exact, or a RegExp) served without a Bearer token besides the auth routes. */
  publicPaths?: readonly (string | RegExp)[];
  /** Serve `GET /me` (the example protected route). Default true. */
  me?: boolean;
  /** Serve `GET /health` and `GET /ready`. Default true. */
  health?: boolean;
  /** EdDSA/ES256 access tokens: the public JWK Set to serve at `/.well-known/jwks.json`. */
  jwks?: JwkSet;
  /** Set the security headers (security-headers.ts) on every answer that passes through. Default true. */
  securityHeaders?: boolean;
  /** Where refusals and failures are logged (pino-like). Default: nowhere. */
  log?: AdapterLogger;
}

/** One route of the table. */
export interface AuthRoute {
  /** The parameter rules of its body; `undefined`: the route reads no body. */
  params: ParamRules | undefined;
  /** Needs the guard's principal (a Bearer token). */
  protected: boolean;
  run(req: AuthRequest, principal: Principal | null): Promise<AuthResponse> | AuthResponse;
}

export interface AuthApp {
  readonly handlers: AuthHandlers;
  readonly guard: Guard;
  readonly log: AdapterLogger | undefined;
  readonly securityHeaders: boolean;
  /** The route of a request, or `undefined` (not ours: the app's own routes, or a 404). */
  route(method: string, path: string): AuthRoute | undefined;
  /** True when the guard lets `path` through without a token. */
  isPublic(path: string): boolean;
  /** The answer to anything thrown while handling a request (logged like the Fastify error handler). */
  errorResponse(e: unknown, log?: AdapterLogger): AuthResponse;
  /** The answer of a refusal the guard or an adapter already made. */
  refusalResponse(err: HttpError): AuthResponse;
}

const ok = (body: unknown): AuthResponse => ({ status: 200, headers: {}, body });

/** A handler of the table: the neutral request, and the guard's principal on a protected row (`null` on a public one). */
export type EndpointRun = AuthRoute['run'];

/**
 * The handler of every row of the endpoint table (endpoints.ts), by its `handler` name.
 * A protected row is only run with the guard's principal.
 */
export function endpointRunners(handlers: AuthHandlers, options: { jwks?: JwkSet }): Record<EndpointHandler, EndpointRun> {
  const jwks = options.jwks ? publicJwksJson(options.jwks) : undefined;
  return {
    token: (req) => handlers.token(req),
    refresh: (req) => handlers.refresh(req),
    revoke: (req) => handlers.revoke(req),
    introspect: (req) => handlers.introspect(req),
    logout: (req) => handlers.logout(req),
    logoutAll: (_req, p) => handlers.logoutAll(p as Principal),
    register: (req) => handlers.register(req),
    me: (_req, p) => ({ status: 200, headers: PRINCIPAL_HEADERS, body: meBody(p as Principal) }),
    metadata: () => handlers.metadata(),
    health: () => ok({ status: 'ok' }),
    ready: (req) => handlers.ready(req.log),
    jwks: () => ({
      status: 200,
      headers: { 'cache-control': JWKS_CACHE_CONTROL, 'content-type': 'application/json; charset=utf-8' },
      body: jwks,
    }),
  };
}

export function createAuthApp(options: AuthAppOptions, who = 'tessera'): AuthApp {
  const handlers = createAuthHandlers(options);
  const guard = createGuard({ tokens: options.tokens, realm: handlers.realm } as GuardOptions, who);
  const log = options.log;
  const run = endpointRunners(handlers, options);
  const on: Record<EndpointFeature, boolean> = {
    register: handlers.allowRegister,
    me: options.me ?? true,
    health: options.health ?? true,
    jwks: options.jwks !== undefined,
  };
  const routes = new Map<string, AuthRoute>();
  for (const row of ENDPOINTS) {
    if (row.feature !== undefined && !on[row.feature]) continue;
    const params = row.params === 'grants' ? handlers.grants.rules : row.params;
    routes.set(`${row.method} ${row.path}`, { params, protected: !row.public, run: run[row.handler] });
  }

  const exact = new Set<string>(PUBLIC_ENDPOINT_PATHS);
  const patterns: RegExp[] = [];
  for (const p of options.publicPaths ?? []) {
    if (typeof p === 'string') exact.add(p);
    else patterns.push(p);
  }

  function errorResponse(e: unknown, l: AdapterLogger | undefined = log): AuthResponse {
    let cookies: AuthResponse['cookies'];
    let err = e;
    if (e instanceof CookieClearingError) {
      cookies = e.cookies;
      err = e.error;
    }
    const mapped = toHttpError(err, handlers.realm);
    logFailure(l, err, mapped);
    const res = refusalResponse(mapped);
    if (cookies) res.cookies = cookies;
    return res;
  }

  function refusalResponse(err: HttpError): AuthResponse {
    return { status: err.statusCode, headers: errorHeaders(err), body: errorBody(err) };
  }

  return {
    handlers,
    guard,
    log,
    securityHeaders: options.securityHeaders ?? true,
    route: (method, path) => routes.get(`${method} ${path}`),
    isPublic: (path) => exact.has(path) || patterns.some((r) => r.test(path)),
    errorResponse,
    refusalResponse,
  };
}
