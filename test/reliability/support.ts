/**
 * Shared machinery of the reliability suites: what they run their
 * `tessera` processes with (test/support/processes.ts starts them), private
 * redis-server instances on spare ports (never the shared one on 6379), logins,
 * polling, and the oracles and statistics the suites share.
 *
 * Everything listens on 127.0.0.1 only.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { call, exitOf, freePort, PASSWORD, ROOT, runCli, type Suite, tempDir, track } from '../support/processes.js';

/**
 * Rate limiting off (suites that test under a limit set TESSERA_RATE_LIMIT
 * themselves), no clock file, warn-level logs, and the test run's NODE_OPTIONS
 * kept out of the children.
 */
export const RELIABILITY: Suite = { rateLimit: 0, clockFile: false, logLevel: 'warn', dropNodeOptions: true, timeoutMs: 30_000 };

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

/** Adds users through the CLI (one process per user: they share the server's store and scrypt cost). */
export async function addUsers(env: Record<string, string>, names: string[]): Promise<void> {
  for (const name of names) {
    const r = await runCli(RELIABILITY, ['user', 'add', name], env, PASSWORD);
    if (r.code !== 0) throw new Error(`user add ${name} failed: ${r.stderr}`);
  }
}

// ---------------------------------------------------------------------------
// Logins, polling, oracles, statistics.

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
