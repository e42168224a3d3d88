/**
 * `tessera session list|revoke|revoke-all`: an operator's view of a user's sessions (refresh
 * token families) in the server's store, and the way to end them. Ending one revokes its family
 * in the store, which pushes the revocation to every running instance (the store's revocation
 * feed): its access tokens are refused within a second, as after `DELETE /auth/sessions/{id}`.
 *
 * @module
 */
import { DEFAULTS } from '../refresh/config.js';
import { sessionJson, toSessions } from '../refresh/sessions.js';
import { storeConfig } from '../server/config.js';
import { openConfiguredStore } from '../server/server.js';
import type { TokenStore, UserDirectory } from '../stores/types.js';
import { userShard } from '../tokens/opaque.js';
import { dataDirLine, EXIT_OK, EXIT_REFUSED, type Io, parse, str, UsageError } from './args.js';

export const SESSION_HELP = `Usage:
  tessera session list USERNAME
  tessera session revoke SESSION_ID
  tessera session revoke-all USERNAME
Options of every command: [--store SPEC] [--data-dir DIR] [--redis-prefix PREFIX]

list        the user's live sessions, most recently used first, one JSON object per line:
              {"id", "client_id", "created_at", "last_used_at", "expires_at", "user_agent",
               "address", "current", "grant"} (times RFC 3339; current is always false here;
               grant: the grant_type that created it, null when not recorded)
revoke      ends one session: its refresh token and, on every running instance within a
            second, its access tokens are refused
revoke-all  ends every session of the user, and every token issued to the user until now
            (logout everywhere)

Exit: 0 done, 1 refused (unknown user, no such live session), 2 usage or configuration error.`;

const COMMANDS = ['list', 'revoke', 'revoke-all'] as const;

/** A whole number of seconds from the environment, or the default (the server's own setting, when set). */
function seconds(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const v = env[name]?.trim();
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : fallback;
}

export async function sessionCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') return (io.out(SESSION_HELP), EXIT_OK);
  if (!(COMMANDS as readonly string[]).includes(sub)) {
    throw new UsageError(`unknown session command "${sub}" (expected: ${COMMANDS.join(', ')})`);
  }
  const { values, positionals } = parse(rest, {
    store: { type: 'string' },
    'data-dir': { type: 'string' },
    'redis-prefix': { type: 'string' },
  });
  if (values.help) return (io.out(SESSION_HELP), EXIT_OK);
  if (positionals.length !== 1) {
    throw new UsageError(`tessera session ${sub} takes one ${sub === 'revoke' ? 'SESSION_ID' : 'USERNAME'}`);
  }
  const arg = positionals[0] as string;
  const config = storeConfig(process.env, {
    store: str(values.store),
    dataDir: str(values['data-dir']),
    redisPrefix: str(values['redis-prefix']),
  });
  // The default store is the data directory's database: say which one.
  if (config.storeFrom === 'default') io.err(dataDirLine(config.dataDir));
  const store = (await openConfiguredStore(config)) as TokenStore & UserDirectory;
  try {
    const now = Date.now();
    if (sub === 'revoke') {
      const owner = store.familyOwner ? await store.familyOwner(arg) : null;
      if (owner === null || !(await store.revokeFamily({ shard: userShard(owner), now, familyId: arg }))) {
        io.err(`tessera: no live session "${arg}"`);
        return EXIT_REFUSED;
      }
      io.err(`ended session ${arg}`);
      return EXIT_OK;
    }
    const user = await store.getUser(arg);
    if (user === null) {
      io.err(`tessera: no user "${arg}"`);
      return EXIT_REFUSED;
    }
    const shard = userShard(user.id);
    if (sub === 'list') {
      if (!store.listFamilies) throw new UsageError(`the ${store.kind} store keeps no session listing`);
      const families = await store.listFamilies({ shard, now, sub: user.id });
      for (const s of toSessions(families, now, DEFAULTS.leewaySeconds * 1000)) io.out(JSON.stringify(sessionJson(s)));
      return EXIT_OK;
    }
    // Logout everywhere: the user's epoch, kept as long as any token issued before it can live.
    const longest = Math.max(
      DEFAULTS.absoluteLifetimeSeconds,
      seconds(process.env, 'TESSERA_REFRESH_TTL', DEFAULTS.refreshTtlSeconds),
      seconds(process.env, 'TESSERA_ACCESS_TTL', DEFAULTS.accessTtlSeconds),
    );
    await store.revokeUser({ shard, now, sub: user.id, keepUntil: now + (longest + DEFAULTS.leewaySeconds) * 1000 });
    io.err(`ended every session of ${user.username}`);
    return EXIT_OK;
  } finally {
    await store.close();
  }
}
