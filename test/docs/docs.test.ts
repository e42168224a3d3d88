/**
 * The docs as tests: every shell, Python and TypeScript block of README.md and
 * docs/*.md runs as written (test/docs/extract.ts has the marks and the `# =>`
 * output convention), so a walk-through cannot drift from the code.
 *
 * - Shell: the blocks of one `##` section run in order in one bash, in an empty
 *   directory, with `tessera` (and `npx tessera`) the built CLI
 *   (`node dist/cli/main.js`) and `python3` the system Python. A step's stdout
 *   is compared with its `# =>` lines; a step that exits non-zero fails the
 *   file. `cmd &` on `tessera serve` waits until the server listens; a
 *   `tessera serve` in the foreground is started, must listen, and is stopped.
 * - Python: each block runs with /usr/bin/python3 against a real server; a block
 *   with an `id` is followed by that id's driver below, which calls what it
 *   defines with real tokens and prints what is compared.
 * - TypeScript: every block is type-checked (tsc, `tessera-auth` resolving to
 *   dist/ through the package's self-reference); a block that uses none of the
 *   names of test/docs/ambient.d.ts is also run with tsx.
 *
 * What differs from a reader's machine, and why: ports 3000 and 3001 become free
 * ports (tests run side by side); 0.0.0.0 becomes 127.0.0.1 (CI listens on
 * loopback only); the Redis prefix and the PostgreSQL schema are the run's own
 * (TESSERA_REDIS_PREFIX, `postgres://postgres@127.0.0.1:5432/tessera` becomes
 * the test database with a schema of its own), removed afterwards; scrypt is
 * cheaper (TESSERA_SCRYPT_N), which no documented output shows.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generateSecret } from '../../src/keys.js';
import { PG_URL, postgresUnavailable } from '../stores/harness.js';
import { type Block, blocksOf, docFiles, LISTING, PYTHON, SHELL, TYPESCRIPT } from './extract.js';
import { cleanEnv, freePort, MAIN, PY, ROOT, redisUp, runProcess, runShellSection } from './runner.js';

const TSX = fileURLToPath(import.meta.resolve('tsx'));
const CI = process.env.CI === 'true';

const FILES = docFiles(ROOT);
const ALL: Block[] = FILES.flatMap((f) => blocksOf(ROOT, f));
const KNOWN = new Set([...SHELL, ...PYTHON, ...TYPESCRIPT, ...LISTING, 'js', 'javascript', 'go']);

const where = (b: Block) => `${b.file}:${b.line}`;

/**
 * How many walk-throughs (shell sections, Python blocks, TypeScript blocks) of one kind run at
 * once. Each has a sandbox of its own (directory, HOME, ports, Redis prefix, PostgreSQL schema,
 * data directory), so none depends on another having run or not; side by side, the waits of one
 * (a server starting, a poll for its listening line) overlap the work of another.
 */
const SIDE_BY_SIDE = 3;

// Probed before any test is declared: a test must not finish while the module still awaits.
const redisAvailable = await redisUp();
const clusterAvailable = await redisUp(7101);
const pgAvailable = (await postgresUnavailable()) === undefined;
const pythonAvailable =
  existsSync(PY) && spawnSync(PY, ['-c', 'import jwt, cryptography.fernet, requests'], { stdio: 'ignore' }).status === 0;

test('every code block of README.md and docs/*.md runs here, or says why it is not meant to run', () => {
  assert.ok(existsSync(MAIN), 'dist/cli/main.js is missing: build first (npx tsc -p tsconfig.build.json)');
  for (const b of ALL) {
    assert.ok(KNOWN.has(b.lang), `${where(b)}: a \`${b.lang}\` block: nothing here runs it; mark it no-run with a reason`);
    if (b.noRun !== undefined) assert.ok(b.noRun.length >= 10, `${where(b)}: no-run needs a reason`);
    else if (!LISTING.has(b.lang))
      assert.ok(
        SHELL.has(b.lang) || PYTHON.has(b.lang) || TYPESCRIPT.has(b.lang),
        `${where(b)}: a \`${b.lang}\` block cannot run in CI: mark it no-run with a reason`,
      );
    if (b.lang === 'json' && b.noRun === undefined) assert.doesNotThrow(() => JSON.parse(b.code), `${where(b)}: JSON`);
    if (PYTHON.has(b.lang) && b.noRun === undefined && b.id !== undefined)
      assert.ok(b.id in PY_DRIVERS, `${where(b)}: no driver for python id=${b.id}`);
  }
});

