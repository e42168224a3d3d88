/**
 * `tessera ARGS` run in this process (src/cli/main.ts `main`) with its output collected:
 * for CLI tests that need no child process.
 */
import { main } from '../../src/cli/main.js';

export interface MainResult {
  code: number;
  out: string;
  err: string;
}

export async function runMain(args: string[]): Promise<MainResult> {
  let out = '';
  let err = '';
  const code = await main(args, {
    out: (s: string) => {
      out += `${s}\n`;
    },
    err: (s: string) => {
      err += `${s}\n`;
    },
  });
  return { code, out, err };
}
