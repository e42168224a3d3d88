#!/usr/bin/env node
// The long soak (issue 6): test/reliability/soak.test.ts with a longer load phase.
//   npm run soak                 # 600 s of load (SOAK_SECONDS overrides)
//   npm run soak -- --seconds 1800
// Needs the redis-server binary (the test starts its own on a spare port). Prints
// the figures (requests, RSS in the second half, key counts) at the end.
import { spawn } from 'node:child_process';

const args = process.argv.slice(2);
const i = args.indexOf('--seconds');
const seconds = i >= 0 ? Number(args[i + 1]) : Number(process.env.SOAK_SECONDS ?? 600);
if (!Number.isInteger(seconds) || seconds < 20) {
  console.error('soak: --seconds must be an integer >= 20');
  process.exit(2);
}
const root = new URL('..', import.meta.url).pathname;
console.error(`soak: ${seconds} s of load, then the token lifetimes run out`);
const child = spawn(process.execPath, ['scripts/run-tests.mjs', 'reliability/soak'], {
  cwd: root,
  env: { ...process.env, SOAK_SECONDS: String(seconds) },
  stdio: 'inherit',
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