describe('shell blocks run in order and print what the docs say', { concurrency: SIDE_BY_SIDE }, () => {
  const groups = new Map<string, Block[]>();
  for (const b of ALL.filter((x) => SHELL.has(x.lang) && x.noRun === undefined)) {
    const key = `${b.file}: ${b.section || '(top)'}`;
    groups.set(key, [...(groups.get(key) ?? []), b]);
  }
  for (const [name, blocks] of groups) {
    const text = blocks.map((b) => b.code).join('\n');
    const needs = {
      redis: /redis:\/\//.test(text),
      cluster: /redis\+cluster:\/\//.test(text),
      pg: /postgres:\/\//.test(text),
      python: /python3/.test(text),
    };
    const missing = [
      needs.redis && !redisAvailable ? 'Redis at 127.0.0.1:6379' : '',
      needs.pg && !pgAvailable ? `PostgreSQL at ${PG_URL}` : '',
      needs.cluster && !clusterAvailable ? 'the Redis Cluster of scripts/redis-cluster.sh (127.0.0.1:7101-7103)' : '',
      needs.python && !pythonAvailable ? `${PY} with jwt, cryptography and requests` : '',
    ].filter(Boolean);
    const skip = missing.length > 0 && !CI ? `needs ${missing.join(', ')}` : false;
    test(
      `${name} (${blocks.length} block${blocks.length > 1 ? 's' : ''}, line ${blocks[0]!.line})`,
      { skip, timeout: 200_000 },
      () => runShellSection(blocks, needs),
    );
  }
});

// ---------------------------------------------------------------------------
// Python: each block against a real server.

interface PyDriver {
  /** The server's environment beyond the secret and issuer. */
  env?: Record<string, string>;
  /** What runs after the block: argv = access token, refresh token, [client id, client secret]. */
  code: string;
  introspector?: boolean;
  expected: unknown;
}

const REFUSED = `
def refused(f, *args):
    try:
        f(*args)
        return False
    except Exception:
        return True
`;

const PY_DRIVERS: Record<string, PyDriver> = {
  'pyjwt-hs256': {
    code: `${REFUSED}
import json, sys
print(json.dumps({"sub": verify_access_token(sys.argv[1])["preferred_username"], "refresh_refused": refused(verify_access_token, sys.argv[2])}))`,
    expected: { sub: 'alice', refresh_refused: true },
  },
  'pyjwt-ring': {
    env: { TESSERA_KEYS: 'k2:__K2__,k1:__K1__' },
    code: `${REFUSED}
import json, sys
print(json.dumps({"sub": verify_access_token(sys.argv[1])["preferred_username"], "refresh_refused": refused(verify_access_token, sys.argv[2])}))`,
    expected: { sub: 'alice', refresh_refused: true },
  },
  fernet: {
    env: { TESSERA_ACCESS_FORMAT: 'fernet', TESSERA_REFRESH_FORMAT: 'fernet' },
    code: `${REFUSED}
import json, sys
print(json.dumps({"sub": verify_access_token(sys.argv[1])["preferred_username"], "refresh_refused": refused(verify_access_token, sys.argv[2])}))`,
    expected: { sub: 'alice', refresh_refused: true },
  },
  'pyjwt-example': {
    env: { TESSERA_ACCESS_ALG: 'EdDSA' },
    code: `${REFUSED}
import json, sys
print(json.dumps({"sub": verify(sys.argv[1])["preferred_username"], "refresh_refused": refused(verify, sys.argv[2])}))`,
    expected: { sub: 'alice', refresh_refused: true },
  },
  introspect: {
    env: { TESSERA_ACCESS_FORMAT: 'opaque', TESSERA_REFRESH_FORMAT: 'opaque' },
    introspector: true,
    code: `
import json, sys
a = introspect(sys.argv[1], sys.argv[3], sys.argv[4])
r = introspect("tsa_not-a-token", sys.argv[3], sys.argv[4])
print(json.dumps({"active": a["active"], "username": a["username"], "unknown": r}))`,
    expected: { active: true, username: 'alice', unknown: { active: false } },
  },
};

async function cli(args: string[], env: Record<string, string>, input = ''): Promise<string> {
  const r = await runProcess(process.execPath, [MAIN, ...args], { env, input });
  assert.equal(r.status, 0, `tessera ${args.join(' ')} exited ${r.status}\n${r.stderr}`);
  return r.stdout;
}

async function withServer<T>(env: Record<string, string>, fn: (base: string) => Promise<T>): Promise<T> {
  const child = spawn(process.execPath, [MAIN, 'serve', '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  try {
    const base = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d) => {
        out += d;
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`tessera serve exited with ${code}: ${stderr}`)));
    });
    return await fn(base);
  } finally {
    child.kill('SIGTERM');
    if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
  }
}

