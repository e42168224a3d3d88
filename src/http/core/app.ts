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
import { ENDPOINTS, type EndpointFeature, type EndpointHandler, PUBLIC_ENDPOINT_PATHS, pathParameter } from './endpoints.js';
import { errorBody, errorHeaders, HttpError, logFailure, toHttpError } from './errors.js';
import { createGuard, type DpopHeaderSource, type Guard, type GuardOptions } from './guard.js';
import {
  type AuthHandlers,
  type AuthHandlersOptions,
  CookieClearingError,
  createAuthHandlers,
  JWKS_CACHE_CONTROL,
  meBody,
  publicJwksJson,
} from './handlers.js';
import {
  type AuthRequest,
  type AuthResponse,
  type CoreLogger,
  checkParams,
  type ParamRules,
  PRINCIPAL_HEADERS,
} from './request.js';

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
  /** EdDSA/ES256/RS256 access tokens: the public JWK Set to serve at `/.well-known/jwks.json`. */
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
  /** The answer to anything thrown while handling a request (logged like the Fastify error handler). */
  errorResponse(e: unknown, log?: AdapterLogger): AuthResponse;
  /** The answer of a refusal the guard or an adapter already made. */
  refusalResponse(err: HttpError): AuthResponse;
  /**
   * The dispatch every adapter shares: the route of the request, the public paths, the
   * guard (RFC 6750 §2.1). A promise only when the guard must ask the token store.
   */
  dispatch(
    method: string,
    path: string,
    authorization: string | undefined,
    headers?: DpopHeaderSource,
  ): Dispatch | Promise<Dispatch>;
  /**
   * Answers a request of a served route: its body (read by the adapter, when the route reads
   * one) checked against the route's parameter rules, then its handler. Never rejects: any
   * throw is the error answer.
   */
  serve(route: AuthRoute, principal: Principal | null, input: ServeInput): Promise<AuthResponse>;
}

/** What the dispatch decided for a request. */
export type Dispatch =
  /** One of the table's routes: answer it with {@link AuthApp.serve}. */
  | { readonly action: 'serve'; readonly route: AuthRoute; readonly principal: Principal | null }
  /** Not a route of ours, and admitted (a public path: `principal` null): the app's next handler. */
  | { readonly action: 'pass'; readonly principal: Principal | null }
  /** Refused by the guard (400/401/503): write `response`. */
  | { readonly action: 'answer'; readonly response: AuthResponse };

/** How an adapter hands a request to {@link AuthApp.serve}. */
export interface ServeInput {
  /** The parsed body (only called for a route that reads one); throws an HttpError for a body the contract refuses. */
  body(): Record<string, unknown> | Promise<Record<string, unknown>>;
  /** The neutral request with that body. */
  request(body: Record<string, unknown>): AuthRequest;
}

const PASS_PUBLIC: Dispatch = Object.freeze({ action: 'pass', principal: null });

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
    authorize: (req) => handlers.authorize(req),
    authorizeSubmit: (req) => handlers.authorizeSubmit(req),
    endSession: (req) => handlers.endSession(req),
    endSessionSubmit: (req) => handlers.endSessionSubmit(req),
    userinfo: (_req, p) => handlers.userinfo(p as Principal),
    openidConfiguration: () => handlers.openidConfiguration(),
    token: (req) => handlers.token(req),
    refresh: (req) => handlers.refresh(req),
    revoke: (req) => handlers.revoke(req),
    introspect: (req) => handlers.introspect(req),
    logout: (req) => handlers.logout(req),
    logoutAll: (req, p) => handlers.logoutAll(p as Principal, req),
    sessions: (_req, p) => handlers.sessions(p as Principal),
    deleteSession: (req, p) => handlers.deleteSession(req, p as Principal),
    revokeOtherSessions: (_req, p) => handlers.revokeOtherSessions(p as Principal),
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
  const guard = createGuard(
    {
      tokens: options.tokens,
      realm: handlers.realm,
      ...(options.dpop
        ? { dpop: options.issuer === undefined ? options.dpop : { ...options.dpop, issuer: options.issuer } }
        : {}),
    } as GuardOptions,
    who,
  );
  const log = options.log;
  const run = endpointRunners(handlers, options);
  const on: Record<EndpointFeature, boolean> = {
    authorize: handlers.authorizeEndpoint !== undefined,
    oidc: handlers.oidc,
    register: handlers.allowRegister,
    me: options.me ?? true,
    health: options.health ?? true,
    jwks: options.jwks !== undefined,
  };
  const routes = new Map<string, AuthRoute>();
  /** Rows whose last segment is a path parameter: `METHOD prefix` -> route, tried when the map has no exact hit. */
  const withParameter = new Map<string, AuthRoute>();
  for (const row of ENDPOINTS) {
    if (row.feature !== undefined && !on[row.feature]) continue;
    const params = row.params === 'grants' ? handlers.grants.rules : row.params;
    const route: AuthRoute = { params, protected: !row.public, run: run[row.handler] };
    const param = pathParameter(row.path);
    if (param) withParameter.set(`${row.method} ${param.prefix}`, route);
    else routes.set(`${row.method} ${row.path}`, route);
  }
  /**
   * The route of a request: an exact path is one map lookup (GET /me stays that); only on a miss
   * is the path tried as a prefix and one non-empty last segment of a parameter row.
   */
  const routeOf = (method: string, path: string): AuthRoute | undefined => {
    const exactRoute = routes.get(`${method} ${path}`);
    if (exactRoute !== undefined || withParameter.size === 0) return exactRoute;
    const slash = path.lastIndexOf('/');
    if (slash <= 0 || slash === path.length - 1) return undefined;
    return withParameter.get(`${method} ${path.slice(0, slash + 1)}`);
  };

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

  const servePublic = new Map<AuthRoute, Dispatch>();
  for (const route of routes.values())
    if (!route.protected) servePublic.set(route, Object.freeze({ action: 'serve', route, principal: null }));

  const isPublic = (path: string): boolean => exact.has(path) || patterns.some((r) => r.test(path));

  function admitted(route: AuthRoute | undefined, principal: Principal): Dispatch {
    return route ? { action: 'serve', route, principal } : { action: 'pass', principal };
  }

  function dispatch(
    method: string,
    path: string,
    authorization: string | undefined,
    headers?: DpopHeaderSource,
  ): Dispatch | Promise<Dispatch> {
    const route = routeOf(method, path);
    if (route && !route.protected) return servePublic.get(route) as Dispatch;
    if (!route && isPublic(path)) return PASS_PUBLIC;
    const pending = guard.start(authorization, method, path, headers);
    if (pending instanceof HttpError) return { action: 'answer', response: refusalResponse(pending) };
    if (!(pending instanceof Promise)) return admitted(route, pending);
    return pending.then(
      (principal) => admitted(route, principal),
      (e: unknown) => {
        const refusal = guard.refusal(e, log);
        return { action: 'answer', response: refusal ? refusalResponse(refusal) : errorResponse(e) };
      },
    );
  }

  async function serve(route: AuthRoute, principal: Principal | null, input: ServeInput): Promise<AuthResponse> {
    try {
      let body: Record<string, unknown> = {};
      if (route.params) {
        body = await input.body();
        checkParams(body, route.params);
      }
      return await route.run(input.request(body), principal);
    } catch (e) {
      return errorResponse(e);
    }
  }

  return {
    handlers,
    guard,
    dispatch,
    serve,
    log,
    securityHeaders: options.securityHeaders ?? true,
    errorResponse,
    refusalResponse,
  };
}
