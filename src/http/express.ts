/**
 * `tessera-auth/express`: the auth routes and the guard as one Express middleware,
 * a thin adapter over the framework-neutral core (core/app.ts), with the same
 * status codes, bodies and headers as the Fastify plugin.
 *
 * ```ts
 * const app = express();
 * app.use(tesseraExpress({ tokens, users, clients, publicPaths: ['/'] }));
 * app.get('/admin', requireScope('admin'), (req, res) => res.json(req.principal));
 * app.use(notFound); app.use(errorHandler());
 * ```
 *
 * Every request that passes the middleware and is not an auth route or a public
 * path needs a Bearer access token: routes are protected unless declared public,
 * so a forgotten declaration fails closed. `req.principal` holds who the token
 * speaks for. The middleware reads the bodies of its own routes itself (mount it
 * before `express.json()`), so the request rules (duplicate JSON names, repeated
 * form parameters, the body limit) are the core's.
 *
 * Needs the optional peer `express` (5.x) for its types only: nothing here
 * imports it at run time.
 *
 * @module
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Principal } from '../refresh/types.js';
import { type AdapterLogger, type AuthApp, type AuthAppOptions, createAuthApp, type Dispatch } from './core/app.js';
import { errorBody, errorHeaders, HttpError, insufficientScope, logFailure, toHttpError } from './core/errors.js';
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

declare module 'express-serve-static-core' {
  interface Request {
    /** Who the access token speaks for; `undefined` on public paths. */
    principal?: Principal;
  }
}

export type TesseraExpressOptions = AuthAppOptions;

/** The middleware, with the neutral app it runs (for tests and embedding). */
export interface TesseraExpress extends RequestHandler {
  readonly auth: AuthApp;
}

/** Writes a neutral answer without Express's extras (no ETag, no 304: token answers are never conditional). */
function write(res: Response, answer: AuthResponse): void {
  if (res.headersSent) return;
  res.status(answer.status);
  for (const name in answer.headers) res.setHeader(name, answer.headers[name] as string);
  if (answer.cookies?.length) res.append('set-cookie', answer.cookies.map(serializeCookie));
  const body = answer.body;
  if (body === undefined || body === null) {
    res.end();
    return;
  }
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  if (!res.getHeader('content-type')) res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.end(text);
}

function errorAnswer(err: HttpError): AuthResponse {
  return { status: err.statusCode, headers: errorHeaders(err), body: errorBody(err) };
}

/** The raw body, at most {@link BODY_LIMIT_BYTES} (413 beyond, before reading when Content-Length says so). */
function readBody(req: Request): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > BODY_LIMIT_BYTES) return Promise.reject(bodyTooLarge());
  if (req.readableEnded || (declared === 0 && req.headers['transfer-encoding'] === undefined)) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > BODY_LIMIT_BYTES) {
        req.off('data', onData);
        req.resume();
        reject(bodyTooLarge());
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

function neutral(req: Request, body: Record<string, unknown>, log: AdapterLogger | undefined): AuthRequest {
  return {
    method: req.method,
    path: req.path,
    headers: req.headers,
    body,
    query: parseQuery(req.originalUrl),
    ip: req.ip ?? req.socket.remoteAddress ?? '',
    cookies: parseCookieHeader(req.headers.cookie),
    ...(log ? { log } : {}),
  };
}

/** The auth routes and the guard (see the module comment). */
export function tesseraExpress(options: TesseraExpressOptions): TesseraExpress {
  const auth = createAuthApp(options, 'tesseraExpress');
  const log = auth.log;

  function act(req: Request, res: Response, next: NextFunction, d: Dispatch): void {
    if (d.action === 'answer') return void write(res, d.response);
    if (d.principal) req.principal = d.principal;
    if (d.action === 'pass') return void next();
    void auth
      .serve(d.route, d.principal, {
        // A body parsed by an earlier middleware is taken as it is (its parser's rules, not ours).
        body: async () =>
          req.body !== undefined && typeof req.body === 'object' && req.body !== null
            ? (req.body as Record<string, unknown>)
            : parseBody(req.headers['content-type'], await readBody(req)),
        request: (body) => neutral(req, body, log),
      })
      .then((answer) => write(res, answer));
  }

  const middleware = ((req: Request, res: Response, next: NextFunction): void => {
    if (auth.securityHeaders) {
      res.removeHeader('x-powered-by');
      for (const name in API_HEADERS) res.setHeader(name, API_HEADERS[name] as string);
    }
    const d = auth.dispatch(req.method, req.path, req.headers.authorization, req.headers);
    if (d instanceof Promise) d.then((decided) => act(req, res, next, decided));
    else act(req, res, next, d);
  }) as TesseraExpress;
  Object.defineProperty(middleware, 'auth', { value: auth });
  return middleware;
}

/** A route middleware: 403 `insufficient_scope` unless the principal carries every scope of `scope` (RFC 6750 §3.1). */
export function requireScope(scope: string, realm = DEFAULT_REALM): RequestHandler {
  return (req, res, next) => {
    if (req.principal && hasScopes(req.principal.scope, scope)) return next();
    write(res, errorAnswer(insufficientScope(realm, scope)));
  };
}

/** The 404 of the contract: `{"error":"not_found",...}` (mount after every route). */
export const notFound: RequestHandler = (_req, res) => {
  write(res, errorAnswer(new HttpError(404, 'not_found', 'No such route')));
};

/** An Express error handler that answers in the contract's shape (no stack, no echo of the request). */
export function errorHandler(log?: AdapterLogger, realm = DEFAULT_REALM) {
  return (err: unknown, _req: Request, res: Response, _next: NextFunction): void => {
    const mapped = toHttpError(err, realm);
    logFailure(log, err, mapped);
    write(res, errorAnswer(mapped));
  };
}

export type { AdapterLogger, AuthApp, AuthAppOptions } from './core/app.js';
export type { CookieModeOptions } from './core/cookies.js';
export { HttpError, toHttpError } from './core/errors.js';
export type { Grant, GrantContext, GrantParam } from './core/grants/types.js';
export { parseBearer } from './core/guard.js';
export { DEFAULT_RATE_LIMIT, type RateLimitSettings } from './core/handlers.js';
