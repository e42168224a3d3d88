// The verdict on one test file's run, from the report scripts/test-report.mjs wrote (one JSON
// object a line) and how its process ended. Used by scripts/run-tests.mjs; tested by
// test/scripts/run-tests.test.ts.
import { readFileSync } from 'node:fs';

const SUMMARY = /^(tests|suites|pass|fail|cancelled|skipped|todo|duration_ms) ([\d.]+)$/;

/**
 * Parses a report. `counted`: the tests (not suites) reported one by one; `summary`: the
 * root's closing counts, undefined when the report was cut short (no `duration_ms`) or has
 * an unreadable line.
 */
export function parseReport(text) {
  let counted = 0;
  let unreadable = 0;
  let cpuMs;
  let childrenCpuMs;
  const failures = [];
  const summary = {};
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let e;
    try {
      e = JSON.parse(line);
    } catch {
      unreadable++;
      continue;
    }
    if (e.type === 'cpu') [cpuMs, childrenCpuMs] = [e.ms, e.childrenMs];
    if ((e.type === 'test:pass' || e.type === 'test:fail') && !e.suite) counted++;
    if (e.type === 'test:fail' && !e.suite) failures.push(e);
    const m = e.type === 'test:diagnostic' && e.nesting === 0 ? SUMMARY.exec(e.message ?? '') : null;
    if (m) summary[m[1]] = Number(m[2]);
  }
  const complete = unreadable === 0 && 'duration_ms' in summary && 'tests' in summary;
  return { counted, unreadable, failures, cpuMs, childrenCpuMs, summary: complete ? summary : undefined };
}

/** {@link parseReport} of a file; a missing file is an empty (cut) report. */
export function readReport(path) {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {}
  return parseReport(text);
}

/** Why a file's run is not green (empty: green). */
export function problemsOf(report, { code, signal, timedOut, timeoutSeconds }) {
  const problems = [];
  if (timedOut) problems.push(`did not finish within ${timeoutSeconds} s; killed`);
  else if (code !== 0) problems.push(`exited with ${signal ?? code}`);
  if (report.unreadable > 0) problems.push(`${report.unreadable} unreadable lines in its report`);
  if (report.summary === undefined) {
    problems.push(`report cut short: no closing summary after ${report.counted} tests`);
  } else if (report.counted !== report.summary.tests) {
    problems.push(`reported ${report.counted} tests one by one but its summary counts ${report.summary.tests}`);
  } else if (report.summary.fail > 0) {
    problems.push(`${report.summary.fail} failed`);
  }
  return problems;
}
