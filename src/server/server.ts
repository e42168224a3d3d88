/**
 * The reference server process: turns a {@link ServerConfig} into a listening
 * Fastify app on a store, and shuts it down gracefully. The only module that
 * calls `listen` (app.ts builds the app without it).
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { ConfigError, isStoreUnavailable, isTokenError } from '../errors.js';
import { fanOut } from '../http/core/events.js';
import { hkdfSha256 } from '../internal/crypto.js';
import { redactUrl } from '../internal/redact.js';
import type { KeyRing } from '../keys.js';
import { createClientService } from '../oauth-clients/clients.js';
import { type ConfiguredTokenService, createTokenService } from '../refresh/service.js';
import { type BuiltInStore, openStore } from '../stores/open.js';
import { scryptWithCost } from '../users/password.js';
import { createUserService } from '../users/users.js';
import { buildApp } from './app.js';
import { createAuditTrail } from './audit.js';
import type { ServerConfig } from './config.js';
import { watchConnections } from './drain.js';
import { prepareSqliteFile, tightenSqliteFiles } from './files.js';
import { createServerMetrics, listenMetrics, type MetricsListener, storeKind, timedStore } from './metrics.js';
import { loadTracing } from './tracing.js';

/** How long the store may take to answer its first ping before start-up gives up. */
const STARTUP_PING_MS = 5000;
/** How long a graceful shutdown may take before the process gives up waiting for in-flight requests. */
export const SHUTDOWN_TIMEOUT_MS = 10_000;

export interface RunningServer {
  /** `http://host:port` the server listens on. */
  readonly url: string;
  readonly port: number;
  /** The token service, with the options it runs with (`tokens.config`). */
  readonly tokens: ConfiguredTokenService;
  /** `http://host:port/metrics` of the metrics listener, when `TESSERA_METRICS_PORT` is set. */
  readonly metricsUrl: string | undefined;
  /** Stops accepting connections, lets in-flight requests finish, then closes the store. Idempotent. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** Log destination (default stdout). */
  logStream?: NodeJS.WritableStream;
  /** Where start-up notes go (default stderr). */
  note?: (line: string) => void;
  /** Milliseconds since the epoch. Default {@link serverClock}. */
  clock?: () => number;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function reason(e: unknown): string {
  const cause = (isStoreUnavailable(e) || isTokenError(e)) && e.cause instanceof Error ? e.cause : e;
  const msg = cause instanceof Error ? cause.message : String(cause);
  return msg.split('\n')[0] ?? 'unknown error';
}

/**
 * Opens the configured store and checks that it answers; a {@link ConfigError} with a one-line reason otherwise.
 * The reference server keeps its users in the same store: the token service takes it as a `TokenStore`,
 * the user service as a `UserDirectory`.
 */
export async function openConfiguredStore(
  config: Pick<ServerConfig, 'store' | 'storeFrom' | 'redisPrefix'>,
  clock: () => number = Date.now,
): Promise<BuiltInStore> {
  const shown = redactUrl(config.store);
  const fix = config.storeFrom === 'default' ? 'set TESSERA_STORE or TESSERA_DATA_DIR' : `check ${config.storeFrom}`;
  let store: BuiltInStore;
  const sqlitePath = config.store.startsWith('sqlite:') ? config.store.slice('sqlite:'.length) : undefined;
  const onDisk = sqlitePath !== undefined && sqlitePath !== '' && sqlitePath !== ':memory:';
  try {
    // The default database lives in the data directory, which is tessera's own: tightened even if it exists.
    if (onDisk) prepareSqliteFile(sqlitePath, config.storeFrom === 'default');
    store = await openStore(config.store, { keyPrefix: config.redisPrefix, clock });
    if (onDisk) tightenSqliteFiles(sqlitePath);
  } catch (e) {
    // openStore's own ConfigErrors already name the store ("cannot reach Redis at ...").
    if (e instanceof ConfigError) throw new ConfigError(`${e.message}; ${fix}`);
    throw new ConfigError(`cannot open the store ${shown}: ${reason(e)}; ${fix}`);
  }
  try {
    await withTimeout(store.ping(), STARTUP_PING_MS, 'the store');
  } catch (e) {
    await store.close().catch(() => {});
    throw new ConfigError(`cannot reach the store ${shown}: ${reason(e)}; start it or ${fix}`);
  }
  return store;
}

/**
 * The CSRF HMAC key of cookie mode: derived from the signing key (HKDF, its own label),
 * so every instance with the same key ring checks the same CSRF values.
 */
function csrfKeyOf(keys: KeyRing): Buffer {
  return hkdfSha256(keys.primary.bytes, Buffer.alloc(0), 'tessera cookie-mode csrf', 32);
}

/**
 * The server's clock. Tests of expiry against a real process (test/e2e) set
 * `TESSERA_TEST_CLOCK_FILE`: the file holds an offset in milliseconds, re-read on
 * every call, so a test can move the server into the future without waiting.
 * Ignored when NODE_ENV=production.
 */
export function serverClock(env: NodeJS.ProcessEnv = process.env): () => number {
  const file = env.TESSERA_TEST_CLOCK_FILE;
  if (!file || env.NODE_ENV === 'production') return Date.now;
  return () => {
    let offset = 0;
    try {
      offset = Number(readFileSync(file, 'utf8').trim()) || 0;
    } catch {
      // No file yet: no offset.
    }
    return Date.now() + offset;
  };
}

/** HOST values that listen on every interface (and so name no host a client could use). */
export function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '::0' || host === '0:0:0:0:0:0:0:0' || host === '';
}

