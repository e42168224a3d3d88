/**
 * `npm run build` (scripts/build.mjs) on a small project of its own shape: dist/ is never
 * missing while tsc runs (test runs and benches start the built CLI meanwhile), a failed compile
 * leaves it as it was, and a fresh build keeps no file of a deleted source.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

const ROOT = new URL('../../', import.meta.url).pathname;

/** Runs the build in `dir`; resolves to its exit status and how often dist/cli/main.js was missing while it ran. */
function build(dir: string): Promise<{ status: number | null; output: string; polls: number; missing: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['scripts/build.mjs'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d));
    child.stderr.on('data', (d: Buffer) => (output += d));
    let polls = 0;
    let missing = 0;
    // What a test run starting the CLI meanwhile would find.
    const poll = setInterval(() => {
      polls++;
      if (!existsSync(join(dir, 'dist/cli/main.js'))) missing++;
    }, 1);
    child.on('error', reject);
    child.on('close', (status) => {
      clearInterval(poll);
      resolve({ status, output, polls, missing });
    });
  });
}

describe('npm run build (scripts/build.mjs)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-build-'));
  const source = (path: string, text: string) => {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  };
  before(() => {
    mkdirSync(join(dir, 'scripts'));
    copyFileSync(join(ROOT, 'scripts/build.mjs'), join(dir, 'scripts/build.mjs'));
    // The script finds tsc through its own node_modules, as in the project.
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    source(
      'tsconfig.build.json',
      JSON.stringify({
        compilerOptions: { strict: true, module: 'nodenext', rootDir: 'src', outDir: 'dist', types: [], skipLibCheck: true },
        include: ['src'],
      }),
    );
    source('package.json', '{"type":"module"}');
    for (let i = 0; i < 40; i++) source(`src/part${i}.ts`, `export const part${i}: number = ${i};\n`);
    source('src/cli/main.ts', "import { part0 } from '../part0.js';\nexport const main = (): number => part0;\n");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('builds dist/ from nothing', async () => {
    const r = await build(dir);
    assert.equal(r.status, 0, r.output);
    assert.ok(existsSync(join(dir, 'dist/cli/main.js')));
  });

  test('a rebuild never leaves dist/ missing, and keeps no file of a deleted source', async () => {
    rmSync(join(dir, 'src/part39.ts'));
    const r = await build(dir);
    assert.equal(r.status, 0, r.output);
    assert.ok(r.polls > 20, `only ${r.polls} looks while the build ran`);
    assert.equal(r.missing, 0, `dist/cli/main.js was missing at ${r.missing} of ${r.polls} looks`);
    assert.ok(existsSync(join(dir, 'dist/part38.js')));
    assert.equal(existsSync(join(dir, 'dist/part39.js')), false);
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.startsWith('dist.')),
      [],
    );
  });

  test('a failed compile exits non-zero and leaves dist/ as it was', async () => {
    source('src/broken.ts', "export const broken: number = 'text';\n");
    const r = await build(dir);
    rmSync(join(dir, 'src/broken.ts'));
    assert.notEqual(r.status, 0);
    assert.match(r.output, /dist\/ is unchanged/);
    assert.equal(r.missing, 0);
    assert.ok(existsSync(join(dir, 'dist/part38.js')));
    assert.equal(existsSync(join(dir, 'dist/broken.js')), false);
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.startsWith('dist.')),
      [],
    );
  });

  test('the directories of a build that was killed halfway are removed by the next one', async () => {
    // A process id far above pid_max (at most 2^22 on Linux): no such process.
    mkdirSync(join(dir, 'dist.build-99999999/cli'), { recursive: true });
    mkdirSync(join(dir, 'dist.old-99999999'));
    // One of a build still running (this process) is left alone.
    mkdirSync(join(dir, `dist.build-${process.pid}`));
    const r = await build(dir);
    assert.equal(r.status, 0, r.output);
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.startsWith('dist.')),
      [`dist.build-${process.pid}`],
    );
  });
});
