/**
 * The README's install lines, run as written in empty projects with the packed
 * package in place of the registry name, then used as the README says:
 *
 * - `install=library`: the token service (issue, refresh, reuse detection) and
 *   `tessera-auth/client` logging in to the server below;
 * - `install=node20` + `install=server`: `npx tessera user add`, `npx tessera
 *   serve` answering `/health` and a password grant on a free port;
 * - `install=redis`, `install=postgres` (in the server's project): the store opens,
 *   issues and rotates on the local Redis and PostgreSQL;
 * - the server's project, two `npx tessera serve` on one Redis with one secret and
 *   issuer, NODE_ENV=production: a refresh on one instance, the new access token
 *   accepted on the other, the consumed refresh token a replay on both;
 * - `install=express`, `install=hono`: the adapter and `tessera-auth/users` in an
 *   app that logs a user in through the client.
 *
 * Every install must exit 0 with no ERESOLVE and no EBADENGINE on this Node (20):
 * what a user copying the lines would see. The lines come from the README's
 * fenced blocks whose info string is `sh install=NAME`, so they cannot drift.
 *
 * npm's cache is warm after `npm ci`, so the installs prefer it
 * (`npm_config_prefer_offline`); a version missing from it is fetched. The server's
 * install skips better-sqlite3's addon build (minutes of C compilation on a loaded
 * machine) when the dev install holds the same better-sqlite3 version, and copies
 * that addon instead; otherwise, or with TESSERA_TEST_BUILD_ADDON=1, npm builds it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { installedVersion, packTessera, ROOT, type Run, workDir } from './pack.js';

const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The README's `sh install=NAME` blocks: NAME -> command lines (comments and blank lines dropped). */
export function installBlocks(markdown: string): Map<string, string[]> {
  const blocks = new Map<string, string[]>();
  for (const [, name, body] of markdown.matchAll(/^```sh install=([a-z0-9-]+)\n([\s\S]*?)^```$/gm)) {
    const lines = (body as string)
      .split('\n')
      .map((l) => l.replace(/\s+#.*$/, '').trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    blocks.set(name as string, lines);
  }
  return blocks;
}

const BLOCKS = installBlocks(README);
const { dir: WORK, cleanup } = workDir('tessera-readme-');
let tarball = '';
const BUILD_ADDON = process.env.TESSERA_TEST_BUILD_ADDON === '1';
const timings: string[] = [];

function block(name: string): string[] {
  const b = BLOCKS.get(name);
  assert.ok(b && b.length > 0, `README has no \`\`\`sh install=${name} block`);
  return b;
}

/** An empty ESM project. */
function project(name: string): string {
  const dir = join(WORK, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'package.json'),
    `${JSON.stringify({ name: `readme-${name}`, private: true, type: 'module' }, null, 2)}\n`,
  );
  return dir;
}

/** Runs one README line through the shell in `dir`, the registry name replaced by the tarball. */
async function sh(dir: string, line: string, env: Record<string, string> = {}, timeoutMs = 600_000): Promise<Run> {
  const cmd = line.startsWith('npm install ') ? line.replace(/(?<=\s)tessera-auth(?=\s|$)/g, tarball) : line;
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', cmd], {
      cwd: dir,
      env: {
        ...process.env,
        npm_config_prefer_offline: 'true',
        npm_config_update_notifier: 'false',
        npm_config_fund: 'false',
        npm_config_audit: 'false',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

/** Runs the install lines of `names` in order; asserts each exits 0 without ERESOLVE or EBADENGINE. */
async function install(dir: string, names: string[], env: Record<string, string> = {}): Promise<void> {
  const started = Date.now();
  for (const name of names) {
    for (const line of block(name).filter((l) => l.startsWith('npm '))) {
      const r = await sh(dir, line, env);
      assert.equal(r.code, 0, `${line}\n${r.stderr}`);
      assert.doesNotMatch(r.stderr, /ERESOLVE|EBADENGINE|ERR!/, `${line}\n${r.stderr}`);
    }
  }
  timings.push(`${names.join('+')}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/** Runs an ES module in the project; its stdout parsed as JSON. */
async function script(dir: string, lines: string[], env: Record<string, string> = {}): Promise<unknown> {
  const file = join(dir, `check-${Date.now()}-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(file, lines.join('\n'));
  const r = await sh(dir, `node ${file}`, env, 60_000);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string);
}

interface Server {
  url: string;
  stderr: () => string;
  stop: () => Promise<void>;
}

/** `npx tessera serve ...` (the README's line, on a free port): resolves once it listens. */
function serve(dir: string, line: string, env: Record<string, string>): Promise<Server> {
  const cmd = line.replace(/--port \d+/, '--port 0');
  assert.notEqual(cmd, line, `the README's serve line names no port: ${line}`);
  // A process group of its own: npx runs the server as its child, and a signal to npx alone
  // would leave the server running; stop() signals the whole group.
  const child = spawn('sh', ['-c', `exec ${cmd}`], {
    cwd: dir,
    env: { ...process.env, npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const group = -(child.pid as number);
  const alive = () => {
    try {
      process.kill(group, 0);
      return true;
    } catch {
      return false;
    }
  };
  /** SIGTERM to the group (a graceful shutdown), SIGKILL if any of it is left after 10 s. */
  const stop = async () => {
    if (!alive()) return;
    process.kill(group, 'SIGTERM');
    for (let i = 0; i < 200 && alive(); i++) await new Promise((r) => setTimeout(r, 50));
    if (alive()) process.kill(group, 'SIGKILL');
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`tessera serve did not start: ${stderr}`));
    }, 60_000);
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += d;
      const m = /tessera listening on (\S+)/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1] as string, stderr: () => stderr, stop });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tessera serve exited ${code}: ${stderr}`));
    });
  });
}

const PASSWORD = 'correct horse battery staple';
const unique = `t${process.pid}${Date.now().toString(36)}`;

describe('the README install lines, from the packed package in empty projects', { timeout: 1_200_000 }, () => {
  const dirs = { library: '', server: '', express: '', hono: '' };
  let server: Server | undefined;

  before(async () => {
    const t0 = Date.now();
    tarball = await packTessera(WORK);
    timings.push(`pack: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    for (const k of Object.keys(dirs) as (keyof typeof dirs)[]) dirs[k] = project(k);
    const addon = join(ROOT, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node');
    const serverInstall = async () => {
      const reuse = !BUILD_ADDON && existsSync(addon);
      await install(dirs.server, ['node20', 'server'], reuse ? { npm_config_ignore_scripts: 'true' } : {});
      if (!reuse) return;
      const target = join(dirs.server, 'node_modules/better-sqlite3');
      const version = (JSON.parse(readFileSync(join(target, 'package.json'), 'utf8')) as { version: string }).version;
      if (version === installedVersion('better-sqlite3')) {
        mkdirSync(join(target, 'build/Release'), { recursive: true });
        copyFileSync(addon, join(target, 'build/Release/better_sqlite3.node'));
      } else {
        const rebuilt = await sh(dirs.server, 'npm rebuild better-sqlite3');
        assert.equal(rebuilt.code, 0, rebuilt.stderr);
      }
    };
    // Sequential: four npm processes at once only contend for the same cache and cores.
    await serverInstall();
    await install(dirs.library, ['library']);
    await install(dirs.express, ['express']);
    await install(dirs.hono, ['hono']);
  });
  after(async () => {
    await server?.stop();
    cleanup();
    console.log(`# install timings: ${timings.join('; ')}`);
  });

  test('every use case has its block, each install line pins the major of every peer', () => {
    for (const name of ['library', 'server', 'redis', 'postgres', 'express', 'hono', 'node20']) block(name);
    for (const line of [...BLOCKS.values()].flat().filter((l) => l.startsWith('npm install '))) {
      for (const word of line.split(/\s+/).slice(2)) {
        if (word === 'tessera-auth') continue;
        assert.match(word, /^(@[a-z0-9-]+\/)?[a-z0-9.-]+@\d+$/, `${word} in "${line}" is not pinned to a major`);
      }
    }
  });

  test('library: nothing but tessera-auth installed; token service issues, rotates and detects reuse', async () => {
    assert.deepEqual(
      readdirSync(join(dirs.library, 'node_modules')).filter((n) => !n.startsWith('.')),
      ['tessera-auth'],
    );
    const out = await script(dirs.library, [
      "import { createTokenService, generateSecret, openStore, TokenError } from 'tessera-auth';",
      "const tokens = createTokenService({ secret: generateSecret(), store: await openStore('memory') });",
      "const first = await tokens.issue({ sub: 'alice' });",
      'const second = await tokens.refresh(first.refreshToken);',
      'const who = await tokens.authenticate(second.accessToken);',
      'let reuse; try { await tokens.refresh(first.refreshToken); } catch (e) { reuse = e instanceof TokenError ? e.code : String(e); }',
      'console.log(JSON.stringify({ sub: who.sub, rotated: second.refreshToken !== first.refreshToken, reuse }));',
    ]);
    assert.deepEqual(out, { sub: 'alice', rotated: true, reuse: 'reused' });
  });

  test('server: npx tessera user add, then npx tessera serve answers /health and a password grant', async () => {
    const env = { TESSERA_SCRYPT_N: '1024', TESSERA_ISSUER: 'http://tessera.test' };
    const add = await sh(dirs.server, `printf '%s' '${PASSWORD}' | npx tessera user add alice`, env, 60_000);
    assert.equal(add.code, 0, add.stderr);
    assert.equal(add.stderr, `tessera: data directory ${join(dirs.server, '.tessera')}\n`);
    const line = block('server').find((l) => l.startsWith('npx tessera serve'));
    assert.ok(line, 'the server block shows how to start it');
    server = await serve(dirs.server, line, env);
    const health = await fetch(`${server.url}/health`);
    assert.equal(health.status, 200);
    const login = await fetch(`${server.url}/auth/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'password', username: 'alice', password: PASSWORD }),
    });
    assert.equal(login.status, 200, await login.clone().text());
    assert.equal(((await login.json()) as { token_type: string }).token_type, 'Bearer');
  });

  test('library: tessera-auth/client logs in to that server and calls a protected route', async () => {
    assert.ok(server, 'the server test ran first');
    const out = await script(dirs.library, [
      "import { createClient } from 'tessera-auth/client';",
      `const client = createClient({ baseUrl: ${JSON.stringify(server.url)} });`,
      `await client.login('alice', ${JSON.stringify(PASSWORD)});`,
      "const me = await client.fetch('/me');",
      'const body = await me.json();',
      'await client.logout();',
      'client.close();',
      'console.log(JSON.stringify({ status: me.status, sub: typeof body.sub }));',
    ]);
    assert.deepEqual(out, { status: 200, sub: 'string' });
  });

  test('+ Redis and + PostgreSQL: the lines install the drivers, and the stores issue and rotate', async () => {
    await install(dirs.server, ['redis', 'postgres'], { npm_config_ignore_scripts: 'true' });
    const roundTrip = (spec: string, afterClose: string[] = []) => [
      "import { createTokenService, generateSecret, openStore } from 'tessera-auth';",
      `const store = await openStore(${JSON.stringify(spec)}, { keyPrefix: '${unique}:' });`,
      'const tokens = createTokenService({ secret: generateSecret(), store });',
      "const pair = await tokens.refresh((await tokens.issue({ sub: 'alice' })).refreshToken);",
      'const who = await tokens.authenticate(pair.accessToken);',
      'await store.close();',
      ...afterClose,
      'console.log(JSON.stringify({ kind: store.kind, sub: who.sub }));',
    ];
    assert.deepEqual(await script(dirs.server, roundTrip('redis://127.0.0.1:6379')), { kind: 'redis', sub: 'alice' });
    const pg = `postgres://postgres@127.0.0.1:5432/tessera_test?schema=${unique}`;
    assert.deepEqual(
      await script(
        dirs.server,
        roundTrip(pg, [
          // The schema is this test's own: dropped once the store is done with it.
          "const { default: pgDriver } = await import('pg');",
          "const admin = new pgDriver.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/tessera_test' });",
          'await admin.connect();',
          `await admin.query('DROP SCHEMA IF EXISTS ${unique} CASCADE');`,
          'await admin.end();',
        ]),
      ),
      { kind: 'postgres', sub: 'alice' },
    );
  });

  test('two instances from the server install, one issuer, one Redis (NODE_ENV=production): a session moves between them', async () => {
    const prefix = `${unique}:`;
    const env = {
      NODE_ENV: 'production',
      TESSERA_SECRET: (await sh(dirs.server, 'npx tessera keygen')).stdout.trim(),
      TESSERA_ISSUER: 'http://tessera.test',
      TESSERA_STORE: 'redis://127.0.0.1:6379',
      TESSERA_REDIS_PREFIX: prefix,
      TESSERA_SCRYPT_N: '1024',
    };
    assert.match(env.TESSERA_SECRET, /^[A-Za-z0-9_-]{43}$/);
    const add = await sh(dirs.server, `printf '%s' '${PASSWORD}' | npx tessera user add alice`, env, 60_000);
    assert.equal(add.code, 0, add.stderr);
    const line = block('server').find((l) => l.startsWith('npx tessera serve')) as string;
    const [a, b] = await Promise.all([serve(dirs.server, line, env), serve(dirs.server, line, env)]);
    try {
      const token = (url: string, form: Record<string, string>) =>
        fetch(`${url}/auth/token`, { method: 'POST', body: new URLSearchParams(form) });
      const login = await token(a.url, { grant_type: 'password', username: 'alice', password: PASSWORD });
      assert.equal(login.status, 200, await login.clone().text());
      const first = (await login.json()) as { refresh_token: string };
      // Refreshed on the other instance, used on the first.
      const refreshed = await token(b.url, { grant_type: 'refresh_token', refresh_token: first.refresh_token });
      assert.equal(refreshed.status, 200, await refreshed.clone().text());
      const second = (await refreshed.json()) as { access_token: string };
      const me = await fetch(`${a.url}/me`, { headers: { authorization: `Bearer ${second.access_token}` } });
      assert.equal(me.status, 200);
      // The consumed refresh token is a replay on either instance (RFC 9700 §4.14.2).
      const replay = await token(a.url, { grant_type: 'refresh_token', refresh_token: first.refresh_token });
      assert.equal(replay.status, 400);
      assert.equal(((await replay.json()) as { error: string }).error, 'invalid_grant');
    } finally {
      await Promise.all([a.stop(), b.stop()]);
      // This test's keys only (its own prefix).
      await script(dirs.server, [
        "import { Redis } from 'ioredis';",
        "const redis = new Redis('redis://127.0.0.1:6379');",
        `const keys = await redis.keys(${JSON.stringify(`${prefix}*`)});`,
        'if (keys.length > 0) await redis.del(...keys);',
        'await redis.quit();',
        'console.log(JSON.stringify(keys.length));',
      ]);
    }
  });

  for (const framework of ['express', 'hono'] as const) {
    test(`${framework}: the adapter and tessera-auth/users, without Fastify, log a user in`, async () => {
      const dir = dirs[framework];
      const installed = readdirSync(join(dir, 'node_modules'));
      assert.ok(!installed.includes('fastify'), 'no Fastify in the project');
      const app =
        framework === 'express'
          ? [
              "import express from 'express';",
              "import { tesseraExpress } from 'tessera-auth/express';",
              'const app = express();',
              'app.use(tesseraExpress(options));',
              'const server = app.listen(0, "127.0.0.1");',
            ]
          : [
              "import { Hono } from 'hono';",
              "import { serve } from '@hono/node-server';",
              "import { tesseraHono } from 'tessera-auth/hono';",
              'const app = new Hono();',
              'app.use(tesseraHono(options));',
              'const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" });',
            ];
      const out = await script(dir, [
        "import { once } from 'node:events';",
        "import { createClientService, createTokenService, generateSecret, openStore } from 'tessera-auth';",
        "import { createUserService } from 'tessera-auth/users';",
        "import { createClient } from 'tessera-auth/client';",
        "const store = await openStore('memory');",
        "const issuer = 'http://tessera.test';",
        'const tokens = createTokenService({ secret: generateSecret(), store, issuer, audience: issuer });',
        'const users = createUserService(store, { scrypt: { N: 1024, r: 8, p: 1, keyLength: 32 } });',
        `await users.add('alice', ${JSON.stringify(PASSWORD)});`,
        'const options = { tokens, users, clients: createClientService(store), issuer };',
        ...app,
        "if (!server.listening) await once(server, 'listening');",
        "const base = 'http://127.0.0.1:' + server.address().port;",
        'const client = createClient({ baseUrl: base });',
        `await client.login('alice', ${JSON.stringify(PASSWORD)});`,
        "const me = await client.fetch('/me');",
        "const anonymous = await fetch(base + '/me');",
        'client.close();',
        'server.close();',
        'await store.close();',
        'console.log(JSON.stringify({ me: me.status, anonymous: anonymous.status }));',
      ]);
      assert.deepEqual(out, { me: 200, anonymous: 401 });
    });
  }
});
