/**
 * `openStore(spec)`: a store from the `--store` / `TESSERA_STORE` syntax.
 *
 *     memory
 *     sqlite:PATH                                  (a missing directory created 0700, the file 0600)
 *     redis://[user:pass@]host:port[/db]           rediss:// for TLS
 *     redis+cluster://[user:pass@]host:port[,host:port...]
 *     postgres://[user:pass@]host[:port]/db[?schema=S&pool=N]   postgresql:// too
 *
 * Store drivers are optional peer dependencies, imported on demand (one row of
 * the scheme registry, src/stores/schemes.ts, per store): a memory store loads
 * neither ioredis nor the SQLite addon, and a project that installed no driver
 * can still import `tessera-auth`. A missing driver is a one-line
 * {@link ConfigError} naming the package to install. A new store is a new row:
 * {@link registerStoreScheme}.
 *
 * @module
 */

import { resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { installLine, isMissingPackage, type Peer } from '../internal/peers.js';
import { redactUrl as redact } from '../internal/redact.js';
import { MemoryStore } from './memory.js';
import type { RedisClient } from './redis.js';
import { type BuiltInStore, findStoreScheme, type OpenStoreOptions, registerStoreScheme, storeSyntaxList } from './schemes.js';

export type { BuiltInStore, OpenStoreOptions, StoreScheme } from './schemes.js';
export {
  findStoreScheme,
  normalizeStoreSpec,
  registerStoreScheme,
  storeHelp,
  storeSchemes,
  storeSyntaxList,
  storeUsage,
} from './schemes.js';

/** Parses the host list of a `redis+cluster://` spec. */
export function parseClusterSpec(spec: string): {
  nodes: { host: string; port: number }[];
  username?: string;
  password?: string;
} {
  let rest = spec.slice('redis+cluster://'.length);
  let username: string | undefined;
  let password: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const auth = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = auth.indexOf(':');
    username = decodeURIComponent(colon >= 0 ? auth.slice(0, colon) : '') || undefined;
    password = decodeURIComponent(colon >= 0 ? auth.slice(colon + 1) : auth) || undefined;
  }
  rest = rest.replace(/[/?].*$/, '');
  const nodes = rest
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((hp) => {
      const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(hp);
      if (!m) throw new ConfigError(`redis+cluster: "${hp}" is not host:port`);
      return { host: (m[1] as string).replace(/^\[|\]$/g, ''), port: Number(m[2]) };
    });
  if (nodes.length === 0) throw new ConfigError('redis+cluster:// needs at least one host:port');
  return { nodes, username, password };
}

/** Waits for the client's first `ready`; ConfigError when Redis cannot be reached at start. */
async function whenReady(client: RedisClient, timeoutMs: number, what: string): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    let lastError: unknown;
    const onError = (e: unknown) => {
      lastError = e;
    };
    const timer = setTimeout(() => {
      cleanup();
      client.disconnect();
      const cause = lastError instanceof Error ? `: ${lastError.message}` : '';
      reject(new ConfigError(`cannot reach ${what} within ${timeoutMs} ms${cause}`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('error', onError);
    };
    client.on('ready', onReady);
    client.on('error', onError);
  });
}

/**
 * Imports an optional driver; a missing one becomes a one-line ConfigError that
 * says what to install. Any other failure (a driver that is there but broken,
 * e.g. a native addon built for another Node) is passed on as it is.
 */
async function driver<T>(store: string, pkg: Peer, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (e) {
    if (isMissingPackage(e, pkg)) throw new ConfigError(`the ${store} store needs ${pkg}: ${installLine([pkg])}`);
    throw e;
  }
}

