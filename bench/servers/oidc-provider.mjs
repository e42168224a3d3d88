#!/usr/bin/env node
/**
 * The peer of the benchmarks of bench/peers.ts: oidc-provider (the certified Node
 * OpenID provider) configured as tessera's bench server is, started the same way
 * (plain `node`, no loader, one listening socket on 127.0.0.1, port 0), printing
 * "<mode> listening on URL".
 *
 *     node bench/servers/oidc-provider.mjs memory|redis|redis-atomic
 *
 * Storage (the provider's adapter interface: upsert, find, findByUid, findByUserCode,
 * consume, destroy, revokeByGrantId):
 * - memory:       the provider's default in-process adapter (its MemoryAdapter class), on an LRU
 *                 of 100 000 entries instead of the 1000 it gets when no adapter is configured.
 * - redis:        an adapter built the way the provider's own example Redis adapter is:
 *                 consumable models (codes, refresh tokens) in a hash with a `payload` field,
 *                 the others as a JSON string; `upsert` reads the grant list's TTL, then one
 *                 MULTI (HSET/SET, EXPIRE, RPUSH to the grant's list of keys, EXPIRE);
 *                 `consume` is an HSET of `consumed` after the `find` that read the token,
 *                 so two concurrent refreshes with one token can both succeed.
 * - redis-atomic: the same layout, with `upsert` one script (one round trip) and `consume`
 *                 one script that sets `consumed` only if it is not set yet and otherwise
 *                 refuses (invalid_grant): a reused refresh token loses the race, as on tessera.
 *
 * Configuration: a public client `bench` (token endpoint auth `none`, PKCE, grants
 * authorization_code and refresh_token, redirect URI http://127.0.0.1/cb), a confidential
 * client `rs` (client_secret_basic, secret BENCH_RS_SECRET) for introspection (RFC 7662);
 * refresh tokens always issued to clients allowed the grant, rotated on every use
 * (`rotateRefreshToken: true`) and not bound to the browser session; access tokens opaque (the
 * default format) for the resource `urn:bench:api` with scope `api`, 900 s, as tessera's.
 *
 * Routes besides the provider's (`/auth`, `/token`, `/token/introspection`, ...):
 * - GET  /interaction/:uid          the login form, or the consent form, as HTML
 * - POST /interaction/:uid/login    username and password (scrypt, tessera's hashing at N = 1024,
 *                                   as the tessera servers of the benchmark use)
 * - POST /interaction/:uid/confirm  approves the scopes and resources asked for
 * - GET  /me                        a protected route: the Bearer access token looked up with
 *                                   `provider.AccessToken.find` (opaque tokens are store records)
 *
 * Environment: REDIS_URL and BENCH_REDIS_PREFIX (redis modes), BENCH_RS_SECRET.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import Redis from 'ioredis';
import Provider, { errors } from 'oidc-provider';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import LRU from 'oidc-provider/lib/helpers/lru.js';
import { hashPassword, scryptWithCost, verifyPassword } from '../../dist/users/password.js';

const mode = process.argv[2];
if (!['memory', 'redis', 'redis-atomic'].includes(mode)) {
  process.stderr.write(`usage: oidc-provider.mjs memory|redis|redis-atomic (got ${mode})\n`);
  process.exit(2);
}

const RESOURCE = 'urn:bench:api';
const USER = { username: 'bench', password: 'bench-password-123', accountId: 'bench-user' };
const passwordHash = await hashPassword(USER.password, scryptWithCost(1024));

// --- Redis adapters ----------------------------------------------------------------------------------

/** Models whose records carry a grant id: listed under `grant:<id>` so a grant revokes them all. */
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);
/** Models used once: a hash, so that `consume` sets one field. */
const CONSUMABLE = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

const grantKey = (grantId) => `grant:${grantId}`;
const uidKey = (uid) => `uid:${uid}`;
const userCodeKey = (userCode) => `userCode:${userCode}`;

/** The example adapter's layout and round trips. */
class ExampleRedisAdapter {
  constructor(name, client) {
    this.name = name;
    this.client = client;
  }

