/**
 * What a refresh costs beyond the store's round trip, part by part, in this process's CPU
 * time per operation (user + system; waiting for Redis is idle time and not counted):
 *
 *     node --import tsx bench/refresh-parts.ts [--quick] [--json]
 *
 * - Synchronous parts (the harness's interleaved rounds, bench/harness.ts): the request body
 *   (`JSON.parse` and the duplicate-key scan of RFC 8259 §4 the server runs first), the
 *   presented refresh token's verification and claims, minting the two new tokens, the
 *   session's device fields, against one HMAC-SHA256 of the token (the unit).
 * - Asynchronous parts, 32 in flight like a loaded server's: the client lookup of the built-in
 *   client, one ioredis EVALSHA of a no-op script with as many arguments as the rotation's, packed
 *   into one as the store sends them (and, for comparison, one by one)
 *   (the least any store call costs this process), and the whole library refresh
 *   (`tokens.refresh`) on memory and on Redis (REDIS_URL, default redis://127.0.0.1:6379).
 *
 * What the whole refresh on Redis costs beyond the EVALSHA floor is the sum of the token
 * work (the synchronous rows) and the store wrapper; what `POST /auth/refresh` adds on top
 * (HTTP parsing, routing, validation, serialization) is the HTTP bench's CPU per request
 * (bench/http.ts) minus the library row.
 *
 * @module
 */
import { createHmac } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { findDuplicateKey } from '../src/http/core/strict-json.js';
import { createClientService, NO_CLIENTS } from '../src/oauth-clients/clients.js';
import { createTokenService } from '../src/refresh/service.js';
import { sessionDeviceFields } from '../src/refresh/sessions.js';
import { openStore } from '../src/stores/open.js';
import { packScriptArgs } from '../src/stores/redis.js';
import { createCodec } from '../src/tokens/codec.js';
import { type BenchCase, markdownTable, median, runBench } from './harness.js';
import { openBenchStore } from './stores.js';

const SECRET = Buffer.alloc(32, 0x42);
const IN_FLIGHT = 32;
const USER_AGENT = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36';

export interface PartRow {
  part: string;
  /** CPU time per operation, ns (median of the rounds). */
  nsPerOp: number;
  /** Against the group's unit: one HMAC-SHA256 (sync) or one EVALSHA (async). */
  vsUnit?: number;
}

/** CPU ns per call of `op`, `IN_FLIGHT` at a time, median of `rounds` rounds of `n` calls each. */
async function cpuPerCall(op: (worker: number) => Promise<unknown>, n: number, rounds: number): Promise<number> {
  const run = async (count: number) => {
    let left = count;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async (_, w) => {
        while (left-- > 0) await op(w);
      }),
    );
  };
  await run(n); // warm-up
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const c0 = process.cpuUsage();
    await run(n);
    const c = process.cpuUsage(c0);
    samples.push(((c.user + c.system) * 1000) / n);
  }
  return median(samples);
}