async function openSqlite(spec: string, options: OpenStoreOptions): Promise<BuiltInStore> {
  const path = spec.slice('sqlite:'.length);
  if (path === '') throw new ConfigError('sqlite: needs a path, e.g. sqlite:./data/tessera.db');
  // better-sqlite3 is CommonJS; SqliteStore requires it when it opens the file.
  await driver('sqlite', 'better-sqlite3', () => import('better-sqlite3'));
  const { SqliteStore } = await import('./sqlite.js');
  // The store creates a missing directory 0700 and the file 0600.
  return new SqliteStore(path, { clock: options.clock });
}

async function openRedis(spec: string, options: OpenStoreOptions): Promise<BuiltInStore> {
  const { Redis } = await driver('redis', 'ioredis', () => import('ioredis'));
  const { RedisStore, redisClientOptions } = await import('./redis.js');
  const client = new Redis(spec, redisClientOptions(options.redis));
  await whenReady(client, options.connectTimeoutMs ?? 5000, `Redis at ${redact(spec)}`);
  return new RedisStore(client, { keyPrefix: options.keyPrefix, ownsClient: true });
}

async function openPostgres(spec: string, options: OpenStoreOptions): Promise<BuiltInStore> {
  await driver('postgres', 'pg', () => import('pg'));
  const { openPostgresStore } = await import('./postgres.js');
  return openPostgresStore(spec, { clock: options.clock, connectTimeoutMs: options.connectTimeoutMs });
}

async function openRedisCluster(spec: string, options: OpenStoreOptions): Promise<BuiltInStore> {
  const { nodes, username, password } = parseClusterSpec(spec);
  const { Cluster } = await driver('redis', 'ioredis', () => import('ioredis'));
  const { RedisStore, redisClientOptions } = await import('./redis.js');
  const nodeOptions = redisClientOptions({ username, password, ...options.redis });
  const client = new Cluster(nodes, {
    redisOptions: nodeOptions,
    enableOfflineQueue: false,
    // Slot moves (MOVED/ASK) are followed a few times, then the command fails.
    maxRedirections: 4,
    retryDelayOnFailover: 100,
    slotsRefreshTimeout: 2000,
    clusterRetryStrategy: (times: number) => Math.min(100 * 2 ** times, 2000),
  });
  await whenReady(client, options.connectTimeoutMs ?? 5000, `Redis Cluster at ${redact(spec)}`);
  return new RedisStore(client, { keyPrefix: options.keyPrefix, ownsClient: true });
}

// The built-in stores, one row each (src/stores/schemes.ts). Drivers load on demand.
registerStoreScheme({
  schemes: ['memory'],
  syntax: 'memory',
  open: async (_, o) => new MemoryStore({ clock: o.clock }),
});
registerStoreScheme({
  schemes: ['sqlite:'],
  syntax: 'sqlite:PATH',
  // A relative path is resolved once, so every message names the file itself.
  normalize: (spec) => (spec === 'sqlite::memory:' ? spec : `sqlite:${resolve(spec.slice('sqlite:'.length))}`),
  open: openSqlite,
});
registerStoreScheme({
  schemes: ['redis://', 'rediss://'],
  syntax: 'redis://[:PASS@]HOST:PORT[/DB]',
  usage: 'redis://...',
  open: openRedis,
});
registerStoreScheme({
  schemes: ['redis+cluster://'],
  syntax: 'redis+cluster://HOST:PORT[,HOST:PORT...]',
  usage: 'redis+cluster://...',
  open: openRedisCluster,
});
registerStoreScheme({
  schemes: ['postgres://', 'postgresql://'],
  syntax: 'postgres://[USER:PASS@]HOST[:PORT]/DB[?schema=S&pool=N]',
  usage: 'postgres://...',
  open: openPostgres,
});

/** Opens the store a spec names, through the scheme registry; see {@link BuiltInStore} for what it can be given to. */
export async function openStore(spec: string, options: OpenStoreOptions = {}): Promise<BuiltInStore> {
  const scheme = findStoreScheme(spec);
  if (scheme) return scheme.open(spec, options);
  throw new ConfigError(`unknown store "${redact(spec)}"; expected ${storeSyntaxList()}`);
}
