/**
 * `buildApp(options)`: the reference server as a Fastify instance, without
 * `listen` and without reading the environment (Fastify's Testing guide:
 * build the app in one place, listen in another), so tests drive it with
 * `app.inject()`.
 *
 * @module
 */
import type { Duplex } from 'node:stream';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions, type onSendHookHandler } from 'fastify';
import type { AuthHandlersOptions } from '../http/core/handlers.js';
import { BODY_LIMIT_BYTES, DEFAULT_REALM } from '../http/core/limits.js';
import { HttpError, httpErrorHandler, sendHttpError, toHttpError } from '../http/errors.js';
import { jwksRoute } from '../http/jwks.js';
import { tesseraAuth } from '../http/plugin.js';
import { tesseraRoutes } from '../http/routes.js';
import type { JwkSet } from '../tokens/jwk.js';
import { demoRoutes } from './demo.js';
import { reapIdleConnections } from './idle-connections.js';
import { fastifyLogging, type LogOptions } from './logger.js';
import { securityHeaders } from './security-headers.js';

export { type LogOptions, REDACT_PATHS } from './logger.js';

/**
 * The reference server's app: the auth routes' options (AuthHandlersOptions: users, clients,
 * grants, authorize, oidc, cookie mode, the guessing limiter, ...) and the server's own.
 */
export interface AppOptions extends Omit<AuthHandlersOptions, 'accessAlg'> {
  /** Serve /openapi.json and Swagger UI at /docs. Default true. */
  docs?: boolean;
  /** Serve the demo page at / (public/ and the browser client at /client.js). Default true. */
  demo?: boolean;
  /** Logging; `false` for none. */
  log?: LogOptions | false;
  /**
   * Which `X-Forwarded-For` entries to believe (the client address of the rate limits):
   * `false` (default: the socket's peer), a number of proxy hops, or the proxies'
   * addresses/CIDRs. See {@link trustProxyOption}.
   */
  trustProxy?: false | number | string[];
  /** Socket timeouts in milliseconds; see {@link DEFAULT_TIMEOUTS}. */
  timeouts?: Partial<HttpTimeouts>;
  /** EdDSA/ES256/RS256 access tokens: the public JWK Set to serve at `/.well-known/jwks.json`. */
  jwks?: JwkSet;
  /**
   * The request histogram of metrics.ts: called once per route pattern and method as the route is
   * added (`unmatched` for a path no route has, once per method met), and what it returns is
   * called once per answer with its status and duration in seconds.
   */
  recordRoute?: (route: string, method: string) => (status: number, seconds: number) => void;
}

/** Socket timeouts, milliseconds (Node's http.Server settings of the same names). */
export interface HttpTimeouts {
  /** Headers and body of a request must arrive within it, or the connection is closed with a 408. */
  requestTimeout: number;
  /** The headers must arrive within it (at most `requestTimeout`). */
  headersTimeout: number;
  /** An idle keep-alive connection is closed after it. */
  keepAliveTimeout: number;
  /** A connection on which nothing moves (no byte read or written) is closed after it (up to a quarter later, at most 5 s); 0: never. */
  connectionTimeout: number;
}

/**
 * Node's defaults leave `requestTimeout` and the idle timeout at 0 (Fastify too):
 * a client that sends headers and never the body holds a socket for ever (slowloris).
 * A credential request is a few hundred bytes: 30 s is generous for it.
 */
export const DEFAULT_TIMEOUTS: HttpTimeouts = {
  requestTimeout: 30_000,
  headersTimeout: 10_000,
  keepAliveTimeout: 5_000,
  connectionTimeout: 60_000,
};

/**
 * Fastify's `trustProxy` for our setting. The client address must be the
 * right-most `X-Forwarded-For` entry that a trusted proxy did not add: entries
 * to its left were written by the client. Fastify's `true` takes the left-most
 * entry (the client's choice), and a plain number is refused by this Fastify
 * (it trusts nothing), so a hop count becomes a function of the hop index:
 * proxy-addr walks from the socket peer (hop 0) leftwards through the header and
 * stops at the first untrusted hop, which is the client address. With `n` proxies
 * hops 0..n-1 are theirs. A list goes to proxy-addr as is: it trusts hops whose
 * address is in the list, so the walk stops at the first one that is not.
 */
