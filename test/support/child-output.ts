/**
 * A spawned child's whole output and exit status, for the helpers that run a command to its end
 * (processes.ts `runCli`, test/docs/runner.ts `runProcess`).
 *
 * @module
 */
import type { ChildProcess } from 'node:child_process';

export interface ChildOutput {
  /** The exit code; null when a signal ended the child (a timeout's SIGKILL among them). */
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Writes `input` to the child's stdin (if piped), collects stdout and stderr, and resolves once
 * the child has exited and its streams are closed ('close', not 'exit': 'exit' may come before the
 * last of the output is read). After `timeoutMs` the child is killed (SIGKILL): with `onTimeout`
 * the promise rejects with its error, else it resolves with status null and the output so far.
 */
export function childOutput(
  child: ChildProcess,
  options: { input?: string; timeoutMs?: number; onTimeout?: (stderr: string) => Error } = {},
): Promise<ChildOutput> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d) => (stdout += d));
    child.stderr?.on('data', (d) => (stderr += d));
    let timedOut = false;
    const timer =
      options.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, options.timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (status) => {
      clearTimeout(timer);
      if (timedOut && options.onTimeout) reject(options.onTimeout(stderr));
      else resolve({ status, stdout, stderr });
    });
    if (child.stdin) {
      child.stdin.on('error', () => {}); // a child that exits without reading its stdin
      child.stdin.end(options.input ?? '');
    }
  });
}
