/**
 * The package as a user gets it: build into a staging directory (the shared dist/
 * is left alone), `npm pack` it, install the tarball into an empty project, and
 * use both entry points there: the `tessera` bin through npx, and
 * `import { createCodec } from 'tessera'`.
 *
 * Dependencies come from the npm cache (`--offline`); if the cache lacks something
 * the install falls back to `--prefer-offline` (network allowed). Install scripts
 * are skipped (better-sqlite3's native build is not what this test is about).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WORK = mkdtempSync(join(tmpdir(), 'tessera-pack-'));
const STAGE = join(WORK, 'stage');
const APP = join(WORK, 'app');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
function run(cmd: string, args: string[], cwd: string, timeoutMs = 90_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { cwd, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, npm_config_update_notifier: 'false' } },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; files: string[] };
let tarball = '';

describe('npm pack -> npm install -> use', { timeout: 180_000 }, () => {
  before(async () => {
    mkdirSync(STAGE, { recursive: true });
    mkdirSync(APP, { recursive: true });
    // Build into the stage. Type errors are the typecheck step's business; what matters
    // here is that the emitted package works, so the entry points must exist.
    const tsc = await run(
      process.execPath,
      [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', join(STAGE, 'dist')],
      ROOT,
    );
    assert.ok(existsSync(join(STAGE, 'dist/index.js')), `build failed:\n${tsc.stdout}${tsc.stderr}`);
    cpSync(join(ROOT, 'package.json'), join(STAGE, 'package.json'));
    for (const f of pkg.files)
      if (f !== 'dist' && existsSync(join(ROOT, f))) cpSync(join(ROOT, f), join(STAGE, f), { recursive: true });
    const pack = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', WORK], STAGE);
    assert.equal(pack.code, 0, pack.stderr);
    tarball = join(WORK, pack.stdout.trim().split('\n').pop() as string);
    assert.ok(existsSync(tarball), `no tarball: ${pack.stdout}`);

    writeFileSync(
      join(APP, 'package.json'),
      JSON.stringify({ name: 'tessera-pack-check', version: '1.0.0', private: true, type: 'module' }),
    );
    const flags = ['--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'];
    let install = await run('npm', ['install', '--offline', ...flags, tarball], APP);
    if (install.code !== 0) install = await run('npm', ['install', '--prefer-offline', ...flags, tarball], APP);
    assert.equal(install.code, 0, install.stderr);
  });
  after(() => rmSync(WORK, { recursive: true, force: true }));

  test('the tarball ships dist, not sources, tests or vectors', async () => {
    const list = await run('tar', ['tzf', tarball], WORK);
    const files = list.stdout.split('\n').filter(Boolean);
    for (const f of ['package/package.json', 'package/dist/index.js', 'package/dist/index.d.ts', 'package/dist/cli/main.js']) {
      assert.ok(files.includes(f), `${f} missing from the tarball`);
    }
    assert.deepEqual(
      files.filter(
        (f) => /^package\/(src|test|bench|scripts|node_modules)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')),
      ),
      [],
    );
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

  test("import { createCodec } from 'tessera' works there (ESM, with types shipped)", async () => {
    const script = [
      "import { createCodec, TokenError, generateSecret } from 'tessera';",
      "const codec = createCodec({ format: 'jwt', secret: generateSecret() });",
      "const claims = codec.decode(codec.encode({ sub: 'alice', type: 'access' }), { type: 'access' });",
      'let code; try { codec.decode("x.y.z"); } catch (e) { code = e instanceof TokenError ? e.code : String(e); }',
      'console.log(JSON.stringify({ sub: claims.sub, code }));',
    ].join('\n');
    const r = await run(process.execPath, ['--input-type=module', '-e', script], APP);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { sub: 'alice', code: 'malformed' });
    const installed = JSON.parse(readFileSync(join(APP, 'node_modules/tessera/package.json'), 'utf8'));
    assert.ok(existsSync(join(APP, 'node_modules/tessera', installed.types)));
  });
});
