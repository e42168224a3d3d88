/**
 * Revocation push (issue 14): what it costs and how fast it is.
 *
 *     node --import tsx bench/revocation.ts [--quick]
 *
 * - memory per 100k revoked tokens held by the in-memory set (jti, family, user entries);
 * - the per-request check: `authenticate` with the push on vs off (same token, cache on);
 * - Redis commands per `authenticate` with the push on: counted with MONITOR (must be 0);
 * - propagation delay, p50/p99 over 1,000 revocations: instance A revokes, until
 *   instance B (another RedisStore client) has the event; REDIS_URL (default local);
 * - the same on PostgreSQL (NOTIFY in the revoking transaction, B's LISTEN connection), with
 *   the queries B's pool issues per `authenticate`; POSTGRES_URL (default the test database).
 *   `--postgres-only` runs this part alone.
 *
 * GET /me against the bare Fastify route is bench/http.ts (`--group me`): its tessera
 * server runs the production defaults, which include the push.
 *
 * @module
 */
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { RevocationSet } from '../src/refresh/revocations.js';
import { createTokenService } from '../src/refresh/service.js';
import { openStore } from '../src/stores/open.js';
import { openPostgresStore } from '../src/stores/postgres.js';
import type { RedisStore } from '../src/stores/redis.js';
import { ensureBenchDatabase } from './stores.js';

const quick = process.argv.includes('--quick');
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/tessera_test';
const SECRET = Buffer.alloc(32, 7);

function heap(): number {
  globalThis.gc?.();
  globalThis.gc?.();
  return process.memoryUsage().heapUsed;
}

function memoryPer100k(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const kind of ['jti', 'family', 'user'] as const) {
    const now = Date.now();
    const set = new RevocationSet({ horizonMs: 900_000, clock: () => now });
    const before = heap();
    for (let i = 0; i < 100_000; i++) {
      // Ids as tessera mints them: 22 base64url characters (128 bits); subs of a similar size.
      const id = `${i.toString(36).padStart(8, '0')}AbCdEfGhIjKlMn`;
      if (kind === 'jti') set.event({ kind, jti: id, until: now + 900_000 });
      else if (kind === 'family') set.event({ kind, familyId: id, until: now + 900_000 });
      else set.event({ kind, sub: id, notBefore: now, until: now + 900_000 });
    }
    out[kind] = heap() - before;
    if (set.size !== 100_000) throw new Error('entries lost');
  }
  return out;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function authenticateCost(): Promise<{ onNs: number; offNs: number }> {
  const store = await openStore('memory');
  const on = createTokenService({ secret: SECRET, store });
  const off = createTokenService({ secret: SECRET, store, access: { revocationPush: false } });
  const p = await on.issue({ sub: 'bench' });
  // A few revocations in the set, as in a live server.
  for (let i = 0; i < 1000; i++) on.revocations?.event({ kind: 'jti', jti: `x${i}`, until: Date.now() + 900_000 });
  const n = quick ? 50_000 : 300_000;
  const time = async (svc: typeof on) => {
    for (let i = 0; i < 10_000; i++) await svc.authenticate(p.accessToken);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await svc.authenticate(p.accessToken);
    return ((performance.now() - t0) * 1e6) / n;
  };
  const rounds = quick ? 2 : 5;
  const ons: number[] = [];
  const offs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    ons.push(await time(on));
    offs.push(await time(off));
  }
  const med = (a: number[]) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)] as number;
  return { onNs: med(ons), offNs: med(offs) };
}

async function redisPart(): Promise<{ commandsPerAuth: number; p50: number; p99: number; max: number; count: number }> {
  const keyPrefix = `bench-revocation:${process.pid}:`;
  const a = (await openStore(REDIS_URL, { keyPrefix })) as RedisStore;
  const b = (await openStore(REDIS_URL, { keyPrefix })) as RedisStore;
  const ta = createTokenService({ secret: SECRET, store: a });
  const tb = createTokenService({ secret: SECRET, store: b });
  try {
    while (!(ta.revocations?.live && tb.revocations?.live)) await new Promise((r) => setTimeout(r, 5));
    // Tokens issued after the subscription (plus the skew margin) need no store check at all.
    await new Promise((r) => setTimeout(r, 3100));
    const p = await ta.issue({ sub: 'bench-me' });
    await tb.authenticate(p.accessToken);

    // Commands per authenticate on instance B, counted by MONITOR.
    const monitor = (await (b.client as Redis).monitor()) as Redis;
    let commands = 0;
    monitor.on('monitor', (_t: string, args: string[]) => {
      if (args.some((x) => x.includes(keyPrefix)) || args[0] === 'evalsha' || args[0] === 'eval') commands++;
    });
    await new Promise((r) => setTimeout(r, 100));
    commands = 0;
    const auths = 1000;
    for (let i = 0; i < auths; i++) await tb.authenticate(p.accessToken);
    await new Promise((r) => setTimeout(r, 200));
    monitor.disconnect();

    // Propagation: A revokes, until B's feed delivers the event.
    const count = quick ? 200 : 1000;
    const delays: number[] = [];
    let waiting: { jti: string; t0: number; done: () => void } | undefined;
    const stop = b.revocations().subscribe({
      event: (e) => {
        if (waiting && e.kind === 'jti' && e.jti === waiting.jti) {
          delays.push(performance.now() - waiting.t0);
          waiting.done();
          waiting = undefined;
        }
      },
      status: () => {},
    });
    const now = Date.now();
    for (let i = 0; i < count; i++) {
      const jti = `prop-${i}`;
      await new Promise<void>((done) => {
        waiting = { jti, t0: performance.now(), done };
        void a.revokeAccess({ shard: 'bench', now, jti, expiresAt: now + 60_000 });
      });
    }
    stop();
    delays.sort((x, y) => x - y);
    return {
      commandsPerAuth: commands / auths,
      p50: percentile(delays, 50),
      p99: percentile(delays, 99),
      max: delays[delays.length - 1] as number,
      count,
    };
  } finally {
    ta.close();
    tb.close();
    const keys = await a.client.keys(`${keyPrefix}*`);
    if (keys.length) await a.client.del(...keys);
    await a.close();
    await b.close();
    await (a.client as Redis).quit().catch(() => {});
    await (b.client as Redis).quit().catch(() => {});
  }
}

