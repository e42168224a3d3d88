/**
 * `tessera client add|list|remove`: registered OAuth clients (RFC 6749 §2) in
 * the server's store. `add` prints one JSON object; a confidential client's
 * secret is in it, printed this once and stored only as a hash.
 *
 * @module
 */
import { ClientInputError, createClientService } from '../oauth-clients/clients.js';
import { storeConfig } from '../server/config.js';
import { openConfiguredStore } from '../server/server.js';
import { dataDirLine, EXIT_OK, EXIT_REFUSED, type Io, parse, str, UsageError } from './args.js';

export const CLIENT_HELP = `Usage:
  tessera client add CLIENT_ID [--confidential] [--introspect]
  tessera client list
  tessera client remove CLIENT_ID
Options of every command: [--store SPEC] [--data-dir DIR] [--redis-prefix PREFIX]

add     registers a client and prints one JSON object:
          {"client_id": "...", "client_type": "public"|"confidential", "client_secret": "..."}
        client_secret only for --confidential: printed once, stored as a hash (keep it now).
        --confidential  the client authenticates (client_secret_basic or client_secret_post)
        --introspect    it may call POST /auth/introspect (RFC 7662); needs --confidential
list    one JSON object per line: client_id, client_type, introspect, created_at (no secrets)
remove  deletes a client; its tokens can no longer be refreshed by anyone

CLIENT_ID: 1-128 characters of letters, digits and . _ ~ @ + -
Requests that name no client act as the built-in public client TESSERA_DEFAULT_CLIENT (default tessera).
Exit: 0 done, 1 refused (id taken, unknown id, bad id), 2 usage or configuration error.`;

export async function clientCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') return (io.out(CLIENT_HELP), EXIT_OK);
  if (sub !== 'add' && sub !== 'list' && sub !== 'remove') {
    throw new UsageError(`unknown client command "${sub}" (expected: add, list, remove)`);
  }
  const { values, positionals } = parse(rest, {
    store: { type: 'string' },
    'data-dir': { type: 'string' },
    'redis-prefix': { type: 'string' },
    ...(sub === 'add' ? { confidential: { type: 'boolean' }, introspect: { type: 'boolean' } } : {}),
  });
  if (values.help) return (io.out(CLIENT_HELP), EXIT_OK);
  const wanted = sub === 'list' ? 0 : 1;
  if (positionals.length !== wanted) {
    throw new UsageError(sub === 'list' ? 'tessera client list takes no argument' : `tessera client ${sub} takes one CLIENT_ID`);
  }
  const config = storeConfig(process.env, {
    store: str(values.store),
    dataDir: str(values['data-dir']),
    redisPrefix: str(values['redis-prefix']),
  });
  // The default store is the data directory's database: say which one.
  if (config.storeFrom === 'default') io.err(dataDirLine(config.dataDir));
  const store = await openConfiguredStore(config);
  try {
    const clients = createClientService(store);
    if (sub === 'list') {
      for (const c of await clients.list()) {
        io.out(
          JSON.stringify({ client_id: c.clientId, client_type: c.clientType, introspect: c.introspect, created_at: c.createdAt }),
        );
      }
      return EXIT_OK;
    }
    const id = positionals[0] as string;
    if (sub === 'remove') {
      if (!(await clients.remove(id))) {
        io.err(`tessera: no client "${id}"`);
        return EXIT_REFUSED;
      }
      io.err(`removed client ${id}`);
      return EXIT_OK;
    }
    if (values.introspect === true && values.confidential !== true) {
      throw new UsageError('--introspect needs --confidential (introspection requires client authentication)');
    }
    const added = await clients.add(id, { confidential: values.confidential === true, introspect: values.introspect === true });
    const out: Record<string, string> = { client_id: added.client.clientId, client_type: added.client.clientType };
    if (added.secret !== undefined) out.client_secret = added.secret;
    io.out(JSON.stringify(out));
    return EXIT_OK;
  } catch (e) {
    if (e instanceof ClientInputError) {
      io.err(`tessera: ${e.message}`);
      return EXIT_REFUSED;
    }
    throw e;
  } finally {
    await store.close();
  }
}
