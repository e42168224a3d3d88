/**
 * The reference server's logger, and how Fastify is given it.
 *
 * Fastify with a logger does per-request work even when nothing is logged: it
 * makes a child logger for every request (see lazy-logger.ts) and, to time the
 * "request completed" line, adds a `finish` and an `error` listener to every
 * response and reads the clock twice. Measured with callgrind on `GET /me` over
 * real sockets: ~56k instructions per request for the listeners alone, an eighth
 * of a bare Fastify route. That line is written only with request logging on
 * (`TESSERA_LOG_REQUESTS`, off by default), so unless it is on, Fastify gets no
 * logger (`logger: false`) and request loggers come from our own pino through
 * `childLoggerFactory` (a lazy child per request): `request.log` and Fastify's
 * error logging through it (`reply.log`) write exactly the lines they wrote
 * before. What is lost is only Fastify's instance-level `app.log`, which at the
 * default level (`warn`) writes nothing in a running server.
 *
 * pino is the one Fastify itself depends on, resolved from Fastify's location:
 * the same version Fastify would have built, and no extra package to install.
 *
 * @module
 */
import { createRequire } from 'node:module';
import { type FastifyBaseLogger, type FastifyServerOptions, LogController } from 'fastify';
import { LazyChildLogger, lazyChildLoggerFactory } from './lazy-logger.js';

export interface LogOptions {
  /** pino level: fatal, error, warn, info, debug, trace, silent. Default `warn`. */
  level?: string;
  /** Log one line per request and response (method, path, status, time). Default false: per-request logging costs throughput. */
  requests?: boolean;
  /** Where log lines go (default stdout). Tests pass a capture stream. */
  stream?: NodeJS.WritableStream;
}

/**
 * Log paths that must never be written. The serializers below already leave
 * headers and bodies out; this is the second line, for anything logged by hand.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'body',
  'req.body',
  '*.password',
  '*.secret',
  '*.token',
  '*.access_token',
  '*.refresh_token',
  '*.accessToken',
  '*.refreshToken',
];

/** Drops the query string: a client could put a token there even though we never read one from it. */
function pathOnly(url: string | undefined): string | undefined {
  if (url === undefined) return url;
  const i = url.indexOf('?');
  return i < 0 ? url : url.slice(0, i);
}

type Pino = ((options: object, stream?: NodeJS.WritableStream) => FastifyBaseLogger) & {
  stdSerializers: { err: (err: Error) => unknown };
};

let pinoOfFastify: Pino | undefined;
function pino(): Pino {
  pinoOfFastify ??= createRequire(import.meta.resolve('fastify'))('pino') as Pino;
  return pinoOfFastify;
}

/** The server's logger: level (default `warn`), redaction, and serializers that write no headers, body or query. */
export function createServerLogger(log: LogOptions = {}): FastifyBaseLogger {
  const p = pino();
  return p(
    {
      level: log.level ?? 'warn',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: {
        err: p.stdSerializers.err,
        // No headers, no body, no query: only what identifies the request.
        req: (req: { id?: string; method?: string; url?: string }) => ({
          id: req.id,
          method: req.method,
          url: pathOnly(req.url),
        }),
        res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
      },
    },
    log.stream,
  );
}

/**
 * Fastify's logging options for `log`: with request logging on, Fastify gets the
 * logger (it writes the per-request lines); otherwise no logger, and each request
 * a lazy child of ours. `false`: no logging at all.
 */
export function fastifyLogging(
  log: LogOptions | false | undefined,
): Pick<FastifyServerOptions, 'logger' | 'loggerInstance' | 'childLoggerFactory' | 'logController'> {
  if (log === false) return { logger: false };
  const logger = createServerLogger(log);
  if (log?.requests === true) {
    return {
      loggerInstance: logger,
      childLoggerFactory: lazyChildLoggerFactory,
    };
  }
  return {
    logger: false,
    // Fastify passes its null logger as the parent here; the children are ours.
    childLoggerFactory: (_nullLogger, bindings, options) => new LazyChildLogger(logger, bindings, options),
    // Fastify writes its per-request lines through request.log whether or not it has a logger.
    logController: new LogController({ disableRequestLogging: true }),
  };
}
