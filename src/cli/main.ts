#!/usr/bin/env node
/**
 * The `tessera` command. Its interface is a contract (README "The CLI", from DESIGN.md's CLI contract): scripts and
 * outside checks depend on it.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { generateSecret } from '../keys.js';
import { EXIT_OK, EXIT_USAGE, type Io, processIo, UsageError } from './args.js';
import { tokenCommand } from './token.js';

export const MAIN_HELP = `tessera: access and refresh tokens without a JWT library

Usage:
  tessera serve [--port N] [--host H] [--store memory|sqlite:PATH|redis://...|redis+cluster://...]
  tessera keygen                         prints a new base64url secret (32 random bytes)
  tessera user add NAME                  adds a user; the password is read from stdin
  tessera client add CLIENT_ID [--confidential] [--introspect]   registers an OAuth client (prints JSON)
  tessera client list | tessera client remove CLIENT_ID
  tessera token issue --format jwt|sealed|fernet --type access|refresh --sub S [--ttl SECONDS] [--claims JSON]
  tessera token verify --format jwt|sealed|fernet [--type access|refresh] [TOKEN | -]
  tessera --version | --help

Run "tessera COMMAND --help" for the options of a command.`;

type Command = (argv: string[], io: Io) => Promise<number>;

/** Commands loaded on demand, so `tessera keygen` does not load Fastify. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  token: async () => tokenCommand,
  serve: async () => (await import('./serve.js')).serveCommand,
  user: async () => (await import('./user.js')).userCommand,
  client: async () => (await import('./client.js')).clientCommand,
  keygen: async () => async (argv, io) => {
    if (argv.includes('--help') || argv.includes('-h'))
      return (
        io.out('Usage: tessera keygen\n\nPrints a new secret: 32 random bytes, base64url. Use it as TESSERA_SECRET.'), EXIT_OK
      );
    if (argv.length > 0) throw new UsageError('tessera keygen takes no arguments');
    io.out(generateSecret());
    return EXIT_OK;
  },
};

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') return (io.out(MAIN_HELP), EXIT_OK);
  if (name === '--version' || name === '-v') return (io.out(version()), EXIT_OK);
  const load = COMMANDS[name];
  try {
    if (!load) throw new UsageError(`unknown command "${name}"`);
    return await (await load())(rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`tessera: ${e.message}\nRun "tessera --help" for usage.`);
      return EXIT_USAGE;
    }
    if (e instanceof ConfigError) {
      io.err(`tessera: ${e.message}`);
      return EXIT_USAGE;
    }
    throw e;
  }
}

/** Registers a command (used by modules that add `serve` and `user`). */
export function registerCommand(name: string, load: () => Promise<Command>): void {
  COMMANDS[name] = load;
}

const isEntry = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry || process.argv[1]?.endsWith('/tessera')) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`tessera: ${(e as Error).message ?? String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
