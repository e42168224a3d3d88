/**
 * A small, dependency-free benchmark harness: calibrated batches, a warm-up,
 * several timed rounds interleaved across cases (so drift and GC hit every case
 * alike), and the median ns/op of the rounds.
 */

export interface BenchCase {
  /** Row label. */
  name: string;
  /** Rows of one group are compared with each other. */
  group: string;
  /** Role in the ratios: the floor of the group, the fast-jwt (or other library) row, or ours. */
  role: 'floor' | 'library' | 'ours';
  fn: () => unknown;
}

export interface BenchOptions {
  warmupMs: number;
  roundMs: number;
  rounds: number;
  /**
   * 'cpu' (default): process CPU time (user + system) per op, which other processes
   * on a shared machine do not inflate; 'wall': elapsed time per op.
   */
  clock?: 'cpu' | 'wall';
}

export interface BenchResult {
  case: BenchCase;
  /** Median over the rounds. */
  nsPerOp: number;
  minNs: number;
  maxNs: number;
  samples: number[];
}

let sink = 0;
/** Keeps results alive so the JIT cannot drop the work. */
function consume(v: unknown): void {
  if (typeof v === 'string') sink ^= v.length;
  else if (v instanceof Uint8Array) sink ^= v.length;
  else if (typeof v === 'boolean') sink ^= v ? 1 : 0;
  else if (v && typeof v === 'object') sink ^= 1;
}

function runBatch(fn: () => unknown, n: number): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) consume(fn());
  return Number(process.hrtime.bigint() - t0);
}

/** Batch size that takes about `targetNs`. */
function calibrate(fn: () => unknown, targetNs: number): number {
  let n = 1;
  for (;;) {
    const t = runBatch(fn, n);
    if (t >= targetNs / 4 || n >= 1 << 24) return Math.max(1, Math.round((n * targetNs) / Math.max(t, 1)));
    n *= 2;
  }
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? Number.NaN : s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** The `q` quantile (0..1) of ascending `sorted` values (nearest rank); NaN when empty. */
export function quantile(sorted: readonly number[], q: number): number {
  return sorted.length === 0 ? Number.NaN : (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number);
}

export interface AsyncLatency {
  /** Median and 99th percentile of one call awaited after another, µs. */
  p50Us: number;
  p99Us: number;
  /** Calls per second one after another, and with every worker running at once. */
  sequentialPerSec: number;
  concurrentPerSec: number;
}

/**
 * Wall-time figures of an async operation (a refresh, an authenticate): for `ms`,
 * `next` awaited after itself (latency of each call), then for `ms` every worker
 * looping on its own (what concurrent callers sustain). Callers warm up first.
 */
export async function measureAsync(
  ms: number,
  next: (i: number) => Promise<unknown>,
  workers: readonly (() => Promise<unknown>)[],
): Promise<AsyncLatency> {
  const latencies: number[] = [];
  const seqEnd = performance.now() + ms;
  for (let i = 0; performance.now() < seqEnd; i++) {
    const t0 = performance.now();
    await next(i);
    latencies.push(performance.now() - t0);
  }
  latencies.sort((a, b) => a - b);
  let done = 0;
  const t0 = performance.now();
  const end = t0 + ms;
  await Promise.all(
    workers.map(async (work) => {
      while (performance.now() < end) {
        await work();
        done++;
      }
    }),
  );
  const elapsed = performance.now() - t0;
  return {
    p50Us: quantile(latencies, 0.5) * 1000,
    p99Us: quantile(latencies, 0.99) * 1000,
    sequentialPerSec: latencies.length / (ms / 1000),
    concurrentPerSec: done / (elapsed / 1000),
  };
}

const gc = (globalThis as { gc?: () => void }).gc;

export function runBench(cases: readonly BenchCase[], opts: BenchOptions, onRound?: (round: number) => void): BenchResult[] {
  const batch = new Map<BenchCase, number>();
  for (const c of cases) {
    // Warm-up: let the JIT settle, then size batches to ~1 ms.
    const until = performance.now() + opts.warmupMs;
    while (performance.now() < until) runBatch(c.fn, 64);
    batch.set(c, calibrate(c.fn, 1_000_000));
  }
  const samples = new Map<BenchCase, number[]>(cases.map((c) => [c, []]));
  for (let r = 0; r < opts.rounds; r++) {
    for (const c of cases) {
      gc?.();
      const n = batch.get(c) as number;
      let ops = 0;
      let ns = 0;
      const budget = opts.roundMs * 1e6;
      const cpu0 = process.cpuUsage();
      while (ns < budget) {
        ns += runBatch(c.fn, n);
        ops += n;
      }
      const cpu = process.cpuUsage(cpu0);
      samples.get(c)?.push(opts.clock === 'wall' ? ns / ops : ((cpu.user + cpu.system) * 1000) / ops);
    }
    onRound?.(r);
  }
  if (sink === 0.5) console.log(sink); // never true; keeps `sink` observable
  return cases.map((c) => {
    const s = samples.get(c) as number[];
    return { case: c, nsPerOp: median(s), minNs: Math.min(...s), maxNs: Math.max(...s), samples: s };
  });
}

/** A Markdown table: the first two columns left-aligned (names), the rest right-aligned (numbers). */
export function markdownTable(header: readonly string[], rows: readonly string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (i >= 2 ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number))).join(' | ')} |`;
  return [
    line(header),
    `|${widths.map((w, i) => (i >= 2 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`,
    ...rows.map(line),
  ].join('\n');
}
