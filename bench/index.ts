/**
 * `npm run bench [-- --quick] [-- --json] [-- --wall] [-- --filter TEXT[,TEXT]] [-- --cpu-prof DIR] [-- --no-pin]`
 *
 * Sections, each compared with its baseline in the same run (BENCHMARKS.md has
 * the method and the last results):
 *
 *   codecs        encode/decode of every format vs fast-jwt, the fernet npm package and the
 *                 bare node:crypto floors (bench/codecs.ts): median CPU time per op
 *   asymmetric    EdDSA/ES256/RS256 sign and verify vs fast-jwt, jose and the crypto.sign/crypto.verify
 *                 floor on prepared KeyObjects, fresh tokens each op (bench/asymmetric.ts)
 *   dpop          a protected request with a DPoP proof vs the Bearer path plus one ES256 verify on a
 *                 prepared key (target 1.15x), and the replay records' memory per proof (bench/dpop.ts)
 *   refresh       tokens.refresh per store, memory/SQLite/Redis (bench/refresh.ts)
 *   authenticate  tokens.authenticate per store and access-token mode (bench/authenticate.ts)
 *   http          real servers in child processes under autocannon: GET /me vs a bare Fastify
 *                 route and fast-jwt; POST /auth/refresh on Redis/SQLite vs a one-round-trip
 *                 floor (bench/http.ts)
 *   scaling       Redis memory per family, SQLite growth per million refreshes, refresh latency
 *                 at 10k vs 1M live families (bench/scaling.ts)
 *   peers         tessera vs oidc-provider, both served: refresh with rotation (memory, Redis),
 *                 introspection, a protected route, a whole authorization-code sign-in (bench/peers.ts)
 *   features      each feature of the third round on against off, two servers differing by it
 *                 alone: metrics, the guessing limiter, session metadata, DPoP (bench/features.ts);
 *                 only with `--filter features`
 *
 * `--filter` selects sections by name (`--filter http`, `--filter codecs,scaling`); a text that
 * names no section filters the codec cases instead (`--filter "HS256 verify"`), as before.
 * `--no-refresh` skips the refresh section. `--cpu-prof DIR` writes a CPU profile of every
 * HTTP server (summarise one with `node --import tsx bench/profile.ts FILE`). `--no-pin`
 * lets the HTTP servers share CPUs with the load generator (pinned apart by default).
 *
 * Codec times are process CPU time per operation by default, so that other processes
 * on a shared machine do not inflate them (wall time with `--wall`). The JSON output
 * (`--json`) carries every section's rows, and every codec round's sample.
 *
 * @module
 */
import { cpus, loadavg } from 'node:os';
import { formatAuthenticateTable, runAuthenticateBench } from './authenticate.js';
import { buildCases } from './codecs.js';
import { type BenchResult, runBench } from './harness.js';
import { formatHttpTable, HTTP_CONNECTIONS, httpTargets, runHttpBench } from './http.js';
import { formatScaling, runScalingBench } from './scaling.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const json = args.includes('--json');
const filterAt = args.indexOf('--filter');
const filter = filterAt >= 0 ? args[filterAt + 1] : undefined;
const profAt = args.indexOf('--cpu-prof');
const cpuProfDir = profAt >= 0 ? args[profAt + 1] : undefined;

const SECTIONS = [
  'codecs',
  'asymmetric',
  'dpop',
  'refresh',
  'refresh-parts',
  'authenticate',
  'http',
  'scaling',
  'peers',
  'features',
] as const;
type Section = (typeof SECTIONS)[number];
const terms = (filter ?? '')
  .split(',')
  .map((t) => t.trim())
  .filter(Boolean);
const named = terms.filter((t) => SECTIONS.some((s) => s.includes(t) || t.startsWith(s)));
/** Texts that name no section filter the codec cases. */
const caseTerms = terms.filter((t) => !named.includes(t));
const wanted = new Set<Section>(
  terms.length === 0
    ? SECTIONS.filter((s) => s !== 'features') // minutes of paired server blocks: asked for by name
    : [
        ...SECTIONS.filter((s) => named.some((t) => s.includes(t) || t.startsWith(s))),
        ...(caseTerms.length ? ['codecs' as const] : []),
      ],
);
if (args.includes('--no-refresh')) wanted.delete('refresh');

const log = (line: string) => {
  if (!json) process.stderr.write(`${line}\n`);
};
const started = performance.now();
const load0 = loadavg();
const machine = {
  node: process.version,
  nproc: cpus().length,
  cpu: cpus()[0]?.model ?? 'unknown',
  platform: `${process.platform} ${process.arch}`,
};
const fmtLoad = (l: number[]) => l.map((x) => x.toFixed(2)).join(', ');
if (!json) {
  console.log(
    `node ${machine.node}, ${machine.nproc} CPUs (${machine.cpu}), load average at start ${fmtLoad(load0)}; sections: ${[...wanted].join(', ')}${quick ? ' (--quick)' : ''}`,
  );
}

