/**
 * Helpers of the store and refresh suites: an injectable clock, Redis
 * availability (skip locally, never on CI), per-run key prefixes and cleanup,
 * and the local Redis Cluster.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster, Redis } from 'ioredis';
import pg from 'pg';
import { randomBytes } from '../../src/internal/crypto.js';
import type { RedisClient } from '../../src/stores/redis.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const ON_CI = process.env.CI === 'true' || process.env.CI === '1';
/** `npm run test:quick` (scripts/run-tests.mjs --quick): the Redis parts of mixed files skip, even with CI=true. */
export const QUICK = process.env.TESSERA_TEST_QUICK === '1';
export const SECRET = Buffer.alloc(32, 0x5a);

/** A clock the test moves by hand (ms). Starts at the real time, second-aligned, so Redis TTLs stay sensible. */
export class FakeClock {
  ms: number;
  constructor(start = Math.floor(Date.now() / 1000) * 1000) {
    this.ms = start;
  }
  readonly now = (): number => this.ms;
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

export function uniquePrefix(label: string): string {
  return `tessera-test:${label}:${process.pid}:${randomBytes(4).toString('hex')}:`;
}

/** A SQLite file in a fresh temporary directory; `remove()` deletes the directory. */
export function tempSqlitePath(): { path: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-sqlite-'));
  return { path: join(dir, 'tokens.db'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Resolves to an error message when Redis cannot be used, `undefined` when it can. */
export async function redisUnavailable(url = REDIS_URL): Promise<string | undefined> {
  if (QUICK) return 'the quick suite leaves Redis out';
  const probe = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: 1000,
    retryStrategy: () => null,
  });
  try {
    await probe.connect();
    await probe.ping();
    return undefined;
  } catch (e) {
    return `Redis at ${url} is not reachable (${(e as Error).message})`;
  } finally {
    probe.disconnect();
  }
}

/**
 * Redis tests skip with a message when Redis is absent, except on CI, where
 * a missing service is a failure (the option is handed to `describe`).
 */
export function skipUnlessAvailable(reason: string | undefined): { skip?: string } {
  if (reason === undefined) return {};
  if (QUICK) return { skip: `${reason}; \`npm test\` runs these` };
  if (ON_CI) throw new Error(`CI=true but ${reason}: the Redis and PostgreSQL suites must not skip on CI`);
  return { skip: `${reason}; start it to run these tests (they never skip with CI=true)` };
}

/** Deletes every key under a prefix (on every master of a cluster). */
export async function deletePrefix(client: RedisClient, prefix: string): Promise<void> {
  const masters = (client as RedisClient & { isCluster: boolean }).isCluster
    ? (client as Cluster).nodes('master')
    : [client as Redis];
  for (const node of masters) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 1000);
      cursor = next;
      // One DEL per key: on a cluster, keys of one batch may live in different slots.
      for (const k of keys) await node.del(k);
    } while (cursor !== '0');
  }
}

const execFileP = promisify(execFile);

/**
 * The Redis Cluster for the cluster suite: REDIS_CLUSTER_NODES when set, else the
 * local one from scripts/redis-cluster.sh (started, or reused when healthy).
 */
export async function clusterNodes(): Promise<{ nodes: { host: string; port: number }[] } | { error: string }> {
  let spec = process.env.REDIS_CLUSTER_NODES;
  if (!spec) {
    try {
      const script = new URL('../../scripts/redis-cluster.sh', import.meta.url).pathname;
      const { stdout } = await execFileP('bash', [script, 'start'], { timeout: 30_000 });
      spec = stdout.trim().split('\n').pop() ?? '';
    } catch (e) {
      return {
        error: `could not start a local Redis Cluster with scripts/redis-cluster.sh (${(e as Error).message.split('\n')[0]})`,
      };
    }
  }
  const nodes = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((hp) => {
      const i = hp.lastIndexOf(':');
      return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
    });
  return nodes.length ? { nodes } : { error: 'REDIS_CLUSTER_NODES is empty' };
}

export function newCluster(nodes: { host: string; port: number }[]): Cluster {
  return new Cluster(nodes, {
    enableOfflineQueue: true,
    redisOptions: { maxRetriesPerRequest: 1, connectTimeout: 2000, commandTimeout: 2000 },
  });
}

/**
 * PostgreSQL for the PostgreSQL suites: the `tessera_test` database on the local server
 * (TESSERA_TEST_PG_URL overrides), created through the `postgres` database when missing.
 * Every store a test opens gets a schema of its own ({@link uniqueSchema}), dropped on cleanup,
 * so parallel runs never collide.
 */
export const PG_URL = process.env.TESSERA_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/tessera_test';

/** Resolves to an error message when PostgreSQL cannot be used, `undefined` when it can (creating the test database). */
export async function postgresUnavailable(url = PG_URL): Promise<string | undefined> {
  if (QUICK) return 'the quick suite leaves PostgreSQL out';
  const target = new URL(url);
  const db = decodeURIComponent(target.pathname.slice(1));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const probe = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 2000 });
  try {
    await probe.connect();
    const { rowCount } = await probe.query('SELECT 1 FROM pg_database WHERE datname = $1', [db]);
    if (rowCount === 0) {
      // Two test files may race to create it: "already exists" (42P04) is success.
      await probe.query(`CREATE DATABASE "${db.replace(/"/g, '""')}"`).catch((e: { code?: string }) => {
        if (e.code !== '42P04' && e.code !== '23505') throw e;
      });
    }
    return undefined;
  } catch (e) {
    return `PostgreSQL at ${admin.host} is not reachable (${(e as Error).message})`;
  } finally {
    await probe.end().catch(() => {});
  }
}

/** A schema name no other run uses (PID and random bytes). */
export function uniqueSchema(label: string): string {
  return `t_${label}_${process.pid}_${randomBytes(4).toString('hex')}`.toLowerCase();
}

/**
 * A fresh TCP proxy in front of the test PostgreSQL, and the store spec of `tessera serve` through
 * it: the `schema`, a 1 s statement timeout and a 1 s connect timeout, so a cut proxy is an outage
 * the server notices within seconds.
 */
export async function postgresThroughProxy(schema: string): Promise<{ proxy: TcpProxy; store: string }> {
  const proxy = await startTcpProxy(Number(new URL(PG_URL).port || 5432));
  const url = new URL(PG_URL);
  url.port = String(proxy.port);
  url.searchParams.set('schema', schema);
  url.searchParams.set('statement_timeout', '1000');
  url.searchParams.set('connect_timeout', '1');
  return { proxy, store: url.toString() };
}

/** Drops a test schema with everything in it. */
export async function dropSchema(schema: string, url = PG_URL): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await c.end();
  }
}

/**
 * MONITOR on `client`, for a test that watches which commands a store sends. Lines still on the
 * wire when the monitor disconnects (other tests' commands) reach ioredis after it left monitoring
 * mode, which it reports as an 'error' event ("Command queue state error"): an observer's
 * leftovers, so ignored rather than left to end the test run.
 */
export async function monitorOf(client: Redis): Promise<Redis> {
  const monitor = await client.monitor();
  monitor.on('error', () => {});
  return monitor;
}
