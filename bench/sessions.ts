/**
 * The session listing at scale: one user with 10 000 live sessions (refresh token families) on
 * each store. Measured, in one run per store:
 *
 *   1. `tokens.sessions(sub)` (one `listFamilies` round trip): median and p95 of 20 listings;
 *      the issue's bound is 50 ms.
 *   2. A refresh of one of those 10 000 sessions against a refresh of a user with one session,
 *      alternated in the same run (same process, same connection, same warm-up): the ratio of
 *      the medians. The rotation writes the listing's index in its one round trip; a user's
 *      number of sessions must not make it slower (ratio about 1).
 *
 *     node --import tsx bench/sessions.ts [--sessions N] [--stores memory,sqlite,redis,cluster,postgres]
 *
 * The Redis prefix and the PostgreSQL schema are private to the run and removed after it.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSecret } from '../src/keys.js';
import { createTokenService } from '../src/refresh/service.js';
import { openStore } from '../src/stores/open.js';
import type { TokenStore } from '../src/stores/types.js';
import { quantile } from './harness.js';
import { BENCH_PG_URL } from './stores.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : process.argv[i + 1];
};
const N = Number(arg('sessions') ?? 10_000);
const STORES = (arg('stores') ?? 'memory,sqlite,redis,cluster,postgres').split(',');
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const CLUSTER_URL = process.env.TESSERA_BENCH_CLUSTER_URL ?? 'redis+cluster://127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103';

async function open(kind: string): Promise<{ store: TokenStore; cleanup: () => Promise<void> }> {
  const tag = randomBytes(4).toString('hex');
  if (kind === 'memory') {
    const store = await openStore('memory');
    return { store, cleanup: () => store.close() };
  }
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-sessions-'));
    const store = await openStore(`sqlite:${join(dir, 'bench.db')}`);
    return { store, cleanup: async () => (await store.close(), rmSync(dir, { recursive: true, force: true })) };
  }
  if (kind === 'redis' || kind === 'cluster') {
    const keyPrefix = `tessera-bench-sessions:${tag}:`;
    const store = await openStore(kind === 'redis' ? REDIS_URL : CLUSTER_URL, { keyPrefix });
    return {
      store,
      cleanup: async () => {
        const { deletePrefix } = await import('../test/stores/harness.js');
        await deletePrefix((store as unknown as { client: Parameters<typeof deletePrefix>[0] }).client, keyPrefix);
        await store.close();
      },
    };
  }
  const schema = `bench_sessions_${tag}`;
  const store = await openStore(`${BENCH_PG_URL}?schema=${schema}`);
  return {
    store,
    cleanup: async () => {
      await store.close();
      const { dropSchema } = await import('../test/stores/harness.js');
      await dropSchema(schema, BENCH_PG_URL);
    },
  };
}

const ms = (t0: number) => performance.now() - t0;
const median = (xs: number[]) =>
  quantile(
    [...xs].sort((a, b) => a - b),
    0.5,
  );

async function run(kind: string): Promise<Record<string, unknown>> {
  const { store, cleanup } = await open(kind);
  try {
    const tokens = createTokenService({ secret: generateSecret(), store });
    const busy = `busy-${kind}`;
    const ua = 'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0';
    // Sign-ins 100 at a time: each is one round trip, as in production.
    let busyPair = await tokens.issue({ sub: busy, userAgent: ua, address: '198.51.100.7' });
    for (let i = 1; i < N; i += 100) {
      await Promise.all(
        Array.from({ length: Math.min(100, N - i) }, () => tokens.issue({ sub: busy, userAgent: ua, address: '198.51.100.7' })),
      );
    }
    let lonePair = await tokens.issue({ sub: `lone-${kind}`, userAgent: ua, address: '198.51.100.7' });

    const listings: number[] = [];
    let count = 0;
    for (let i = 0; i < 22; i++) {
      const t0 = performance.now();
      count = (await tokens.sessions(busy)).length;
      if (i >= 2) listings.push(ms(t0)); // two warm-up listings
    }
    if (count !== N) throw new Error(`${kind}: listed ${count} sessions, expected ${N}`);

    const lone: number[] = [];
    const crowd: number[] = [];
    for (let i = 0; i < 220; i++) {
      let t0 = performance.now();
      lonePair = await tokens.refresh(lonePair.refreshToken, { userAgent: ua, address: '198.51.100.8' });
      if (i >= 20) lone.push(ms(t0));
      t0 = performance.now();
      busyPair = await tokens.refresh(busyPair.refreshToken, { userAgent: ua, address: '198.51.100.8' });
      if (i >= 20) crowd.push(ms(t0));
    }
    tokens.close();
    const sorted = [...listings].sort((a, b) => a - b);
    return {
      store: kind,
      sessions: N,
      listMedianMs: +median(listings).toFixed(2),
      listP95Ms: +quantile(sorted, 0.95).toFixed(2),
      refreshOneSessionMedianMs: +median(lone).toFixed(3),
      refreshAmongNMedianMs: +median(crowd).toFixed(3),
      refreshRatio: +(median(crowd) / median(lone)).toFixed(2),
    };
  } finally {
    await cleanup();
  }
}

for (const kind of STORES) {
  try {
    console.log(JSON.stringify(await run(kind)));
  } catch (e) {
    console.log(JSON.stringify({ store: kind, skipped: (e as Error).message }));
  }
}
process.exit(0);