async function postgresPart(): Promise<{ queriesPerAuth: number; p50: number; p99: number; max: number; count: number }> {
  const schema = `bench_revocation_${process.pid}`;
  await ensureBenchDatabase(POSTGRES_URL, (line) => process.stderr.write(`${line}\n`));
  const a = await openPostgresStore(POSTGRES_URL, { schema, purgeIntervalMs: 0 });
  const b = await openPostgresStore(POSTGRES_URL, { schema, purgeIntervalMs: 0 });
  const ta = createTokenService({ secret: SECRET, store: a });
  const tb = createTokenService({ secret: SECRET, store: b });
  const { default: pg } = await import('pg');
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const query = proto.query;
  try {
    while (!(ta.revocations?.live && tb.revocations?.live)) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 3100));
    const p = await ta.issue({ sub: 'bench-me' });
    await tb.authenticate(p.accessToken);
    // Queries per authenticate on B: every query any pg client sends, the LISTEN connection's too.
    let queries = 0;
    proto.query = function (this: unknown, ...args: unknown[]) {
      queries++;
      return query.apply(this, args);
    };
    const auths = 1000;
    for (let i = 0; i < auths; i++) await tb.authenticate(p.accessToken);
    proto.query = query;

    const count = quick ? 200 : 1000;
    const delays: number[] = [];
    let waiting: { jti: string; t0: number; done: () => void } | undefined;
    const stop = b.revocations().subscribe({
      event: (e) => {
        if (waiting && e.kind === 'jti' && e.jti === waiting.jti) {
          delays.push(performance.now() - waiting.t0);
          waiting.done();
          waiting = undefined;
        }
      },
      status: () => {},
    });
    const now = Date.now();
    for (let i = 0; i < count; i++) {
      const jti = `prop-${i}`;
      await new Promise<void>((done) => {
        waiting = { jti, t0: performance.now(), done };
        void a.revokeAccess({ shard: 'bench', now, jti, expiresAt: now + 60_000 });
      });
    }
    stop();
    delays.sort((x, y) => x - y);
    return {
      queriesPerAuth: queries / auths,
      p50: percentile(delays, 50),
      p99: percentile(delays, 99),
      max: delays[delays.length - 1] as number,
      count,
    };
  } finally {
    proto.query = query;
    ta.close();
    tb.close();
    await a.pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
    await a.close();
    await b.close();
  }
}

async function printPostgres(): Promise<void> {
  const q = await postgresPart();
  console.log(`PostgreSQL queries per authenticate with the push on (1000 requests): ${q.queriesPerAuth}`);
  console.log(
    `PostgreSQL propagation over ${q.count} revocations (A revokes, B has it): p50 ${q.p50.toFixed(2)} ms, p99 ${q.p99.toFixed(2)} ms, max ${q.max.toFixed(2)} ms`,
  );
}

if (process.argv.includes('--postgres-only')) {
  await printPostgres();
  process.exit(0);
}

const mem = memoryPer100k();
console.log(
  `memory per 100k revoked entries: jti ${(mem.jti! / 1e6).toFixed(1)} MB, family ${(mem.family! / 1e6).toFixed(1)} MB, user ${(mem.user! / 1e6).toFixed(1)} MB${globalThis.gc ? '' : ' (run with --expose-gc for steadier figures)'}`,
);
const cost = await authenticateCost();
console.log(
  `authenticate (cached jwt, in-process): push on ${cost.onNs.toFixed(0)} ns, push off ${cost.offNs.toFixed(0)} ns (on/off ${(cost.onNs / cost.offNs).toFixed(2)})`,
);
const r = await redisPart();
console.log(`Redis commands per authenticate with the push on (MONITOR, 1000 requests): ${r.commandsPerAuth}`);
console.log(
  `propagation over ${r.count} revocations (A revokes, B has it): p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, max ${r.max.toFixed(2)} ms`,
);
await printPostgres();
