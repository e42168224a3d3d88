/**
 * Shared machinery of the reliability suites (issue 6): private redis-server
 * instances on spare ports (never the shared one on 6379), real `tessera serve`
 * child processes, a keep-alive HTTP client, and process/temp-dir cleanup that
 * runs even when a test fails.
 *
 * Everything listens on 127.0.0.1 only.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateSecret } from '../../src/keys.js';

export const ROOT = new URL('../..', import.meta.url).pathname;
export const PASSWORD = 'correct horse battery staple';
export const ON_CI = process.env.CI === 'true' || process.env.CI === '1';
export const HAS_REDIS_SERVER = spawnSync('redis-server', ['--version']).status === 0;

/**
 * `describe` options for suites that need the redis-server binary: skipped
 * locally without it, a hard failure with CI=true (never a skip there).
 */
export function needsRedisServer(): { skip?: string } {
  if (HAS_REDIS_SERVER) return {};
  if (ON_CI) throw new Error('CI=true but there is no redis-server binary: the reliability suites must not skip on CI');
  return { skip: 'no redis-server binary (these tests never skip with CI=true)' };
}

// ---------------------------------------------------------------------------
// Cleanup: every child process and temp dir, on normal exit and on failure.

const children = new Set<ChildProcess>();
const dirs = new Set<string>();
process.once('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** A temp directory, removed at process exit at the latest (or earlier with {@link removeDir}). */
export function tempDir(prefix = 'tessera-rel-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(d);
  return d;
}

export function removeDir(d: string): void {
  rmSync(d, { recursive: true, force: true });
  dirs.delete(d);
}

function exitOf(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

// ---------------------------------------------------------------------------
// Private Redis.

export interface RedisProcess {
  port: number;
  url: string;
  dir: string;
  child: ChildProcess;
  /** redis-cli against this instance; stdout trimmed. */
  cli(...args: string[]): string;
  /** SIGKILL (no shutdown save) and wait for the exit. */
  kill(): Promise<void>;
}

export interface RedisOptions {
  port?: number;
  /** Data directory (reuse it to restart with the same append-only file). */
  dir?: string;
  /** appendonly yes + appendfsync always: every acknowledged write survives a SIGKILL. */
  persistent?: boolean;
}

export async function startRedis(options: RedisOptions = {}): Promise<RedisProcess> {
  const port = options.port ?? (await freePort());
  const dir = options.dir ?? tempDir('tessera-redis-');
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--protected-mode', 'yes'];
  // DEBUG DIGEST (a hash of the whole dataset) proves that a restart lost nothing; local connections only.
  args.push('--enable-debug-command', 'local');
  if (options.persistent) args.push('--appendonly', 'yes', '--appendfsync', 'always', '--appenddirname', 'aof');
  else args.push('--appendonly', 'no');
  const child = track(spawn('redis-server', args, { stdio: 'ignore' }));
  const cli = (...a: string[]) =>
    (spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...a], { encoding: 'utf8' }).stdout ?? '').trim();
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`redis-server on ${port} exited with ${child.exitCode}`);
    if (cli('ping') === 'PONG') {
      // Loading an AOF: wait until it answers commands, not just PING.
      if (!/loading:1/.test(cli('info', 'persistence'))) break;
    }
    await sleep(50);
  }
  if (cli('ping') !== 'PONG') throw new Error(`redis-server on ${port} did not start`);
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    child,
    cli,
    async kill() {
      child.kill('SIGKILL');
      await exitOf(child);
    },
  };
}

// ---------------------------------------------------------------------------
// tessera servers.

/** Our variables must not leak from the developer's shell into a test server. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('TESSERA_') && !['REDIS_URL', 'PORT', 'HOST', 'NODE_ENV', 'NODE_OPTIONS'].includes(k)) env[k] = v;
  }
  return env;
}

/** A test server's environment: a fresh secret and data dir, cheap scrypt, a high rate limit, quiet logs. */
export function serverEnv(overrides: Record<string, string> = {}): Record<string, string> {
  const dir = tempDir();
  return {
    TESSERA_SECRET: generateSecret(),
    TESSERA_DATA_DIR: join(dir, 'data'),
    TESSERA_SCRYPT_N: '1024',
    TESSERA_RATE_LIMIT: '0',
    TESSERA_LOG_LEVEL: 'warn',
    ...overrides,
  };
}

export interface TesseraProcess {
  url: string;
  port: number;
  pid: number;
  child: ChildProcess;
  env: Record<string, string>;
  output(): { stdout: string; stderr: string };
  /** Resident set size of the process in KiB (/proc/<pid>/status VmRSS). */
  rssKiB(): number;
  /** SIGTERM (graceful) and wait. */
  stop(): Promise<void>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
}

