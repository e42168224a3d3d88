/**
 * Registered clients (RFC 6749 §2) on top of any {@link ClientDirectory}:
 * registration, and the client authentication of the token, revocation and
 * introspection endpoints (RFC 6749 §2.3.1).
 *
 * The built-in default client. A request that names no client acts as the
 * public client `defaultClientId` (`tessera` unless configured), so the original
 * `POST /auth/refresh {"refresh_token"}` and the demo page keep working. It
 * exists without registration and is never looked up in the store (the original
 * refresh stays one store round trip); its id cannot be registered. `defaultClientId: ''` turns it off: every
 * request must then name a client.
 *
 * Registered clients are cached per instance when the store's push is given (`feed`: the
 * store's `revocations()`): a refresh or an introspection through a registered client then
 * costs the store round trips of the token alone, like the built-in client. A removal is
 * pushed by the store (`kind: 'client'`) and drops the record on every instance as fast as a
 * revocation travels; while the push is down nothing is cached and every lookup asks the
 * store, and a record read while a removal went by is not kept (one generation counter).
 * Unknown ids are never cached (a registration needs no push).
 *
 * @module
 */
import { TesseraError } from '../errors.js';
import { checkRedirectUri, RedirectUriError } from './redirect-uris.js';
import { SCOPE_TOKEN } from './scope.js';
import { generateClientSecret, hashClientSecret, verifyClientSecret } from './secrets.js';
import { type ClientDirectory, type ClientRecord, type ClientType, completeClient } from './types.js';

/**
 * RFC 6749 Appendix A.1 allows any printable ASCII in a client id; ours are
 * narrower so they are safe in a shell, a log line and a URL without quoting.
 */
const CLIENT_ID_PATTERN = /^[A-Za-z0-9._~@+-]{1,128}$/;
export const DEFAULT_CLIENT_ID = 'tessera';

/** Stable codes of {@link ClientInputError}: callers decide on these, never on the message. */
export type ClientInputErrorCode =
  | 'invalid_client_id'
  | 'reserved_client_id'
  | 'client_exists'
  /** Options that do not go together (`introspect` or `client_credentials` on a public client...). */
  | 'invalid_client_options'
  /** A redirect URI (or post-logout redirect URI) that {@link checkRedirectUri} refuses, or one given twice. */
  | 'invalid_redirect_uri'
  /** A scope that is not RFC 6749 §3.3 syntax, repeats a token, or exceeds {@link MAX_CLIENT_SCOPE_LENGTH}. */
  | 'invalid_scope'
  /** A grant type not in {@link GRANT_TYPES}, one given twice, or none. */
  | 'invalid_grant_type'
  | 'invalid_client_input';

/** Why a client could not be registered (for the CLI and the library's client service). */
export class ClientInputError extends TesseraError {
  override readonly name = 'ClientInputError';
  declare readonly code: ClientInputErrorCode;

  constructor(message: string, code: ClientInputErrorCode = 'invalid_client_input') {
    super(code, message);
  }
}

export function checkClientId(clientId: string): string {
  if (typeof clientId !== 'string' || !CLIENT_ID_PATTERN.test(clientId)) {
    throw new ClientInputError('a client id is 1-128 characters of letters, digits and . _ ~ @ + -', 'invalid_client_id');
  }
  return clientId;
}

/** The `grant_type`s a client may be registered for (RFC 6749 §4.1, §4.3, §4.4, §6). */
export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'password', 'client_credentials'] as const;
export type GrantType = (typeof GRANT_TYPES)[number];

/** The longest scope a client may be registered with (characters). */
export const MAX_CLIENT_SCOPE_LENGTH = 1024;

/**
 * A client's scope (RFC 6749 §3.3): space-separated scope tokens, each once, at most
 * {@link MAX_CLIENT_SCOPE_LENGTH} characters. Runs of whitespace and leading or trailing
 * whitespace are normalized to the single spaces of the grammar; `''` is no scope.
 */
export function checkClientScope(scope: string): string {
  if (typeof scope !== 'string') throw new ClientInputError('a scope is a string', 'invalid_scope');
  const tokens = scope.split(/\s+/).filter((t) => t !== '');
  const normalized = tokens.join(' ');
  if (normalized.length > MAX_CLIENT_SCOPE_LENGTH) {
    throw new ClientInputError(`a scope is at most ${MAX_CLIENT_SCOPE_LENGTH} characters`, 'invalid_scope');
  }
  const seen = new Set<string>();
  for (const t of tokens) {
    if (!SCOPE_TOKEN.test(t)) {
      throw new ClientInputError(
        `scope token "${t}" may hold only printable ASCII without space, " and \\ (RFC 6749 §3.3)`,
        'invalid_scope',
      );
    }
    if (seen.has(t)) throw new ClientInputError(`scope token "${t}" is given twice`, 'invalid_scope');
    seen.add(t);
  }
  return normalized;
}