const output: Record<string, unknown> = { ...machine, quick, loadAtStart: load0 };
const sectionSeconds: Record<string, number> = {};
let sectionStart = performance.now();
/** Records how long the section that just ended took. */
function endSection(name: Section): void {
  const now = performance.now();
  sectionSeconds[name] = Math.round((now - sectionStart) / 100) / 10;
  log(`${name}: ${sectionSeconds[name]} s`);
  sectionStart = now;
}
const targetLines: string[] = [];

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

// --- codecs --------------------------------------------------------------------------------------
if (wanted.has('codecs')) {
  const clock: 'cpu' | 'wall' = args.includes('--wall') ? 'wall' : 'cpu';
  const opts = quick ? { warmupMs: 100, roundMs: 60, rounds: 5, clock } : { warmupMs: 500, roundMs: 200, rounds: 12, clock };
  const cases = buildCases().filter((c) => caseTerms.length === 0 || caseTerms.some((t) => `${c.group} ${c.name}`.includes(t)));
  log(
    `codecs: ${cases.length} cases, ${opts.rounds} rounds of ${opts.roundMs} ms (median of ${clock} time per op)` +
      `${(globalThis as { gc?: unknown }).gc ? ', gc between rounds' : ''}`,
  );
  const results = runBench(cases, opts, (r) => {
    if (!json) process.stderr.write(`\rround ${r + 1}/${opts.rounds}`);
  });
  if (!json) process.stderr.write('\n');

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
  output.clock = clock;
  output.rows = rows;

  if (!json) {
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
    console.log('\nCodecs (CPU time per operation; ratios within each group)');
    console.log(line(header));
    console.log(`|${widths.map((w, i) => (i >= 2 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`);
    for (const r of table) console.log(line(r));
  }

  // Targets of issues 2 and 5, on the public API rows.
  const find = (g: string, prefix: string) => rows.find((r) => r.group === g && r.name.startsWith(prefix));
  const hs: [string, Row | undefined][] = [
    ['HS256 sign (tessera jwt sign)', find('HS256 sign', 'tessera jwt sign')],
    ['HS256 sign (codec.encode)', find('HS256 sign', 'tessera codec.encode')],
    ['HS256 verify (codec.decode)', find('HS256 verify', 'tessera codec.decode')],
    ['HS256 verify (jwt verify)', find('HS256 verify', 'tessera jwt verify')],
  ];
  for (const [label, r] of hs) {
    if (!r) continue;
    const okLib = (r.fasterThanLibrary ?? 0) >= 2;
    const okFloor = (r.vsFloor ?? Infinity) <= 1.25;
    targetLines.push(
      `${label.padEnd(32)} ${ratio(r.fasterThanLibrary).padStart(6)} faster than fast-jwt (>= 2x) ${okLib ? 'ok  ' : 'MISS'}` +
        `   ${ratio(r.vsFloor).padStart(6)} the floor (<= 1.25x) ${okFloor ? 'ok' : 'MISS'}`,
    );
  }
  for (const [label, r] of [
    ['sealed decode', find('sealed decode', 'tessera')],
    ['fernet decode', find('fernet decode', 'tessera')],
  ] as const) {
    if (!r) continue;
    const okFloor = (r.vsFloor ?? Infinity) <= 1.5;
    let line = `${label.padEnd(32)} ${ratio(r.vsFloor).padStart(6)} the floor (<= 1.5x) ${okFloor ? 'ok' : 'MISS'}`;
    if (r.fasterThanLibrary !== undefined) {
      line += `   ${ratio(r.fasterThanLibrary)} faster than the fernet package (>= 10x) ${r.fasterThanLibrary >= 10 ? 'ok' : 'MISS'}`;
    }
    targetLines.push(line);
  }
}

if (wanted.has('codecs')) endSection('codecs');

// --- asymmetric (EdDSA, ES256, RS256) --------------------------------------------------------------
if (wanted.has('asymmetric')) {
  const { formatAsymmetric, runAsymmetricBench } = await import('./asymmetric.js');
  const rows = await runAsymmetricBench({ quick, log });
  output.asymmetric = rows;
  const { table, targets } = formatAsymmetric(rows);
  targetLines.push(...targets);
  if (!json) {
    console.log(
      '\nEdDSA / ES256 / RS256 (CPU time per op, fresh tokens each op; floor = crypto.sign/verify on prepared KeyObjects)',
    );
    console.log(table);
  }
  endSection('asymmetric');
}

