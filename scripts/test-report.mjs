// A node:test reporter for scripts/run-tests.mjs: one JSON line per test event, written
// synchronously to the file named by TESSERA_TEST_REPORT, so that a process that ends early
// leaves everything it reported up to that point and nothing is lost in a stream buffer.
// It yields nothing: its destination receives no output.
//
// The runner decides from this file whether the test file's report is complete (the root's
// closing `duration_ms` diagnostic is present) and whether the count of tests reported one by
// one equals the count the root announces (`tests N`).
//
// --test-force-exit calls process.exit() once the test runner's event stream closes, while
// the reporters are still behind by a few events (measured on Node 20: the closing
// diagnostics were lost every time). So, loaded in the test process, this module holds that
// one exit back (the call from node:internal/test_runner) until it has written the closing
// summary, for at most EXIT_WAIT_MS. Any other process.exit() is not delayed: a test file
// that exits in the middle of its tests leaves an incomplete report, which fails the run.
import { closeSync, openSync, writeSync } from 'node:fs';

const path = process.env.TESSERA_TEST_REPORT;
const EXIT_WAIT_MS = 2000;
let complete = false;

if (path) {
  const exit = process.exit.bind(process);
  process.exit = (code) => {
    // Frames: the Error, this function, its caller: the test runner's own call, or not.
    const caller = (new Error().stack ?? '').split('\n')[2] ?? '';
    if (!caller.includes('(node:internal/test_runner/')) return exit(code);
    const until = Date.now() + EXIT_WAIT_MS;
    const attempt = () => (complete || Date.now() > until ? exit(code) : setImmediate(attempt));
    attempt();
  };
}

export default async function* report(source) {
  const fd = path ? openSync(path, 'w') : -1;
  try {
    for await (const event of source) {
      if (fd < 0) continue;
      const { type, data = {} } = event;
      if (type !== 'test:pass' && type !== 'test:fail' && type !== 'test:diagnostic') continue;
      const line = {
        type,
        name: data.name,
        nesting: data.nesting,
        suite: data.details?.type === 'suite',
        skip: data.skip !== undefined && data.skip !== false,
        todo: data.todo !== undefined && data.todo !== false,
        duration: data.details?.duration_ms,
        message: type === 'test:diagnostic' ? data.message : undefined,
        error: type === 'test:fail' ? String(data.details?.error?.cause ?? data.details?.error ?? '').slice(0, 2000) : undefined,
      };
      writeSync(fd, `${JSON.stringify(line)}\n`);
      if (type === 'test:diagnostic' && data.nesting === 0 && /^duration_ms /.test(data.message)) {
        // The CPU time of this process (not of processes it spawned): what the file costs on an idle machine.
        const { user, system } = process.cpuUsage();
        writeSync(fd, `${JSON.stringify({ type: 'cpu', ms: (user + system) / 1000 })}\n`);
        complete = true;
      }
    }
  } finally {
    if (fd >= 0) closeSync(fd);
  }
  yield* [];
}