export async function runRefreshParts(opts: { quick?: boolean; log?: (line: string) => void } = {}): Promise<PartRow[]> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const memory = createTokenService({ secret: SECRET, store: await openStore('memory') });
  const pair = await memory.issue({ sub: 'bench-user', scope: 'api', clientId: 'tessera' });
  const body = JSON.stringify({ refresh_token: pair.refreshToken });
  const codec = createCodec({ format: 'jwt', secret: SECRET });
  // A token with the refresh token's claims, signed by this codec (refresh tokens use a key
  // derived for them alone, which a plain codec does not hold).
  const refreshClaims = JSON.parse(Buffer.from(pair.refreshToken.split('.')[1] as string, 'base64url').toString('utf8'));
  const presented = codec.encode(refreshClaims);
  const claims = { sub: 'bench-user', scope: 'api', client_id: 'tessera', fam: pair.familyId };
  const device = sessionDeviceFields('truncated');
  const key = SECRET;

  const syncCases: BenchCase[] = [
    {
      group: 'refresh parts',
      role: 'floor',
      name: 'unit: one HMAC-SHA256 of the refresh token',
      fn: () => createHmac('sha256', key).update(pair.refreshToken).digest(),
    },
    {
      group: 'refresh parts',
      role: 'ours',
      name: 'body: duplicate-key scan + JSON.parse',
      fn: () => findDuplicateKey(body) ?? JSON.parse(body),
    },
    {
      group: 'refresh parts',
      role: 'ours',
      name: 'presented token: verify + claims (codec.decode)',
      fn: () => codec.decode(presented),
    },
    {
      group: 'refresh parts',
      role: 'ours',
      name: 'minting: access + refresh token (2 x codec.encode)',
      fn: () => codec.encode(claims).length + codec.encode(claims).length,
    },
    {
      group: 'refresh parts',
      role: 'ours',
      name: 'session device fields (User-Agent, address)',
      fn: () => device({ userAgent: USER_AGENT, address: '203.0.113.9' }),
    },
  ];
  const quick = opts.quick === true;
  const sync = runBench(syncCases, { warmupMs: quick ? 100 : 400, roundMs: quick ? 40 : 150, rounds: quick ? 3 : 9 });
  const unit = sync[0]?.nsPerOp ?? Number.NaN;
  const rows: PartRow[] = sync.map((r) => ({ part: r.case.name, nsPerOp: r.nsPerOp, vsUnit: r.nsPerOp / unit }));

  const n = quick ? 2000 : 10000;
  const rounds = quick ? 3 : 7;
  const clients = createClientService(NO_CLIENTS);
  const lookup = await cpuPerCall(() => clients.authenticate({}), n, rounds);
  // A chain of refresh tokens per worker: each refresh presents the worker's newest.
  const chains = async (tokens: typeof memory) => {
    const heads = await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => (await tokens.issue({ sub: 'bench-user', scope: 'api' })).refreshToken),
    );
    return async (w: number) => {
      const next = await tokens.refresh(heads[w] as string, {
        clientId: 'tessera',
        userAgent: USER_AGENT,
        address: '203.0.113.9',
      });
      heads[w] = next.refreshToken;
    };
  };
  const onMemory = await cpuPerCall(await chains(memory), n, rounds);
  const asyncRows: PartRow[] = [
    { part: 'client lookup: the built-in client', nsPerOp: lookup },
    { part: 'tokens.refresh, memory store (the whole library path)', nsPerOp: onMemory },
  ];

  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const raw = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableAutoPipelining: true });
  try {
    await raw.connect();
  } catch (e) {
    log(`refresh parts: Redis rows skipped (${(e as Error).message})`);
    raw.disconnect();
    return [...rows, ...asyncRows];
  }
  try {
    raw.defineCommand('benchNoop', { numberOfKeys: 1, lua: 'return 1' });
    const args = Array.from({ length: 22 }, (_, i) => `argument-${i}-${'x'.repeat(i === 7 ? 300 : 12)}`);
    const noop = raw as unknown as { benchNoop: (...a: string[]) => Promise<unknown> };
    // As the store sends them: one JSON array, made per call by the store's own packer
    // (src/stores/redis-scripts.ts "Packing").
    const evalsha = await cpuPerCall(() => noop.benchNoop('tessera-bench-parts:{u}', packScriptArgs(args)), n, rounds);
    const spread = await cpuPerCall(() => noop.benchNoop('tessera-bench-parts:{u}', ...args), n, rounds);
    const opened = await openBenchStore('redis', url, log);
    if (opened === undefined) return [...rows, ...asyncRows];
    const onRedis = createTokenService({ secret: SECRET, store: opened.store });
    const redisRefresh = await cpuPerCall(await chains(onRedis), n, rounds);
    onRedis.close();
    await opened.cleanup();
    await opened.store.close?.();
    asyncRows.push(
      { part: 'unit: ioredis EVALSHA of a no-op script, 22 arguments as one JSON array', nsPerOp: evalsha, vsUnit: 1 },
      { part: 'the same 22 arguments one by one (the store before packing)', nsPerOp: spread, vsUnit: spread / evalsha },
      { part: 'tokens.refresh, Redis store (the whole library path)', nsPerOp: redisRefresh, vsUnit: redisRefresh / evalsha },
    );
  } finally {
    raw.disconnect();
  }
  return [...rows, ...asyncRows];
}

export function formatRefreshParts(rows: readonly PartRow[]): string {
  return markdownTable(
    ['part', 'CPU per op', 'vs unit'],
    rows.map((r) => [
      r.part,
      r.nsPerOp >= 10_000 ? `${(r.nsPerOp / 1000).toFixed(1)} µs` : `${Math.round(r.nsPerOp)} ns`,
      r.vsUnit === undefined ? '' : `${r.vsUnit.toFixed(2)}x`,
    ]),
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const rows = await runRefreshParts({ quick: args.includes('--quick') });
  if (args.includes('--json')) console.log(JSON.stringify({ node: process.version, rows }, null, 2));
  else console.log(formatRefreshParts(rows));
}
