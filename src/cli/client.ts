/**
 * `tessera client add|list|remove`: registered OAuth clients (RFC 6749 §2) in
 * the server's store. `add` prints one JSON object; a confidential client's
 * secret is in it, printed this once and stored only as a hash. Its options are
 * checked before the store is opened: options that do not go together and an
 * unknown `--grant` are usage errors (exit 2), a refused id, redirect URI or
 * scope is a refusal (exit 1).
 *
 * @module
 */
import {
  type AddClientOptions,
  ClientInputError,
  checkClientId,
  checkClientOptions,
  createClientService,
} from '../oauth-clients/clients.js';
import type { ClientRecord } from '../oauth-clients/types.js';
import { storeConfig } from '../server/config.js';
import { openConfiguredStore } from '../server/server.js';
import { dataDirLine, EXIT_OK, EXIT_REFUSED, type Io, type ParsedArgs, parse, str, UsageError } from './args.js';

export const CLIENT_HELP = `Usage:
  tessera client add CLIENT_ID [--confidential] [--introspect] [--first-party]
                               [--redirect-uri URI]... [--post-logout-redirect-uri URI]...
                               [--grant authorization_code|refresh_token|password|client_credentials]...
                               [--scope "a b"] [--dpop]
  tessera client list
  tessera client remove CLIENT_ID
Options of every command: [--store SPEC] [--data-dir DIR] [--redis-prefix PREFIX]

add     registers a client and prints one JSON object:
          {"client_id", "client_type": "public"|"confidential", "client_secret", "redirect_uris",
           "grant_types", "scope", "first_party", "dpop_bound_access_tokens"}
        client_secret only for --confidential: printed once, stored as a hash (keep it now).
        --confidential   the client authenticates (client_secret_basic or client_secret_post)
        --introspect     it may call POST /auth/introspect (RFC 7662); needs --confidential
        --redirect-uri   a redirect URI of the authorization code flow, compared exactly; repeatable.
                         https, http on 127.0.0.1, [::1] (any port) or localhost, or a
                         reverse-domain scheme (com.example.app:/cb); no fragment, no user:password@
        --post-logout-redirect-uri  where logout may send the browser back (same rules); repeatable
        --grant          a grant type it may use; repeatable. Default: authorization_code and
                         refresh_token with a --redirect-uri, else password and refresh_token.
                         client_credentials needs --confidential, authorization_code a --redirect-uri
        --scope "a b"    the scopes it may ask for (RFC 6749 §3.3: space-separated, each once,
                         at most 1024 characters); default: the server's scope
        --first-party    its users are not asked for consent
        --dpop           its access tokens must be DPoP-bound (RFC 9449)
list    one JSON object per line: client_id, client_type, redirect_uris, grant_types, scope,
        first_party, dpop_bound_access_tokens, introspect, created_at, post_logout_redirect_uris
        (no secrets)
remove  deletes a client; its tokens can no longer be refreshed by anyone

CLIENT_ID: 1-128 characters of letters, digits and . _ ~ @ + -
Requests that name no client act as the built-in public client TESSERA_DEFAULT_CLIENT (default tessera).
Exit: 0 done, 1 refused (id taken, unknown id, bad id, redirect URI or scope), 2 usage or
configuration error (unknown option or grant type, options that do not go together).`;

/** `add`'s answer (DESIGN "Clients, grown": exactly these fields; the secret only for a confidential client). */
function addedJson(c: ClientRecord, secret: string | undefined): Record<string, unknown> {
  return {
    client_id: c.clientId,
    client_type: c.clientType,
    ...(secret === undefined ? {} : { client_secret: secret }),
    redirect_uris: c.redirectUris,
    grant_types: c.grantTypes,
    scope: c.scope,
    first_party: c.firstParty,
    dpop_bound_access_tokens: c.dpopBoundAccessTokens,
  };
}

/** One line of `list`: `add`'s fields without the secret, and what else the record holds. */
function listedJson(c: ClientRecord): Record<string, unknown> {
  return {
    ...addedJson(c, undefined),
    introspect: c.introspect,
    created_at: c.createdAt,
    post_logout_redirect_uris: c.postLogoutRedirectUris,
  };
}

/** A repeatable string option's values (`undefined` when absent). */
function strings(v: ParsedArgs['values'][string]): string[] | undefined {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined;
}

/** Options that do not go together, or a grant type that does not exist: the command line is wrong (exit 2). */
const USAGE_CODES: ReadonlySet<string> = new Set(['invalid_client_options', 'invalid_grant_type']);

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
    ...(sub === 'add'
      ? {
          confidential: { type: 'boolean' },
          introspect: { type: 'boolean' },
          'first-party': { type: 'boolean' },
          'redirect-uri': { type: 'string', multiple: true },
          'post-logout-redirect-uri': { type: 'string', multiple: true },
          grant: { type: 'string', multiple: true },
          scope: { type: 'string' },
          dpop: { type: 'boolean' },
        }
      : {}),
  });
  if (values.help) return (io.out(CLIENT_HELP), EXIT_OK);
  const wanted = sub === 'list' ? 0 : 1;
  if (positionals.length !== wanted) {
    throw new UsageError(sub === 'list' ? 'tessera client list takes no argument' : `tessera client ${sub} takes one CLIENT_ID`);
  }
  let addOptions: AddClientOptions | undefined;
  if (sub === 'add') {
    addOptions = {
      confidential: values.confidential === true,
      introspect: values.introspect === true,
      firstParty: values['first-party'] === true,
      redirectUris: strings(values['redirect-uri']),
      postLogoutRedirectUris: strings(values['post-logout-redirect-uri']),
      grantTypes: strings(values.grant),
      scope: str(values.scope),
      dpop: values.dpop === true,
    };
    // Checked before a store is opened (or a data directory created): the service checks again.
    try {
      checkClientId(positionals[0] as string);
      checkClientOptions(addOptions);
    } catch (e) {
      if (!(e instanceof ClientInputError)) throw e;
      if (USAGE_CODES.has(e.code)) throw new UsageError(e.message);
      io.err(`tessera: ${e.message}`);
      return EXIT_REFUSED;
    }
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
      for (const c of await clients.list()) io.out(JSON.stringify(listedJson(c)));
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
    const added = await clients.add(id, addOptions);
    io.out(JSON.stringify(addedJson(added.client, added.secret)));
    return EXIT_OK;
  } catch (e) {
    if (e instanceof ClientInputError) {
      if (USAGE_CODES.has(e.code)) throw new UsageError(e.message);
      io.err(`tessera: ${e.message}`);
      return EXIT_REFUSED;
    }
    throw e;
  } finally {
    await store.close();
  }
}