/**
 * The URL of the server as this machine reaches it: the development default issuer. A
 * wildcard host names no reachable host (`http://0.0.0.0:PORT`, `http://[::]:PORT`), so it
 * becomes the loopback address of its family; `undefined` for any other host (the listen URL
 * Fastify reports stands).
 */
export function listenUrl(host: string, port: number): string | undefined {
  if (!isWildcardHost(host)) return undefined;
  return host.includes(':') ? `http://[::1]:${port}` : `http://127.0.0.1:${port}`;
}

export async function startServer(config: ServerConfig, options: StartOptions = {}): Promise<RunningServer> {
  if (!config.keys) throw new ConfigError('no key configured; set TESSERA_SECRET');
  if (config.accessAlg !== undefined && config.accessAlg !== 'HS256' && !config.signingKeys) {
    throw new ConfigError(`TESSERA_ACCESS_ALG=${config.accessAlg} needs signing keys; set TESSERA_SIGNING_KEY_FILE`);
  }
  const note = options.note ?? ((line: string) => process.stderr.write(`${line}\n`));
  const clock = options.clock ?? serverClock();
  // The optional peers first: a missing prom-client is refused before anything is opened.
  const metrics = config.metricsPort === undefined ? undefined : await createServerMetrics();
  const tracing = await loadTracing();
  const audit = createAuditTrail(config.audit, { onError: note });
  let opened: BuiltInStore;
  try {
    opened = await openConfiguredStore(config, clock);
  } catch (e) {
    audit?.close();
    throw e;
  }
  const kind = storeKind(config.store);
  const timed = metrics ? timedStore(opened, kind, metrics) : opened;
  const store = tracing ? tracing.traceStore(timed, kind) : timed;
  // Client records cached while the store's push is up; a removal is pushed to every instance.
  const clients = createClientService(store, {
    defaultClientId: config.defaultClient,
    // The demo page (at the issuer's `/`) signs in through the code flow as the built-in client.
    ...(!config.demo
      ? {}
      : {
          defaultClient: () => ({
            redirectUris: issuer ? [`${issuer.replace(/\/+$/, '')}/`] : [],
            grantTypes: ['authorization_code', 'password', 'refresh_token'],
          }),
        }),
    clock,
    ...(store.revocations ? { feed: store.revocations() } : {}),
  });
  // The issuer defaults to the URL the server listens on, known only after listen (port 0 picks
  // one): the token service is made then, and the app reaches it through this forwarder, which
  // nothing calls before the first request.
  let real: ConfiguredTokenService | undefined;
  let issuer = config.issuer;
  const makeTokens = (iss: string) =>
    createTokenService({
      clock,
      issuer: iss,
      audience: config.audience ?? iss,
      secret: config.keys,
      access: {
        format: config.accessFormat,
        ttlSeconds: config.accessTtl,
        checkRevocation: config.checkRevocation,
        cacheSize: config.accessCache,
        ...(config.signingKeys ? { signingKeys: config.signingKeys } : {}),
      },
      refresh: {
        format: config.refreshFormat,
        ttlSeconds: config.refreshTtl,
        reuseGraceSeconds: config.reuseGrace,
        acceptLegacyKeys: config.legacyRefreshKeys,
      },
      sessionAddress: config.sessionAddress,
      store,
    });
  if (config.issuer !== undefined) real = makeTokens(config.issuer);
  // The service's methods, resolved at call time (plugins only check that they exist when registered).
  const service = () => real as ConfiguredTokenService;
  const late = {
    get config() {
      return service().config;
    },
    get issuer() {
      return issuer;
    },
    issue: (...a) => service().issue(...a),
    issueAccess: (...a) => service().issueAccess(...a),
    endFamily: (...a) => service().endFamily(...a),
    sessions: (...a) => service().sessions(...a),
    endSession: (...a) => service().endSession(...a),
    endOtherSessions: (...a) => service().endOtherSessions(...a),
    refresh: (...a) => service().refresh(...a),
    authenticate: (...a) => service().authenticate(...a),
    authenticateNow: (...a) => service().authenticateNow(...a),
    introspect: (...a) => service().introspect(...a),
    revoke: (...a) => service().revoke(...a),
    logout: (...a) => service().logout(...a),
    revokeUser: (...a) => service().revokeUser(...a),
    ping: () => service().ping(),
    get revocations() {
      return real?.revocations;
    },
    close: () => real?.close(),
  } satisfies ConfiguredTokenService;
  const events = fanOut([metrics?.events, audit, tracing?.events]);
  const users = createUserService(store, { scrypt: scryptWithCost(config.scryptN), clock });
  // The store's shared counters (Redis) hold limits across instances and cost no extra connection.
  const rlRedis = config.rateLimit ? store.sharedCounters?.() : undefined;

  const app = buildApp({
    tokens: real ?? late,
    users,
    clients,
    issuer: () => issuer ?? '',
    allowRegister: config.allowRegister,
    cookie: config.cookieMode ? { secure: config.cookieSecure, csrfKey: csrfKeyOf(config.keys) } : false,
    authorize: {
      records: store,
      key: hkdfSha256(config.keys.primary.bytes, Buffer.alloc(0), 'tessera authorize', 32),
      secure: config.cookieSecure,
      sessionSeconds: config.sessionSeconds,
      clock,
    },
    passwordGrant: config.passwordGrant,
    // RFC 9449: proofs' jti once across every instance, in the store's one-time records; nonces
    // (§8) from a key derived from the signing key, so every instance sharing it agrees.
    dpop: {
      records: store,
      clock,
      ...(config.dpopNonce
        ? { nonce: { key: hkdfSha256(config.keys.primary.bytes, Buffer.alloc(0), 'tessera dpop nonce', 32) } }
        : {}),
    },
    // OpenID Connect needs a key relying parties can verify with: only with an asymmetric signing key set.
    oidc: config.signingKeys ? { signingKeys: config.signingKeys } : false,
    rateLimit: config.rateLimit ? { ...config.rateLimit, redis: rlRedis, nameSpace: `${config.redisPrefix}gl:`, clock } : false,
    scope: config.scope,
    docs: config.docs,
    demo: config.demo,
    trustProxy: config.trustProxy,
    ...(config.signingKeys ? { jwks: config.signingKeys.publicJwks() } : {}),
    timeouts: config.timeouts,
    log: { level: config.logLevel, requests: config.logRequests, ...(options.logStream ? { stream: options.logStream } : {}) },
    ...(events ? { events } : {}),
    // Route patterns, not URLs: a bounded label set (an unknown path is "unmatched").
    ...(metrics ? { recordRoute: metrics.route } : {}),
  });
  // The store itself, not the timed one: the sampling is no store call of a request.
  const countActive = opened.countActiveFamilies?.bind(opened);
  metrics?.watch({
    revocations: () => {
      const r = real?.revocations;
      return (
        r && { live: r.live, size: r.size, dropped: r.dropped, received: r.received, downSeconds: r.downFor(clock()) / 1000 }
      );
    },
    ...(countActive ? { activeFamilies: () => countActive(clock()) } : {}),
  });
  tracing?.install(app);
  // logrotate and its kind move the file, then signal: the trail continues in a new file.
  const onHup = () => audit?.reopen();
  if (config.audit.kind === 'file') process.on('SIGHUP', onHup);
  let metricsListener: MetricsListener | undefined;

  let closing: Promise<void> | undefined;
  // In-flight requests finish, then their keep-alive connections close (drain.ts).
  const connections = watchConnections(app.server);
  const close = (): Promise<void> => {
    closing ??= (async () => {
      connections.closeAfterResponses();
      // Fastify's close stops accepting, answers 503 to requests that arrive
      // meanwhile (return503OnClosing) and waits for in-flight ones.
      await app.close();
      await metricsListener?.close();
      // Not made yet when listen failed (the issuer is the listen URL): nothing to stop then.
      real?.close();
      clients.close();
      await store.close().catch(() => {});
      process.off('SIGHUP', onHup);
      audit?.close();
    })();
    return closing;
  };

  let url: string;
  try {
    url = await app.listen({ port: config.port, host: config.host });
  } catch (e) {
    await close();
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(
      code === 'EADDRINUSE'
        ? `port ${config.port} on ${config.host} is in use; set PORT (or --port 0 for any free port)`
        : `cannot listen on ${config.host}:${config.port}: ${reason(e)}; check HOST and PORT`,
    );
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  url = listenUrl(config.host, port) ?? url;
  issuer ??= url;
  real ??= makeTokens(issuer);
  const tokens = real;
  if (metrics && config.metricsPort !== undefined) {
    try {
      metricsListener = await listenMetrics(metrics, config.host, config.metricsPort);
    } catch (e) {
      await close();
      const code = (e as NodeJS.ErrnoException).code;
      throw new ConfigError(
        code === 'EADDRINUSE'
          ? `metrics port ${config.metricsPort} on ${config.host} is in use; set TESSERA_METRICS_PORT to a free port`
          : `cannot listen on ${config.host}:${config.metricsPort} for the metrics: ${reason(e)}; check TESSERA_METRICS_PORT`,
      );
    }
    note(`tessera: metrics at ${metricsListener.url}`);
  }
  if (config.issuer === undefined) {
    note(
      `tessera: issuer ${issuer} (development default: the listen URL${isWildcardHost(config.host) ? `; HOST=${config.host} listens on every interface, but tokens name this loopback URL` : ''}); set TESSERA_ISSUER to the URL clients use`,
    );
  }
  note(
    `tessera: store ${redactUrl(config.store)}, access ${config.accessFormat}${config.signingKeys ? ` ${config.signingKeys.alg} (kid ${config.signingKeys.signer.kid}, ${config.signingKeys.keys.length} key${config.signingKeys.keys.length === 1 ? '' : 's'} in the JWKS)` : ''} (${config.accessTtl} s), refresh ${config.refreshFormat} (${config.refreshTtl} s)` +
      `${config.cookieMode ? ', cookie mode' : ''}${config.allowRegister ? ', registration open' : ''}`,
  );
  return { url, port, tokens, metricsUrl: metricsListener?.url, close };
}
