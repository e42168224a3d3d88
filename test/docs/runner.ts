/**
 * The engine of the docs' shell walk-throughs (test/docs/docs.test.ts): a
 * sandbox with `tessera`, `npx` and `python3` on PATH, the script that runs a
 * section's steps between markers, and the comparison of each step's stdout
 * with its documented `# =>` output. The module header of docs.test.ts says
 * what differs from a reader's machine.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dropSchema, PG_URL } from '../stores/harness.js';
import { type ChildOutput, childOutput } from '../support/child-output.js';
import { type Block, matchesExpected, shellSteps } from './extract.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const MAIN = join(ROOT, 'dist/cli/main.js');
export const PY = process.env.TESSERA_TEST_PYTHON ?? '/usr/bin/python3';
const REDIS_URL = 'redis://127.0.0.1:6379';

// ---------------------------------------------------------------------------
// Services.

export async function redisUp(port = 6379): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => (sock.destroy(), resolve(ok));
    sock.setTimeout(1000, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

export async function dropRedisPrefix(prefix: string): Promise<void> {
  const { Redis } = await import('ioredis');
  const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    let cursor = '0';
    do {
      const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await r.del(...keys);
    } while (cursor !== '0');
  } catch {
    // Redis gone: nothing to remove.
  } finally {
    r.disconnect();
  }
}

export function freePort(): Promise<number> {
  return import('node:net').then(
    ({ createServer }) =>
      new Promise((resolve, reject) => {
        const srv = createServer();
        srv.on('error', reject);
        srv.listen(0, '127.0.0.1', () => {
          const a = srv.address();
          srv.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
        });
      }),
  );
}

/**
 * Runs `cmd args` to its exit with `input` on stdin, SIGKILLed after `timeoutMs` (status null then):
 * spawnSync's answer without blocking the event loop, so that the walk-throughs can run side by side.
 */
export function runProcess(
  cmd: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number } = {},
): Promise<ChildOutput> {
  const child = spawn(cmd, args, { env: options.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  return childOutput(child, { input: options.input, timeoutMs: options.timeoutMs });
}

/** The environment of a reader's shell: none of our variables from the developer's. */
export function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith('TESSERA_') || ['REDIS_URL', 'PORT', 'HOST', 'NODE_ENV', 'CI'].includes(k)) continue;
    env[k] = v;
  }
  return { ...env, TESSERA_SCRYPT_N: '16384', ...extra };
}

/** A temp directory with the `tessera`, `npx` and `python3` a reader would have on PATH. */
export function sandbox(): { dir: string; work: string; bin: string; serveLogs: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-docs-'));
  const work = join(dir, 'work');
  const bin = join(dir, 'bin');
  const serveLogs = join(dir, 'serve');
  for (const d of [work, bin, serveLogs]) mkdirSync(d);
  const shim = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  // `tessera serve` keeps its stdout (the listening line) in a file named by its pid, which
  // `$!` names too: exec keeps the pid through `npx` and this shim.
  shim(
    'tessera',
    `if [ "$1" = serve ]; then exec "${process.execPath}" "${MAIN}" "$@" >"${serveLogs}/$$.out"; fi\nexec "${process.execPath}" "${MAIN}" "$@"`,
  );
  shim('npx', 'exec "$@"');
  shim('python3', `exec "${PY}" "$@"`);
  return { dir, work, bin, serveLogs };
}

// ---------------------------------------------------------------------------
// Shell.

const PRELUDE = `set -o pipefail
__docs_step() { local s=$?; printf '\\n@@docs-step %s %s@@\\n' "$1" "$s"; printf '@@docs-step %s@@\\n' "$1" >&2; [ "$s" = 0 ] || exit 97; }
__docs_listening() {
  local pid=$1 n=0
  while [ $n -lt 400 ]; do
    grep -q 'listening on' "$DOCS_SERVE_LOGS/$pid.out" 2>/dev/null && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"; local s=$?
      echo "docs: tessera serve (pid $pid) exited with status $s before listening" >&2
      [ "$s" = 0 ] && return 1; return "$s"
    fi
    sleep 0.1; n=$((n + 1))
  done
  echo "docs: tessera serve (pid $pid) did not listen within 40 s" >&2; return 1
}
__docs_serve_and_stop() { __docs_listening "$1" || return; kill -TERM "$1"; wait "$1"; }
`;

const SERVE = /^(?:\w+=(?:\$\([^)]*\)|\S)*\s+)*(?:npx\s+)?tessera\s+serve\b/;

interface Substitutions {
  ports: [number, number];
  pgUrl: string;
}

