/**
 * Real `tessera` child processes for the suites that test the built program
 * (test/e2e, test/browser, test/reliability): `tessera serve` on a free port,
 * `tessera user add` and other CLI runs, a keep-alive HTTP client, and
 * process/temp-dir cleanup that runs even when a test fails.
 *
 * What differs between those suites is one {@link Suite} each suite states once
 * (E2E in test/e2e/helpers.ts, RELIABILITY in test/reliability/support.ts) and
 * passes to every helper here.
 *
 * Everything listens on 127.0.0.1 only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, type IncomingHttpHeaders, request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSecret } from '../../src/keys.js';
import { childOutput } from './child-output.js';

export const ROOT = new URL('../..', import.meta.url).pathname;
export const PASSWORD = 'correct horse battery staple';

/** How one suite runs tessera processes. */
export interface Suite {
  /** TESSERA_RATE_LIMIT of its servers (requests per client IP per window; 0 turns the limiter off). */
  rateLimit: number;
  /**
   * A TESSERA_TEST_CLOCK_FILE per server, for {@link ServerProcess.setClockOffset}.
   * The server re-reads the file on every clock read.
   */
  clockFile: boolean;
  /** TESSERA_LOG_LEVEL of its servers; unset: the server's default. */
  logLevel?: string;
  /** Keep the test run's NODE_OPTIONS out of its children too, not only our own variables. */
  dropNodeOptions: boolean;
  /** How long a server may take to listen, and a CLI run to exit. */
  timeoutMs: number;
}

// ---------------------------------------------------------------------------
// Cleanup: every child process and temp dir, on normal exit and on failure.

const children = new Set<ChildProcess>();
const dirs = new Set<string>();
const atExit: (() => void)[] = [];
process.once('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  for (const fn of atExit) {
    try {
      fn();
    } catch {
      // best effort
    }
  }
});

/** Runs `fn` once at process exit (best effort: a throw is ignored). */
export function onExit(fn: () => void): void {
  atExit.push(fn);
}

/** SIGKILLs `child` at process exit if it is still running then. */
export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** A temp directory, removed at process exit at the latest (or earlier with {@link removeDir}). */
export function tempDir(prefix = 'tessera-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(d);
  return d;
}

export function removeDir(d: string): void {
  rmSync(d, { recursive: true, force: true });
  dirs.delete(d);
}

/** Resolves with the exit code once `child` exited (at once if it already has). */
export function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
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
// tessera processes.

/** Our variables must not leak from the developer's shell into a test server. */
function cleanEnv(suite: Suite): NodeJS.ProcessEnv {
  const drop = ['REDIS_URL', 'PORT', 'HOST', 'NODE_ENV', ...(suite.dropNodeOptions ? ['NODE_OPTIONS'] : [])];
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('TESSERA_') && !drop.includes(k)) env[k] = v;
  }
  return env;
}

/**
 * The node arguments that run `tessera`: dist/cli/main.js when scripts/run-tests.mjs has made
 * sure dist/ is built from the current src/ (TESSERA_TEST_DIST=1, a run without --quick), else
 * src/cli/main.ts through tsx (a --quick run, `npm run coverage`, which counts src/ only, or a
 * file run by hand). The same code either way; the built one starts in a third of the time.
 */
export const TESSERA_CLI: readonly string[] =
  process.env.TESSERA_TEST_DIST === '1'
    ? [join(ROOT, 'dist/cli/main.js')]
    : ['--import', import.meta.resolve('tsx'), join(ROOT, 'src/cli/main.ts')];

function spawnTessera(suite: Suite, args: string[], env: Record<string, string>, stdin: 'pipe' | 'ignore'): ChildProcess {
  return track(
    spawn(process.execPath, [...TESSERA_CLI, ...args], {
      cwd: ROOT,
      env: { ...cleanEnv(suite), ...env },
      stdio: [stdin, 'pipe', 'pipe'],
    }),
  );
}

