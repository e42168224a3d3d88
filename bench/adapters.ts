/**
 * `GET /me` through each framework adapter (Fastify, Express, Hono) against that
 * framework's bare route returning a constant (the ceiling), bench/http.ts's
 * pattern: every server a child process started the same way
 * (bench/servers/adapters.mjs), load from autocannon in this process, rounds
 * alternating the servers (ABBA) so drift hits all alike, medians of rounds.
 *
 *     node --import tsx bench/adapters.ts [--quick] [--connections N]
 *
 * @module
 */
import { pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { createTokenService } from '../src/refresh/service.js';
import { openStore } from '../src/stores/open.js';
import { markdownTable, median } from './harness.js';
import { type ChildServer, ensureBuilt, ROOT, startServer } from './procs.js';

const SECRET = Buffer.alloc(32, 0x5a).toString('base64url');
const SERVERS = join('bench', 'servers', 'adapters.mjs');
const FRAMEWORKS = ['fastify', 'express', 'hono'] as const;

function join(...parts: string[]): string {
  return parts.join('/');
}

export interface AdapterRow {
  framework: string;
  tessera: number;
  bare: number;
  ratio: number;
  failures: number;
}

async function load(url: string, token: string, seconds: number, connections: number): Promise<{ rps: number; bad: number }> {
  return new Promise((resolve, reject) => {
    autocannon({ url: `${url}/me`, connections, duration: seconds, headers: { authorization: `Bearer ${token}` } }, (err, r) =>
      err ? reject(err) : resolve({ rps: r.requests.average, bad: r.non2xx + r.errors }),
    );
  });
}

export async function runAdapterBench(
  opts: { quick?: boolean; connections?: number; log?: (l: string) => void } = {},
): Promise<AdapterRow[]> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  ensureBuilt(log);
  const connections = opts.connections ?? 50;
  const rounds = opts.quick ? 2 : 4;
  const seconds = opts.quick ? 3 : 5;
  const store = await openStore('memory');
  const token = (await createTokenService({ secret: SECRET, scheme: 'jwt', store }).issue({ sub: 'bench-user', scope: 'api' }))
    .accessToken;
  const rows: AdapterRow[] = [];
  for (const fw of FRAMEWORKS) {
    const servers: ChildServer[] = await Promise.all(
      [fw, `${fw}-bare`].map((m) => startServer(m, [join(ROOT, SERVERS), m], { BENCH_SECRET: SECRET, NODE_ENV: 'production' })),
    );
    const [ours, bare] = servers as [ChildServer, ChildServer];
    try {
      // Warm-up, untimed.
      for (const s of servers) await load(s.url, token, 1, connections);
      const a: number[] = [];
      const b: number[] = [];
      const ratios: number[] = [];
      let failures = 0;
      for (let i = 0; i < rounds; i++) {
        // ABBA: ours first on even rounds, bare first on odd ones.
        const order = i % 2 === 0 ? [ours, bare] : [bare, ours];
        const got = new Map<ChildServer, number>();
        for (const s of order) {
          const r = await load(s.url, token, seconds, connections);
          got.set(s, r.rps);
          failures += r.bad;
        }
        a.push(got.get(ours) as number);
        b.push(got.get(bare) as number);
        ratios.push((got.get(ours) as number) / (got.get(bare) as number));
      }
      const row = { framework: fw, tessera: median(a), bare: median(b), ratio: median(ratios), failures };
      log(`${fw}: tessera ${row.tessera.toFixed(0)} req/s, bare ${row.bare.toFixed(0)} req/s, ${row.ratio.toFixed(2)}x`);
      rows.push(row);
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
  }
  await store.close();
  return rows;
}

export function adapterTable(rows: readonly AdapterRow[]): string {
  return markdownTable(
    ['framework', 'GET /me through tessera (req/s)', 'bare route, constant body (req/s)', 'tessera / bare', 'non-2xx + errors'],
    rows.map((r) => [r.framework, r.tessera.toFixed(0), r.bare.toFixed(0), `${r.ratio.toFixed(2)}x`, String(r.failures)]),
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--connections');
  const rows = await runAdapterBench({
    quick: args.includes('--quick'),
    ...(at >= 0 ? { connections: Number(args[at + 1]) } : {}),
  });
  process.stdout.write(`${adapterTable(rows)}\n`);
}
