/**
 * Instructions per request of a server under callgrind: the one figure of this machine that does
 * not move with its load (valgrind counts instructions, not seconds).
 *
 *     node --import tsx bench/instructions.ts [--target me,floor-me,refresh,floor-refresh] [--warmup 4000] [--requests 3000] [--keep DIR]
 *
 * Each target is started under `valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes`
 * (`node --perf-basic-prof`: JIT code shows in the dump as addresses, which /tmp/perf-PID.map
 * names), driven over real sockets by
 * autocannon (4 connections): `--warmup` requests with the counters off (the JIT tiers up, caches
 * fill), then `callgrind_control -i on`, `--requests` requests, `-i off` and a dump. Reported: the
 * main thread's instructions per request and every thread's (GC and compiler threads included).
 * A window of a few thousand requests still moves by a few per cent between runs of the same
 * server (whether a major GC or a tier-up falls inside it), so compare servers measured in the
 * same run, and read the dump (`callgrind_annotate --inclusive=yes FILE`, kept with `--keep`) for
 * where a difference comes from.
 *
 * Instructions are not time. Under valgrind, OpenSSL sees no SHA extensions and hashes with its
 * AVX2 code, about four times the instructions SHA-NI takes on this machine's CPU (a refresh's six
 * SHA-256 calls: ~60k instructions here); a regular expression runs as irregexp's native code, many
 * instructions at a high rate. Check a saving found here with a CPU-time measurement of the code
 * (bench/harness.ts) before counting on it: in session 12, Ajv's per-character length walk (26k
 * instructions per refresh) and the duplicate-name scan (15k) were real savings (0.9 µs and 0.5 µs),
 * and fast-json-stringify's escape regex (12k) was not (a hand-written serializer was slower).
 *
 * Targets: `me` (`tessera serve`, production defaults, `GET /me`), `floor-me` (bare Fastify
 * constant route), `refresh` (`tessera serve` on a private Redis, `POST /auth/refresh`),
 * `floor-refresh` (bare Fastify + one EVALSHA), `refresh-memory` (`tessera serve` on the memory
 * store: the refresh path without a store round trip).
 *
 * @module
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon, { type AutocannonOptions, type AutocannonResult } from 'autocannon';
import { createTokenService } from '../src/refresh/service.js';
import { openStore } from '../src/stores/open.js';
import { bearerHeaders, fillPool, REFRESH_SERVE, refreshRequests, tesseraEnv } from './http.js';
import { ensureBuilt, PEERS, startPrivateRedis, TESSERA_CLI } from './procs.js';

interface Target {
  name: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Sets up what the requests need (a pool of refresh tokens) once the server listens. */
  prepare(url: string): Promise<Load>;
}

type Load = Omit<AutocannonOptions, 'url'>;

async function drive(url: string, options: Load, amount: number): Promise<number> {
  const result = await new Promise<AutocannonResult>((resolve, reject) => {
    autocannon({ ...options, url, connections: 4, amount, timeout: 120 }, (err, res) => (err ? reject(err) : resolve(res)));
  });
  const failed = result.non2xx + result.errors + result.timeouts;
  if (failed > 0) throw new Error(`${failed} of ${amount} requests failed`);
  return result['2xx'];
}

/** Starts `valgrind … node ARGS`; resolves with the URL of its "listening on" line. */
function startUnderCallgrind(target: Target, dir: string) {
  const child = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      '--instr-atstart=no',
      '--separate-threads=yes',
      `--callgrind-out-file=${join(dir, `${target.name}.%p.out`)}`,
      process.execPath,
      '--perf-basic-prof',
      ...target.args,
    ],
    { cwd: dir, env: { ...process.env, ...target.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (err.length < 16_384) err += d.toString();
  });
  return new Promise<{ url: string; pid: number; stop(): Promise<void> }>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${target.name} did not start: ${err}`)), 300_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.stdout?.removeAllListeners('data');
      child.stdout?.resume();
      resolve({
        url: m[1] as string,
        pid: child.pid as number,
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${target.name} exited (${code}): ${err}`));
    });
  });
}

