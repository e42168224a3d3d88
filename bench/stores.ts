/**
 * The stores the library benchmarks (bench/refresh.ts, bench/authenticate.ts)
 * run on: memory, a SQLite file in a temp dir, Redis at REDIS_URL under a
 * key prefix of this process, and PostgreSQL (BENCH_PG_URL) in a schema of this
 * process; both removed afterwards.
 *
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../src/stores/open.js';
import type { PostgresStore } from '../src/stores/postgres.js';
import type { RedisStore } from '../src/stores/redis.js';
import type { TokenStore } from '../src/stores/types.js';

export type BenchStore = 'memory' | 'sqlite' | 'redis' | 'postgres';

/** PostgreSQL of the benchmarks (TESSERA_BENCH_PG_URL, default the local test database). */
export const BENCH_PG_URL = process.env.TESSERA_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/tessera_test';

/**
 * Creates the benchmarks' database when the server is there but the database is not (a fresh
 * machine: CI's `.ci/run` creates it, `npm run bench` on its own did not, and the PostgreSQL rows
 * failed with `database "tessera_test" does not exist`). Anything else is left to the caller.
 */
export async function ensureBenchDatabase(url: string, log: (line: string) => void): Promise<void> {
  const { default: pg } = await import('pg');
  const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await probe.connect();
    return;
  } catch (e) {
    if ((e as { code?: string }).code !== '3D000') return;
  } finally {
    await probe.end().catch(() => {});
  }
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  target.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: target.toString(), connectionTimeoutMillis: 2000 });
  try {
    await admin.connect();
    await admin.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
    log(`bench: created the PostgreSQL database ${name}`);
  } catch (e) {
    // 42P04: another process created it meanwhile.
    if ((e as { code?: string }).code !== '42P04') log(`bench: could not create ${name}: ${(e as Error).message}`);
  } finally {
    await admin.end().catch(() => {});
  }
}

/** Opens a store for a benchmark and says how to clean up after it; `undefined` when Redis is unreachable. */
export async function openBenchStore(
  name: BenchStore,
  redisUrl: string | undefined,
  log: (line: string) => void,
): Promise<{ store: TokenStore; cleanup: () => Promise<void> } | undefined> {
  if (name === 'memory') return { store: await openStore('memory'), cleanup: async () => {} };
  if (name === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-'));
    return {
      store: await openStore(`sqlite:${join(dir, 'bench.db')}`),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  if (name === 'postgres') {
    const schema = `bench_${process.pid}_${Date.now().toString(36)}`;
    let store: TokenStore;
    try {
      await ensureBenchDatabase(BENCH_PG_URL, log);
      store = await openStore(`${BENCH_PG_URL}?schema=${schema}&pool=16`, { connectTimeoutMs: 1000 });
    } catch (e) {
      log(`bench: postgres skipped (${(e as Error).message})`);
      return undefined;
    }
    const pool = (store as PostgresStore).pool;
    return { store, cleanup: async () => void (await pool.query(`DROP SCHEMA "${schema}" CASCADE`)) };
  }
  const url = redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const keyPrefix = `tessera-bench:${process.pid}:`;
  let store: TokenStore;
  try {
    store = await openStore(url, { keyPrefix, connectTimeoutMs: 1000 });
  } catch (e) {
    log(`bench: redis skipped (${(e as Error).message})`);
    return undefined;
  }
  const client = (store as RedisStore).client;
  return {
    store,
    cleanup: async () => {
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await client.del(...keys);
      } while (cursor !== '0');
    },
  };
}
