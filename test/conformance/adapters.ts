/**
 * The three adapters (Fastify, Express, Hono) over one store, token service, user
 * directory and client registry, each driven through an inject-like function:
 * Fastify's `inject()`, Express over a real ephemeral socket with fetch, Hono
 * through `app.request()`. The conformance suite runs the same tests on each.
 */
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Hono } from 'hono';
import type { CookieModeOptions } from '../../src/http/core/cookies.js';
import type { Grant } from '../../src/http/core/grants/types.js';
import type { RateLimitSettings } from '../../src/http/core/handlers.js';
import type { OidcOptions } from '../../src/http/core/oidc.js';
import { notFound as expressNotFound, tesseraExpress } from '../../src/http/express.js';
import { notFound as honoNotFound, type TesseraEnv, tesseraHono } from '../../src/http/hono.js';
import { generateSecret } from '../../src/keys.js';
import { type ClientService, createClientService } from '../../src/oauth-clients/clients.js';
import type { ClientDirectory } from '../../src/oauth-clients/types.js';
import { createTokenService } from '../../src/refresh/service.js';
import type { Scheme, TokenService } from '../../src/refresh/types.js';
import { buildApp } from '../../src/server/app.js';
import { openStore } from '../../src/stores/open.js';
import type { OneTimeRecords, TokenStore, UserDirectory } from '../../src/stores/types.js';
import type { JwkSet } from '../../src/tokens/jwk.js';
import { createUserService, type UserService } from '../../src/users/users.js';

export const ADAPTERS = ['fastify', 'express', 'hono'] as const;
export type AdapterName = (typeof ADAPTERS)[number];

export const PASSWORD = 'correct horse battery staple';
/** The token service's issuer: every adapter serves it as the RFC 8414 `issuer`, whatever the request's Host. */
export const ISSUER = 'https://auth.conformance.test';
const TEST_SCRYPT = { N: 1024, r: 8, p: 1, keyLength: 32 };
/** One key for every adapter: a session cookie made by one is good on another. */
const AUTHORIZE_KEY = Buffer.alloc(32, 9);

export interface Call {
  method?: string;
  url: string;
  headers?: Record<string, string>;
  /** A string is sent as is; an object as JSON (content-type set unless given). */
  payload?: string | object;
}

export interface Answer {
  status: number;
  /** Lower-case names; set-cookie apart. */
  headers: Record<string, string>;
  setCookies: string[];
  text: string;
  json(): Record<string, unknown>;
}

export interface Driver {
  name: AdapterName;
  call(c: Call): Promise<Answer>;
  close(): Promise<void>;
}

/** What all adapters of one test share. */
export interface Shared {
  tokens: TokenService;
  store: TokenStore & UserDirectory;
  users: UserService;
  clients: ClientService;
  rs: { id: string; secret: string };
  clock: { now: number };
  close(): Promise<void>;
}

export interface SharedOptions {
  scheme?: Scheme;
}

export async function shared(options: SharedOptions = {}): Promise<Shared> {
  const clock = { now: Date.now() };
  const store = await openStore('memory', { clock: () => clock.now });
  const tokens = createTokenService({
    secret: generateSecret(),
    scheme: options.scheme ?? 'jwt',
    store,
    clock: () => clock.now,
    issuer: ISSUER,
  });
  const users = createUserService(store, { scrypt: TEST_SCRYPT, clock: () => clock.now });
  await users.add('alice', PASSWORD);
  await users.add('bob', PASSWORD);
  const clients = createClientService(store as unknown as ClientDirectory, { clock: () => clock.now });
  const rs = await clients.add('rs', { confidential: true, introspect: true });
  return { tokens, store, users, clients, rs: { id: 'rs', secret: rs.secret as string }, clock, close: () => store.close() };
}

export interface AdapterOptions {
  cookie?: CookieModeOptions | false;
  rateLimit?: RateLimitSettings | false;
  allowRegister?: boolean;
  /** Extra grants of the token endpoint, the same on every adapter. */
  grants?: readonly Grant[];
  /** A public JWK Set to serve at `/.well-known/jwks.json`. */
  jwks?: JwkSet;
  /** Serve `/authorize` (codes and consents in the shared store, on the shared clock). */
  authorize?: boolean;
  /** OpenID Connect on top of `authorize`. */
  oidc?: OidcOptions;
}

function answer(status: number, headers: Record<string, string>, setCookies: string[], text: string): Answer {
  return {
    status,
    headers,
    setCookies,
    text,
    json: () => JSON.parse(text) as Record<string, unknown>,
  };
}

