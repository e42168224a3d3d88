/**
 * The package as a user gets it, with none of its optional peers: `npm pack`,
 * install the tarball alone into an empty project, and use it there: the
 * `tessera` bin through npx, `import { createCodec } from 'tessera-auth'`,
 * `tessera-auth/client`, and `openStore` naming the driver a store URL needs.
 *
 * Nothing but the tarball is installed (every peer is optional and none is
 * listed), so the install needs no network.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { packTessera, pkg, ROOT, run, workDir } from './pack.js';

const { dir: WORK, cleanup } = workDir('tessera-pack-');
const APP = join(WORK, 'app');
let tarball = '';

/** Runs an ES module snippet in the installing project; its stdout parsed as JSON. */
async function inApp(lines: string[]): Promise<unknown> {
  const r = await run(process.execPath, ['--input-type=module', '-e', lines.join('\n')], APP, 30_000);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

describe('npm pack -> npm install (no peers) -> use', { timeout: 180_000 }, () => {
  before(async () => {
    tarball = await packTessera(WORK);
    mkdirSync(APP, { recursive: true });
    writeFileSync(
      join(APP, 'package.json'),
      JSON.stringify({ name: 'tessera-pack-check', version: '1.0.0', private: true, type: 'module' }),
    );
    const install = await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], APP);
    assert.equal(install.code, 0, install.stderr);
  });
  after(cleanup);

  test('the tarball ships dist, LICENSE and every file the README links to; no sources, tests or source maps', async () => {
    const list = await run('tar', ['tzf', tarball], WORK);
    const files = list.stdout.split('\n').filter(Boolean);
    for (const f of [
      'package/package.json',
      'package/LICENSE',
      'package/dist/index.js',
      'package/dist/index.d.ts',
      'package/dist/cli/main.js',
    ]) {
      assert.ok(files.includes(f), `${f} missing from the tarball`);
    }
    assert.deepEqual(
      files.filter(
        (f) =>
          /^package\/(src|test|bench|scripts|node_modules)\//.test(f) ||
          (f.endsWith('.ts') && !f.endsWith('.d.ts')) ||
          f.endsWith('.map'),
      ),
      [],
    );
    // Relative links of the README (and of the docs it packs) resolve inside the package.
    for (const md of files.filter((f) => f.endsWith('.md'))) {
      const text = readFileSync(join(APP, 'node_modules/tessera-auth', md.slice('package/'.length)), 'utf8');
      const base = md.slice(0, md.lastIndexOf('/') + 1);
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/i.test(target as string) || (target as string).startsWith('#')) continue;
        const path = new URL((target as string).replace(/#.*$/, ''), `file:///${base}`).pathname.slice(1);
        assert.ok(
          files.includes(path) || files.some((f) => f.startsWith(`${path}/`)),
          `${md} links to ${target}, not in the package`,
        );
      }
    }
  });

  test('every export of package.json points at a file of the tarball', async () => {
    const list = await run('tar', ['tzf', tarball], WORK);
    const files = new Set(list.stdout.split('\n').filter(Boolean));
    for (const [entry, target] of Object.entries(pkg.exports)) {
      const paths = typeof target === 'string' ? [target] : Object.values(target as Record<string, string>);
      for (const p of paths) assert.ok(files.has(`package/${p.replace(/^\.\//, '')}`), `${entry} -> ${p} is not packed`);
    }
  });

  test('the install pulled in no dependency: every driver and framework is an optional peer', () => {
    const installed = readdirSync(join(APP, 'node_modules')).filter((n) => !n.startsWith('.'));
    assert.deepEqual(installed, ['tessera-auth']);
  });

  test('npx tessera --help and npx tessera keygen work in the installing project', async () => {
    const help = await run('npx', ['--offline', 'tessera', '--help'], APP);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /tessera token issue --format jwt\|sealed\|fernet/);
    const version = await run('npx', ['--offline', 'tessera', '--version'], APP);
    assert.equal(version.stdout.trim(), pkg.version);
    const keygen = await run('npx', ['--offline', 'tessera', 'keygen'], APP);
    assert.match(keygen.stdout, /^[A-Za-z0-9_-]{43}\n$/);
  });

  test('npx tessera serve without the server peers: one line with a working install line, majors pinned', async () => {
    const r = await run('npx', ['--offline', 'tessera', 'serve'], APP);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^tessera: this command needs \S+ and the other server peers: npm install fastify@5 /);
    // The README's server line without the package itself: every peer the server loads, the
    // default store's driver included; not the other stores' drivers nor the other frameworks.
    const listed = r.stderr.trim().split('npm install ')[1]?.split(' ') ?? [];
    // The operations peers load only when their setting is on (TESSERA_METRICS_PORT, an installed OpenTelemetry SDK).
    const others = [
      'ioredis',
      'pg',
      'express',
      '@types/express',
      'hono',
      '@hono/node-server',
      'prom-client',
      '@opentelemetry/api',
    ];
    assert.deepEqual(
      listed.map((p) => p.replace(/@\d+$/, '')).sort(),
      Object.keys(pkg.peerDependencies)
        .filter((p) => !others.includes(p))
        .sort(),
    );
    const readmeLine = readFileSync(join(ROOT, 'README.md'), 'utf8')
      .split('\n')
      .find((l) => l.startsWith('npm install tessera-auth fastify@'));
    assert.equal(readmeLine?.replace('tessera-auth ', ''), r.stderr.trim().slice(r.stderr.indexOf('npm install ')));
  });

  test('a user directory without @zxcvbn-ts/language-common: verify works, add fails with the one-line peer message', async () => {
    const out = await inApp([
      "import { openStore, ConfigError } from 'tessera-auth';",
      "import { createUserService } from 'tessera-auth/users';",
      "const users = createUserService(await openStore('memory'), { scrypt: { N: 1024, r: 8, p: 1, keyLength: 32 } });",
      "const unknown = await users.verify('alice', 'correct horse battery staple');",
      "let add; try { await users.add('alice', 'correct horse battery staple'); } catch (e) { add = { config: e instanceof ConfigError, message: e.message }; }",
      'console.log(JSON.stringify({ unknown, add }));',
    ]);
    assert.deepEqual(out, {
      unknown: null,
      add: {
        config: true,
        message:
          'checking new passwords against the common-password list needs @zxcvbn-ts/language-common: npm install @zxcvbn-ts/language-common@4',
      },
    });
  });

  test("import { createCodec } from 'tessera-auth' works there (ESM, with types shipped)", async () => {
    const out = await inApp([
      "import { createCodec, TokenError, generateSecret } from 'tessera-auth';",
      "const codec = createCodec({ format: 'jwt', secret: generateSecret() });",
      "const claims = codec.decode(codec.encode({ sub: 'alice', type: 'access' }), { type: 'access' });",
      'let code; try { codec.decode("x.y.z"); } catch (e) { code = e instanceof TokenError ? e.code : String(e); }',
      'console.log(JSON.stringify({ sub: claims.sub, code }));',
    ]);
    assert.deepEqual(out, { sub: 'alice', code: 'malformed' });
    const installed = JSON.parse(readFileSync(join(APP, 'node_modules/tessera-auth/package.json'), 'utf8'));
    assert.ok(existsSync(join(APP, 'node_modules/tessera-auth', installed.types)));
  });

  test('tessera-auth/client and a memory store work there', async () => {
    const out = await inApp([
      "import { createClient, AuthError } from 'tessera-auth/client';",
      "import { createTokenService, generateSecret, openStore } from 'tessera-auth';",
      "const client = createClient({ baseUrl: 'http://127.0.0.1:9', fetch: async () => new Response('{}') });",
      "const tokens = createTokenService({ secret: generateSecret(), store: await openStore('memory') });",
      "const pair = await tokens.issue({ sub: 'alice' });",
      'const who = await tokens.authenticate(pair.accessToken);',
      'console.log(JSON.stringify({ client: typeof client.fetch, authError: typeof AuthError, sub: who.sub }));',
      'client.close();',
    ]);
    assert.deepEqual(out, { client: 'function', authError: 'function', sub: 'alice' });
  });

  test('a store whose driver is missing fails with one line naming the package to install', async () => {
    const out = await inApp([
      "import { openStore, ConfigError } from 'tessera-auth';",
      'const results = {};',
      "for (const spec of ['sqlite:./data/t.db', 'redis://127.0.0.1:6379', 'redis+cluster://127.0.0.1:7101']) {",
      '  try { await openStore(spec); results[spec] = "opened"; }',
      '  catch (e) { results[spec] = { config: e instanceof ConfigError, message: e.message }; }',
      '}',
      'console.log(JSON.stringify(results));',
    ]);
    assert.deepEqual(out, {
      'sqlite:./data/t.db': {
        config: true,
        message: 'the sqlite store needs better-sqlite3: npm install better-sqlite3@12',
      },
      'redis://127.0.0.1:6379': { config: true, message: 'the redis store needs ioredis: npm install ioredis@6' },
      'redis+cluster://127.0.0.1:7101': { config: true, message: 'the redis store needs ioredis: npm install ioredis@6' },
    });
    assert.ok(!existsSync(join(APP, 'data')), 'no directory is created for a store that cannot open');
  });
});