export function startTessera(env: Record<string, string>, args: string[] = [], timeoutMs = 30_000): Promise<TesseraProcess> {
  const child = track(
    spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--host', '127.0.0.1', '--port', '0', ...args], {
      cwd: ROOT,
      env: { ...cleanEnv(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tessera did not start within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`tessera exited with ${code} before listening; stderr: ${stderr}`));
    };
    child.once('exit', onExit);
    const onData = () => {
      const m = /tessera listening on (http:\/\/\S+)/.exec(stdout);
      if (!m) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      child.stdout?.off('data', onData);
      const url = m[1] as string;
      resolve({
        url,
        port: Number(new URL(url).port),
        pid: child.pid as number,
        child,
        env,
        output: () => ({ stdout, stderr }),
        rssKiB: () => {
          const m2 = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
          return m2 ? Number(m2[1]) : Number.NaN;
        },
        async stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          await exitOf(child);
        },
        async kill() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          await exitOf(child);
        },
      });
    };
    child.stdout?.on('data', onData);
  });
}

/** Runs `tessera ARGS` (e.g. `user add`) to completion with `input` on stdin. */
export function runCli(
  args: string[],
  env: Record<string, string>,
  input = '',
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = track(
      spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
        cwd: ROOT,
        env: { ...cleanEnv(), ...env },
        stdio: ['pipe', 'ignore', 'pipe'],
      }),
    );
    let stderr = '';
    child.stderr?.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tessera ${args.join(' ')} timed out`));
    }, 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
    child.stdin?.end(input);
  });
}

/** Adds users through the CLI (one process per user: they share the server's store and scrypt cost). */
export async function addUsers(env: Record<string, string>, names: string[]): Promise<void> {
  for (const name of names) {
    const r = await runCli(['user', 'add', name], env, PASSWORD);
    if (r.code !== 0) throw new Error(`user add ${name} failed: ${r.stderr}`);
  }
}

// ---------------------------------------------------------------------------
// HTTP client: node:http with keep-alive (any method, any header, no fetch quirks).

export interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test responses are read loosely
  json: any;
}

export interface CallOptions {
  json?: unknown;
  form?: Record<string, string>;
  body?: string | Buffer;
  token?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

const agents = new Map<number, Agent>();
export function agentFor(maxSockets = 32): Agent {
  let a = agents.get(maxSockets);
  if (!a) {
    a = new Agent({ keepAlive: true, maxSockets });
    agents.set(maxSockets, a);
  }
  return a;
}
process.once('exit', () => {
  for (const a of agents.values()) a.destroy();
});

export function call(base: string, method: string, path: string, opts: CallOptions = {}, agent = agentFor()): Promise<Res> {
  const headers: Record<string, string> = {};
  let body: string | Buffer | undefined = opts.body;
  if (opts.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(opts.form).toString();
  }
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  Object.assign(headers, opts.headers);
  // node:http frames a GET/DELETE/OPTIONS body with neither Content-Length nor chunking (the body
  // would read as the next request): always frame it, as any real client does.
  const framed = Object.keys(headers).some((k) => ['content-length', 'transfer-encoding'].includes(k.toLowerCase()));
  if (body !== undefined && !framed) {
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: u.hostname, port: u.port, path, method, headers, agent, timeout: opts.timeoutMs ?? 15_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

export interface TokenBody {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  token_type: string;
}

export async function login(base: string, username: string, password = PASSWORD): Promise<TokenBody> {
  const r = await call(base, 'POST', '/auth/token', { form: { grant_type: 'password', username, password } });
  if (r.status !== 200) throw new Error(`login ${username}: ${r.status} ${r.text}`);
  return r.json as TokenBody;
}

/** Polls `fn` until it returns true or `ms` pass. */
export async function waitFor(fn: () => Promise<boolean> | boolean, ms: number, what: string, stepMs = 100): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await sleep(stepMs);
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/** Fails the response if its body carries a stack trace or a path of this machine. */
export function leakProblem(text: string): string | undefined {
  if (/\bat [^\n]*\(?[^\s()]+\.(?:ts|js|mjs|cjs):\d+/.test(text)) return 'stack trace';
  if (text.includes(ROOT) || /\/(?:work|home|tmp|usr)\/[\w.-]+\//.test(text)) return 'filesystem path';
  if (/node_modules|node:internal|\bfile:\/\//.test(text)) return 'module path';
  if (/\b(?:TypeError|ReferenceError|RangeError|SyntaxError|SqliteError|ReplyError)\b/.test(text)) return 'internal error name';
  return undefined;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.floor(q * (s.length - 1))))] as number;
}