  key(id) {
    return `${this.name}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    const multi = this.client.multi();
    if (CONSUMABLE.has(this.name)) multi.hset(key, 'payload', JSON.stringify(payload));
    else multi.set(key, JSON.stringify(payload));
    if (expiresIn) multi.expire(key, expiresIn);
    if (GRANTABLE.has(this.name) && payload.grantId) {
      const list = grantKey(payload.grantId);
      multi.rpush(list, key);
      // The list lives as long as its longest-lived member.
      const ttl = await this.client.ttl(list);
      if (expiresIn > ttl) multi.expire(list, expiresIn);
    }
    if (payload.userCode) multi.set(userCodeKey(payload.userCode), id, 'EX', expiresIn);
    if (payload.uid) multi.set(uidKey(payload.uid), id, 'EX', expiresIn);
    await multi.exec();
  }

  async find(id) {
    if (CONSUMABLE.has(this.name)) {
      const data = await this.client.hgetall(this.key(id));
      if (!data?.payload) return undefined;
      const { payload, ...rest } = data;
      return { ...rest, ...JSON.parse(payload) };
    }
    const data = await this.client.get(this.key(id));
    return data ? JSON.parse(data) : undefined;
  }

  async findByUid(uid) {
    const id = await this.client.get(uidKey(uid));
    return id ? this.find(id) : undefined;
  }

  async findByUserCode(userCode) {
    const id = await this.client.get(userCodeKey(userCode));
    return id ? this.find(id) : undefined;
  }

  async destroy(id) {
    await this.client.del(this.key(id));
  }

  async revokeByGrantId(grantId) {
    const keys = await this.client.lrange(grantKey(grantId), 0, -1);
    const multi = this.client.multi();
    for (const k of keys) multi.del(k);
    multi.del(grantKey(grantId));
    await multi.exec();
  }

  async consume(id) {
    await this.client.hset(this.key(id), 'consumed', Math.floor(Date.now() / 1000));
  }
}

/**
 * The same layout in single round trips. KEYS: the record, its grant list, its uid index,
 * its user-code index (the indexes only used when their ARGV flag is 1). ARGV: hash (1) or
 * string (0), payload, TTL in seconds (0: none), grant, uid and user-code flags, id.
 */
const UPSERT = `
if ARGV[1] == '1' then redis.call('HSET', KEYS[1], 'payload', ARGV[2]) else redis.call('SET', KEYS[1], ARGV[2]) end
local ttl = tonumber(ARGV[3])
if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) end
if ARGV[4] == '1' then
  redis.call('RPUSH', KEYS[2], KEYS[1])
  if ttl > redis.call('TTL', KEYS[2]) then redis.call('EXPIRE', KEYS[2], ttl) end
end
if ARGV[5] == '1' then redis.call('SET', KEYS[3], ARGV[7], 'EX', ttl) end
if ARGV[6] == '1' then redis.call('SET', KEYS[4], ARGV[7], 'EX', ttl) end
return 1`;
/** 1: consumed now; 0: consumed before; -1: no such record. */
const CONSUME = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HSETNX', KEYS[1], 'consumed', ARGV[1]) == 0 then return 0 end
return 1`;
/** The grant list's members (full key names, prefix included) and the list itself. */
const REVOKE = `
local keys = redis.call('LRANGE', KEYS[1], 0, -1)
for _, k in ipairs(keys) do redis.call('DEL', k) end
redis.call('DEL', KEYS[1])
return #keys`;

class AtomicRedisAdapter extends ExampleRedisAdapter {
  async upsert(id, payload, expiresIn) {
    const grant = GRANTABLE.has(this.name) && payload.grantId;
    await this.client.oidcUpsert(
      this.key(id),
      grantKey(payload.grantId ?? ''),
      uidKey(payload.uid ?? ''),
      userCodeKey(payload.userCode ?? ''),
      CONSUMABLE.has(this.name) ? '1' : '0',
      JSON.stringify(payload),
      expiresIn ?? 0,
      grant ? '1' : '0',
      payload.uid ? '1' : '0',
      payload.userCode ? '1' : '0',
      id,
    );
  }

  async revokeByGrantId(grantId) {
    await this.client.oidcRevoke(grantKey(grantId));
  }