describe('Python blocks run against a real server', {
  skip: !pythonAvailable && !CI ? `needs ${PY} with jwt, cryptography, requests` : false,
  concurrency: SIDE_BY_SIDE,
}, () => {
  const blocks = ALL.filter((b) => PYTHON.has(b.lang) && b.noRun === undefined);
  for (const b of blocks) {
    test(`${where(b)}${b.id ? ` (${b.id})` : ''}`, async () => {
      const driver = b.id ? PY_DRIVERS[b.id] : undefined;
      const dir = mkdtempSync(join(tmpdir(), 'tessera-docs-py-'));
      try {
        const [secret, k1, k2] = [generateSecret(), generateSecret(), generateSecret()];
        const extra = Object.fromEntries(
          Object.entries(driver?.env ?? {}).map(([k, v]) => [k, v.replace('__K1__', k1).replace('__K2__', k2)]),
        );
        const port = await freePort();
        const issuer = `http://127.0.0.1:${port}`;
        const env = cleanEnv({
          TESSERA_SECRET: secret,
          TESSERA_ISSUER: issuer,
          TESSERA_AUDIENCE: issuer,
          TESSERA_DATA_DIR: join(dir, 'data'),
          ...extra,
        });
        await cli(['user', 'add', 'alice'], env, 'correct horse battery staple');
        let client: { client_id: string; client_secret: string } | undefined;
        if (driver?.introspector) client = JSON.parse(await cli(['client', 'add', 'rs', '--confidential', '--introspect'], env));
        const out = await withServer({ ...env, PORT: String(port) }, async (base) => {
          const res = await fetch(`${base}/auth/token`, {
            method: 'POST',
            body: new URLSearchParams({ grant_type: 'password', username: 'alice', password: 'correct horse battery staple' }),
          });
          const pair = (await res.json()) as { access_token: string; refresh_token: string };
          assert.equal(res.status, 200, JSON.stringify(pair));
          const script = join(dir, 'block.py');
          writeFileSync(script, `${b.code}\n${driver?.code ?? ''}\n`);
          const args = [
            script,
            pair.access_token,
            pair.refresh_token,
            ...(client ? [client.client_id, client.client_secret] : []),
          ];
          const r = await runProcess(PY, args, {
            env: { ...env, TESSERA_URL: base, TESSERA_JWKS_URI: `${base}/.well-known/jwks.json` },
            timeoutMs: 60_000,
          });
          assert.equal(r.status, 0, `${where(b)}: python exited ${r.status}\n${r.stderr}`);
          return r.stdout;
        });
        if (driver) assert.deepEqual(JSON.parse(out), driver.expected, `${where(b)} (${b.id})`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

// ---------------------------------------------------------------------------
// TypeScript: type-checked, and run where nothing is left to the reader.

const AMBIENT_NAMES = [
  ...readFileSync(join(ROOT, 'test/docs/ambient.d.ts'), 'utf8').matchAll(/declare (?:const|function) (\w+)/g),
].map((m) => m[1]!);

/** The ambient names a block uses without declaring them itself. */
function ambientUses(code: string): string[] {
  return AMBIENT_NAMES.filter(
    (n) => new RegExp(`\\b${n}\\b`).test(code) && !new RegExp(`(?:const|let|var|function)\\s+${n}\\b`).test(code),
  );
}

describe('TypeScript blocks type-check, and run where they are complete', { concurrency: SIDE_BY_SIDE }, () => {
  const blocks = ALL.filter((b) => TYPESCRIPT.has(b.lang) && b.noRun === undefined);
  const runDir = join(ROOT, 'test/docs', `.blocks-${process.pid}`);
  const names = new Map<Block, string>();
  after(() => rmSync(runDir, { recursive: true, force: true }));

  // One module per block, whatever it imports, written where `tessera-auth` resolves to this package.
  mkdirSync(runDir, { recursive: true });
  for (const b of blocks) {
    const name = `${b.file.replace(/[^\w]/g, '_')}_${b.line}.ts`;
    names.set(b, name);
    writeFileSync(join(runDir, name), `${b.code}\nexport {};\n`);
  }
  // Written before any test starts: the runs below (tsx) find it as the type check does.
  writeFileSync(
    join(runDir, 'tsconfig.json'),
    JSON.stringify({
      extends: '../../../tsconfig.json',
      compilerOptions: { noEmit: true, noUnusedLocals: false, noUnusedParameters: false, rootDir: '../../..' },
      include: ['*.ts', '../ambient.d.ts'],
    }),
  );

  test('every block type-checks (tsc, strict, against dist/ through the package name)', { timeout: 240_000 }, async () => {
    const r = await runProcess(process.execPath, [
      join(ROOT, 'node_modules/typescript/bin/tsc'),
      '-p',
      join(runDir, 'tsconfig.json'),
    ]);
    const lines = (r.stdout + r.stderr).replace(
      /test\/docs\/\.blocks-\d+\/(\w+?)_md_(\d+)\.ts/g,
      (_m, f: string, l: string) => `${f.replace(/^docs_/, 'docs/')}.md (block at line ${l})`,
    );
    assert.equal(r.status, 0, lines);
  });

  // A fragment uses names of the app around it (ambient.d.ts): the type check above is its test.
  for (const b of blocks.filter((x) => ambientUses(x.code).length === 0)) {
    test(`${where(b)} runs`, { timeout: 120_000 }, async () => {
      const name = names.get(b);
      assert.ok(name, 'the block was written to a module');
      const cwd = mkdtempSync(join(tmpdir(), 'tessera-docs-ts-'));
      try {
        const env = cleanEnv({ TESSERA_SECRET: generateSecret() });
        const r = await runProcess(process.execPath, ['--import', TSX, join(runDir, name)], { cwd, env, timeoutMs: 100_000 });
        assert.equal(r.status, 0, `${where(b)}: exited ${r.status}\n${r.stderr}`);
      } finally {
        rmSync(cwd, { recursive: true, force: true });
      }
    });
  }
});
