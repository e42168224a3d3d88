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
 * @module
 */
import { TesseraError } from '../errors.js';
import { generateClientSecret, hashClientSecret, verifyClientSecret } from './secrets.js';
import type { ClientDirectory, ClientRecord, ClientType } from './types.js';

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
  | 'invalid_client_options'
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

export interface AddClientOptions {
  confidential?: boolean;
  /** May call the introspection endpoint (only a confidential client can authenticate to it). */
  introspect?: boolean;
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

export interface ClientServiceOptions {
  /** The built-in public client; `''` for none. Default {@link DEFAULT_CLIENT_ID}. */
  defaultClientId?: string;
  clock?: () => number;
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
}

/** A verifier no secret matches: unknown clients are checked against it so they take as long as known ones. */
const DUMMY_VERIFIER = hashClientSecret(generateClientSecret());

export function createClientService(directory: ClientDirectory, options: ClientServiceOptions = {}): ClientService {
  const defaultClientId = options.defaultClientId ?? DEFAULT_CLIENT_ID;
  if (defaultClientId !== '') checkClientId(defaultClientId);
  const clock = options.clock ?? Date.now;
  const builtIn: ClientRecord | undefined =
    defaultClientId === ''
      ? undefined
      : { clientId: defaultClientId, clientType: 'public', secretHash: '', introspect: false, createdAt: 0 };

  async function get(clientId: string): Promise<ClientRecord | null> {
    // The built-in client needs no store round trip: the original refresh path stays one store call.
    if (builtIn && clientId === builtIn.clientId) return { ...builtIn };
    if (!CLIENT_ID_PATTERN.test(clientId)) return null;
    return directory.getClient(clientId);
  }

  return {
    defaultClientId,

    async add(clientId, opts = {}) {
      checkClientId(clientId);
      if (builtIn && clientId === builtIn.clientId) {
        throw new ClientInputError(`"${clientId}" is the built-in default client (TESSERA_DEFAULT_CLIENT)`, 'reserved_client_id');
      }
      const clientType: ClientType = opts.confidential ? 'confidential' : 'public';
      if (opts.introspect && clientType !== 'confidential') {
        // RFC 7662 §2.1: the caller of introspection must be authorized, so it must be able to authenticate.
        throw new ClientInputError(
          '--introspect needs --confidential (a public client cannot authenticate)',
          'invalid_client_options',
        );
      }
      const secret = clientType === 'confidential' ? generateClientSecret() : undefined;
      const client: ClientRecord = {
        clientId,
        clientType,
        secretHash: secret === undefined ? '' : hashClientSecret(secret),
        introspect: opts.introspect === true,
        createdAt: clock(),
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

    async authenticate(presented) {
      const { clientId, secret } = presented;
      if (clientId === undefined) {
        // No client named and no credentials: the built-in default client, if any.
        if (secret !== undefined || !builtIn) return { ok: false, reason: 'no_client' };
        return { ok: true, client: { ...builtIn }, authenticated: false };
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
