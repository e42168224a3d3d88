/**
 * What examples/express.ts and examples/hono.ts share: the configuration of
 * `tessera serve` (src/server/config.ts: the same environment variables, the
 * same development-mode secret in the data directory), the same store (so a
 * SQLite file with users from `tessera user add` works), the token, user and
 * client services, and a plain Node HTTP server the framework is attached to
 * once the listening URL (the default issuer) is known.
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClientService } from '../src/clients/clients.js';
import { isClientDirectory } from '../src/clients/types.js';
import { ConfigError } from '../src/errors.js';
import type { AuthAppOptions } from '../src/http/core/app.js';
import { hkdfSha256 } from '../src/internal/crypto.js';
import { createTokenService } from '../src/refresh/service.js';
import { parseConfig, resolveSecret, resolveSigningKeys, type ServerConfig } from '../src/server/config.js';
import { openConfiguredStore, serverClock } from '../src/server/server.js';
import type { TokenStore } from '../src/stores/types.js';
import { scryptWithCost } from '../src/users/password.js';
import { createUserService } from '../src/users/users.js';

export interface Example {
  config: ServerConfig;
  /** The options of `tesseraExpress` / `tesseraHono`. */
  options: AuthAppOptions;
  url: string;
  /** Attach the framework's request listener and print the ready line. */
  serve(listener: RequestListener): void;
}

/** The Redis client of a Redis store, for the guessing limiter's shared counters (as `tessera serve` does). */
function redisClientOf(store: TokenStore): unknown {
  return store.kind === 'redis' && 'client' in store ? (store as { client: unknown }).client : undefined;
}

export async function setup(name: string): Promise<Example> {
  const config = parseConfig(process.env, {});
  for (const line of resolveSecret(config)) process.stderr.write(`${line}\n`);
  for (const line of resolveSigningKeys(config)) process.stderr.write(`${line}\n`);
  if (!config.keys) throw new ConfigError('no key configured; set TESSERA_SECRET');
  const clock = serverClock();
  const store = await openConfiguredStore(config, clock);
  if (!isClientDirectory(store)) throw new ConfigError('this store keeps no OAuth clients');

  const server: Server = createServer({
    requestTimeout: config.timeouts.requestTimeout,
    headersTimeout: config.timeouts.headersTimeout,
  });
  server.keepAliveTimeout = config.timeouts.keepAliveTimeout;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  const issuer = config.issuer ?? url;
  const tokens = createTokenService({
    clock,
    issuer,
    audience: config.audience ?? issuer,
    secret: config.keys,
    access: {
      format: config.accessFormat,
      ttlSeconds: config.accessTtl,
      checkRevocation: config.checkRevocation,
      cacheSize: config.accessCache,
      ...(config.signingKeys ? { signingKeys: config.signingKeys } : {}),
    },
    refresh: { format: config.refreshFormat, ttlSeconds: config.refreshTtl, reuseGraceSeconds: config.reuseGrace },
    store,
  });
  const options: AuthAppOptions = {
    tokens,
    users: createUserService(store, { scrypt: scryptWithCost(config.scryptN), clock }),
    clients: createClientService(store, { defaultClientId: config.defaultClient, clock }),
    issuer,
    allowRegister: config.allowRegister,
    // The CSRF key derived from the signing key as `tessera serve` derives it: instances agree.
    cookie: config.cookieMode
      ? {
          secure: config.cookieSecure,
          csrfKey: hkdfSha256(config.keys.primary.bytes, Buffer.alloc(0), 'tessera cookie-mode csrf', 32),
        }
      : false,
    rateLimit: config.rateLimit
      ? { ...config.rateLimit, redis: redisClientOf(store), nameSpace: `${config.redisPrefix}gl:`, clock }
      : false,
    ...(config.scope ? { scope: config.scope } : {}),
    ...(config.signingKeys ? { jwks: config.signingKeys.publicJwks(), accessAlg: config.signingKeys.alg } : {}),
  };

  const close = () => {
    server.close(() => void store.close().finally(() => process.exit(0)));
    server.closeIdleConnections();
  };
  process.once('SIGTERM', close);
  process.once('SIGINT', close);

  return {
    config,
    options,
    url,
    serve(listener) {
      server.on('request', listener);
      process.stdout.write(`tessera (${name}) listening on ${url}\n`);
    },
  };
}
