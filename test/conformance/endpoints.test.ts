/**
 * Every row of the endpoint table (src/http/core/endpoints.ts) answers on Fastify,
 * Express and Hono, with the guard's verdict the row declares: a public row answers
 * without a token (never the guard's 401), a protected row refuses a request without
 * one with the guard's 401 (RFC 6750 §3.1) and answers one with a valid token.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ENDPOINTS, type Endpoint } from '../../src/http/core/endpoints.js';
import { generateSigningJwk, type JwkSet, parseSigningKeySet } from '../../src/tokens/jwk.js';
import { ADAPTERS, type Answer, bearer, type Driver, driver, login, type Shared, shared } from './adapters.js';

/** A real key set: its public half is the JWK Set served, its private half signs the ID tokens. */
const SIGNING_KEYS = parseSigningKeySet(JSON.stringify({ keys: [generateSigningJwk('EdDSA')] }));
const JWKS: JwkSet = SIGNING_KEYS.publicJwks();

/** The request of a row: a POST carries an empty form body; a `{id}` segment is `id` (a placeholder without one). */
function call(d: Driver, row: Endpoint, headers: Record<string, string> = {}, id = 'x'): Promise<Answer> {
  const url = row.path.replace(/\{[a-z_]+\}$/, encodeURIComponent(id));
  if (row.method === 'GET') return d.call({ method: 'GET', url, headers });
  return d.call({
    method: row.method,
    url,
    headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
    payload: '',
  });
}

/** The guard's refusal of a request without a token (RFC 6750 §3.1: a Bearer challenge, no error code). */
function isGuardRefusal(res: Answer): boolean {
  return res.status === 401 && /^Bearer\b/.test(res.headers['www-authenticate'] ?? '');
}

test('the table declares each method and path once, and each handler once', () => {
  const keys = ENDPOINTS.map((e) => `${e.method} ${e.path}`);
  assert.equal(new Set(keys).size, keys.length);
  const handlers = ENDPOINTS.map((e) => e.handler);
  assert.equal(new Set(handlers).size, handlers.length);
});

for (const name of ADAPTERS) {
  describe(`endpoint table on ${name}`, () => {
    let s: Shared;
    let d: Driver;
    before(async () => {
      s = await shared();
      d = await driver(name, s, { allowRegister: true, jwks: JWKS, authorize: true, oidc: { signingKeys: SIGNING_KEYS } });
    });
    after(async () => {
      await d.close();
      await s.close();
    });

    for (const row of ENDPOINTS) {
      if (row.public) {
        test(`${row.method} ${row.path} is public: answered without a token`, async () => {
          const res = await call(d, row);
          assert.notEqual(res.status, 404, res.text);
          assert.ok(!isGuardRefusal(res), `${res.status} ${res.headers['www-authenticate']}`);
          assert.ok(res.status < 500 || row.path === '/ready', `${res.status} ${res.text}`);
        });
      } else {
        test(`${row.method} ${row.path} is protected: the guard's 401 without a token, answered with one`, async () => {
          const refused = await call(d, row);
          assert.ok(isGuardRefusal(refused), `${refused.status} ${refused.headers['www-authenticate']}`);
          const token = (await login(d)).access_token as string;
          // A path parameter names something of the caller's: the session of this very token.
          const listed = await d.call({ method: 'GET', url: '/auth/sessions', headers: bearer(token) });
          const own = (listed.json().sessions as { id: string; current: boolean }[]).find((x) => x.current)?.id;
          const res = await call(d, row, bearer(token), own);
          // UserInfo answers only tokens granted `openid` (OIDC Core §5.3.1): a password-grant token is
          // admitted by the guard and refused by the endpoint itself, 403 insufficient_scope.
          if (row.handler === 'userinfo') assert.equal(res.json().error, 'insufficient_scope', res.text);
          else assert.ok(res.status >= 200 && res.status < 300, `${res.status} ${res.text}`);
        });
      }
    }
  });
}
