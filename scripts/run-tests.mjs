#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's test runner through tsx (Node 20's
// --test has no glob support). Extra arguments are path filters:
//   npm test -- stores        # only files whose path contains "stores"
//   npm run test:quick        # the developer loop: --quick (see QUICK_EXCLUDE)
//   node scripts/run-tests.mjs --quick --list   # which files --quick runs
// `npm test` (no --quick) is the whole suite, the one CI runs.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const args = process.argv.slice(2);
/** Our own flags; every other `-...` argument goes to `node --test`. */
const OWN_FLAGS = new Set(['--quick', '--list']);
const quick = args.includes('--quick');
const listOnly = args.includes('--list');
const filters = args.filter((a) => !a.startsWith('-'));
const passThrough = args.filter((a) => a.startsWith('-') && !OWN_FLAGS.has(a));

/**
 * What `--quick` leaves out: whatever spawns processes or servers, needs Redis,
 * Chromium or Python, or runs for long (statistics, soak, fuzzing with many
 * cases). What stays: unit tests, the store contract on memory and SQLite, and
 * the HTTP routes through Fastify's `inject()`. The one place this list lives.
 */
const QUICK_EXCLUDE = [
  'test/e2e/', // the built server and CLI, spawned
  'test/reliability/', // statistics (timing), soak, fault injection, long fuzzing
  'test/browser/', // Chromium
  'test/interop/', // Python
  'test/bench/', // spawns the benchmarks
  'test/package.test.ts', // npm pack and install
  'test/stores/redis', // Redis and Redis Cluster stores
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

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.test.ts') ? [p] : [];
  });
}

const files = walk(join(root, 'test'))
  .map((p) => relative(root, p))
  .filter((p) => !quick || !QUICK_EXCLUDE.some((x) => p.startsWith(x)))
  .filter((p) => filters.length === 0 || filters.some((f) => p.includes(f)))
  .sort();
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}${quick ? ' (with --quick)' : ''}`);
  process.exit(1);
}
if (listOnly) {
  console.log(files.join('\n'));
  process.exit(0);
}
// --test-force-exit: a test file's process ends once its tests have finished. Without it, a
// file whose tests all passed could keep its process alive (seen with
// test/reliability/postgres-outage: sockets of a cut TCP proxy), and the run would never end.
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-force-exit', '--test-concurrency=2', '--test-reporter=spec', ...passThrough, ...files],
  { cwd: root, stdio: 'inherit', env: quick ? { ...process.env, ...QUICK_ENV } : process.env },
);
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
