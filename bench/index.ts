/**
 * `npm run bench [-- --quick] [-- --json] [-- --wall] [-- --filter TEXT]`: one run over every
 * codec, fast-jwt, the fernet npm package and the bare node:crypto floors, printed
 * as a table of ns/op with ratios. Targets (issue 2): HS256 sign and verify at
 * least 2x faster than fast-jwt, and at most 1.25x the createHmac floor.
 *
 * Times are process CPU time per operation by default, so that other processes on
 * a shared machine do not inflate them (wall time with `--wall`). The JSON output
 * (`--json`) carries every round's sample.
 *
 * @module
 */
import { buildCases } from './codecs.js';
import { type BenchResult, runBench } from './harness.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const json = args.includes('--json');
const filterAt = args.indexOf('--filter');
const filter = filterAt >= 0 ? args[filterAt + 1] : undefined;

const clock: 'cpu' | 'wall' = args.includes('--wall') ? 'wall' : 'cpu';
const opts = quick ? { warmupMs: 100, roundMs: 60, rounds: 5, clock } : { warmupMs: 500, roundMs: 200, rounds: 15, clock };
const cases = buildCases().filter((c) => !filter || `${c.group} ${c.name}`.includes(filter));

if (!json) {
  process.stderr.write(
    `node ${process.version}, ${cases.length} cases, ${opts.rounds} rounds of ${opts.roundMs} ms (median of ${clock} time per op)${quick ? ', --quick' : ''}` +
      `${(globalThis as { gc?: unknown }).gc ? ', gc between rounds' : ''}\n`,
  );
}
const results = runBench(cases, opts, (r) => {
  if (!json) process.stderr.write(`\rround ${r + 1}/${opts.rounds}`);
});
if (!json) process.stderr.write('\n');

function fmtNs(ns: number): string {
  return ns >= 10_000 ? `${(ns / 1000).toFixed(1)} µs` : `${ns.toFixed(0)} ns`;
}
function ratio(x: number | undefined): string {
  return x === undefined ? '' : `${x.toFixed(2)}x`;
}

interface Row {
  group: string;
  name: string;
  role: string;
  nsPerOp: number;
  spread: number;
  opsPerSec: number;
  /** ours / floor: how many floors this row costs. */
  vsFloor?: number;
  /** library / ours: how many times faster than the library. */
  fasterThanLibrary?: number;
}

const rows: Row[] = [];
const groups = [...new Set(results.map((r) => r.case.group))];
for (const g of groups) {
  const inGroup = results.filter((r) => r.case.group === g);
  const floor = inGroup.find((r) => r.case.role === 'floor');
  const lib = inGroup.find((r) => r.case.role === 'library');
  for (const r of inGroup as BenchResult[]) {
    rows.push({
      group: g,
      name: r.case.name,
      role: r.case.role,
      nsPerOp: r.nsPerOp,
      spread: (r.maxNs - r.minNs) / r.nsPerOp,
      opsPerSec: 1e9 / r.nsPerOp,
      vsFloor: floor && r !== floor ? r.nsPerOp / floor.nsPerOp : undefined,
      fasterThanLibrary: lib && r.case.role === 'ours' ? lib.nsPerOp / r.nsPerOp : undefined,
    });
  }
}

if (json) {
  console.log(JSON.stringify({ node: process.version, quick, clock, rows }, null, 2));
} else {
  const header = ['group', 'case', 'ns/op', 'ops/s', '± (max-min)/med', 'vs floor', 'faster than lib'];
  const table = rows.map((r) => [
    r.group,
    r.name,
    fmtNs(r.nsPerOp),
    Math.round(r.opsPerSec).toLocaleString('en-US'),
    `${(r.spread * 100).toFixed(0)}%`,
    ratio(r.vsFloor),
    ratio(r.fasterThanLibrary),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => (row[i] as string).length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => (i >= 2 ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number))).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${widths.map((w, i) => (i >= 2 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`);
  for (const r of table) console.log(line(r));

  // Targets of issue 2, on the public API rows.
  const find = (g: string, prefix: string) => rows.find((r) => r.group === g && r.name.startsWith(prefix));
  const checks: [string, Row | undefined][] = [
    ['HS256 sign (tessera jwt sign)', find('HS256 sign', 'tessera jwt sign')],
    ['HS256 sign (codec.encode)', find('HS256 sign', 'tessera codec.encode')],
    ['HS256 verify (codec.decode)', find('HS256 verify', 'tessera codec.decode')],
    ['HS256 verify (jwt verify)', find('HS256 verify', 'tessera jwt verify')],
  ];
  console.log('\nTargets: >= 2x faster than fast-jwt, <= 1.25x the floor');
  for (const [label, r] of checks) {
    if (!r) continue;
    const okLib = (r.fasterThanLibrary ?? 0) >= 2;
    const okFloor = (r.vsFloor ?? Infinity) <= 1.25;
    console.log(
      `  ${label.padEnd(32)} ${ratio(r.fasterThanLibrary).padStart(6)} faster than fast-jwt ${okLib ? 'ok  ' : 'MISS'}` +
        `   ${ratio(r.vsFloor).padStart(6)} the floor ${okFloor ? 'ok' : 'MISS'}`,
    );
  }
}

// Refresh throughput per store (bench/refresh.ts, the refresh engine's part). `--no-refresh` skips it, and so
// does a --filter that is not about "refresh"; with --json run `node --import tsx bench/refresh.ts --json`.
if (!json && !args.includes('--no-refresh') && (!filter || 'refresh'.includes(filter))) {
  const { formatRefreshTable, runRefreshBench } = await import('./refresh.js');
  const refreshRows = await runRefreshBench({ quick });
  console.log('\nRefresh throughput per store (wall time; each refresh is one store round trip)');
  console.log(formatRefreshTable(refreshRows));
}
