/**
 * Refresh throughput per store: memory, SQLite (a file, WAL), Redis (when
 * reachable at REDIS_URL, default redis://127.0.0.1:6379) and PostgreSQL (when
 * reachable at TESSERA_BENCH_PG_URL, default the local tessera_test database),
 * for the three presets.
 *
 *     node --import tsx bench/refresh.ts [--quick] [--json] [--store memory,sqlite,redis,postgres]
 *
 * Also run at the end of `npm run bench` (bench/index.ts). Two numbers per row,
 * both wall time (this is I/O):
 *   - sequential: one client refreshing its own chain, each refresh awaited:
 *     the latency of one refresh (median and p99) and its inverse;
 *   - concurrent: 64 clients, each on its own family, refreshing in a loop:
 *     what one process sustains.
 * Every refresh is one store round trip (test/refresh/budget.test.ts).
 *
 * @module
 */
import { pathToFileURL } from 'node:url';
import { createTokenService } from '../src/refresh/service.js';
import type { Scheme } from '../src/refresh/types.js';
import type { TokenStore } from '../src/stores/types.js';
import { type AsyncLatency, markdownTable, measureAsync } from './harness.js';
import { type BenchStore, openBenchStore } from './stores.js';

export interface RefreshBenchOptions {
  quick?: boolean;
  stores?: readonly BenchStore[];
  redisUrl?: string;
  /** Progress and skip messages (default: stderr). */
  log?: (line: string) => void;
}

/** Latency of one refresh after another, and refreshes per second one at a time and with 64 clients. */
export interface RefreshBenchRow extends AsyncLatency {
  store: string;
  scheme: Scheme;
}

const SECRET = Buffer.alloc(32, 0x42);
const CONCURRENCY = 64;

async function measure(store: TokenStore, storeName: string, scheme: Scheme, ms: number): Promise<RefreshBenchRow> {
  const tokens = createTokenService({ secret: SECRET, store, scheme });
  // Warm-up: JIT, statement caches, script loading.
  let pair = await tokens.issue({ sub: `bench-${scheme}-warm` });
  for (let i = 0; i < 200; i++) pair = await tokens.refresh(pair.refreshToken);

  pair = await tokens.issue({ sub: `bench-${scheme}-seq` });
  const chains = await Promise.all(Array.from({ length: CONCURRENCY }, (_, i) => tokens.issue({ sub: `bench-${scheme}-c${i}` })));
  const figures = await measureAsync(
    ms,
    async () => {
      pair = await tokens.refresh(pair.refreshToken);
    },
    // One chain of refreshes per worker: each consumes its token and goes on with the successor.
    chains.map((p) => {
      let rt = p.refreshToken;
      return async () => {
        rt = (await tokens.refresh(rt)).refreshToken;
      };
    }),
  );
  return { store: storeName, scheme, ...figures };
}

export async function runRefreshBench(options: RefreshBenchOptions = {}): Promise<RefreshBenchRow[]> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const ms = options.quick ? 300 : 1500;
  const wanted = options.stores ?? ['memory', 'sqlite', 'redis', 'postgres'];
  const rows: RefreshBenchRow[] = [];
  for (const name of wanted) {
    const opened = await openBenchStore(name, options.redisUrl, log);
    if (!opened) continue;
    const { store, cleanup } = opened;
    try {
      for (const scheme of ['jwt', 'sealed', 'opaque'] as const) {
        log(`refresh bench: ${name} ${scheme}`);
        rows.push(await measure(store, name, scheme, ms));
      }
    } finally {
      await cleanup();
      await store.close();
    }
  }
  return rows;
}

export function formatRefreshTable(rows: readonly RefreshBenchRow[]): string {
  const header = ['store', 'scheme', 'p50', 'p99', 'sequential/s', `${CONCURRENCY} clients/s`];
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  const us = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(2)} ms` : `${x.toFixed(0)} µs`);
  const table = rows.map((r) => [r.store, r.scheme, us(r.p50Us), us(r.p99Us), n(r.sequentialPerSec), n(r.concurrentPerSec)]);
  return markdownTable(header, table);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const storeAt = args.indexOf('--store');
  const stores = storeAt >= 0 ? ((args[storeAt + 1] ?? '').split(',') as RefreshBenchOptions['stores']) : undefined;
  const rows = await runRefreshBench({ quick: args.includes('--quick'), stores });
  if (args.includes('--json')) console.log(JSON.stringify({ node: process.version, rows }, null, 2));
  else console.log(formatRefreshTable(rows));
}