export function trustProxyOption(trust: false | number | string[] | undefined): FastifyServerOptions['trustProxy'] {
  if (trust === undefined || trust === false || trust === 0) return false;
  if (typeof trust === 'number') return (_address: string, hop: number) => hop < trust;
  return trust.length === 0 ? false : trust;
}

const CLIENT_ERRORS: Record<string, [number, string, string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout', 'The request took too long to arrive'],
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large', 'The request headers are too large'],
};

/**
 * Ajv's console logger, less the one notice `unicode: false` prints at every start: Ajv marks
 * the option deprecated (its default changed in version 7) but keeps it, and it is the setting
 * that makes every adapter count a length alike.
 */
const AJV_LOGGER = {
  log: (...args: unknown[]) => console.log(...args),
  warn: (...args: unknown[]) => {
    if (typeof args[0] === 'string' && args[0].startsWith('DEPRECATED: option unicode.')) return;
    console.warn(...args);
  },
  error: (...args: unknown[]) => console.error(...args),
};

/** Answers a request that never reached Fastify (see `clientErrorHandler`), then closes the connection. */
function clientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, reason, description] = CLIENT_ERRORS[err.code ?? ''] ?? [400, 'Bad Request', 'The request is not valid HTTP'];
  const body = JSON.stringify({ error: 'invalid_request', error_description: description });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Cache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