function control(pid: number, ...args: string[]): void {
  const r = spawnSync('callgrind_control', [...args, String(pid)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`callgrind_control ${args.join(' ')}: ${r.stderr || r.stdout}`);
}

/** Instructions (Ir) of each thread's dump: the `summary:`/`totals:` line of every file of the run. */
function instructionsByThread(dir: string, name: string, pid: number): { main: number; all: number } {
  let main = 0;
  let all = 0;
  for (const file of readdirSync(dir)) {
    if (!file.startsWith(`${name}.${pid}.out`)) continue;
    const text = readFileSync(join(dir, file), 'utf8');
    const m = /^totals: (\d+)/m.exec(text);
    const ir = m ? Number(m[1]) : 0;
    all += ir;
    // --separate-threads names the files NAME.PID.out[.PART]-TT; thread 01 is the main thread.
    if (/-01$/.test(file)) main += ir;
  }
  return { main, all };
}

async function measure(target: Target, dir: string, warmup: number, requests: number) {
  const server = await startUnderCallgrind(target, dir);
  try {
    const options = await target.prepare(server.url);
    await drive(server.url, options, warmup);
    control(server.pid, '-z');
    control(server.pid, '-i', 'on');
    const done = await drive(server.url, options, requests);
    control(server.pid, '-i', 'off');
    control(server.pid, '-d');
    const ir = instructionsByThread(dir, target.name, server.pid);
    return { name: target.name, requests: done, mainPerRequest: ir.main / done, allPerRequest: ir.all / done };
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      target: { type: 'string', default: 'me,floor-me,refresh,floor-refresh' },
      warmup: { type: 'string', default: '4000' },
      requests: { type: 'string', default: '3000' },
      keep: { type: 'string' },
    },
  });
  if (spawnSync('valgrind', ['--version'], { stdio: 'ignore' }).status !== 0) throw new Error('valgrind is not installed');
  ensureBuilt((line) => process.stderr.write(`${line}\n`));
  const dir = values.keep ?? mkdtempSync(join(tmpdir(), 'tessera-instructions-'));
  mkdirSync(dir, { recursive: true });
  const redis = await startPrivateRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const headers = await bearerHeaders();
  // A real pair's sizes, so that the floor answers as many bytes as tessera does.
  const secret = tesseraEnv().TESSERA_SECRET as string;
  const sample = await createTokenService({ secret, store: await openStore('memory') }).issue({ sub: 'bench', scope: 'api' });
  const pool = (url: string) => async (): Promise<Load> => {
    const tokens: string[] = [];
    await fillPool(url, tokens, 16);
    return refreshRequests(tokens)();
  };
  const floorPool = async (): Promise<Load> => {
    let n = 0;
    const tokens = Array.from({ length: 16 }, () => `floor-${++n}-${'x'.repeat(40)}`);
    return refreshRequests(tokens)();
  };
  const home = (name: string) => ['--data-dir', join(dir, `home-${name}`)];
  const all: Record<string, Target> = {
    me: {
      name: 'me',
      args: [TESSERA_CLI, 'serve', '--port', '0', ...home('me')],
      env: tesseraEnv(),
      prepare: async () => ({ requests: [{ method: 'GET', path: '/me', headers }] }),
    },
    'floor-me': {
      name: 'floor-me',
      args: [PEERS, 'bare'],
      env: {},
      prepare: async () => ({ requests: [{ method: 'GET', path: '/me', headers }] }),
    },
    refresh: {
      name: 'refresh',
      args: [TESSERA_CLI, ...REFRESH_SERVE, '--store', redis.url, '--redis-prefix', 'tessera-cg:', ...home('refresh')],
      env: tesseraEnv(),
      prepare: (url) => pool(url)(),
    },
    'refresh-memory': {
      name: 'refresh-memory',
      args: [TESSERA_CLI, ...REFRESH_SERVE, '--store', 'memory', ...home('refresh-memory')],
      env: tesseraEnv(),
      prepare: (url) => pool(url)(),
    },
    'floor-refresh': {
      name: 'floor-refresh',
      args: [PEERS, 'redis-floor'],
      env: {
        REDIS_URL: redis.url,
        BENCH_AUTO_PIPELINING: '1',
        BENCH_ACCESS_LENGTH: String(sample.accessToken.length),
        BENCH_REFRESH_LENGTH: String(sample.refreshToken.length),
      },
      prepare: floorPool,
    },
  };
  const warmup = Number(values.warmup);
  const requests = Number(values.requests);
  const rows = [];
  try {
    for (const name of values.target.split(',')) {
      const target = all[name.trim()];
      if (!target) throw new Error(`unknown target ${name}: ${Object.keys(all).join(', ')}`);
      process.stderr.write(`instructions: ${name}: ${warmup} warm-up + ${requests} measured requests under callgrind\n`);
      rows.push(await measure(target, dir, warmup, requests));
    }
  } finally {
    await redis.stop();
    if (values.keep === undefined) rmSync(dir, { recursive: true, force: true });
  }
  console.log('| server | requests | main thread Ir/request | all threads Ir/request |');
  console.log('|---|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.name} | ${r.requests} | ${(r.mainPerRequest / 1000).toFixed(1)}k | ${(r.allPerRequest / 1000).toFixed(1)}k |`,
    );
  }
}

await main();
