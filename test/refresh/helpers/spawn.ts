/** Spawns test/refresh/helpers/child.ts in a new Node process and reads its JSON lines. */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

const CHILD = new URL('./child.ts', import.meta.url).pathname;
const ROOT = new URL('../../../', import.meta.url).pathname;

export interface Child {
  proc: ChildProcessWithoutNullStreams;
  /** The next JSON line the child prints. */
  next(): Promise<Record<string, unknown>>;
}

export function spawnChild(input: object): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(input)], { cwd: ROOT });
  let stderr = '';
  proc.stderr.on('data', (d) => {
    stderr += String(d);
  });
  const lines = createInterface({ input: proc.stdout });
  const queue: string[] = [];
  const waiters: ((line: string | Error) => void)[] = [];
  lines.on('line', (line) => {
    const w = waiters.shift();
    if (w) w(line);
    else queue.push(line);
  });
  proc.on('exit', (code) => {
    for (const w of waiters.splice(0)) w(new Error(`child exited (${code}) before answering: ${stderr.slice(-2000)}`));
  });
  return {
    proc,
    next: () =>
      new Promise((resolve, reject) => {
        const take = (line: string | Error) => (line instanceof Error ? reject(line) : resolve(JSON.parse(line)));
        const queued = queue.shift();
        if (queued !== undefined) take(queued);
        else if (proc.exitCode !== null) take(new Error(`child exited (${proc.exitCode}): ${stderr.slice(-2000)}`));
        else waiters.push(take);
      }),
  };
}
