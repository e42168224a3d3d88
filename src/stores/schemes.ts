/**
 * The store scheme registry: one row per store, naming the URL schemes it
 * opens, how a spec is written, and its opener. {@link openStore}, the server's
 * configuration (`--store`, `TESSERA_STORE`) and the CLI's help texts all read
 * it, so a store registered here (the built-in ones, by open.ts, or an application's
 * own through {@link registerStoreScheme}) is opened by URL with no edit anywhere else.
 *
 * @module
 */

import { ConfigError } from '../errors.js';
import type { ClientDirectory } from '../oauth-clients/types.js';
import type { OneTimeRecords, TokenStore, UserDirectory } from './types.js';

/**
 * What a scheme's opener returns, and so what {@link openStore} does: a store that keeps
 * tokens, the users of the password grant, the registered OAuth clients and one-time
 * records, so the result goes to `createTokenService`, `createUserService` and
 * `createClientService` alike, and to the reference server.
 */
export type BuiltInStore = TokenStore & OneTimeRecords & UserDirectory & ClientDirectory;

export interface OpenStoreOptions {
  /** Milliseconds since the epoch (memory and SQLite purging). Default `Date.now`. */
  clock?: () => number;
  /** Redis key prefix. Default `tessera:`. */
  keyPrefix?: string;
  /** Redis: how long to wait for the first connection (ms). Default 5000. PostgreSQL: per connection, default 2000. */
  connectTimeoutMs?: number;
  /**
   * Extra ioredis `RedisOptions`, merged over `redisClientOptions()` of
   * `tessera-auth/stores/redis`. Typed as `object` so that the root entry's typings
   * need no ioredis.
   */
  redis?: object;
}

/** One store's row of the registry. */
export interface StoreScheme {
  /**
   * The schemes it opens, the first its main one: a prefix ending in `:` or `://` (`sqlite:`,
   * `redis://`) matches a spec that starts with it and has more after it; a bare word
   * (`memory`) matches itself alone.
   */
  schemes: readonly string[];
  /** How a spec is written, for help texts and errors, e.g. `sqlite:PATH`. */
  syntax: string;
  /** The short form of usage lines, e.g. `redis://...`. Default: `syntax`. */
  usage?: string;
  /** Rewrites a spec once, before it is shown or opened (a relative path made absolute). */
  normalize?(spec: string): string;
  /** Opens the store (loading its driver on demand); configuration errors are {@link ConfigError}s. */
  open(spec: string, options: OpenStoreOptions): Promise<BuiltInStore>;
}

const registry: StoreScheme[] = [];

function matches(scheme: string, spec: string): boolean {
  return scheme.endsWith(':') || scheme.endsWith('://')
    ? spec.startsWith(scheme) && spec.length > scheme.length
    : spec === scheme;
}

/**
 * Adds a store to the registry: from then on {@link openStore}, `--store` and
 * `TESSERA_STORE` accept its schemes. A scheme already registered is a
 * {@link ConfigError}. Returns the function that removes the row again.
 */
export function registerStoreScheme(row: StoreScheme): () => void {
  if (row.schemes.length === 0) throw new ConfigError('a store scheme needs at least one scheme');
  for (const s of row.schemes) {
    if (!/^[a-z][a-z0-9+.-]*(:|:\/\/)?$/.test(s)) throw new ConfigError(`"${s}" is not a store scheme (e.g. toy: or toy://)`);
    if (registry.some((r) => r.schemes.includes(s))) throw new ConfigError(`the store scheme ${s} is already registered`);
  }
  const entry = { ...row, schemes: [...row.schemes] };
  registry.push(entry);
  return () => {
    const i = registry.indexOf(entry);
    if (i >= 0) registry.splice(i, 1);
  };
}

/** Every registered store, built-in ones first, in registration order. */
export function storeSchemes(): readonly StoreScheme[] {
  return [...registry];
}

/** The row whose scheme a spec uses; undefined for none. */
export function findStoreScheme(spec: string): StoreScheme | undefined {
  return registry.find((r) => r.schemes.some((s) => matches(s, spec)));
}

/** A spec as the registry rewrites it (unchanged when no row, or no `normalize`, applies). */
export function normalizeStoreSpec(spec: string): string {
  const row = findStoreScheme(spec);
  return row?.normalize ? row.normalize(spec) : spec;
}

/** `memory, sqlite:PATH, ... or postgres://...`: every store's syntax, for error messages. */
export function storeSyntaxList(): string {
  const all = registry.map((r) => r.syntax);
  return all.length <= 1 ? all.join('') : `${all.slice(0, -1).join(', ')} or ${all[all.length - 1]}`;
}

/** `memory|sqlite:PATH|redis://...`: every store's short form, for usage lines. */
export function storeUsage(): string {
  return registry.map((r) => r.usage ?? r.syntax).join('|');
}

/** Every store's syntax and aliases (`a | b (c:// too)`), for the `--store` help. */
export function storeHelp(): string {
  return registry
    .map((r) => {
      const aliases = r.schemes.filter((s) => !r.syntax.includes(s));
      return aliases.length === 0 ? r.syntax : `${r.syntax} (${aliases.join(', ')} too)`;
    })
    .join(' | ');
}
