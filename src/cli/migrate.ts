/**
 * `tessera migrate`: brings the store's schema to this version and exits. Every
 * store also migrates when it is opened (`tessera serve` does it at start, under
 * an advisory lock on PostgreSQL); this command lets a deployment run it as its
 * own step, before the new instances start.
 *
 * @module
 */
import { redactUrl } from '../internal/redact.js';
import { storeConfig } from '../server/config.js';
import { openStore } from '../stores/open.js';
import { dataDirLine, EXIT_OK, type Io, parse, str, UsageError } from './args.js';

export const MIGRATE_HELP = `Usage: tessera migrate [--store SPEC] [--data-dir DIR]

Applies the store's pending schema migrations (PostgreSQL: under an advisory lock, so
instances starting at the same time are safe; SQLite: in one write transaction) and
prints the schema version. Memory and Redis have no schema: nothing to do.
Store: --store, else TESSERA_STORE, else REDIS_URL, else sqlite:<data dir>/tessera.db.
PostgreSQL URL options: ?schema=NAME (default tessera), ?pool=N, ?connect_timeout=S, ?statement_timeout=MS.
Exit: 0 migrated (or nothing to do), 2 usage or configuration error (unreachable store, newer schema).`;

export async function migrateCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { store: { type: 'string' }, 'data-dir': { type: 'string' } }, false);
  if (values.help) return (io.out(MIGRATE_HELP), EXIT_OK);
  if (positionals.length > 0) throw new UsageError('tessera migrate takes no arguments');
  const config = storeConfig(process.env, { store: str(values.store), dataDir: str(values['data-dir']) });
  // The default store is the data directory's database: say which one.
  if (config.storeFrom === 'default') io.err(dataDirLine(config.dataDir));
  // Opening a store migrates it (a newer schema is a ConfigError).
  const store = await openStore(config.store);
  try {
    const shown = redactUrl(config.store);
    if (store.migrate) {
      const version = await store.migrate();
      const where = store.schemaName === undefined ? 'schema' : `schema "${store.schemaName}"`;
      io.out(`${shown}: ${where} at version ${version}`);
    } else {
      io.out(`${shown}: no schema to migrate (${store.kind})`);
    }
    return EXIT_OK;
  } finally {
    await store.close();
  }
}
