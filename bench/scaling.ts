/**
 * Scaling figures of the stores:
 *
 *   1. Redis memory per live family (after login) and per refresh, for each preset:
 *      the `used_memory` delta of a private redis-server over N logins and then N
 *      refreshes, and the sum of `MEMORY USAGE` over the keys, by key kind.
 *   2. SQLite file growth per million refreshes, extrapolated from a measured run
 *      (file size after a checkpoint, before and after the refreshes).
 *   3. Refresh latency with few and with many live families (jwt preset), on Redis,
 *      SQLite and PostgreSQL: real families made through the library, measured; then
 *      the store is filled with equivalent family records written in bulk (a Lua loop
 *      on Redis, one INSERT ... SELECT on SQLite, one INSERT ... SELECT FROM
 *      generate_series on PostgreSQL: the same fields, fresh ids), and
 *      the same families are measured again. The latency must not grow.
 *
 *     node --import tsx bench/scaling.ts [--quick] [--json] [--large N]
 *
 * Sizes: full run 10 000 vs 1 000 000 families (`--large` changes the second),
 * `--quick` 2 000 vs 20 000. The private redis-server (bench/procs.ts) keeps the
 * memory figures exact and the bulk records out of the shared Redis; without
 * redis-server on PATH the Redis parts are skipped.
 *
 * @module
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { createTokenService } from '../src/refresh/service.js';
import type { Scheme, TokenService } from '../src/refresh/types.js';
import { openStore } from '../src/stores/open.js';
import type { PostgresStore } from '../src/stores/postgres.js';
import type { SqliteStore } from '../src/stores/sqlite.js';
import type { TokenStore } from '../src/stores/types.js';
import { quantile } from './harness.js';
import { type PrivateRedis, startPrivateRedis } from './procs.js';
import { BENCH_PG_URL } from './stores.js';

export interface ScalingOptions {
  quick?: boolean;
  /** Live families of the "many" measurement (default 1 000 000; 20 000 with quick). */
  large?: number;
  log?: (line: string) => void;
}

export interface RedisMemoryRow {
  scheme: Scheme;
  families: number;
  /** used_memory delta per family after login, and per refresh after that (bytes). */
  bytesPerFamily: number;
  bytesPerRefresh: number;
  /** Sum of MEMORY USAGE per family after the refreshes, by key kind (f, fams, rt, at). */
  usageByKind: Record<string, number>;
}

export interface SqliteGrowthRow {
  scheme: Scheme;
  families: number;
  refreshes: number;
  /** File bytes (after a checkpoint) before and after the refreshes. */
  bytesBefore: number;
  bytesAfter: number;
  /** (after - before) / refreshes * 1e6. */
  bytesPerMillionRefreshes: number;
}

export interface LatencyRow {
  store: string;
  liveFamilies: number;
  p50Us: number;
  p99Us: number;
  perSec: number;
  /** Seconds to write the bulk records (0 for the first row). */
  fillSeconds: number;
  /** Redis used_memory or SQLite file size at this point (bytes). */
  storeBytes: number;
}

export interface ScalingResult {
  redisMemory: RedisMemoryRow[];
  sqliteGrowth: SqliteGrowthRow[];
  latency: LatencyRow[];
  notes: string[];
}

const SECRET = Buffer.alloc(32, 0x37);

async function usedMemory(redis: Redis): Promise<number> {
  const m = /^used_memory:(\d+)/m.exec(await redis.info('memory'));
  return Number(m?.[1] ?? Number.NaN);
}

