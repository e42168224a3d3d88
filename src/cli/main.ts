#!/usr/bin/env node
/**
 * The `tessera` command. Its interface is a contract (README "The CLI", from DESIGN.md's CLI contract): scripts and
 * outside checks depend on it.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { installLine, isMissingPackage, SERVER_PEERS } from '../internal/peers.js';
import { generateSecret } from '../keys.js';
import { storeUsage } from '../stores/open.js';
import { generateSigningJwk, isAsymmetricAlg } from '../tokens/jwk.js';
import { EXIT_OK, EXIT_USAGE, type Io, processIo, UsageError } from './args.js';
import { tokenCommand } from './token.js';

export const MAIN_HELP = `tessera: access and refresh tokens without a JWT library

Usage:
  tessera serve [--port N] [--host H] [--store ${storeUsage()}]
  tessera keygen                         prints a new base64url secret (32 random bytes)
  tessera keygen --alg EdDSA|ES256|RS256 prints a JWK Set with a new private signing key (TESSERA_SIGNING_KEY_FILE)
  tessera keys list|add|promote|remove   rotates the keys of that JWK Set (docs/keys.md)
  tessera user add NAME                  adds a user; the password is read from stdin
  tessera migrate [--store SPEC]         applies the store's schema migrations (SQLite, PostgreSQL)
  tessera client add CLIENT_ID [--confidential] [--introspect]   registers an OAuth client (prints JSON)
  tessera client list | tessera client remove CLIENT_ID
  tessera session list USERNAME          the user's sessions, one JSON object per line
  tessera session revoke SESSION_ID | tessera session revoke-all USERNAME
  tessera token issue --format jwt|sealed|fernet --type access|refresh --sub S [--ttl SECONDS] [--claims JSON]
  tessera token verify --format jwt|sealed|fernet [--type access|refresh] [TOKEN | -]
  tessera --version | --help

Run "tessera COMMAND --help" for the options of a command.`;

type Command = (argv: string[], io: Io) => Promise<number>;

/** A missing peer is a one-line ConfigError with the install line of every server peer, not a stack trace. */
async function withServerPeers(load: () => Promise<Command>): Promise<Command> {
  try {
    return await load();
  } catch (e) {
    const missing = SERVER_PEERS.find((p) => isMissingPackage(e, p));
    if (missing) throw new ConfigError(`this command needs ${missing} and the other server peers: ${installLine(SERVER_PEERS)}`);
    throw e;
  }
}

/** Commands loaded on demand, so `tessera keygen` does not load Fastify. */
const COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  token: async () => tokenCommand,
  migrate: async () => (await import('./migrate.js')).migrateCommand,
  keys: async () => (await import('./keys.js')).keysCommand,
  serve: () => withServerPeers(async () => (await import('./serve.js')).serveCommand),
  user: () => withServerPeers(async () => (await import('./user.js')).userCommand),
  client: () => withServerPeers(async () => (await import('./client.js')).clientCommand),
  session: () => withServerPeers(async () => (await import('./session.js')).sessionCommand),
  keygen: async () => async (argv, io) => {
    if (argv.includes('--help') || argv.includes('-h'))
      return (
        io.out(
          'Usage: tessera keygen [--alg EdDSA|ES256|RS256]\n\nPrints a new secret: 32 random bytes, base64url. Use it as TESSERA_SECRET.\n' +
            'With --alg: prints a JWK Set (RFC 7517) holding one new private key, with kid (its RFC 7638 thumbprint),\n' +
            'alg and use "sig": Ed25519 for EdDSA, P-256 for ES256, RSA 2048 bits with e = 65537 for RS256.\n' +
            'Save it (mode 0600) as TESSERA_SIGNING_KEY_FILE with TESSERA_ACCESS_ALG set to the same alg.\n' +
            'To rotate: tessera keys add|promote|remove (tessera keys --help, docs/keys.md).',
        ),
        EXIT_OK
      );
    if (argv.length === 0) {
      io.out(generateSecret());
      return EXIT_OK;
    }
    const alg =
      argv[0] === '--alg' && argv.length === 2
        ? argv[1]
        : argv.length === 1 && argv[0]?.startsWith('--alg=')
          ? argv[0].slice(6)
          : undefined;
    if (alg === undefined) throw new UsageError('tessera keygen takes no arguments, or --alg EdDSA|ES256|RS256');
    if (!isAsymmetricAlg(alg))
      throw new UsageError(`--alg must be EdDSA, ES256 or RS256 (HS256 uses a plain secret: tessera keygen), got "${alg}"`);
    io.out(JSON.stringify({ keys: [generateSigningJwk(alg)] }));
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
  // Own keys only: `tessera toString` is an unknown command, not Object.prototype's.
  const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
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