/** A test server's environment: a fresh secret and data dir, cheap scrypt, and the suite's rate limit, clock file and log level. */
export function serverEnv(suite: Suite, overrides: Record<string, string> = {}): Record<string, string> {
  const dir = tempDir();
  return {
    TESSERA_SECRET: generateSecret(),
    TESSERA_DATA_DIR: join(dir, 'data'),
    ...(suite.clockFile ? { TESSERA_TEST_CLOCK_FILE: join(dir, 'clock') } : {}),
    TESSERA_SCRYPT_N: '1024',
    TESSERA_RATE_LIMIT: String(suite.rateLimit),
    // One issuer for every instance and restart (each listens on a port of its own, and the default
    // issuer is that URL): as in production, where instances behind one name share TESSERA_ISSUER.
    TESSERA_ISSUER: 'http://tessera.test',
    ...(suite.logLevel === undefined ? {} : { TESSERA_LOG_LEVEL: suite.logLevel }),
    ...overrides,
  };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `tessera ARGS` (e.g. `user add`) to completion with `input` on stdin. */
export function runCli(suite: Suite, args: string[], env: Record<string, string>, input = ''): Promise<CliResult> {
  return childOutput(spawnTessera(suite, args, env, 'pipe'), {
    input,
    timeoutMs: suite.timeoutMs,
    onTimeout: (stderr) => new Error(`tessera ${args.join(' ')} timed out; stderr: ${stderr}`),
  }).then(({ status, stdout, stderr }) => ({ code: status, stdout, stderr }));
}

/**
 * Registers a confidential client allowed to introspect (`tessera client add ID --confidential
 * --introspect`) in the store of `env`; returns its RFC 6749 §2.3.1 Basic Authorization header.
 */
export async function addIntrospector(suite: Suite, env: Record<string, string>, id = 'rs'): Promise<Record<string, string>> {
  const r = await runCli(suite, ['client', 'add', id, '--confidential', '--introspect'], env);
  if (r.code !== 0) throw new Error(`tessera client add ${id} failed: ${r.stderr}`);
  const { client_secret } = JSON.parse(r.stdout) as { client_secret: string };
  return { authorization: `Basic ${Buffer.from(`${id}:${client_secret}`).toString('base64')}` };
}

export interface ServerProcess {
  url: string;
  port: number;
  pid: number;
  child: ChildProcess;
  env: Record<string, string>;
  /** Everything the process wrote so far. */
  output(): { stdout: string; stderr: string };
  /** Moves the server's clock (TESSERA_TEST_CLOCK_FILE: a suite with `clockFile`) by `ms` from real time. */
  setClockOffset(ms: number): void;
  /** Resident set size of the process in KiB (/proc/<pid>/status VmRSS). */
  rssKiB(): number;
  /** SIGTERM (graceful) and wait for the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait. */
  kill(): Promise<number | null>;
  /** The exit code, once the process exited. */
  exited: Promise<number | null>;
}

/** Starts `tessera serve` on a free port of 127.0.0.1; resolves once it prints "tessera listening on URL". */
export function startServer(suite: Suite, env: Record<string, string>, args: string[] = []): Promise<ServerProcess> {
  const child = spawnTessera(suite, ['serve', '--host', '127.0.0.1', '--port', '0', ...args], env, 'ignore');
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  const exited = exitOf(child);
  const signal = async (sig: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    return exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tessera did not start within ${suite.timeoutMs} ms; stderr: ${stderr}`));
    }, suite.timeoutMs);
    const onEarlyExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`tessera exited with ${code} before listening; stderr: ${stderr}`));
    };
    child.once('exit', onEarlyExit);
    const onData = () => {
      const m = /tessera listening on (http:\/\/\S+)/.exec(stdout);
      if (!m) return;
      clearTimeout(timer);
      child.off('exit', onEarlyExit);
      child.stdout?.off('data', onData);
      const url = m[1] as string;
      resolve({
        url,
        port: Number(new URL(url).port),
        pid: child.pid as number,
        child,
        env,
        output: () => ({ stdout, stderr }),
        setClockOffset(ms) {
          const file = env.TESSERA_TEST_CLOCK_FILE;
          if (!file) throw new Error('setClockOffset: this server has no TESSERA_TEST_CLOCK_FILE');
          writeFileSync(file, String(ms));
        },
        rssKiB: () => {
          const m2 = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
          return m2 ? Number(m2[1]) : Number.NaN;
        },
        stop: () => signal('SIGTERM'),
        kill: () => signal('SIGKILL'),
        exited,
      });
    };
    child.stdout?.on('data', onData);
  });
}

// ---------------------------------------------------------------------------
// HTTP client: node:http with keep-alive (any method, any header, no fetch quirks).

export interface Res {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** The parsed body; undefined when it is empty or not JSON. */
  // biome-ignore lint/suspicious/noExplicitAny: test responses are read loosely
  json: any;
}

export interface CallOptions {
  /** Sent as JSON. */
  json?: unknown;
  /** Sent form-encoded. */
  form?: Record<string, string>;
  /** Sent as is. */
  body?: string | Buffer;
  /** Sent as `Authorization: Bearer TOKEN`. */
  token?: string;
  /** Sent last: they override the headers the options above set. */
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
onExit(() => {
  for (const a of agents.values()) a.destroy();
});

/** One HTTP call. */
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
