/**
 * node:test silently drops a test registered after a top-level `await` once the tests before it
 * have finished: the file's report then counts fewer tests and nothing fails. So in every test
 * file, each top-level `await` (a service probe, say) comes before the first registration.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

const ROOT = new URL('../..', import.meta.url).pathname;

function testFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? testFiles(p) : p.endsWith('.test.ts') ? [p] : [];
  });
}

/** 1-based line of the first top-level registration (`describe(`/`test(`, or one inside a top-level loop). */
function firstRegistration(lines: string[]): number {
  const i = lines.findIndex((l) => /^(describe|test|suite|it)\(/.test(l) || /^ {2}(describe|test)\(/.test(l));
  return i + 1;
}

/** 1-based lines of top-level statements that await. */
function topLevelAwaits(lines: string[]): number[] {
  return lines.flatMap((l, i) => (/^(const|let|var|await)\b/.test(l) && /\bawait\b/.test(l) ? [i + 1] : []));
}

test('no test file registers a test after a top-level await', () => {
  const late: string[] = [];
  for (const file of testFiles(join(ROOT, 'test'))) {
    const lines = readFileSync(file, 'utf8').split('\n');
    const first = firstRegistration(lines);
    if (first === 0) continue;
    for (const at of topLevelAwaits(lines)) if (at > first) late.push(`${relative(ROOT, file)}:${at} (first test at ${first})`);
  }
  assert.deepEqual(late, []);
});

test('the check finds a late await', () => {
  const lines = ["describe('a', () => {});", 'const r = await probe();', "describe('b', () => {});"];
  assert.equal(firstRegistration(lines), 1);
  assert.deepEqual(topLevelAwaits(lines), [2]);
});
