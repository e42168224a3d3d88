/**
 * Shared set-up of the inject-based HTTP tests: a memory store, a token service
 * on an injected clock, a user directory with cheap scrypt, and the app.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { DpopOptions } from '../../src/http/core/dpop.js';
import { generateSecret } from '../../src/keys.js';
import { type ClientService, createClientService } from '../../src/oauth-clients/clients.js';
import type { ClientDirectory } from '../../src/oauth-clients/types.js';
import { createTokenService } from '../../src/refresh/service.js';
import type { Scheme, TokenService, TokenServiceOptions } from '../../src/refresh/types.js';
import { type AppOptions, buildApp } from '../../src/server/app.js';
import { openStore } from '../../src/stores/open.js';
import type { OneTimeRecords, TokenStore, UserDirectory } from '../../src/stores/types.js';
import { createUserService, type UserService } from '../../src/users/users.js';

/** scrypt cost for tests only: the production default takes a few hundred ms per hash. */
export const TEST_SCRYPT = { N: 1024, r: 8, p: 1, keyLength: 32 };
export const PASSWORD = 'correct horse battery staple';
export const SCHEMES: Scheme[] = ['jwt', 'sealed', 'opaque'];

export interface Harness {
  app: FastifyInstance;
  tokens: TokenService;
  store: TokenStore & UserDirectory;
  users: UserService;
  secret: string;
  /** Registered clients on the same store (the default client `tessera` plus `rs`). */
  clients: ClientService;
  /** `rs`: a confidential client registered for introspection; `basic` is its Authorization header. */
  rs: { id: string; secret: string; basic: Record<string, string> };
  /** The injected clock: milliseconds. Advance with `clock.now += ms`. */
  clock: { now: number };
  /** Logs in alice (form-encoded password grant) and returns the token response body. */
  login(username?: string, password?: string): Promise<TokenBody>;
  close(): Promise<void>;
}

export interface TokenBody {
  access_token: string;
  token_type: string;
  expires_in: number;
  refresh_token: string;
  refresh_expires_in?: number;
  scope: string;
}

export interface SetupOptions {
  scheme?: Scheme;
  service?: Partial<TokenServiceOptions>;
  app?: Partial<AppOptions>;
  /** Wraps the store (e.g. to simulate an outage). */
  wrapStore?: (store: TokenStore & UserDirectory) => TokenStore & UserDirectory;
  /** Serve `/authorize`: codes and consents in the store, on the injected clock, a fixed key. */
  authorize?: boolean;
  /** DPoP on (RFC 9449): proof ids in the store, on the injected clock, and these settings. Needs an `issuer` (app or service). */
  dpop?: boolean | Omit<DpopOptions, 'records'>;
}

export async function setup(options: SetupOptions = {}): Promise<Harness> {
  const clock = { now: Date.now() };
  const secret = generateSecret();
  const inner = await openStore('memory', { clock: () => clock.now });
  const store = options.wrapStore ? options.wrapStore(inner) : inner;
  const tokens = createTokenService({
    secret,
    scheme: options.scheme ?? 'jwt',
    store,
    clock: () => clock.now,
    ...options.service,
  });
  const users = createUserService(store, { scrypt: TEST_SCRYPT, clock: () => clock.now });
  await users.add('alice', PASSWORD);
  await users.add('bob', PASSWORD);
  const clients = createClientService(store as unknown as ClientDirectory, { clock: () => clock.now });
  const rs = await clients.add('rs', { confidential: true, introspect: true });
  const rsSecret = rs.secret as string;
  const authorize = options.authorize
    ? { authorize: { records: store as unknown as OneTimeRecords, clock: () => clock.now, key: Buffer.alloc(32, 7) } }
    : {};
  const dpop = options.dpop
    ? {
        dpop: {
          records: store as unknown as OneTimeRecords,
          clock: () => clock.now,
          ...(typeof options.dpop === 'object' ? options.dpop : {}),
        },
      }
    : {};
  const app = buildApp({
    tokens,
    users,
    clients,
    scope: 'api',
    log: false,
    rateLimit: false,
    ...authorize,
    ...dpop,
    ...options.app,
  });
  await app.ready();
  const harness: Harness = {
    app,
    tokens,
    store,
    users,
    secret,
    clients,
    rs: { id: 'rs', secret: rsSecret, basic: basicAuth('rs', rsSecret) },
    clock,
    async login(username = 'alice', password = PASSWORD) {
      const res = await app.inject({
        method: 'POST',
        url: '/auth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ grant_type: 'password', username, password }).toString(),
      });
      if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`);
      return res.json() as TokenBody;
    },
    async close() {
      await app.close();
      await inner.close();
    },
  };
  return harness;
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

export function form(params: Record<string, string>): { headers: Record<string, string>; payload: string } {
  return { headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(params).toString() };
}

/** The parsed JSON body, or undefined for an empty one. */
export function body(res: LightMyRequestResponse): Record<string, unknown> | undefined {
  return res.body === '' ? undefined : (res.json() as Record<string, unknown>);
}

/** RFC 6749 §2.3.1 client_secret_basic: id and secret form-urlencoded, then base64. */
export function basicAuth(id: string, secret: string): Record<string, string> {
  const enc = (v: string) => encodeURIComponent(v).replace(/%20/g, '+');
  return { authorization: `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}` };
}
