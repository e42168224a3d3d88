#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's test runner through tsx, one process per file,
// as many at once as os.availableParallelism(). Extra arguments are path filters:
//   npm test -- stores        # only files whose path contains "stores"
//   npm run test:quick        # the developer loop: --quick (see QUICK_EXCLUDE)
//   node scripts/run-tests.mjs --quick --list   # which files --quick runs
//   node scripts/run-tests.mjs --concurrency=1  # override the number of files run at once
//   node scripts/run-tests.mjs --verbose stores # every file's spec output, not only failing ones'
// `npm test` (no --quick) is the whole suite, the one CI runs. Every other `-...` argument
// goes to node (e.g. --test-name-pattern=...).
//
// A run is green only if every file is: its process exited 0, its report is complete (the
// root's closing summary is present), and the tests it reported one by one are as many as the
// root counted. --test-force-exit ends a file's process once its tests are done, even with a
// handle left open (a socket of a cut proxy); scripts/test-report.mjs holds that exit back
// until the report is complete. With TESSERA_TEST_FILE_TIMEOUT=S, a file that has not
// finished after S seconds is killed and fails (none by default: `npm run fuzz` and the soak
// run for long).
//
// Order: the files of SLOW_FIRST (scripts/test-plan.mjs) start first, slowest first, the others
// after them in path order, so that the run does not end waiting on a long file started last.
//
// The built CLI: a run of test/ without --quick first makes sure dist/ is what src/ builds to
// (it runs `npm run build` when a file under src/, or a tsconfig, is newer than dist/, see
// distStale), then tells the test files so (TESSERA_TEST_DIST=1): the tests that spawn
// `tessera` then run dist/cli/main.js with node, which starts in a third of the time of
// src/cli/main.ts through tsx (test/support/processes.ts), and the package tests pack that
// dist/. A --quick run (and `npm run coverage`, which counts src/ only) leaves dist/ alone and
// spawns the sources through tsx.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { distStale, runOrder } from './test-plan.mjs';
import { problemsOf, readReport } from './test-verdict.mjs';

const root = new URL('..', import.meta.url).pathname;
const reporter = new URL('./test-report.mjs', import.meta.url).href;
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const listOnly = args.includes('--list');
const verbose = args.includes('--verbose');
const concurrencyArg = args.find((a) => a.startsWith('--concurrency='));
/** Our own flags; every other `-...` argument goes to node. */
const isOwnFlag = (a) => ['--quick', '--list', '--verbose'].includes(a) || a.startsWith('--concurrency=');
const filters = args.filter((a) => !a.startsWith('-'));
const passThrough = args.filter((a) => a.startsWith('-') && !isOwnFlag(a));
const concurrency = Math.max(1, Number(concurrencyArg?.split('=')[1] ?? availableParallelism()) || 1);
const fileTimeoutMs = Number(process.env.TESSERA_TEST_FILE_TIMEOUT ?? 0) * 1000;

/**
 * What `--quick` leaves out: whatever spawns processes or servers, needs the network, Redis,
 * PostgreSQL, Chromium or Python, or runs for long (statistics, soak, fuzzing with many
 * cases). What stays: unit tests, the store contract on memory and SQLite, and the HTTP
 * routes through `inject()`. The one place this list lives. A prefix that matches no test
 * file is an error (so the list cannot name a file that moved).
 */
const QUICK_EXCLUDE = [
  'test/e2e/', // the built server and CLI, spawned
  'test/reliability/', // statistics (timing), soak, fault injection, long fuzzing
  'test/browser/', // Chromium
  'test/interop/', // Python
  'test/bench/', // spawns the benchmarks
  'test/package/install', // npm pack and install
  'test/package/consumer-types', // npm pack, install and tsc in a consumer project
  'test/package/readme-install', // the README's install lines, run from the packed package
  'test/stores/redis', // Redis and Redis Cluster stores
  'test/stores/postgres', // PostgreSQL store and its outage proxy
  'test/refresh/race-processes', // several processes racing on one store
  'test/refresh/restart', // a process restarted on the same store
  'test/cli/', // the CLI, spawned through tsx
  'test/docs/', // the docs' walk-throughs: servers, Redis, PostgreSQL, Python
];

/**
 * Environment of a quick run: test files that mix Redis with other stores skip
 * their Redis parts (test/stores/harness.ts reads TESSERA_TEST_QUICK, even with
 * CI=true: only `npm test` must never skip them), and property tests and
 * fuzzers run fewer cases (test/security/fuzz-decoders: 2 000 per format
 * instead of 50 000). A value already in the environment wins.
 */
const QUICK_ENV = {
  TESSERA_TEST_QUICK: '1',
  FC_RUNS: process.env.FC_RUNS ?? '100',
  FUZZ_RUNS: process.env.FUZZ_RUNS ?? '2000',
};

/** Test files under `dir`; a `fixtures` folder holds inputs of tests, never tests of this suite. */
function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'fixtures' ? [] : walk(p);
    return p.endsWith('.test.ts') ? [p] : [];
  });
}

/** The folder searched for test files: `test`, or TESSERA_TEST_DIR (test/scripts runs the runner on fixtures). */
const testDir = process.env.TESSERA_TEST_DIR ?? join(root, 'test');
const all = walk(testDir)
  .map((p) => relative(root, p))
  .sort();