export interface AddClientOptions {
  confidential?: boolean;
  /** May call the introspection endpoint (only a confidential client can authenticate to it). */
  introspect?: boolean;
  /** Redirect URIs of the authorization code flow, each checked by {@link checkRedirectUri}. Default none. */
  redirectUris?: readonly string[];
  /** Where the end-session endpoint may send the browser back (same rules as redirect URIs). Default none. */
  postLogoutRedirectUris?: readonly string[];
  /**
   * The grants it may use, from {@link GRANT_TYPES}. Default `authorization_code` and
   * `refresh_token` when a redirect URI is given, else `password` and `refresh_token`.
   * `client_credentials` needs a confidential client (RFC 6749 §4.4), `authorization_code` a
   * redirect URI (RFC 6749 §3.1.2).
   */
  grantTypes?: readonly string[];
  /** The scopes it may ask for (see {@link checkClientScope}). Default `''`: the server's default scope. */
  scope?: string;
  /** Its users are not asked for consent. Default false. */
  firstParty?: boolean;
  /** Its access tokens must be DPoP-bound (RFC 9449 §5.2 `dpop_bound_access_tokens`). Default false. */
  dpop?: boolean;
}

function checkUris(uris: readonly string[] | undefined, what: string): string[] {
  if (uris === undefined) return [];
  if (!Array.isArray(uris)) throw new ClientInputError(`${what}s are a list`, 'invalid_redirect_uri');
  const out: string[] = [];
  for (const uri of uris) {
    try {
      checkRedirectUri(uri);
    } catch (e) {
      if (e instanceof RedirectUriError) throw new ClientInputError(`${what}: ${e.message}`, 'invalid_redirect_uri');
      throw e;
    }
    if (out.includes(uri)) throw new ClientInputError(`${what} "${uri}" is given twice`, 'invalid_redirect_uri');
    out.push(uri);
  }
  return out;
}

function checkGrantTypes(given: readonly string[] | undefined, fallback: readonly GrantType[]): GrantType[] {
  if (given === undefined) return [...fallback];
  if (!Array.isArray(given) || given.length === 0) {
    throw new ClientInputError('a client needs at least one grant type', 'invalid_grant_type');
  }
  const out: GrantType[] = [];
  for (const g of given) {
    if (!(GRANT_TYPES as readonly string[]).includes(g)) {
      throw new ClientInputError(`unknown grant type "${g}" (expected one of: ${GRANT_TYPES.join(', ')})`, 'invalid_grant_type');
    }
    if (out.includes(g as GrantType)) throw new ClientInputError(`grant type "${g}" is given twice`, 'invalid_grant_type');
    out.push(g as GrantType);
  }
  return out;
}

/** What `add` hands back once: the record and, for a confidential client, the secret in clear. */
export interface AddedClient {
  client: ClientRecord;
  secret?: string;
}

/** Credentials a request presented (RFC 6749 §2.3.1), as the HTTP layer parsed them. */
export interface PresentedClient {
  clientId?: string;
  secret?: string;
}

export type ClientAuthentication =
  /** `authenticated`: the client proved its secret (a confidential client); false for a public one. */
  | { ok: true; client: ClientRecord; authenticated: boolean }
  /** RFC 6749 §5.2 `invalid_client`: unknown client, wrong or missing secret. */
  | { ok: false; reason: 'unknown_client' | 'bad_secret' | 'secret_required' | 'no_client' };

/**
 * The store's push (`TokenStore.revocations()`), structurally: what the client cache listens
 * to. A removal arrives as `{ kind: 'client', clientId }`; other events are ignored.
 */
export interface ClientRemovalFeed {
  subscribe(listener: {
    event(e: { kind: string; clientId?: string }): void;
    status(s: 'up' | 'down', complete?: boolean): void;
  }): () => void;
}

export interface ClientServiceOptions {
  /** The built-in public client; `''` for none. Default {@link DEFAULT_CLIENT_ID}. */
  defaultClientId?: string;
  /**
   * What the built-in client may do beyond the password and refresh grants, asked at each use
   * (the reference server gives it the demo page's redirect URI, known once the issuer is).
   */
  defaultClient?: () => Partial<Pick<ClientRecord, 'redirectUris' | 'grantTypes' | 'scope' | 'firstParty'>>;
  clock?: () => number;
  /** The store's push: registered clients are cached while it is up. Without it every lookup asks the store. */
  feed?: ClientRemovalFeed;
  /** Registered clients cached at most (oldest dropped first). Default 1000. */
  cacheSize?: number;
}