function substitute(text: string, s: Substitutions): string {
  return text
    .replace(/\b3000\b/g, String(s.ports[0]))
    .replace(/\b3001\b/g, String(s.ports[1]))
    .replaceAll('0.0.0.0', '127.0.0.1')
    .replaceAll('postgres://postgres@127.0.0.1:5432/tessera', s.pgUrl);
}

interface StepRun {
  file: string;
  line: number;
  code: string;
  expected?: string[];
}

/** The script of a file's shell blocks: each step between markers that carry the previous step's status. */
function shellScript(blocks: Block[], s: Substitutions): { script: string; steps: StepRun[] } {
  const steps: StepRun[] = blocks.flatMap((b) =>
    shellSteps(b).map((st) => ({
      file: b.file,
      line: st.line,
      code: substitute(st.code, s),
      ...(st.expected ? { expected: st.expected.map((e) => substitute(e, s)) } : {}),
    })),
  );
  let script = PRELUDE;
  steps.forEach((st, k) => {
    script += `__docs_step ${k}\n`;
    // One command, continuation lines joined, its comment dropped.
    const flat = st.code
      .replace(/\\\n\s*/g, ' ')
      .replace(/\s#.*$/, '')
      .trim();
    const isServe = !flat.includes('\n') && SERVE.test(flat) && !/--help/.test(flat);
    if (isServe && /[^&]&$/.test(flat)) script += `${flat}\n__docs_listening $!\n`;
    else if (isServe && !/[;&|]/.test(flat)) script += `${flat} &\n__docs_serve_and_stop $!\n`;
    else script += `${st.code}\n`;
  });
  script += `__docs_step ${steps.length}\n`;
  return { script, steps };
}

function runBash(
  script: string,
  cwd: string,
  env: Record<string, string>,
  timeoutMs: number,
): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve) => {
    const child: ChildProcess = spawn('bash', ['-c', script], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const killGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      stderr += `\ndocs: timed out after ${timeoutMs} ms`;
      killGroup();
    }, timeoutMs);
    // Servers a walk-through left in the background end with its shell (they hold its stderr open).
    child.on('exit', (code) => {
      clearTimeout(timer);
      killGroup();
      child.on('close', () => resolve({ stdout, stderr, code }));
    });
  });
}

const MARK = /\n?@@docs-step (\d+) (\d+)@@\n/;

export async function runShellSection(blocks: Block[], needs: { redis: boolean; pg: boolean }): Promise<void> {
  const box = sandbox();
  const ports: [number, number] = [await freePort(), await freePort()];
  const tag = randomBytes(4).toString('hex');
  const redisPrefix = `tessera-docs-${tag}:`;
  const schema = `docs_${tag}`;
  const subs: Substitutions = { ports, pgUrl: `${PG_URL}?schema=${schema}` };
  const { script, steps } = shellScript(blocks, subs);
  const env = cleanEnv({
    PATH: `${box.bin}:${process.env.PATH}`,
    HOME: box.dir,
    PORT: String(ports[0]),
    TESSERA_REDIS_PREFIX: redisPrefix,
    DOCS_SERVE_LOGS: box.serveLogs,
  });
  try {
    const r = await runBash(script, box.work, env, 150_000);
    const parts = r.stdout.split(MARK);
    // parts: [before STEP 0, k0, s0, out0, k1, s1, out1, ...]
    const outputs = new Map<number, string>();
    const statuses = new Map<number, number>();
    for (let i = 1; i < parts.length; i += 3) {
      const k = Number(parts[i]);
      statuses.set(k, Number(parts[i + 1]));
      outputs.set(k, parts[i + 2] ?? '');
    }
    const stderrOf = (k: number) => r.stderr.split(`@@docs-step ${k}@@\n`)[1]?.split('@@docs-step')[0] ?? r.stderr.slice(-2000);
    for (let k = 0; k < steps.length; k++) {
      const st = steps[k]!;
      const status = statuses.get(k + 1);
      assert.ok(
        status !== undefined,
        `${st.file}:${st.line}: \`${st.code}\` did not finish (bash exit ${r.code})\n${stderrOf(k)}`,
      );
      assert.equal(status, 0, `${st.file}:${st.line}: \`${st.code}\` exited with status ${status}\n${stderrOf(k)}`);
      const out = outputs.get(k) ?? '';
      if (st.expected)
        assert.ok(
          matchesExpected(st.expected, out),
          `${st.file}:${st.line}: \`${st.code}\` printed\n${out.trim()}\nwhere the doc says\n${st.expected.join('\n')}`,
        );
    }
  } finally {
    rmSync(box.dir, { recursive: true, force: true });
    if (needs.redis) await dropRedisPrefix(redisPrefix);
    if (needs.pg) await dropSchema(schema).catch(() => {});
  }
}