// --- DPoP (RFC 9449) at a protected route ------------------------------------------------------------
if (wanted.has('dpop')) {
  const { runDpopBench } = await import('./dpop.js');
  const r = await runDpopBench({ quick, log: json ? () => {} : log });
  output.dpop = r;
  targetLines.push(
    `  DPoP protected request: ${r.ratio.toFixed(3)}x (bearer path + one ES256 verify) (target <= 1.15) ${r.ratio <= 1.15 ? 'met' : 'MISSED'}`,
  );
  endSection('dpop');
}

// --- refresh and authenticate (library level, per store) ----------------------------------------
if (wanted.has('refresh')) {
  const { formatRefreshTable, runRefreshBench } = await import('./refresh.js');
  const rows = await runRefreshBench({ quick, log });
  output.refresh = rows;
  if (!json) {
    console.log('\nRefresh throughput per store (wall time; each refresh is one store round trip)');
    console.log(formatRefreshTable(rows));
  }
  endSection('refresh');
}
if (wanted.has('refresh-parts')) {
  const { formatRefreshParts, runRefreshParts } = await import('./refresh-parts.js');
  const rows = await runRefreshParts({ quick, log });
  output['refresh-parts'] = rows;
  if (!json) {
    console.log('\nWhat a refresh costs beyond the store round trip, by part (CPU time of this process per operation)');
    console.log(formatRefreshParts(rows));
  }
  endSection('refresh-parts');
}
if (wanted.has('authenticate')) {
  const rows = await runAuthenticateBench({ quick, log });
  output.authenticate = rows;
  if (!json) {
    console.log('\nauthenticate per store (wall time; jwt access tokens need no store, the other modes one read)');
    console.log(formatAuthenticateTable(rows));
  }
  endSection('authenticate');
}

// --- HTTP ----------------------------------------------------------------------------------------
if (wanted.has('http')) {
  const picked = (['me', 'refresh', 'refresh-pg', 'metrics'] as const).filter((g) => named.includes(`http:${g}`));
  const groups = picked.length > 0 ? picked : undefined;
  const rows = await runHttpBench({ quick, log, cpuProfDir, groups, pin: !args.includes('--no-pin') });
  output.http = rows;
  targetLines.push(...httpTargets(rows));
  if (!json) {
    console.log(
      `\nHTTP (servers in child processes, autocannon, ${HTTP_CONNECTIONS} connections; medians of ${quick ? 2 : 8} alternating rounds)`,
    );
    console.log(formatHttpTable(rows));
  }
  endSection('http');
}

// --- scaling -------------------------------------------------------------------------------------
if (wanted.has('scaling')) {
  const result = await runScalingBench({ quick, log });
  output.scaling = result;
  if (!json) console.log(`\n${formatScaling(result)}`);
  endSection('scaling');
}

// --- peers: oidc-provider ---------------------------------------------------------------------------
if (wanted.has('peers')) {
  const { formatPeerRatios, peerTargets, runPeersBench } = await import('./peers.js');
  const result = await runPeersBench({ quick, log, pin: !args.includes('--no-pin') });
  output.peers = result;
  targetLines.push(...peerTargets(result.ratios));
  if (!json) {
    console.log(`\nPeers: tessera vs oidc-provider (servers in child processes; medians of ${quick ? 2 : 8} alternating rounds)`);
    console.log(formatHttpTable(result.rows));
    console.log(`\n${formatPeerRatios(result.ratios)}`);
  }
  endSection('peers');
}

// --- features: each one's cost ----------------------------------------------------------------------
if (wanted.has('features')) {
  const { formatFeatureTable, runFeaturesBench } = await import('./features.js');
  const rows = await runFeaturesBench({ quick, log, pin: !args.includes('--no-pin'), cpuProfDir });
  output.features = rows;
  if (!json) {
    console.log('\nFeatures: on against off, same run (fresh server pairs per block; medians of the paired rounds)');
    console.log(formatFeatureTable(rows));
  }
  endSection('features');
}

const load1 = loadavg();
output.loadAtEnd = load1;
output.seconds = (performance.now() - started) / 1000;
output.sectionSeconds = sectionSeconds;
if (json) {
  console.log(JSON.stringify(output, null, 2));
} else {
  if (targetLines.length) {
    console.log('\nTargets');
    for (const line of targetLines) console.log(`  ${line}`);
  }
  console.log(
    `\n${((performance.now() - started) / 1000).toFixed(0)} s (${Object.entries(sectionSeconds)
      .map(([k, v]) => `${k} ${v} s`)
      .join(', ')}); load average at start ${fmtLoad(load0)}, at end ${fmtLoad(load1)} (${machine.nproc} CPUs)`,
  );
}