/** Runs `fn(i)` for i in [0, n) with `width` calls in flight. */
async function parallel(n: number, width: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

async function login(tokens: TokenService, n: number, prefix: string): Promise<string[]> {
  const out: string[] = new Array(n);
  await parallel(n, 64, async (i) => {
    out[i] = (await tokens.issue({ sub: `${prefix}-${i}`, scope: 'api' })).refreshToken;
  });
  return out;
}

async function refreshAll(tokens: TokenService, chain: string[], times = 1): Promise<void> {
  await parallel(chain.length * times, 64, async (k) => {
    const i = k % chain.length;
    chain[i] = (await tokens.refresh(chain[i] as string)).refreshToken;
  });
}

async function redisMemory(url: string, n: number, log: (line: string) => void): Promise<RedisMemoryRow[]> {
  const rows: RedisMemoryRow[] = [];
  const redis = new Redis(url);
  try {
    for (const scheme of ['jwt', 'sealed', 'opaque'] as const) {
      log(`scaling: Redis memory, ${scheme}, ${n} families`);
      const keyPrefix = `mem-${scheme}:`;
      const store = await openStore(url, { keyPrefix });
      const tokens = createTokenService({ secret: SECRET, store, scheme });
      await tokens.issue({ sub: 'warm-up' }); // scripts loaded, client connected
      const m0 = await usedMemory(redis);
      const chain = await login(tokens, n, `mem-${scheme}`);
      const m1 = await usedMemory(redis);
      await refreshAll(tokens, chain);
      const m2 = await usedMemory(redis);
      // MEMORY USAGE of every key of this prefix, by kind (the part after the hash tag).
      const usage: Record<string, number> = {};
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}{*`, 'COUNT', 1000);
        cursor = next;
        const pipe = redis.pipeline();
        for (const k of keys) pipe.memory('USAGE', k, 'SAMPLES', '0');
        const replies = (await pipe.exec()) ?? [];
        keys.forEach((k, j) => {
          const kind = k.slice(k.indexOf('}:') + 2).split(':')[0] as string;
          usage[kind] = (usage[kind] ?? 0) + Number(replies[j]?.[1] ?? 0);
        });
      } while (cursor !== '0');
      for (const k of Object.keys(usage)) usage[k] = (usage[k] as number) / n;
      rows.push({ scheme, families: n, bytesPerFamily: (m1 - m0) / n, bytesPerRefresh: (m2 - m1) / n, usageByKind: usage });
      await store.close();
    }
  } finally {
    redis.disconnect();
  }
  return rows;
}

function fileBytes(path: string): number {
  let n = 0;
  for (const p of [path, `${path}-wal`]) {
    try {
      n += statSync(p).size;
    } catch {
      // no WAL file
    }
  }
  return n;
}

async function sqliteGrowth(dir: string, families: number, refreshes: number, log: (line: string) => void) {
  const rows: SqliteGrowthRow[] = [];
  for (const scheme of ['jwt', 'opaque'] as const) {
    log(`scaling: SQLite growth, ${scheme}, ${families} families, ${refreshes} refreshes`);
    const path = join(dir, `growth-${scheme}.db`);
    let store = await openStore(`sqlite:${path}`);
    const chain = await login(createTokenService({ secret: SECRET, store, scheme }), families, `growth-${scheme}`);
    // Closing the last connection checkpoints the WAL into the file and removes it.
    await store.close();
    const before = fileBytes(path);
    store = await openStore(`sqlite:${path}`);
    await refreshAll(createTokenService({ secret: SECRET, store, scheme }), chain, Math.round(refreshes / families));
    await store.close();
    const after = fileBytes(path);
    const done = Math.round(refreshes / families) * families;
    rows.push({
      scheme,
      families,
      refreshes: done,
      bytesBefore: before,
      bytesAfter: after,
      bytesPerMillionRefreshes: ((after - before) / done) * 1e6,
    });
  }
  return rows;
}

/** Sequential refreshes over a sample of real families: latencies in ms. */
async function refreshLatencies(tokens: TokenService, chain: string[], count: number, offset: number): Promise<number[]> {
  const lat: number[] = [];
  for (let k = 0; k < count; k++) {
    // A stride through the sample, so consecutive refreshes touch different families.
    const i = ((offset + k) * 7919) % chain.length;
    const s = performance.now();
    chain[i] = (await tokens.refresh(chain[i] as string)).refreshToken;
    lat.push(performance.now() - s);
  }
  return lat;
}

/** Bulk family records on Redis: the fields of a real one, fresh ids, `batch` per script call. */
const REDIS_FILL = `
local from, to, prefix = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local ttl = ARGV[4]
for i = from, to do
  local base = prefix .. '{b' .. i .. '}:'
  local fam = string.format('bulk%018d', i)
  local sub = 'bulk-user-' .. i
  local fk = base .. 'f:' .. fam
  redis.call('HSET', fk, 'sub', sub, 'ct', ARGV[5], 'ax', ARGV[6], 'cur', string.format('cur%019d', i), 'prev', '',
    'pat', '0', 'rp', '', 'rv', '0', 'sc', ARGV[7], 'cl', '', 'ex', ARGV[8])
  redis.call('PEXPIRE', fk, ttl)
end
return to - from + 1
`;

/** One store under test: real families (a sample of which is refreshed), maybe bulk records. */
interface ScaledStore {
  store: string;
  liveFamilies: number;
  tokens: TokenService;
  sample: string[];
  fillSeconds: number;
  bytes(): Promise<number>;
  close(): Promise<void>;
}

async function scaledRedis(url: string, real: number, total: number, log: (line: string) => void): Promise<ScaledStore> {
  const keyPrefix = 'scale:';
  const store = await openStore(url, { keyPrefix });
  const redis = new Redis(url);
  const tokens = createTokenService({ secret: SECRET, store, scheme: 'jwt' });
  log(`scaling: Redis, ${real} families through the library`);
  const sample = (await login(tokens, real, 'scale')).slice(0, Math.min(1000, real));
  let fillSeconds = 0;
  if (total > real) {
    // The template: one real family record.
    const [famKey] = (await redis.keys(`${keyPrefix}{*}:f:*`)) as [string];
    const f = await redis.hgetall(famKey);
    const ttl = String(await redis.pttl(famKey));
    log(`scaling: Redis, writing ${total - real} family records`);
    const t0 = performance.now();
    for (let from = 1; from <= total - real; from += 10_000) {
      const to = Math.min(total - real, from + 9_999);
      await redis.eval(REDIS_FILL, 0, from, to, keyPrefix, ttl, f.ct ?? '0', f.ax ?? '0', f.sc ?? '', f.ex ?? '0');
    }
    fillSeconds = (performance.now() - t0) / 1000;
  }
  return {
    store: 'redis',
    liveFamilies: total,
    tokens,
    sample,
    fillSeconds,
    bytes: () => usedMemory(redis),
    close: async () => {
      redis.disconnect();
      await store.close();
    },
  };
}

export async function scaledPostgres(
  schema: string,
  real: number,
  total: number,
  log: (line: string) => void,
): Promise<ScaledStore> {
  const store = (await openStore(`${BENCH_PG_URL}?schema=${schema}`)) as PostgresStore;
  const tokens = createTokenService({ secret: SECRET, store, scheme: 'jwt' });
  log(`scaling: PostgreSQL, ${real} families through the library`);
  const sample = (await login(tokens, real, 'scale')).slice(0, Math.min(1000, real));
  let fillSeconds = 0;
  if (total > real) {
    log(`scaling: PostgreSQL, writing ${total - real} family records`);
    const t0 = performance.now();
    // One statement: the values of a real row, fresh ids and subjects (generate_series), on a
    // connection of its own without the store's statement timeout (destroyed afterwards).
    const fill = await store.pool.connect();
    await fill.query('SET statement_timeout = 0');
    await fill.query(
      `INSERT INTO "${schema}".families (id, sub, created_at, absolute_expires_at, current, previous, rotated_at, replay, revoked, scope, claims, expires_at)
       SELECT 'bulk' || lpad(g::text, 18, '0'), 'bulk-user-' || g, t.created_at, t.absolute_expires_at, 'cur' || lpad(g::text, 19, '0'),
              '', 0, '', false, t.scope, t.claims, t.expires_at
       FROM generate_series(1, $1::int) g, (SELECT * FROM "${schema}".families LIMIT 1) t`,
      [total - real],
    );
    await fill.query(`VACUUM ANALYZE "${schema}".families`);
    fill.release(true);
    fillSeconds = (performance.now() - t0) / 1000;
  }
  return {
    store: 'postgres',
    liveFamilies: total,
    tokens,
    sample,
    fillSeconds,
    bytes: async () =>
      Number((await store.pool.query(`SELECT pg_total_relation_size('"${schema}".families') AS b`)).rows[0]?.b ?? 0),
    close: async () => {
      await store.pool.query(`DROP SCHEMA "${schema}" CASCADE`);
      await store.close();
    },
  };
}

async function scaledSqlite(path: string, real: number, total: number, log: (line: string) => void): Promise<ScaledStore> {
  const store: TokenStore = await openStore(`sqlite:${path}`);
  const tokens = createTokenService({ secret: SECRET, store, scheme: 'jwt' });
  log(`scaling: SQLite, ${real} families through the library`);
  const sample = (await login(tokens, real, 'scale')).slice(0, Math.min(1000, real));
  let fillSeconds = 0;
  if (total > real) {
    log(`scaling: SQLite, writing ${total - real} family records`);
    const db = (store as SqliteStore).db;
    const t0 = performance.now();
    // One statement: the values of a real row, fresh ids and subjects.
    db.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?),
            t AS (SELECT * FROM families LIMIT 1)
       INSERT INTO families (id, sub, created_at, absolute_expires_at, current, previous, rotated_at, replay, revoked, scope, claims, expires_at)
       SELECT printf('bulk%018d', i), 'bulk-user-' || i, t.created_at, t.absolute_expires_at, printf('cur%019d', i), '', 0, '',
              0, t.scope, t.claims, t.expires_at
       FROM n, t`,
    ).run(total - real);
    db.pragma('wal_checkpoint(TRUNCATE)');
    fillSeconds = (performance.now() - t0) / 1000;
  }
  return {
    store: 'sqlite',
    liveFamilies: total,
    tokens,
    sample,
    fillSeconds,
    bytes: async () => fileBytes(path),
    close: () => store.close(),
  };
}

/**
 * Measures two stores of one kind (few and many families) in alternating rounds,
 * so that drift and other load hit both alike; percentiles over every round.
 */
export async function compareScaled(a: ScaledStore, b: ScaledStore, count: number, rounds: number): Promise<LatencyRow[]> {
  const lat = new Map<ScaledStore, number[]>([
    [a, []],
    [b, []],
  ]);
  const busy = new Map<ScaledStore, number>([
    [a, 0],
    [b, 0],
  ]);
  for (const s of [a, b]) await refreshLatencies(s.tokens, s.sample, 300, 0); // warm-up
  const per = Math.ceil(count / rounds);
  for (let r = 0; r < rounds; r++) {
    for (const s of r % 2 === 0 ? [a, b] : [b, a]) {
      const t0 = performance.now();
      lat.get(s)?.push(...(await refreshLatencies(s.tokens, s.sample, per, r * per)));
      busy.set(s, (busy.get(s) as number) + (performance.now() - t0));
    }
  }
  const rows: LatencyRow[] = [];
  for (const s of [a, b]) {
    const l = (lat.get(s) as number[]).sort((x, y) => x - y);
    const q = (p: number) => quantile(l, p) * 1000;
    rows.push({
      store: s.store,
      liveFamilies: s.liveFamilies,
      p50Us: q(0.5),
      p99Us: q(0.99),
      perSec: l.length / ((busy.get(s) as number) / 1000),
      fillSeconds: s.fillSeconds,
      storeBytes: await s.bytes(),
    });
  }
  return rows;
}

export async function runScalingBench(options: ScalingOptions = {}): Promise<ScalingResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const quick = options.quick ?? false;
  const small = quick ? 2_000 : 10_000;
  const large = options.large ?? (quick ? 20_000 : 1_000_000);
  const memoryFamilies = quick ? 2_000 : 5_000;
  const growth = quick ? { families: 500, refreshes: 5_000 } : { families: 1_000, refreshes: 50_000 };
  const count = quick ? 1_000 : 3_000;
  const result: ScalingResult = { redisMemory: [], sqliteGrowth: [], latency: [], notes: [] };
  const dir = mkdtempSync(join(tmpdir(), 'tessera-scaling-'));
  const rounds = quick ? 4 : 6;
  const opened: ScaledStore[] = [];
  const servers: PrivateRedis[] = [];
  try {
    result.sqliteGrowth = await sqliteGrowth(dir, growth.families, growth.refreshes, log);
    opened.push(await scaledSqlite(join(dir, 'few.db'), small, small, log));
    opened.push(await scaledSqlite(join(dir, 'many.db'), small, large, log));
    result.latency.push(...(await compareScaled(opened[0] as ScaledStore, opened[1] as ScaledStore, count, rounds)));
    for (const s of opened.splice(0)) await s.close();
    // PostgreSQL: two schemas of the local server (BENCH_PG_URL), dropped afterwards.
    try {
      const tag = `${process.pid}_${Date.now().toString(36)}`;
      opened.push(await scaledPostgres(`scale_few_${tag}`, small, small, log));
      opened.push(await scaledPostgres(`scale_many_${tag}`, small, large, log));
      result.latency.push(...(await compareScaled(opened[0] as ScaledStore, opened[1] as ScaledStore, count, rounds)));
    } catch (e) {
      result.notes.push(`PostgreSQL parts skipped: ${(e as Error).message}`);
    }
    for (const s of opened.splice(0)) await s.close();
    // Three private Redis instances: memory figures, few families, many families.
    for (let i = 0; i < 3; i++) {
      const r = await startPrivateRedis('');
      servers.push(r);
      if (!r.private) break;
    }
    if (!servers.every((r) => r.private)) {
      result.notes.push('Redis parts skipped: no redis-server on PATH (they need private instances)');
    } else {
      const [mem, few, many] = servers as [PrivateRedis, PrivateRedis, PrivateRedis];
      result.redisMemory = await redisMemory(mem.url, memoryFamilies, log);
      opened.push(await scaledRedis(few.url, small, small, log));
      opened.push(await scaledRedis(many.url, small, large, log));
      result.latency.push(...(await compareScaled(opened[0] as ScaledStore, opened[1] as ScaledStore, count, rounds)));
    }
  } finally {
    for (const s of opened) await s.close();
    for (const r of servers) await r.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

function table(header: string[], rows: string[][], left = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i >= left ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number))).join(' | ')} |`;
  return [
    line(header),
    `|${widths.map((w, i) => (i >= left ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`,
    ...rows.map(line),
  ].join('\n');
}

export function formatScaling(r: ScalingResult): string {
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  const mb = (x: number) => `${(x / 1e6).toFixed(1)} MB`;
  const us = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(2)} ms` : `${x.toFixed(0)} µs`);
  const out: string[] = [];
  if (r.redisMemory.length) {
    out.push('Redis memory (private redis-server; used_memory deltas, and MEMORY USAGE per family by key kind)');
    out.push(
      table(
        ['scheme', 'families', 'bytes/family', 'bytes/refresh', 'MEMORY USAGE by key kind, per family'],
        r.redisMemory.map((m) => [
          m.scheme,
          n(m.families),
          n(m.bytesPerFamily),
          n(m.bytesPerRefresh),
          Object.entries(m.usageByKind)
            .map(([k, v]) => `${k}: ${n(v)}`)
            .join(', '),
        ]),
      ),
    );
  }
  if (r.sqliteGrowth.length) {
    out.push('', 'SQLite file growth (after a checkpoint), extrapolated to a million refreshes');
    out.push(
      table(
        ['scheme', 'families', 'refreshes', 'file before', 'file after', 'per 1M refreshes'],
        r.sqliteGrowth.map((g) => [
          g.scheme,
          n(g.families),
          n(g.refreshes),
          mb(g.bytesBefore),
          mb(g.bytesAfter),
          mb(g.bytesPerMillionRefreshes),
        ]),
      ),
    );
  }
  if (r.latency.length) {
    out.push('', 'Refresh latency (jwt preset, one refresh awaited after another) with few and many live families');
    out.push(
      table(
        ['store', 'live families', 'p50', 'p99', 'refreshes/s', 'bulk fill', 'store size'],
        r.latency.map((l) => [
          l.store,
          n(l.liveFamilies),
          us(l.p50Us),
          us(l.p99Us),
          n(l.perSec),
          l.fillSeconds ? `${l.fillSeconds.toFixed(1)} s` : '',
          mb(l.storeBytes),
        ]),
      ),
    );
    for (const store of new Set(r.latency.map((l) => l.store))) {
      const [a, b] = r.latency.filter((l) => l.store === store);
      if (a && b)
        out.push(
          `  ${store}: p50 ${(b.p50Us / a.p50Us).toFixed(2)}x, p99 ${(b.p99Us / a.p99Us).toFixed(2)}x at ${n(b.liveFamilies)} vs ${n(a.liveFamilies)} families`,
        );
    }
  }
  for (const note of r.notes) out.push(`  note: ${note}`);
  return out.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const largeAt = args.indexOf('--large');
  const result = await runScalingBench({
    quick: args.includes('--quick'),
    large: largeAt >= 0 ? Number(args[largeAt + 1]) : undefined,
  });
  if (args.includes('--json')) console.log(JSON.stringify({ node: process.version, ...result }, null, 2));
  else console.log(formatScaling(result));
}
