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
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';

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

/**
 * CPU time of the children this process waited for, and theirs (Linux: cutime and cstime of
 * /proc/self/stat, proc(5), in clock ticks of 1/100 s); undefined elsewhere.
 */
function childrenCpuMs() {
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
    // Fields 16 and 17 of proc(5); the split leaves out the first two (pid, comm).
    return (Number(fields[13]) + Number(fields[14])) * 10;
  } catch {
    return undefined;
  }
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
        // The CPU time of this process, and of the processes it spawned and waited for (servers,
        // Chromium, npm, tsc): what the file costs on an idle machine.
        const { user, system } = process.cpuUsage();
        writeSync(fd, `${JSON.stringify({ type: 'cpu', ms: (user + system) / 1000, childrenMs: childrenCpuMs() })}\n`);
        complete = true;
      }
    }
  } finally {
    if (fd >= 0) closeSync(fd);
  }
  yield* [];
}
