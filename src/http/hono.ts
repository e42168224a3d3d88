/**
 * `tessera-auth/hono`: the auth routes and the guard as one Hono middleware, a thin
 * adapter over the framework-neutral core (core/app.ts), with the same status
 * codes, bodies and headers as the Fastify plugin. Web-standard only (Request,
 * Response, Headers): it runs wherever Hono runs (Node with @hono/node-server,
 * Bun, Deno, edge runtimes).
 *
 * ```ts
 * const app = new Hono<TesseraEnv>();
 * app.use(tesseraHono({ tokens, users, clients }));
 * app.get('/admin', requireScope('admin'), (c) => c.json(c.get('principal')));
 * ```
 *
 * Every request that is not an auth route or a public path needs a Bearer access
 * token; `c.get('principal')` holds who it speaks for.
 *
 * Needs the optional peer `hono` for its types only: nothing here imports it at run time.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from 'hono';
import type { Principal } from '../refresh/types.js';
import { type AuthApp, type AuthAppOptions, createAuthApp } from './core/app.js';
import { errorBody, errorHeaders, HttpError, insufficientScope } from './core/errors.js';
import { hasScopes } from './core/guard.js';
import { BODY_LIMIT_BYTES, DEFAULT_REALM } from './core/limits.js';
import {
  type AuthRequest,
  type AuthResponse,
  bodyTooLarge,
  parseBody,
  parseCookieHeader,
  parseQuery,
  serializeCookie,
} from './core/request.js';
import { API_HEADERS } from './core/security-headers.js';

/** The Hono environment of an app guarded by tessera: `c.get('principal')`. */
export type TesseraEnv = { Variables: { principal: Principal } };

export interface TesseraHonoOptions extends AuthAppOptions {
  /**
   * The client address (the guessing limiter's key). Default: the socket's peer under
   * @hono/node-server (`c.env.incoming`), else the empty string (one shared bucket):
   * on other runtimes, pass e.g. `(c) => getConnInfo(c).remote.address`.
   */
  clientAddress?: (c: Context) => string | undefined;
}

/** The middleware, with the neutral app it runs (for tests and embedding). */
export type TesseraHono = MiddlewareHandler<TesseraEnv> & { readonly auth: AuthApp };

function toResponse(answer: AuthResponse, extra: Readonly<Record<string, string>> | undefined): Response {
  const headers = new Headers(extra);
  for (const name in answer.headers) headers.set(name, answer.headers[name] as string);
  if (answer.cookies) for (const op of answer.cookies) headers.append('set-cookie', serializeCookie(op));
  const body = answer.body;
  if (body === undefined || body === null) return new Response(null, { status: answer.status, headers });
  if (!headers.has('content-type')) headers.set('content-type', 'application/json; charset=utf-8');
  return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status: answer.status, headers });
}

/** The raw body, at most {@link BODY_LIMIT_BYTES} (413 beyond, before reading when Content-Length says so). */
async function readBody(req: Request): Promise<Uint8Array | undefined> {
  const declared = Number(req.headers.get('content-length') ?? 0);
  if (declared > BODY_LIMIT_BYTES) throw bodyTooLarge();
  if (!req.body) return undefined;
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > BODY_LIMIT_BYTES) {
      await reader.cancel().catch(() => {});
      throw bodyTooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

function nodeAddress(c: Context): string | undefined {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress;
}

/** The auth routes and the guard (see the module comment). */
export function tesseraHono(options: TesseraHonoOptions): TesseraHono {
  const auth = createAuthApp(options, 'tesseraHono');
  const log = auth.log;
  const addressOf = options.clientAddress ?? nodeAddress;
  const secure = auth.securityHeaders ? API_HEADERS : undefined;

  function request(c: Context, body: Record<string, unknown>): AuthRequest {
    const headers: Record<string, string> = {};
    c.req.raw.headers.forEach((value, name) => {
      headers[name] = value;
    });
    return {
      method: c.req.method,
      path: c.req.path,
      headers,
      body,
      query: parseQuery(c.req.url),
      ip: addressOf(c) ?? '',
      cookies: parseCookieHeader(headers.cookie),
      ...(log ? { log } : {}),
    };
  }

  const middleware: MiddlewareHandler<TesseraEnv> = async (c, next) => {
    const pending = auth.dispatch(c.req.method, c.req.path, c.req.header('authorization'), c.req.raw.headers);
    const d = pending instanceof Promise ? await pending : pending;
    if (d.action === 'answer') return toResponse(d.response, secure);
    if (d.principal) c.set('principal', d.principal);
    if (d.action === 'pass') return withHeaders(c, next);
    const answer = await auth.serve(d.route, d.principal, {
      body: async () => parseBody(c.req.header('content-type'), await readBody(c.req.raw)),
      request: (body) => request(c, body),
    });
    return toResponse(answer, secure);
  };

  /** The app's own answer, with the security headers it did not set itself. */
  async function withHeaders(c: Context, next: () => Promise<void>): Promise<void> {
    await next();
    if (!secure) return;
    for (const name in secure) if (!c.res.headers.has(name)) c.res.headers.set(name, secure[name] as string);
  }

  return Object.assign(middleware, { auth });
}

/** A route middleware: 403 `insufficient_scope` unless the principal carries every scope of `scope` (RFC 6750 §3.1). */
export function requireScope(scope: string, realm = DEFAULT_REALM): MiddlewareHandler<TesseraEnv> {
  return async (c, next) => {
    const p = c.get('principal');
    if (p && hasScopes(p.scope, scope)) return next();
    const err = insufficientScope(realm, scope);
    return toResponse({ status: err.statusCode, headers: errorHeaders(err), body: errorBody(err) }, API_HEADERS);
  };
}

/** The 404 of the contract: `app.notFound(notFound)`. */
export function notFound(): Response {
  const err = new HttpError(404, 'not_found', 'No such route');
  return toResponse({ status: 404, headers: errorHeaders(err), body: errorBody(err) }, API_HEADERS);
}

export type { AdapterLogger, AuthApp, AuthAppOptions } from './core/app.js';
export type { CookieModeOptions } from './core/cookies.js';
export { HttpError, toHttpError } from './core/errors.js';
export type { Grant, GrantContext, GrantParam } from './core/grants/types.js';
export { parseBearer } from './core/guard.js';
export { DEFAULT_RATE_LIMIT, type RateLimitSettings } from './core/handlers.js';
