/**
 * Small helpers shared by the CLI commands: argument parsing and exit codes.
 *
 * @module
 */
import { parseArgs } from 'node:util';
import { TesseraError } from '../errors.js';

/** Exit codes: 0 ok, 1 the operation said no (invalid token...), 2 usage or configuration error. */
export const EXIT_OK = 0;
export const EXIT_REFUSED = 1;
export const EXIT_USAGE = 2;

/** A command line the CLI cannot run (exit code 2). */
export class UsageError extends TesseraError {
  override readonly name = 'UsageError';
  declare readonly code: 'invalid_usage';

  constructor(message: string) {
    super('invalid_usage', message);
  }
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
}

export interface ParsedArgs {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

/** A string option's value (`undefined` when absent). */
export function str(v: ParsedArgs['values'][string]): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/**
 * Whether `arg` is a value that happens to start with '-', not an option: option names are
 * lowercase letters and dashes, and an id or kid is base64url (RFC 4648 §5), one in 64 of which
 * starts with '-' (an RFC 7638 thumbprint, a session id) and nearly all of which hold an
 * uppercase letter, a digit or '_'.
 */
function isDashedValue(arg: string): boolean {
  return /^-{1,2}[A-Za-z0-9_-]*[A-Z0-9_][A-Za-z0-9_-]*$/.test(arg);
}

export function parse(argv: string[], options: Record<string, OptionSpec>, allowPositionals = true): ParsedArgs {
  // Values that start with '-' (a kid, a session id) stand in as placeholders while Node's parser
  // reads the line, so they stay positionals in their place; '--' ends the options as usual.
  const dashed: string[] = [];
  const end = argv.indexOf('--');
  const args = argv.map((a, i) =>
    allowPositionals && (end === -1 || i < end) && isDashedValue(a) ? `\u0000${dashed.push(a) - 1}` : a,
  );
  try {
    const parsed = parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals,
      strict: true,
    });
    if (dashed.length === 0) return parsed;
    // argv never holds a NUL (C strings): a placeholder is always one of ours.
    const restore = (v: string): string => (v.startsWith('\u0000') ? (dashed[Number(v.slice(1))] as string) : v);
    const values: ParsedArgs['values'] = {};
    for (const [name, v] of Object.entries(parsed.values)) {
      values[name] =
        typeof v === 'string' ? restore(v) : Array.isArray(v) ? v.map((x) => (typeof x === 'string' ? restore(x) : x)) : v;
    }
    return { values, positionals: parsed.positionals.map(restore) };
  } catch (e) {
    // Node's messages can span lines; a usage error stays one line.
    throw new UsageError((e as Error).message.replace(/\s*\n\s*/g, ' '));
  }
}

export async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export interface Io {
  out(line: string): void;
  err(line: string): void;
}

export const processIo: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/**
 * The one line a command prints (stderr) when it reads or writes the data
 * directory: `.tessera` is relative to the working directory unless
 * `--data-dir`/`TESSERA_DATA_DIR` is absolute, so the line shows which one,
 * resolved (absolute), before anything is written there.
 */
export function dataDirLine(dataDir: string): string {
  return `tessera: data directory ${dataDir}`;
}
