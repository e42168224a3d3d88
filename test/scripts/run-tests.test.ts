/**
 * scripts/run-tests.mjs is green only when every file's report is complete and its count of
 * tests reported one by one equals its closing summary; a file that ends in the middle of its
 * tests, or whose report lost events, fails the run. Run here on the fixtures in
 * test/scripts/fixtures/runner (never part of the suite: the runner skips `fixtures` folders).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { parseReport, problemsOf } from '../../scripts/test-verdict.mjs';

const ROOT = new URL('../../', import.meta.url).pathname;
const FIXTURES = new URL('./fixtures/runner/', import.meta.url).pathname;

function runner(...filters: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['scripts/run-tests.mjs', ...filters], {
      cwd: ROOT,
      env: { ...process.env, TESSERA_TEST_DIR: FIXTURES },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    child.on('close', (code) => resolve({ code, out }));
  });
}

const line = (o: object) => `${JSON.stringify(o)}\n`;
const pass = (name: string, nesting = 0) => line({ type: 'test:pass', name, nesting, suite: false });
const closing = (tests: number, fail = 0) =>
  [`tests ${tests}`, `pass ${tests - fail}`, `fail ${fail}`, 'duration_ms 12.5']
    .map((message) => line({ type: 'test:diagnostic', nesting: 0, message }))
    .join('');
const ended = { code: 0, signal: null, timedOut: false, timeoutSeconds: 600 };

describe('the verdict on one file', () => {
  test('a complete report whose count matches its summary is green', () => {
    assert.deepEqual(problemsOf(parseReport(pass('a') + pass('b', 1) + closing(2)), ended), []);
  });
  test('a report that lists fewer tests than its summary counts fails', () => {
    const problems = problemsOf(parseReport(pass('a') + closing(2)), ended);
    assert.deepEqual(problems, ['reported 1 tests one by one but its summary counts 2']);
  });
  test('a report without its closing summary fails, even when the process exited 0', () => {
    const problems = problemsOf(parseReport(pass('a') + pass('b')), ended);
    assert.deepEqual(problems, ['report cut short: no closing summary after 2 tests']);
  });
  test('an unreadable line, a failed test, a non-zero exit or a timeout fails', () => {
    assert.ok(problemsOf(parseReport(`${pass('a')}{"type":"test:pa\n${closing(1)}`), ended).length > 0);
    assert.deepEqual(problemsOf(parseReport(pass('a') + closing(1, 1)), ended), ['1 failed']);
    assert.deepEqual(problemsOf(parseReport(pass('a') + closing(1)), { ...ended, code: 1 }), ['exited with 1']);
    assert.deepEqual(problemsOf(parseReport(pass('a') + closing(1)), { ...ended, code: null, timedOut: true }), [
      'did not finish within 600 s; killed',
    ]);
  });
});

describe('scripts/run-tests.mjs on fixture files', () => {
  test('complete files pass with their exact count (suites and skips as node counts them)', async () => {
    const r = await runner('ok.test.ts');
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /files 1 {2}tests 4 {2}pass 3 {2}fail 0 {2}skipped 1/);
    // Each file's CPU time, its own and its spawned processes', in the table and the totals.
    assert.match(r.out, /s wall +[\d.]+ s cpu +[\d.]+ s spawned {2}test\/scripts\/fixtures\/runner\/ok\.test\.ts/);
    assert.match(r.out, /cpu [\d.]+ s \(the files' own processes\) \+ [\d.]+ s \(spawned\)/);
  });
  test('a file that leaves a handle open ends once its tests are done, with its whole report', async () => {
    const r = await runner('lingers.test.ts');
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /files 1 {2}tests 300 {2}pass 300/);
  });
  test('a file that exits in the middle of its tests fails the run, though its process exited 0', async () => {
    const r = await runner('exits-early.test.ts', 'ok.test.ts');
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /exits-early\.test\.ts: report cut short/);
  });
  test('a failing test fails the run and is named', async () => {
    const r = await runner('fails.test.ts');
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /✖ fails: AssertionError/);
  });
});
