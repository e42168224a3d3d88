#!/usr/bin/env node
/**
 * `npm run build`: compiles src/ into dist/ (tsconfig.build.json) without a moment when dist/
 * is missing or half written.
 *
 * tsc writes a fresh directory beside dist/ (`dist.build-<pid>`), which then takes dist/'s place
 * by two renames. A process that starts from dist/ while a build runs (a test run's CLI, a bench
 * server, a second test run that found src/ newer) finds the old build or the new one: before,
 * the build deleted dist/ first and a concurrent run could fail with "Cannot find module
 * dist/cli/main.js" for the whole of tsc's run. What is left is the instant between the two
 * renames. A fresh directory also means no file of a deleted source survives in dist/.
 *
 * A compile that fails (type errors included) leaves dist/ as it was and exits non-zero.
 * Directories of builds that were killed halfway (their process is gone) are removed.
 *
 *     node scripts/build.mjs
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const LEFTOVER = /^dist\.(build|old)-(\d+)$/;

/** Whether a process with this id still runs (kill with signal 0 only checks). */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return e.code === 'EPERM';
  }
}

for (const name of readdirSync(root)) {
  const m = LEFTOVER.exec(name);
  if (m && !alive(Number(m[2]))) rmSync(join(root, name), { recursive: true, force: true });
}

const next = join(root, `dist.build-${process.pid}`);
const old = join(root, `dist.old-${process.pid}`);
const dist = join(root, 'dist');
rmSync(next, { recursive: true, force: true });

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', next], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  rmSync(next, { recursive: true, force: true });
  console.error(`build: tsc failed (${r.status ?? r.signal}); dist/ is unchanged`);
  process.exit(r.status || 1);
}
if (existsSync(dist)) renameSync(dist, old);
renameSync(next, dist);
rmSync(old, { recursive: true, force: true });