export interface ClientService {
  readonly defaultClientId: string;
  add(clientId: string, options?: AddClientOptions): Promise<AddedClient>;
  list(): Promise<ClientRecord[]>;
  remove(clientId: string): Promise<boolean>;
  /** The registered client, or the built-in default one, or null. */
  get(clientId: string): Promise<ClientRecord | null>;
  /** RFC 6749 §2.3: who is calling. Rejects only when the store cannot be reached. */
  authenticate(presented: PresentedClient): Promise<ClientAuthentication>;
  /** Stops listening to the push (the cache is then bypassed). Idempotent. */
  close(): void;
}

/** What {@link checkClientOptions} answers: a new client's record but for its id, secret and time. */
export type CheckedClientOptions = Omit<ClientRecord, 'clientId' | 'secretHash' | 'createdAt'>;

/**
 * The options of a new client, checked and completed with their defaults (see
 * {@link AddClientOptions}); what `add` stores. Throws {@link ClientInputError}:
 * `invalid_client_options` for options that do not go together, `invalid_grant_type`,
 * `invalid_redirect_uri`, `invalid_scope`. Needs no store (the CLI checks before opening one).
 */
export function checkClientOptions(opts: AddClientOptions = {}): CheckedClientOptions {
  const clientType: ClientType = opts.confidential ? 'confidential' : 'public';
  if (opts.introspect && clientType !== 'confidential') {
    // RFC 7662 §2.1: the caller of introspection must be authorized, so it must be able to authenticate.
    throw new ClientInputError(
      '--introspect needs --confidential (a public client cannot authenticate)',
      'invalid_client_options',
    );
  }
  const redirectUris = checkUris(opts.redirectUris, 'redirect URI');
  const postLogoutRedirectUris = checkUris(opts.postLogoutRedirectUris, 'post-logout redirect URI');
  const grantTypes = checkGrantTypes(
    opts.grantTypes,
    redirectUris.length > 0 ? ['authorization_code', 'refresh_token'] : ['password', 'refresh_token'],
  );
  if (grantTypes.includes('client_credentials') && clientType !== 'confidential') {
    // RFC 6749 §4.4: "The client credentials grant type MUST only be used by confidential clients."
    throw new ClientInputError('--grant client_credentials needs --confidential (RFC 6749 §4.4)', 'invalid_client_options');
  }
  if (grantTypes.includes('authorization_code') && redirectUris.length === 0) {
    // RFC 6749 §3.1.2.2 (and RFC 9700 §2.1): the redirect URI is registered, never taken from the request alone.
    throw new ClientInputError('--grant authorization_code needs a --redirect-uri (RFC 6749 §3.1.2.2)', 'invalid_client_options');
  }
  const scope = opts.scope === undefined ? '' : checkClientScope(opts.scope);
  return {
    clientType,
    introspect: opts.introspect === true,
    redirectUris,
    postLogoutRedirectUris,
    grantTypes,
    scope,
    firstParty: opts.firstParty === true,
    dpopBoundAccessTokens: opts.dpop === true,
  };
}

/** The cache of registered clients, valid while the push is up (see the module comment). */
class ClientCache {
  readonly #records = new Map<string, ClientRecord>();
  readonly #max: number;
  #live = false;
  /** Changes with every removal heard and every status change: a read that spans one is not kept. */
  #gen = 0;

  constructor(max: number) {
    this.#max = max;
  }

  get generation(): number {
    return this.#gen;
  }