export function buildApp(options: AppOptions): FastifyInstance {
  const realm = options.realm ?? DEFAULT_REALM;
  const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  if (timeouts.headersTimeout > timeouts.requestTimeout) timeouts.headersTimeout = timeouts.requestTimeout;
  const app = Fastify({
    // Request logging decides whether Fastify gets the logger at all (logger.ts: what it costs).
    ...fastifyLogging(options.log),
    bodyLimit: BODY_LIMIT_BYTES,
    trustProxy: trustProxyOption(options.trustProxy),
    requestTimeout: timeouts.requestTimeout,
    // connectionTimeout is enforced by a sweep (idle-connections.ts), not by a per-socket timer.
    keepAliveTimeout: timeouts.keepAliveTimeout,
    http: {
      headersTimeout: timeouts.headersTimeout,
      // Node checks request and headers timeouts on this period (default 30 s), so a
      // short timeout would otherwise bite up to 30 s late.
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(timeouts.headersTimeout / 2))),
    },
    // RFC 6749 §3.1: parameters are exact strings; no number-to-string coercion. Length limits
    // count UTF-16 code units (`unicode: false`), as `checkParams` does on Express and Hono: Ajv's
    // default counts code points, so an adapter would accept what the others refuse, and it walks
    // every character of every string to do so (~0.9 µs for a refresh token's body).
    ajv: { customOptions: { coerceTypes: false, unicode: false, logger: AJV_LOGGER } },
    // Answer 503 to requests that arrive while closing (graceful shutdown).
    return503OnClosing: true,
    // Errors raised before routing (a malformed URL): Fastify's default body quotes the URL.
    frameworkErrors: (error, _request, reply) => {
      sendHttpError(reply, toHttpError(error, realm));
    },
    // A request Node's parser refuses (bad framing, oversized headers, a timeout): Fastify's
    // default answer has its own body shape; keep ours, {error, error_description}.
    clientErrorHandler: clientError,
  }).withTypeProvider<TypeBoxTypeProvider>();

  const recordRoute = options.recordRoute;
  /** Seconds since the request's onRequest stamp (metrics on), else 0. */
  const secondsOf = (request: FastifyRequest): number => {
    const t0 = (request as { tesseraStart?: number }).tesseraStart;
    return t0 ? (performance.now() - t0) / 1000 : 0;
  };
  if (recordRoute) {
    // The duration runs from onRequest to onSend (the answer handed to Node), each a hook in a
    // chain that already runs. No onResponse hook: one makes Fastify listen for every response's
    // 'finish' and 'error' and run its hook chain after it (two listeners added and removed, a
    // tick), most of what the metrics cost a `GET /me`.
    // The start is stamped by the security headers' onRequest hook (below), which every request runs.
    // A hook on each route with its recorder in hand, added as the route is: reading
    // `request.routeOptions` at answer time builds an object per request, and a series looked up
    // by label values hashes them per request.
    app.addHook('onRoute', (route) => {
      const methods = Array.isArray(route.method) ? route.method : [route.method];
      const recorders = new Map(methods.map((m) => [m, recordRoute(route.url, m)]));
      const only = methods.length === 1 ? recorders.get(methods[0] as string) : undefined;
      const hook: onSendHookHandler = only
        ? (request, reply, payload, done) => {
            only(reply.statusCode, secondsOf(request));
            done(null, payload);
          }
        : (request, reply, payload, done) => {
            recorders.get(request.method)?.(reply.statusCode, secondsOf(request));
            done(null, payload);
          };
      const own = route.onSend;
      route.onSend = own === undefined ? hook : [...(Array.isArray(own) ? own : [own]), hook];
    });
  }
  const unmatched = new Map<string, (status: number, seconds: number) => void>();
  const recordUnmatched = (method: string, seconds: number) => {
    if (!recordRoute) return;
    let record = unmatched.get(method);
    if (record === undefined) {
      record = recordRoute('unmatched', method);
      unmatched.set(method, record);
    }
    record(404, seconds);
  };

  if (timeouts.connectionTimeout > 0) {
    const reaper = reapIdleConnections(app.server, timeouts.connectionTimeout);
    app.addHook('onClose', (_instance, done) => {
      reaper.stop();
      done();
    });
  }

  app.setErrorHandler(httpErrorHandler(realm));
  securityHeaders(app, { stamp: recordRoute !== undefined });
  app.setNotFoundHandler((request, reply) => {
    sendHttpError(reply, new HttpError(404, 'not_found', 'No such route'));
    recordUnmatched(request.method, secondsOf(request));
  });

  app.register(tesseraAuth, {
    tokens: options.tokens,
    realm,
    // The guard checks DPoP proofs against the same issuer and replay store as the token endpoint.
    ...(options.dpop ? { dpop: options.issuer === undefined ? options.dpop : { ...options.dpop, issuer: options.issuer } } : {}),
  });

  const docs = options.docs ?? true;
  if (docs) {
    // Registered before the routes: it collects their schemas through onRoute.
    app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'tessera',
          description:
            'Access and refresh tokens (RFC 6749 token endpoint, RFC 7009 revocation, RFC 7662 introspection, RFC 8414 metadata). ' +
            'Clients authenticate with HTTP Basic (client_secret_basic) or client_id and client_secret in the body (client_secret_post).',
          version: '0.1.0',
        },
        tags: [
          { name: 'auth', description: 'Tokens' },
          { name: 'example', description: 'A protected route' },
          { name: 'ops', description: 'Health and readiness' },
        ],
        components: {
          securitySchemes: {
            bearer: { type: 'http', scheme: 'bearer' },
            // RFC 6749 §2.3.1 client_secret_basic (client_secret_post is the body's client_id/client_secret).
            basic: {
              type: 'http',
              scheme: 'basic',
              description: 'client_secret_basic: client_id and client_secret (RFC 6749 §2.3.1)',
            },
          },
        },
      },
    });
  }

  // The routes take the auth options as given; the server's own stay here.
  const {
    tokens: _tokens,
    docs: _docs,
    demo: _demo,
    log: _log,
    trustProxy: _tp,
    timeouts: _to,
    jwks,
    recordRoute: _rr,
    ...routeOptions
  } = options;
  app.register(tesseraRoutes, {
    ...routeOptions,
    realm,
    // The served JWKS's first key is the signing key: its alg is the access tokens' (jwks_uri in the metadata).
    ...(jwks?.keys[0] ? { accessAlg: jwks.keys[0].alg } : {}),
  });

  if (docs) {
    app.get('/openapi.json', { config: { public: true }, schema: { hide: true } }, async () => app.swagger());
    app.register(async (ui) => {
      // Swagger UI's own routes cannot take our route config; mark every route of this scope public.
      ui.addHook('onRoute', (route) => {
        route.config = { ...route.config, public: true };
      });
      await ui.register(swaggerUi, { routePrefix: '/docs' });
    });
  }
  if (options.jwks) app.register(jwksRoute, { jwks: options.jwks });
  if (options.demo ?? true) app.register(demoRoutes);
  return app;
}