const stale = QUICK_EXCLUDE.filter((x) => !all.some((p) => p.startsWith(x)));
if (quick && stale.length > 0) {
  console.error(`QUICK_EXCLUDE names what no test file matches: ${stale.join(', ')}`);
  process.exit(1);
}
const files = runOrder(
  all
    .filter((p) => !quick || !QUICK_EXCLUDE.some((x) => p.startsWith(x)))
    .filter((p) => filters.length === 0 || filters.some((f) => p.includes(f))),
);
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}${quick ? ' (with --quick)' : ''}`);
  process.exit(1);
}
if (listOnly) {
  console.log(files.join('\n'));
  process.exit(0);
}

/** dist/ is checked (and built when stale) for a whole or filtered run of test/; not for --quick, nor for the fixture runs of test/scripts. */
const useDist = !quick && process.env.TESSERA_TEST_DIR === undefined;
if (useDist) {
  const stale = distStale(root);
  if (stale !== undefined) {
    console.log(`building dist/ (${stale})`);
    const build = spawnSync('npm', ['run', 'build'], { cwd: root, encoding: 'utf8' });
    if (build.status !== 0 || !existsSync(join(root, 'dist/cli/main.js'))) {
      console.error(`npm run build failed:\n${build.stdout}${build.stderr}`);
      process.exit(1);
    }
  }
}

const work = mkdtempSync(join(tmpdir(), 'tessera-tests-'));
const env = { ...process.env, ...(quick ? QUICK_ENV : {}), ...(useDist ? { TESSERA_TEST_DIST: '1' } : {}) };

/** Runs one test file in its own process; resolves to its verdict. */
function runFile(file, index) {
  const reportPath = join(work, `${index}.jsonl`);
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--test-force-exit',
        '--test-reporter=spec',
        '--test-reporter-destination=stdout',
        `--test-reporter=${reporter}`,
        '--test-reporter-destination=stderr',
        ...passThrough,
        file,
      ],
      { cwd: root, env: { ...env, TESSERA_TEST_REPORT: reportPath }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    // One file (a long soak, say): its output as it comes; several: each file's at its end.
    const live = files.length === 1;
    const output = [];
    child.stdout.on('data', (c) => (live ? process.stdout.write(c) : output.push(c)));
    child.stderr.on('data', (c) => (live ? process.stderr.write(c) : output.push(c)));
    let timedOut = false;
    const timer =
      fileTimeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, fileTimeoutMs)
        : undefined;
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const seconds = (performance.now() - started) / 1000;
      const report = readReport(reportPath);
      const problems = problemsOf(report, { code, signal, timedOut, timeoutSeconds: fileTimeoutMs / 1000 });
      resolve({ file, seconds, output: Buffer.concat(output).toString(), report, problems });
    });
  });
}

const load0 = loadavg();
const t0 = performance.now();
const results = [];
let next = 0;
async function worker() {
  while (next < files.length) {
    const i = next++;
    const r = await runFile(files[i], i);
    results.push(r);
    const s = r.report.summary;
    const mark = r.problems.length === 0 ? '✔' : '✖';
    process.stdout.write(`${mark} ${r.file} (${s?.tests ?? r.report.counted} tests, ${r.seconds.toFixed(1)} s)\n`);
    if (verbose || r.problems.length > 0) process.stdout.write(r.output);
    for (const p of r.problems) process.stdout.write(`  ✖ ${r.file}: ${p}\n`);
  }
}
await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
const wall = (performance.now() - t0) / 1000;
rmSync(work, { recursive: true, force: true });

const sum = (k) => results.reduce((n, r) => n + (r.report.summary?.[k] ?? 0), 0);
const failed = results.filter((r) => r.problems.length > 0);
const seconds = (ms) => (ms === undefined ? '     ?' : (ms / 1000).toFixed(1).padStart(6));
console.log("\nslowest files (wall; CPU time of the file's own process, and of the processes it spawned and waited for):");
for (const r of [...results].sort((a, b) => b.seconds - a.seconds).slice(0, 12)) {
  const { cpuMs, childrenCpuMs } = r.report;
  console.log(
    `  ${r.seconds.toFixed(1).padStart(6)} s wall ${seconds(cpuMs)} s cpu ${seconds(childrenCpuMs)} s spawned  ${r.file}`,
  );
}
const total = (k) => results.reduce((n, r) => n + (r.report[k] ?? 0), 0) / 1000;
const fmt = (l) => l.map((x) => x.toFixed(2)).join(' ');
console.log(
  `\nfiles ${results.length}  tests ${sum('tests')}  pass ${sum('pass')}  fail ${sum('fail')}  ` +
    `skipped ${sum('skipped')}  todo ${sum('todo')}  cancelled ${sum('cancelled')}`,
);
console.log(
  `wall ${wall.toFixed(1)} s  cpu ${total('cpuMs').toFixed(1)} s (the files' own processes) + ${total('childrenCpuMs').toFixed(1)} s (spawned)  concurrency ${concurrency}  load average ${fmt(load0)} at start, ${fmt(loadavg())} at end`,
);
for (const r of failed) {
  for (const p of r.problems) console.log(`✖ ${r.file}: ${p}`);
  for (const f of r.report.failures) console.log(`    ✖ ${f.name}: ${f.error.split('\n')[0]}`);
}
process.exit(failed.length === 0 ? 0 : 1);
