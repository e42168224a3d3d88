/**
 * A real `tessera serve` child process on a free port, and a small fetch
 * client for it. The server prints "tessera listening on URL" once ready.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSecret } from '../../src/keys.js';

export const ROOT = new URL('../..', import.meta.url).pathname;
export const PASSWORD = 'correct horse battery staple';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Environment variables of ours that must not leak from the developer's shell into a test server. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('TESSERA_') && k !== 'REDIS_URL' && k !== 'PORT' && k !== 'HOST' && k !== 'NODE_ENV') env[k] = v;
  }
  return env;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `tessera ARGS` to completion. */
export function runCli(args: string[], env: Record<string, string>, input?: string, timeoutMs = 20_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: ROOT,
      env: { ...cleanEnv(), ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tessera ${args.join(' ')} timed out; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  env: Record<string, string>;
  /** Everything the process wrote so far. */
  output(): { stdout: string; stderr: string };
  /** Moves the server's clock (TESSERA_TEST_CLOCK_FILE) by `ms` from real time. */
  setClockOffset(ms: number): void;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
  /** The exit code, once the process exited. */
  exited: Promise<number | null>;
}

export interface StartServerOptions {
  env?: Record<string, string>;
  args?: string[];
  timeoutMs?: number;
}

/** Cleanup run once at process exit (one listener for all: temp dirs, stray children). */
const atExit: (() => void)[] = [];
process.once('exit', () => {
  for (const fn of atExit) {
    try {
      fn();
    } catch {
      // best effort
    }
  }
});
export function onExit(fn: () => void): void {
  atExit.push(fn);
}

/** A temp directory removed at process exit. */
export function tempDir(prefix = 'tessera-e2e-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onExit(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The environment of a test server: fresh secret, data dir and clock file; cheap scrypt. */
export function baseEnv(overrides: Record<string, string> = {}): Record<string, string> {
  const dir = tempDir();
  return {
    TESSERA_SECRET: generateSecret(),
    TESSERA_DATA_DIR: join(dir, 'data'),
    TESSERA_TEST_CLOCK_FILE: join(dir, 'clock'),
    TESSERA_SCRYPT_N: '1024',
    TESSERA_RATE_LIMIT: '1000',
    ...overrides,
  };
}

export function startServer(options: StartServerOptions = {}): Promise<ServerProcess> {
  const env = options.env ?? baseEnv();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--port', '0', ...(options.args ?? [])], {
    cwd: ROOT,
    env: { ...cleanEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  onExit(() => child.kill('SIGKILL'));

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start; stderr: ${stderr}`));
    }, options.timeoutMs ?? 20_000);
    const onData = () => {
      const m = /tessera listening on (http:\/\/\S+)/.exec(stdout);
      if (!m) return;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      resolve({
        url: m[1] as string,
        child,
        env,
        output: () => ({ stdout, stderr }),
        exited,
        setClockOffset(ms) {
          writeFileSync(env.TESSERA_TEST_CLOCK_FILE as string, String(ms));
        },
        async stop() {
          if (child.exitCode !== null) return child.exitCode;
          child.kill('SIGTERM');
          return exited;
        },
      });
    };
    child.stdout?.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening; stderr: ${stderr}`));
    });
  });
}

export interface Res {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown>;
}

/** One HTTP call: `body` objects are sent as JSON, `form` objects form-encoded. */
export async function call(
  base: string,
  method: string,
  path: string,
  opts: { json?: unknown; form?: Record<string, string>; token?: string; headers?: Record<string, string> } = {},
): Promise<Res> {
  const headers: Record<string, string> = { ...opts.headers };
  let body: string | undefined;
  if (opts.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(opts.form).toString();
  }
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const res = await fetch(base + path, { method, headers, body });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** A free TCP port (for a private redis-server). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** True when a Redis answers at `url` (PING over a raw socket, no client library needed). */
export async function redisAvailable(url = REDIS_URL): Promise<boolean> {
  const { hostname, port } = new URL(url);
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const sock = connect({ host: hostname, port: Number(port) || 6379 });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}
