/**
 * `tokens.authenticate` per store: memory, SQLite (a file, WAL) and Redis (when
 * reachable at REDIS_URL, default redis://127.0.0.1:6379).
 *
 *     node --import tsx bench/authenticate.ts [--quick] [--json] [--store memory,sqlite,redis]
 *
 * Also run by `npm run bench` (bench/index.ts, section "authenticate"). Three
 * access-token modes:
 *   - jwt: verified without I/O (the default): the store does not matter; the 64
 *     tokens come from the access-token cache after their first use, as a
 *     client's token does; and the same with the cache off (every call verifies);
 *   - jwt + checkRevocation: one store read per request (deny-list and family);
 *   - opaque: one store read per request (the original design's `at:<token>` lookup).
 * Two numbers per row, wall time (like bench/refresh.ts): the latency of one
 * authenticate awaited after another (median, p99), and what 64 concurrent
 * callers sustain.
 *
 * @module
 */
import { pathToFileURL } from 'node:url';
import { createTokenService } from '../src/refresh/service.js';
import type { TokenServiceOptions } from '../src/refresh/types.js';
import type { TokenStore } from '../src/stores/types.js';
import { type AsyncLatency, markdownTable, measureAsync } from './harness.js';
import { type BenchStore, openBenchStore } from './stores.js';

export interface AuthenticateBenchOptions {
  quick?: boolean;
  stores?: readonly BenchStore[];
  redisUrl?: string;
  log?: (line: string) => void;
}

export interface AuthenticateBenchRow extends AsyncLatency {
  store: string;
  mode: string;
  /** Store round trips per authenticate. */
  roundTrips: number;
}

const SECRET = Buffer.alloc(32, 0x42);
const CONCURRENCY = 64;

const MODES: { mode: string; roundTrips: number; options: Omit<TokenServiceOptions, 'store' | 'secret'> }[] = [
  { mode: 'jwt', roundTrips: 0, options: { scheme: 'jwt' } },
  { mode: 'jwt, access cache off', roundTrips: 0, options: { scheme: 'jwt', access: { cacheSize: 0 } } },
  { mode: 'jwt + checkRevocation', roundTrips: 1, options: { scheme: 'jwt', access: { checkRevocation: true } } },
  { mode: 'opaque', roundTrips: 1, options: { scheme: 'opaque' } },
];

async function measure(
  store: TokenStore,
  storeName: string,
  m: (typeof MODES)[number],
  ms: number,
): Promise<AuthenticateBenchRow> {
  const tokens = createTokenService({ secret: SECRET, store, ...m.options });
  // Several users and families, so the store answers from a table with more than one row.
  const pairs = await Promise.all(
    Array.from({ length: CONCURRENCY }, (_, i) => tokens.issue({ sub: `bench-auth-${i}`, scope: 'api' })),
  );
  const access = pairs.map((p) => p.accessToken);
  for (let i = 0; i < 500; i++) await tokens.authenticate(access[i % access.length] as string);

  const figures = await measureAsync(
    ms,
    (i) => tokens.authenticate(access[i % access.length] as string),
    access.map((token) => () => tokens.authenticate(token)),
  );
  return { store: storeName, mode: m.mode, roundTrips: m.roundTrips, ...figures };
}

export async function runAuthenticateBench(options: AuthenticateBenchOptions = {}): Promise<AuthenticateBenchRow[]> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const ms = options.quick ? 200 : 1000;
  const rows: AuthenticateBenchRow[] = [];
  for (const name of options.stores ?? (['memory', 'sqlite', 'redis'] as const)) {
    const opened = await openBenchStore(name, options.redisUrl, log);
    if (!opened) continue;
    try {
      for (const m of MODES) {
        // A jwt access token never reaches the store: measured once, on memory.
        if (m.roundTrips === 0 && name !== 'memory') continue;
        log(`authenticate bench: ${name} ${m.mode}`);
        rows.push(await measure(opened.store, m.roundTrips === 0 ? 'any (no I/O)' : name, m, ms));
      }
    } finally {
      await opened.cleanup();
      await opened.store.close();
    }
  }
  return rows;
}

export function formatAuthenticateTable(rows: readonly AuthenticateBenchRow[]): string {
  const header = ['store', 'access token', 'round trips', 'p50', 'p99', 'sequential/s', `${CONCURRENCY} callers/s`];
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  const us = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(2)} ms` : `${x.toFixed(1)} µs`);
  const table = rows.map((r) => [
    r.store,
    r.mode,
    String(r.roundTrips),
    us(r.p50Us),
    us(r.p99Us),
    n(r.sequentialPerSec),
    n(r.concurrentPerSec),
  ]);
  return markdownTable(header, table);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const storeAt = args.indexOf('--store');
  const stores = storeAt >= 0 ? ((args[storeAt + 1] ?? '').split(',') as BenchStore[]) : undefined;
  const rows = await runAuthenticateBench({ quick: args.includes('--quick'), stores });
  if (args.includes('--json')) console.log(JSON.stringify({ node: process.version, rows }, null, 2));
  else console.log(formatAuthenticateTable(rows));
}