function encode(c: Call): { headers: Record<string, string>; body: string | undefined } {
  const headers = { ...c.headers };
  if (c.payload === undefined || typeof c.payload === 'string') return { headers, body: c.payload };
  if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
  return { headers, body: JSON.stringify(c.payload) };
}

function fromFetch(res: Response, text: string): Answer {
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    if (k !== 'set-cookie') headers[k] = v;
  });
  return answer(res.status, headers, res.headers.getSetCookie(), text);
}

/** One request over node:http, headers as given (Host included). */
function rawCall(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: string | undefined,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(base + path, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const h: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (k !== 'set-cookie' && v !== undefined) h[k] = String(v);
        resolve(answer(res.statusCode ?? 0, h, res.headers['set-cookie'] ?? [], Buffer.concat(chunks).toString('utf8')));
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

export async function driver(name: AdapterName, s: Shared, o: AdapterOptions = {}): Promise<Driver> {
  const common = {
    tokens: s.tokens,
    users: s.users,
    clients: s.clients,
    scope: 'api',
    rateLimit: o.rateLimit ?? false,
    cookie: o.cookie ?? false,
    allowRegister: o.allowRegister ?? false,
    ...(o.grants ? { grants: o.grants } : {}),
    ...(o.jwks ? { jwks: o.jwks } : {}),
    ...(o.authorize
      ? { authorize: { records: s.store as unknown as OneTimeRecords, clock: () => s.clock.now, key: AUTHORIZE_KEY } }
      : {}),
    ...(o.oidc ? { oidc: o.oidc } : {}),
  };
  if (name === 'fastify') {
    const app = buildApp({ ...common, log: false, docs: false, demo: false });
    await app.ready();
    return {
      name,
      async call(c) {
        const { headers, body } = encode(c);
        const res = await app.inject({
          method: (c.method ?? 'GET') as 'GET',
          url: c.url,
          headers,
          ...(body === undefined ? {} : { payload: body }),
        });
        const h: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (k !== 'set-cookie' && v !== undefined) h[k] = String(v);
        const sc = res.headers['set-cookie'];
        return answer(res.statusCode, h, sc === undefined ? [] : Array.isArray(sc) ? sc : [sc], res.body);
      },
      close: () => app.close(),
    };
  }
  if (name === 'express') {
    const app = express();
    app.set('trust proxy', false);
    app.use(tesseraExpress(common));
    app.use(expressNotFound);
    const server = await new Promise<import('node:http').Server>((resolve) => {
      const srv = app.listen(0, '127.0.0.1', () => resolve(srv));
    });
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return {
      name,
      async call(c) {
        const { headers, body } = encode(c);
        // fetch replaces a Host header with the URL's: node:http sends the one given.
        if (Object.keys(headers).some((h) => h.toLowerCase() === 'host'))
          return rawCall(base, c.method ?? 'GET', c.url, headers, body);
        const res = await fetch(base + c.url, {
          method: c.method ?? 'GET',
          headers,
          redirect: 'manual',
          ...(body === undefined ? {} : { body }),
        });
        return fromFetch(res, await res.text());
      },
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  }
  const app = new Hono<TesseraEnv>();
  app.use(tesseraHono({ ...common, clientAddress: () => '127.0.0.1' }));
  app.notFound(honoNotFound);
  return {
    name,
    async call(c) {
      const { headers, body } = encode(c);
      const res = await app.request(`http://localhost${c.url}`, {
        method: c.method ?? 'GET',
        headers,
        ...(body === undefined ? {} : { body }),
      });
      return fromFetch(res, await res.text());
    },
    close: async () => {},
  };
}

export function form(params: Record<string, string>, headers: Record<string, string> = {}): Pick<Call, 'headers' | 'payload'> {
  return {
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    payload: new URLSearchParams(params).toString(),
  };
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

export function basicAuth(id: string, secret: string): Record<string, string> {
  const enc = (v: string) => encodeURIComponent(v).replace(/%20/g, '+');
  return { authorization: `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}` };
}

/** Logs in through `d` (form-encoded password grant). */
export async function login(d: Driver, username = 'alice'): Promise<Record<string, unknown>> {
  const res = await d.call({
    method: 'POST',
    url: '/auth/token',
    ...form({ grant_type: 'password', username, password: PASSWORD }),
  });
  if (res.status !== 200) throw new Error(`login via ${d.name}: ${res.status} ${res.text}`);
  return res.json();
}
