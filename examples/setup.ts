/**
 * What examples/express.ts and examples/hono.ts share: the configuration of
 * `tessera serve` (src/server/config.ts: the same environment variables, the
 * same development-mode secret in the data directory), the same store (so a
 * SQLite file with users from `tessera user add` works), the token, user and
 * client services, and a plain Node HTTP server the framework is attached to
 * once the listening URL (the default issuer) is known.
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import { type AddressInfo, BlockList, isIP } from 'node:net';
import { ConfigError } from '../src/errors.js';
import type { AuthAppOptions } from '../src/http/core/app.js';
import { hkdfSha256 } from '../src/internal/crypto.js';
import { createClientService } from '../src/oauth-clients/clients.js';
import { createTokenService } from '../src/refresh/service.js';
import { parseConfig, resolveSecret, resolveSigningKeys, type ServerConfig, type TrustProxy } from '../src/server/config.js';
import { reapIdleConnections } from '../src/server/idle-connections.js';
import { listenUrl, openConfiguredStore, serverClock } from '../src/server/server.js';
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

/**
 * {@link configure}, with `tessera serve`'s answer to bad configuration: one line on stderr that
 * names the setting (a production start without TESSERA_SECRET or TESSERA_ISSUER, a busy port,
 * ...) and exit status 2, never a stack trace.
 */
export async function setup(name: string): Promise<Example> {
  try {
    return await configure(name);
  } catch (e) {
    if (!(e instanceof ConfigError) && (e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
    const message = e instanceof ConfigError ? e.message : 'the port is in use; set PORT (or PORT=0 for any free port)';
    process.stderr.write(`tessera (${name}): ${message}\n`);
    process.exit(2);
  }
}

async function configure(name: string): Promise<Example> {
  const config = parseConfig(process.env, {});
  for (const line of resolveSecret(config)) process.stderr.write(`${line}\n`);
  for (const line of resolveSigningKeys(config)) process.stderr.write(`${line}\n`);
  if (!config.keys) throw new ConfigError('no key configured; set TESSERA_SECRET');
  const clock = serverClock();
  const store = await openConfiguredStore(config, clock);

  const { requestTimeout, headersTimeout, keepAliveTimeout, connectionTimeout } = config.timeouts;
  const server: Server = createServer({
    requestTimeout,
    headersTimeout,
    // Node checks the request and headers timeouts only on this period (default 30 s): a timeout
    // would otherwise bite up to 30 s late. Half the shorter one, at most 1 s, as `tessera serve`.
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(Math.min(headersTimeout, requestTimeout) / 2))),
  });
  server.keepAliveTimeout = keepAliveTimeout;
  // A connection on which nothing moves is closed after TESSERA_CONNECTION_TIMEOUT (the sweep of `tessera serve`).
  const reaper = connectionTimeout > 0 ? reapIdleConnections(server, connectionTimeout) : undefined;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'EADDRINUSE'
          ? new ConfigError(`port ${config.port} on ${config.host} is in use; set PORT (or PORT=0 for any free port)`)
          : e,
      ),
    );
    server.listen(config.port, config.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  // As `tessera serve`: a wildcard HOST names no host, so the development issuer is the loopback URL.
  const url = listenUrl(config.host, port) ?? `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  const issuer = config.issuer ?? url;
  if (config.issuer === undefined) {
    process.stderr.write(
      `tessera (${name}): issuer ${issuer} (development default: the listen URL); set TESSERA_ISSUER to the URL clients use\n`,
    );
  }
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
    refresh: {
      format: config.refreshFormat,
      ttlSeconds: config.refreshTtl,
      reuseGraceSeconds: config.reuseGrace,
      acceptLegacyKeys: config.legacyRefreshKeys,
    },
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
      ? { ...config.rateLimit, redis: store.sharedCounters?.(), nameSpace: `${config.redisPrefix}gl:`, clock }
      : false,
    ...(config.scope ? { scope: config.scope } : {}),
    ...(config.signingKeys ? { jwks: config.signingKeys.publicJwks(), accessAlg: config.signingKeys.alg } : {}),
  };

  const close = () => {
    reaper?.stop();
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

/** proxy-addr's named ranges, which TESSERA_TRUST_PROXY accepts too. */
const PRESETS: Record<string, string[]> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) is `10.0.0.1`. */
function plain(address: string): string {
  const m = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  return m ? (m[1] as string) : address;
}

/**
 * The client address under TESSERA_TRUST_PROXY, as `tessera serve` (Fastify's trustProxy) and
 * Express's `trust proxy` compute it, for frameworks that take a function (Hono's `clientAddress`):
 * walk from the socket's peer leftwards through `X-Forwarded-For` while the hop is a trusted
 * proxy (one of the first N hops, or an address in the list); the first untrusted hop is the
 * client. Entries further left were written by the client and are never believed.
 */
export function clientAddressResolver(trust: TrustProxy): (peer: string, forwardedFor: string | undefined) => string {
  if (trust === false || trust === 0) return (peer) => plain(peer);
  let trusted: (address: string, hop: number) => boolean;
  if (typeof trust === 'number') {
    trusted = (_address, hop) => hop < trust;
  } else {
    const list = new BlockList();
    for (const entry of trust.flatMap((e) => PRESETS[e] ?? [e])) {
      const [address, bits] = entry.split('/') as [string, string | undefined];
      const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) list.addAddress(address, family);
      else list.addSubnet(address, Number(bits), family);
    }
    trusted = (address) => {
      const family = isIP(address);
      return family !== 0 && list.check(address, family === 6 ? 'ipv6' : 'ipv4');
    };
  }
  return (peer, forwardedFor) => {
    const hops = [peer, ...(forwardedFor ?? '').split(',').reverse()].map((h) => plain(h.trim())).filter(Boolean);
    let i = 0;
    while (i < hops.length - 1 && trusted(hops[i] as string, i)) i++;
    return hops[i] ?? '';
  };
}