  get(clientId: string): ClientRecord | undefined {
    if (!this.#live) return undefined;
    const r = this.#records.get(clientId);
    return r === undefined ? undefined : completeClient(r);
  }

  /** Keeps a record read from the store in generation `gen`, unless something changed since. */
  put(record: ClientRecord, gen: number): void {
    if (!this.#live || gen !== this.#gen || this.#max === 0) return;
    if (this.#records.size >= this.#max && !this.#records.has(record.clientId)) {
      const oldest = this.#records.keys().next();
      if (!oldest.done) this.#records.delete(oldest.value);
    }
    this.#records.set(record.clientId, completeClient(record));
  }

  event(e: { kind: string; clientId?: string }): void {
    if (e.kind !== 'client' || e.clientId === undefined) return;
    this.#gen++;
    this.#records.delete(e.clientId);
  }

  status(s: 'up' | 'down'): void {
    this.#gen++;
    this.#records.clear();
    this.#live = s === 'up';
  }
}

/** A verifier no secret matches: unknown clients are checked against it so they take as long as known ones. */
const DUMMY_VERIFIER = hashClientSecret(generateClientSecret());

export function createClientService(directory: ClientDirectory, options: ClientServiceOptions = {}): ClientService {
  const defaultClientId = options.defaultClientId ?? DEFAULT_CLIENT_ID;
  if (defaultClientId !== '') checkClientId(defaultClientId);
  const clock = options.clock ?? Date.now;
  const cacheSize = options.cacheSize ?? 1000;
  if (!Number.isSafeInteger(cacheSize) || cacheSize < 0) throw new TypeError('cacheSize must be a non-negative integer');
  const cache = options.feed ? new ClientCache(cacheSize) : undefined;
  let unsubscribe = options.feed && cache ? options.feed.subscribe(cache) : () => {};
  const builtIn: ClientRecord | undefined =
    defaultClientId === ''
      ? undefined
      : completeClient({ clientId: defaultClientId, clientType: 'public', secretHash: '', introspect: false, createdAt: 0 });
  /** A copy of the built-in client with what `defaultClient` adds now. */
  const builtInRecord = (b: ClientRecord): ClientRecord => completeClient({ ...b, ...options.defaultClient?.() });

  async function get(clientId: string): Promise<ClientRecord | null> {
    // The built-in client needs no store round trip: the original refresh path stays one store call.
    if (builtIn && clientId === builtIn.clientId) return builtInRecord(builtIn);
    if (!CLIENT_ID_PATTERN.test(clientId)) return null;
    if (cache === undefined) return directory.getClient(clientId);
    const cached = cache.get(clientId);
    if (cached !== undefined) return cached;
    const gen = cache.generation;
    const record = await directory.getClient(clientId);
    if (record) cache.put(record, gen);
    return record;
  }

  return {
    defaultClientId,

    async add(clientId, opts = {}) {
      checkClientId(clientId);
      if (builtIn && clientId === builtIn.clientId) {
        throw new ClientInputError(`"${clientId}" is the built-in default client (TESSERA_DEFAULT_CLIENT)`, 'reserved_client_id');
      }
      const checked = checkClientOptions(opts);
      const secret = checked.clientType === 'confidential' ? generateClientSecret() : undefined;
      const client: ClientRecord = {
        clientId,
        secretHash: secret === undefined ? '' : hashClientSecret(secret),
        createdAt: clock(),
        ...checked,
      };
      if (!(await directory.createClient(client)))
        throw new ClientInputError(`client "${clientId}" already exists`, 'client_exists');
      return secret === undefined ? { client } : { client, secret };
    },

    list: () => directory.listClients(),

    async remove(clientId) {
      if (!CLIENT_ID_PATTERN.test(clientId)) return false;
      return directory.removeClient(clientId);
    },

    get,

    close() {
      unsubscribe();
      unsubscribe = () => {};
      cache?.status('down');
    },

    async authenticate(presented) {
      const { clientId, secret } = presented;
      if (clientId === undefined) {
        // No client named and no credentials: the built-in default client, if any.
        if (secret !== undefined || !builtIn) return { ok: false, reason: 'no_client' };
        return { ok: true, client: builtInRecord(builtIn), authenticated: false };
      }
      const client = await get(clientId);
      if (!client) {
        if (secret !== undefined) verifyClientSecret(secret, DUMMY_VERIFIER);
        return { ok: false, reason: 'unknown_client' };
      }
      if (client.clientType === 'public') {
        // A public client has no secret (RFC 6749 §2.1): one that presents a secret is not this client.
        return secret === undefined ? { ok: true, client, authenticated: false } : { ok: false, reason: 'bad_secret' };
      }
      // RFC 6749 §3.2.1: a confidential client MUST authenticate at the token endpoint.
      if (secret === undefined) return { ok: false, reason: 'secret_required' };
      if (!verifyClientSecret(secret, client.secretHash)) return { ok: false, reason: 'bad_secret' };
      return { ok: true, client, authenticated: true };
    },
  };
}

/** A directory with no registered clients: only the built-in default client exists (a plugin set up without clients). */
export const NO_CLIENTS: ClientDirectory = {
  createClient: async () => false,
  getClient: async () => null,
  listClients: async () => [],
  removeClient: async () => false,
};
