/**
 * Client authentication at the token, revocation and introspection endpoints
 * (RFC 6749 §2.3), framework-neutral: the adapters hand over the
 * `Authorization` header and the parsed body, and get a client or an
 * {@link HttpError} back.
 *
 * - `client_secret_basic` (RFC 6749 §2.3.1): `Authorization: Basic
 *   base64(id ":" secret)`, where id and secret are first
 *   `application/x-www-form-urlencoded` (so a `:` or `%` in either survives).
 * - `client_secret_post`: `client_id` and `client_secret` in the body.
 * - `none` (public clients, RFC 6749 §2.1): `client_id` in the body only.
 * - Nothing at all: the built-in default client (DESIGN "Clients"), if configured.
 *
 * A client MUST NOT use more than one method in a request (§2.3): Basic plus a
 * `client_secret` in the body is `invalid_request`. Every authentication
 * failure is RFC 6749 §5.2 `401 invalid_client` with `WWW-Authenticate: Basic`.
 *
 * @module
 */
import type { ClientAuthentication, ClientService, PresentedClient } from '../../oauth-clients/clients.js';
import type { ClientRecord } from '../../oauth-clients/types.js';
import { badRequest, HttpError } from './errors.js';
import type { ClientAuthFailure } from './events.js';

/** What a request carries that may identify its client. */
export interface ClientAuthRequest {
  authorization: string | undefined;
  body: unknown;
}

/** How the client authenticated (RFC 8414 `token_endpoint_auth_methods_supported` names). */
export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'none';

export interface AuthenticatedClient {
  client: ClientRecord;
  /** True when the client proved a secret. */
  authenticated: boolean;
  method: ClientAuthMethod;
}

export const CLIENT_AUTH_METHODS: readonly ClientAuthMethod[] = ['none', 'client_secret_basic', 'client_secret_post'];

const MAX_CREDENTIAL_LENGTH = 1024;

/** RFC 6749 §5.2: `401 invalid_client`, with the Basic challenge (§5.2 requires it after Basic; we always send it). */
export function invalidClient(realm: string, description = 'Client authentication failed'): HttpError {
  return new HttpError(401, 'invalid_client', description, { 'www-authenticate': `Basic realm="${realm}", charset="UTF-8"` });
}

/** application/x-www-form-urlencoded decoding (RFC 6749 Appendix B): `+` is a space. */
function formDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

function param(body: unknown, name: string): unknown {
  return typeof body === 'object' && body !== null ? (body as Record<string, unknown>)[name] : undefined;
}

type Parsed = { ok: true; presented: PresentedClient; method: ClientAuthMethod } | { ok: false; error: HttpError };

/** Reads the credentials of a request without looking anything up. */
export function parseClientCredentials(req: ClientAuthRequest, realm: string): Parsed {
  const bodyId = param(req.body, 'client_id');
  // RFC 6749 §2.3.1: "The client MAY omit the parameter if the client secret is an empty
  // string": an empty secret is no secret (a public client sending `client_secret=` is public).
  const rawSecret = param(req.body, 'client_secret');
  const bodySecret = rawSecret === '' ? undefined : rawSecret;
  if (bodyId !== undefined && (typeof bodyId !== 'string' || bodyId.length > MAX_CREDENTIAL_LENGTH)) {
    return { ok: false, error: badRequest('client_id must be a string') };
  }
  if (bodySecret !== undefined && (typeof bodySecret !== 'string' || bodySecret.length > MAX_CREDENTIAL_LENGTH)) {
    return { ok: false, error: badRequest('client_secret must be a string') };
  }
  const auth = req.authorization;
  const basic = auth !== undefined && /^basic /i.test(auth.trimStart());
  if (basic) {
    // RFC 6749 §2.3: one authentication method per request.
    if (bodySecret !== undefined) {
      return { ok: false, error: badRequest('Use one client authentication method: Basic or client_secret, not both') };
    }
    const encoded = (auth as string).trimStart().slice(6).trim();
    if (encoded.length > MAX_CREDENTIAL_LENGTH * 3 || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) {
      return { ok: false, error: invalidClient(realm, 'The Basic credentials are not base64') };
    }
    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return { ok: false, error: invalidClient(realm, 'The Basic credentials have no ":"') };
    const id = formDecode(decoded.slice(0, colon));
    const secret = formDecode(decoded.slice(colon + 1));
    if (!id || secret === undefined) return { ok: false, error: invalidClient(realm, 'The Basic credentials are malformed') };
    if (bodyId !== undefined && bodyId !== id) {
      return { ok: false, error: badRequest('client_id does not match the Authorization header') };
    }
    // §2.3.1 again: `id:` (an empty password) names the client without a secret.
    return { ok: true, presented: secret === '' ? { clientId: id } : { clientId: id, secret }, method: 'client_secret_basic' };
  }
  if (bodySecret !== undefined) {
    if (bodyId === undefined || bodyId === '') return { ok: false, error: badRequest('client_secret needs client_id') };
    return { ok: true, presented: { clientId: bodyId as string, secret: bodySecret as string }, method: 'client_secret_post' };
  }
  if (bodyId !== undefined && bodyId !== '') return { ok: true, presented: { clientId: bodyId as string }, method: 'none' };
  return { ok: true, presented: {}, method: 'none' };
}

const FAILURES: Record<Exclude<ClientAuthentication, { ok: true }>['reason'], string> = {
  unknown_client: 'Client authentication failed',
  bad_secret: 'Client authentication failed',
  secret_required: 'This client must authenticate (client_secret_basic or client_secret_post)',
  no_client: 'Name a client: client_id, or client credentials (RFC 6749 §2.3)',
};

/**
 * Who is calling: the client, or throws an {@link HttpError} (`invalid_client`,
 * `invalid_request`). A store outage rejects with `StoreUnavailableError`, which the
 * error handler answers (503 + Retry-After).
 */
export async function authenticateClient(
  clients: ClientService,
  req: ClientAuthRequest,
  realm: string,
  failed?: (reason: ClientAuthFailure, clientId: string | undefined) => void,
): Promise<AuthenticatedClient> {
  const parsed = parseClientCredentials(req, realm);
  if (!parsed.ok) {
    if (failed && parsed.error.statusCode === 401) failed('malformed', undefined);
    throw parsed.error;
  }
  const result: ClientAuthentication = await clients.authenticate(parsed.presented);
  if (!result.ok) {
    failed?.(result.reason, parsed.presented.clientId);
    throw invalidClient(realm, FAILURES[result.reason]);
  }
  return { client: result.client, authenticated: result.authenticated, method: parsed.method };
}