  async consume(id) {
    const done = await this.client.oidcConsume(this.key(id), Math.floor(Date.now() / 1000));
    // RFC 6749 §10.4, RFC 9700 §4.14.2: of concurrent uses of one token, one wins.
    if (done !== 1) throw new errors.InvalidGrant('grant request is invalid');
  }
}

let redis;
let adapter;
if (mode === 'memory') {
  // The default adapter's LRU holds 1000 entries; a pool of a hundred refresh chains, each token
  // with its access token and grant, outgrows it between rounds and live tokens get evicted
  // (invalid_grant). The same adapter and LRU, with room for the benchmark's working set.
  const store = new LRU({ maxSize: 100_000 });
  adapter = (name) => new MemoryAdapter(name, store);
} else {
  redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
    keyPrefix: process.env.BENCH_REDIS_PREFIX ?? `oidc-${mode}:`,
    maxRetriesPerRequest: 1,
  });
  redis.defineCommand('oidcUpsert', { numberOfKeys: 4, lua: UPSERT });
  redis.defineCommand('oidcConsume', { numberOfKeys: 1, lua: CONSUME });
  redis.defineCommand('oidcRevoke', { numberOfKeys: 1, lua: REVOKE });
  const Adapter = mode === 'redis' ? ExampleRedisAdapter : AtomicRedisAdapter;
  adapter = (name) => new Adapter(name, redis);
}

// --- the provider ------------------------------------------------------------------------------------

const signingKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
const provider = new Provider('http://op.bench', {
  ...(adapter ? { adapter } : {}),
  clients: [
    {
      client_id: 'bench',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/cb'],
      id_token_signed_response_alg: 'ES256',
    },
    {
      client_id: 'rs',
      client_secret: process.env.BENCH_RS_SECRET ?? 'rs-secret',
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
      id_token_signed_response_alg: 'ES256',
    },
  ],
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  jwks: { keys: [{ ...signingKey, kid: 'bench', use: 'sig', alg: 'ES256' }] },
  features: {
    devInteractions: { enabled: false },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => RESOURCE,
      useGrantedResource: async () => true,
      getResourceServerInfo: async () => ({
        scope: 'api',
        audience: RESOURCE,
        accessTokenTTL: 900,
        accessTokenFormat: 'opaque',
      }),
    },
  },
  findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  expiresWithSession: async () => false,
  rotateRefreshToken: true,
});
const callback = provider.callback();

// --- interactions, the protected route ---------------------------------------------------------------

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
function htmlPage(res, title, body) {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><title>${escapeHtml(title)}</title><h1>${escapeHtml(title)}</h1>${body}`);
}
function json(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}
async function form(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return json(res, 400, { error: 'invalid_request' });
  const { prompt, params, session } = details;
  if (req.method === 'GET') {
    if (prompt.name === 'login') {
      return htmlPage(
        res,
        'Sign in',
        `<form method="post" action="/interaction/${uid}/login"><input name="username"><input name="password" type="password"><button>Sign in</button></form>`,
      );
    }
    return htmlPage(
      res,
      `Allow ${escapeHtml(params.client_id)}?`,
      `<form method="post" action="/interaction/${uid}/confirm"><button name="decision" value="approve">Allow</button></form>`,
    );
  }
  const fields = await form(req);
  if (action === 'login' && prompt.name === 'login') {
    const ok = fields.get('username') === USER.username && (await verifyPassword(fields.get('password') ?? '', passwordHash));
    if (!ok) return htmlPage(res, 'Sign in', '<p>Wrong username or password.</p>');
    return provider.interactionFinished(req, res, { login: { accountId: USER.accountId } }, { mergeWithLastSubmission: false });
  }
  if (action === 'confirm' && prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  return json(res, 400, { error: 'invalid_request' });
}

/** RFC 6750 §2.1 Bearer token, looked up in the provider's store (an opaque token is a record). */
async function me(req, res) {
  const header = req.headers.authorization;
  const token = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7) : '';
  const at = token ? await provider.AccessToken.find(token) : undefined;
  if (!at || at.aud !== RESOURCE) {
    return json(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
  }
  json(res, 200, { sub: at.accountId, scope: at.scope, exp: at.exp, iat: at.iat });
}

const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm))?$/;
const server = createServer((req, res) => {
  const path = req.url?.split('?')[0] ?? '/';
  const route = INTERACTION.exec(path);
  const handled = route
    ? interaction(req, res, route[1], route[2])
    : req.method === 'GET' && path === '/me'
      ? me(req, res)
      : undefined;
  if (!handled) return callback(req, res);
  handled.catch((e) => {
    if (!res.headersSent) json(res, e instanceof errors.OIDCProviderError ? e.statusCode : 500, { error: e.message });
    else res.destroy();
  });
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${mode} listening on http://127.0.0.1:${server.address().port}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    server.close();
    server.closeAllConnections();
    redis?.disconnect();
    process.exit(0);
  });
}
