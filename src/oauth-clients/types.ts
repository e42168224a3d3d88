/**
 * Registered OAuth clients (RFC 6749 §2): the record every store keeps and the
 * directory contract. Types only, so the stores can implement it without
 * depending on anything above them.
 *
 * @module
 */

/** RFC 6749 §2.1: a confidential client can keep a secret, a public one (a browser app, a CLI) cannot. */
export type ClientType = 'public' | 'confidential';

/** A registered client as stored. */
export interface ClientRecord {
  /** RFC 6749 §2.2 client identifier. */
  clientId: string;
  clientType: ClientType;
  /**
   * Confidential clients only: the secret's verifier (`sha256$<base64url>`),
   * never the secret itself (see src/oauth-clients/secrets.ts). `''` for public clients.
   */
  secretHash: string;
  /** May call the introspection endpoint (RFC 7662 §2.1: a protected resource). */
  introspect: boolean;
  /** Milliseconds since the epoch. */
  createdAt: number;
  /**
   * RFC 6749 §3.1.2: the redirect URIs of the authorization code flow, compared exactly
   * (RFC 9700 §4.1.1); `[]`: the client cannot use `/authorize`.
   */
  redirectUris: string[];
  /** OpenID Connect RP-Initiated Logout 1.0 §3: where `end_session_endpoint` may send the browser back. */
  postLogoutRedirectUris: string[];
  /** The `grant_type`s it may use (RFC 7591 §2 `grant_types`); another is `unauthorized_client` (RFC 6749 §5.2). */
  grantTypes: string[];
  /** The scopes it may ask for (RFC 6749 §3.3), space-separated; `''`: the server's default scope only. */
  scope: string;
  /** First-party: its users are not asked for consent (the consent page is skipped). */
  firstParty: boolean;
  /** RFC 9449 §5.2 `dpop_bound_access_tokens`: its tokens must be DPoP-bound. */
  dpopBoundAccessTokens: boolean;
}

/** The fields a record written before they existed lacks, as such a client behaved: password and refresh grants, no redirect URI. */
export const CLIENT_DEFAULTS: Readonly<
  Pick<ClientRecord, 'redirectUris' | 'postLogoutRedirectUris' | 'grantTypes' | 'scope' | 'firstParty' | 'dpopBoundAccessTokens'>
> = Object.freeze({
  redirectUris: [],
  postLogoutRedirectUris: [],
  grantTypes: ['password', 'refresh_token'],
  scope: '',
  firstParty: true,
  dpopBoundAccessTokens: false,
});

/** A stored record completed with {@link CLIENT_DEFAULTS} for what it lacks (rows written by an older version). */
export function completeClient(
  base: Pick<ClientRecord, 'clientId' | 'clientType' | 'secretHash' | 'introspect' | 'createdAt'> & Partial<ClientRecord>,
): ClientRecord {
  return {
    ...base,
    redirectUris: [...(base.redirectUris ?? CLIENT_DEFAULTS.redirectUris)],
    postLogoutRedirectUris: [...(base.postLogoutRedirectUris ?? CLIENT_DEFAULTS.postLogoutRedirectUris)],
    grantTypes: [...(base.grantTypes ?? CLIENT_DEFAULTS.grantTypes)],
    scope: base.scope ?? CLIENT_DEFAULTS.scope,
    firstParty: base.firstParty ?? CLIENT_DEFAULTS.firstParty,
    dpopBoundAccessTokens: base.dpopBoundAccessTokens ?? CLIENT_DEFAULTS.dpopBoundAccessTokens,
  };
}

/** The fields beyond the first five, which the SQL stores keep as one JSON object (their `settings` column). */
export type ClientSettings = Pick<
  ClientRecord,
  'redirectUris' | 'postLogoutRedirectUris' | 'grantTypes' | 'scope' | 'firstParty' | 'dpopBoundAccessTokens'
>;

/** The `settings` JSON of a record (see {@link decodeClientSettings}). */
export function encodeClientSettings(c: ClientRecord): string {
  const settings: ClientSettings = {
    redirectUris: c.redirectUris,
    postLogoutRedirectUris: c.postLogoutRedirectUris,
    grantTypes: c.grantTypes,
    scope: c.scope,
    firstParty: c.firstParty,
    dpopBoundAccessTokens: c.dpopBoundAccessTokens,
  };
  return JSON.stringify(settings);
}

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/**
 * The fields a `settings` JSON holds: an absent field is left out ({@link completeClient} then
 * gives its default: `'{}'` is a row written before the fields existed). A field of the wrong
 * type, or text that is not a JSON object, throws: a damaged row must not fall back to the
 * defaults (they make a client first-party).
 */
export function decodeClientSettings(json: string): Partial<ClientSettings> {
  const o: unknown = JSON.parse(json);
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new TypeError('client settings are not a JSON object');
  const r = o as Record<string, unknown>;
  const out: Partial<ClientSettings> = {};
  const wrong = (field: string) => new TypeError(`client settings: ${field} has the wrong type`);
  if (r.redirectUris !== undefined) {
    if (!isStrings(r.redirectUris)) throw wrong('redirectUris');
    out.redirectUris = r.redirectUris;
  }
  if (r.postLogoutRedirectUris !== undefined) {
    if (!isStrings(r.postLogoutRedirectUris)) throw wrong('postLogoutRedirectUris');
    out.postLogoutRedirectUris = r.postLogoutRedirectUris;
  }
  if (r.grantTypes !== undefined) {
    if (!isStrings(r.grantTypes)) throw wrong('grantTypes');
    out.grantTypes = r.grantTypes;
  }
  if (r.scope !== undefined) {
    if (typeof r.scope !== 'string') throw wrong('scope');
    out.scope = r.scope;
  }
  if (r.firstParty !== undefined) {
    if (typeof r.firstParty !== 'boolean') throw wrong('firstParty');
    out.firstParty = r.firstParty;
  }
  if (r.dpopBoundAccessTokens !== undefined) {
    if (typeof r.dpopBoundAccessTokens !== 'boolean') throw wrong('dpopBoundAccessTokens');
    out.dpopBoundAccessTokens = r.dpopBoundAccessTokens;
  }
  return out;
}

/** Where clients live: every store (memory, SQLite, Redis, Redis Cluster, PostgreSQL) implements it. */
export interface ClientDirectory {
  /** Adds a client; false when the id is taken (atomic). */
  createClient(client: ClientRecord): Promise<boolean>;
  getClient(clientId: string): Promise<ClientRecord | null>;
  /** Every client, ordered by id. */
  listClients(): Promise<ClientRecord[]>;
  /** True when a client was removed. */
  removeClient(clientId: string): Promise<boolean>;
}

/** True when `store` implements {@link ClientDirectory} (a store written before clients existed does not). */
export function isClientDirectory(store: unknown): store is ClientDirectory {
  const s = store as Partial<ClientDirectory> | null;
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof s.createClient === 'function' &&
    typeof s.getClient === 'function' &&
    typeof s.listClients === 'function' &&
    typeof s.removeClient === 'function'
  );
}
