/**
 * Child processes of the benchmarks: servers under test (`tessera serve` from
 * dist/, the baselines of bench/servers/peers.mjs) and a private Redis.
 *
 * A private `redis-server` (when one is on PATH) keeps the measurements apart
 * from whatever else uses the shared Redis: its command counters (one round trip
 * per refresh) and its memory figures (bytes per family) are then ours alone.
 *
 * @module
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const TESSERA_CLI = join(ROOT, 'dist', 'cli', 'main.js');
export const PEERS = join(ROOT, 'bench', 'servers', 'peers.mjs');
/** oidc-provider configured as tessera's bench server (bench/peers.ts). */
export const OIDC_PROVIDER_SERVER = join(ROOT, 'bench', 'servers', 'oidc-provider.mjs');

export interface ChildServer {
  name: string;
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts `node ARGS` and waits for a "listening on URL" line on stdout. Stderr is
 * kept for the error message when the process exits or takes more than `timeoutMs`.
 */
export function startServer(
  name: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 20_000,
): Promise<ChildServer> {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (err.length < 8192) err += d.toString();
  });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      const force = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(force);
        resolve();
      });
      child.kill('SIGTERM');
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`${name} did not start within ${timeoutMs / 1000} s: ${err.trim()}`));
    }, timeoutMs);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout?.removeAllListeners('data');
        child.stdout?.resume();
        resolve({ name, url: m[1] as string, child, stop });
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code ?? signal}) before listening: ${err.trim() || out.trim()}`));
    });
  });
}

/** A free TCP port on 127.0.0.1 (bound, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface PrivateRedis {
  url: string;
  /** True when this is our own redis-server; false when falling back to a shared one. */
  private: boolean;
  stop(): Promise<void>;
}

/**
 * A redis-server of our own on a free port, without persistence; falls back to
 * `fallbackUrl` (REDIS_URL or 127.0.0.1:6379) when redis-server is not installed.
 */
export async function startPrivateRedis(fallbackUrl: string): Promise<PrivateRedis> {
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) {
    return { url: fallbackUrl, private: false, stop: async () => {} };
  }
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (/Ready to accept connections/.test(out)) {
        clearTimeout(timer);
        child.stdout?.removeAllListeners('data');
        child.stdout?.resume();
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code}): ${out}`));
    });
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    private: true,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    newest = Math.max(newest, s.isDirectory() ? newestMtime(p) : s.mtimeMs);
  }
  return newest;
}

/**
 * The HTTP benchmarks run the built server (dist/), as users do. Rebuilds it when
 * a file of src/ is newer than dist/cli/main.js; keeps the old build (and says
 * so) when the rebuild fails, e.g. while someone is halfway through an edit.
 */
export function ensureBuilt(log: (line: string) => void): void {
  const built = existsSync(TESSERA_CLI) ? statSync(TESSERA_CLI).mtimeMs : 0;
  if (built >= newestMtime(join(ROOT, 'src'))) return;
  log('bench: dist/ is older than src/: npm run build');
  // scripts/build.mjs: a failed compile leaves dist/ as it was, and servers started meanwhile find a whole dist/.
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) {
    if (!existsSync(TESSERA_CLI)) throw new Error(`npm run build failed:\n${r.stdout}${r.stderr}`);
    log(`bench: the build failed, benchmarking the previous dist/:\n${(r.stdout + r.stderr).split('\n').slice(0, 5).join('\n')}`);
  }
}
