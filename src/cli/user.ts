/**
 * `tessera user add NAME`: adds a user of the password grant. The password is
 * read from stdin (first line), never from an argument: arguments show in `ps`
 * and in shell history.
 *
 * @module
 */
import { redactUrl } from '../internal/redact.js';
import { SETTINGS, storeConfig } from '../server/config.js';
import { openConfiguredStore } from '../server/server.js';
import { scryptWithCost } from '../users/password.js';
import { createUserService, UserInputError } from '../users/users.js';
import { dataDirLine, EXIT_OK, EXIT_REFUSED, type Io, parse, str, UsageError } from './args.js';

export const USER_HELP = `Usage: tessera user add NAME [--store SPEC] [--data-dir DIR] [--redis-prefix PREFIX]

Adds a user for grant_type=password. The password is read from stdin (its first line):
  printf '%s' 'correct horse battery staple' | tessera user add alice
On a terminal it is prompted for without echo.

NAME: 1-64 characters of letters, digits and . _ @ + - (case-insensitive).
Password: 8-1024 characters, not only spaces, not the name, and not on the list of commonly used
passwords (NIST SP 800-63B §5.1.1.2).
Store: --store, else ${SETTINGS.store.env}, else REDIS_URL, else sqlite:<data dir>/tessera.db (the server's default).
Exit: 0 created, 1 refused (name taken, bad name or password), 2 usage or configuration error.`;

/** Reads one line without echo from a terminal. */
async function promptHidden(io: Io, prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    let value = '';
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          done();
          resolve(value);
          return;
        }
        if (ch === '\u0003') {
          done();
          reject(new UsageError('cancelled'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else value += ch;
      }
    };
    const done = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      io.err('');
    };
    stdin.on('data', onData);
  });
}

async function readPassword(io: Io): Promise<string> {
  if (process.stdin.isTTY) {
    const first = await promptHidden(io, 'Password: ');
    const again = await promptHidden(io, 'Again: ');
    if (first !== again) throw new UsageError('the passwords differ');
    return first;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  // The first line; a trailing newline (echo, heredoc) is not part of the password.
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

export async function userCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') return (io.out(USER_HELP), EXIT_OK);
  if (sub !== 'add') throw new UsageError(`unknown user command "${sub}" (expected: add)`);
  const { values, positionals } = parse(rest, {
    store: { type: 'string' },
    'data-dir': { type: 'string' },
    'redis-prefix': { type: 'string' },
    'scrypt-n': { type: 'string' },
  });
  if (values.help) return (io.out(USER_HELP), EXIT_OK);
  if (positionals.length !== 1) throw new UsageError('tessera user add takes exactly one NAME');
  const name = positionals[0] as string;

  // The same store resolution as `tessera serve`; the secret is not needed here.
  const config = storeConfig(process.env, {
    store: str(values.store),
    dataDir: str(values['data-dir']),
    redisPrefix: str(values['redis-prefix']),
    scryptN: str(values['scrypt-n']),
  });
  // The default store is the data directory's database: say which one.
  if (config.storeFrom === 'default') io.err(dataDirLine(config.dataDir));
  const password = await readPassword(io);
  const store = await openConfiguredStore(config);
  try {
    const users = createUserService(store, { scrypt: scryptWithCost(config.scryptN) });
    const user = await users.add(name, password);
    io.out(`created user ${user.username} (id ${user.id}) in ${redactUrl(config.store)}`);
    return EXIT_OK;
  } catch (e) {
    if (e instanceof UserInputError) {
      io.err(`tessera: ${e.message}`);
      return EXIT_REFUSED;
    }
    throw e;
  } finally {
    await store.close();
  }
}
