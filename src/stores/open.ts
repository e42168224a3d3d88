/**
 * `openStore(spec)`: a store from the `--store` / `TESSERA_STORE` syntax.
 *
 *     memory
 *     sqlite:PATH                                  (parent directory created)
 *     redis://[user:pass@]host:port[/db]           rediss:// for TLS
 *     redis+cluster://[user:pass@]host:port[,host:port...]
 *
 * Drivers are loaded on demand, so a memory store loads neither ioredis nor
 * the SQLite addon.
 *
 * @module
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { RedisOptions } from 'ioredis';
import { ConfigError } from '../errors.js';
import { redactUrl as redact } from '../internal/redact.js';
import { MemoryStore } from './memory.js';
import { type RedisClient, RedisStore, redisClientOptions } from './redis.js';
import { SqliteStore } from './sqlite.js';
import type { TokenStore, UserDirectory } from './types.js';

export interface OpenStoreOptions {
  /** Milliseconds since the epoch (memory and SQLite purging). Default `Date.now`. */
  clock?: () => number;
  /** Redis key prefix. Default `tessera:`. */
  keyPrefix?: string;
  /** Redis: how long to wait for the first connection (ms). Default 5000. */
  connectTimeoutMs?: number;
  /** Extra ioredis options (merged over {@link redisClientOptions}). */
  redis?: RedisOptions;
}

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

/** Every built-in store keeps the users of the password grant too ({@link UserDirectory}). */
export async function openStore(spec: string, options: OpenStoreOptions = {}): Promise<TokenStore & UserDirectory> {
  const clock = options.clock;
  if (spec === 'memory') return new MemoryStore({ clock });
  if (spec.startsWith('sqlite:')) {
    const path = spec.slice('sqlite:'.length);
    if (path === '') throw new ConfigError('sqlite: needs a path, e.g. sqlite:./data/tessera.db');
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    return new SqliteStore(path, { clock });
  }
  const connectTimeoutMs = options.connectTimeoutMs ?? 5000;
  if (spec.startsWith('redis://') || spec.startsWith('rediss://')) {
    const { Redis } = await import('ioredis');
    const client = new Redis(spec, redisClientOptions(options.redis));
    await whenReady(client, connectTimeoutMs, `Redis at ${redact(spec)}`);
    return new RedisStore(client, { keyPrefix: options.keyPrefix, ownsClient: true });
  }
  if (spec.startsWith('redis+cluster://')) {
    const { Cluster } = await import('ioredis');
    const { nodes, username, password } = parseClusterSpec(spec);
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
    await whenReady(client, connectTimeoutMs, `Redis Cluster at ${redact(spec)}`);
    return new RedisStore(client, { keyPrefix: options.keyPrefix, ownsClient: true });
  }
  throw new ConfigError(
    `unknown store "${redact(spec)}"; expected memory, sqlite:PATH, redis://..., rediss://... or redis+cluster://host:port[,host:port...]`,
  );
}
