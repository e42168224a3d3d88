/**
 * What scripts/run-tests.mjs decides before it starts a file (scripts/test-plan.mjs): the long
 * files of SLOW_FIRST start first, and dist/ counts as built from src/ only when no input of
 * the build is newer than it.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { distStale, runOrder, SLOW_FIRST } from '../../scripts/test-plan.mjs';

const ROOT = new URL('../../', import.meta.url).pathname;

describe('the order files start in', () => {
  test('every file SLOW_FIRST names is a test file of the suite, named once', () => {
    for (const f of SLOW_FIRST) assert.ok(f.endsWith('.test.ts') && existsSync(join(ROOT, f)), `${f}: no such test file`);
    assert.equal(new Set(SLOW_FIRST).size, SLOW_FIRST.length);
  });
  test('the files of SLOW_FIRST first, in its order; the others after them, in the order given', () => {
    const [first, second] = SLOW_FIRST as [string, string];
    assert.deepEqual(runOrder(['test/a.test.ts', second, 'test/b.test.ts', first]), [
      first,
      second,
      'test/a.test.ts',
      'test/b.test.ts',
    ]);
  });
  test('the runner lists the whole suite in that order', () => {
    const listed = execFileSync(process.execPath, ['scripts/run-tests.mjs', '--list'], { cwd: ROOT, encoding: 'utf8' })
      .trim()
      .split('\n');
    assert.deepEqual(listed.slice(0, SLOW_FIRST.length), SLOW_FIRST);
    assert.deepEqual(listed.slice(SLOW_FIRST.length), [...listed.slice(SLOW_FIRST.length)].sort());
  });
});

describe('dist/ is stale when an input of the build is newer than its oldest file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-plan-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const at = (path: string, seconds: number) => {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), '');
    utimesSync(join(dir, path), seconds, seconds);
  };

  test('no dist/cli/main.js: stale', () => {
    at('src/index.ts', 1000);
    at('src/cli/main.ts', 1000);
    at('tsconfig.json', 1000);
    at('tsconfig.build.json', 1000);
    assert.equal(distStale(dir), 'dist/cli/main.js is missing');
  });
  test('every file of dist/ built from a file of src/ and newer than every input: current', () => {
    at('dist/cli/main.js', 2000);
    at('dist/cli/main.js.map', 2000);
    at('dist/cli/main.d.ts', 2000);
    at('dist/index.js', 2001);
    assert.equal(distStale(dir), undefined);
  });
  test('a file of dist/ left from a source since removed: stale', () => {
    at('dist/gone.js', 2001);
    assert.equal(distStale(dir), 'dist/gone.js comes from no file of src/');
    rmSync(join(dir, 'dist/gone.js'));
  });
  test('a file under src/ (however deep) or a tsconfig newer than the oldest file of dist/: stale', () => {
    at('src/cli/deep/main.ts', 2000.5);
    assert.equal(distStale(dir), 'src is newer than dist/');
    at('src/cli/deep/main.ts', 1000);
    at('tsconfig.build.json', 2000.5);
    assert.equal(distStale(dir), 'tsconfig.build.json is newer than dist/');
  });
});
