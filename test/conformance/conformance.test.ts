/**
 * One HTTP conformance suite for the three adapters (Fastify, Express, Hono):
 * the routes' behaviour, the error bodies and headers, cookie mode with CSRF,
 * the guessing limiter and hostile input, the same tests on each, plus answers
 * compared byte for byte across adapters and tokens that move between them on
 * one store.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  ADAPTERS,
  type AdapterName,
  type Answer,
  basicAuth,
  bearer,
  type Call,
  type Driver,
  driver,
  form,
  ISSUER,
  login,
  PASSWORD,
  type Shared,
  shared,
} from './adapters.js';

const SECURITY = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
};

function assertError(res: Answer, status: number, error: string, reason?: string): void {
  assert.equal(res.status, status, res.text);
  const body = res.json();
  assert.equal(body.error, error, res.text);
  assert.equal(typeof body.error_description, 'string');
  assert.equal(body.reason, reason);
  assert.equal(res.headers['cache-control'], 'no-store');
  assert.match(res.headers['content-type'] ?? '', /^application\/json/);
}

function cookieJar(setCookies: string[]): Map<string, string> {
  const jar = new Map<string, string>();
  for (const c of setCookies) {
    const [pair] = c.split(';');
    const eq = (pair as string).indexOf('=');
    jar.set((pair as string).slice(0, eq), (pair as string).slice(eq + 1));
  }
  return jar;
}

for (const name of ADAPTERS) {
  describe(`conformance: ${name}`, () => {
    let s: Shared;
    let d: Driver;
    before(async () => {
      s = await shared();
      d = await driver(name, s);
    });
    after(async () => {
      await d.close();
      await s.close();
    });

    test('password grant (form and JSON): RFC 6749 §5.1 shape, no-store, security headers', async () => {
      const a = await d.call({
        method: 'POST',
        url: '/auth/token',
        ...form({ grant_type: 'password', username: 'alice', password: PASSWORD }),
      });
      const b = await d.call({
        method: 'POST',
        url: '/auth/token',
        payload: { grant_type: 'password', username: 'alice', password: PASSWORD },
      });
      for (const res of [a, b]) {
        assert.equal(res.status, 200, res.text);
        const body = res.json();
        assert.deepEqual(Object.keys(body).sort(), [
          'access_token',
          'expires_in',
          'refresh_expires_in',
          'refresh_token',
          'scope',
          'token_type',
        ]);
        assert.equal(body.token_type, 'Bearer');
        assert.equal(body.scope, 'api');
        assert.equal(res.headers['cache-control'], 'no-store');
        assert.equal(res.headers.pragma, 'no-cache');
        for (const [k, v] of Object.entries(SECURITY)) assert.equal(res.headers[k], v, k);
        assert.equal(res.headers['x-powered-by'], undefined);
      }
    });

    test('wrong password and unknown user: one answer, 400 invalid_grant reason invalid_credentials', async () => {
      const wrong = await d.call({
        method: 'POST',
        url: '/auth/token',
        ...form({ grant_type: 'password', username: 'alice', password: 'nope' }),
      });
      const unknown = await d.call({
        method: 'POST',
        url: '/auth/token',
        ...form({ grant_type: 'password', username: 'zed', password: 'nope' }),
      });
      assertError(wrong, 400, 'invalid_grant', 'invalid_credentials');
      assert.deepEqual(wrong.json(), unknown.json());
    });

    test('GET /me: the principal with a token; 401/400 challenges without one (RFC 6750 §3)', async () => {
      const t = await login(d);
      const me = await d.call({ url: '/me', headers: bearer(t.access_token as string) });
      assert.equal(me.status, 200);
      const body = me.json();
      assert.equal(body.preferred_username, 'alice');
      assert.equal(body.client_id, 'tessera');
      assert.equal(body.scope, 'api');
      assert.equal(typeof body.exp, 'number');
      assert.equal(me.headers['cache-control'], 'no-store');
      // Pragma (RFC 9111 §5.4: deprecated) is for token responses (RFC 6749 §5.1), not this one.
      assert.equal(me.headers.pragma, undefined);
      for (const [k, v] of Object.entries(SECURITY)) assert.equal(me.headers[k], v, k);

      const none = await d.call({ url: '/me' });
      assertError(none, 401, 'unauthorized');
      assert.equal(none.headers['www-authenticate'], 'Bearer realm="tessera"');
      const malformed = await d.call({ url: '/me', headers: { authorization: 'Bearer' } });
      assertError(malformed, 400, 'invalid_request');
      assert.match(malformed.headers['www-authenticate'] ?? '', /error="invalid_request"/);
      const bad = await d.call({ url: '/me', headers: bearer('not.a.token') });
      assertError(bad, 401, 'invalid_token', 'malformed');
      assert.match(bad.headers['www-authenticate'] ?? '', /^Bearer realm="tessera", error="invalid_token"/);
      assert.ok(!bad.text.includes('not.a.token'), 'the token is never echoed');
      // An access token is not a refresh token and vice versa.
      const refreshAsAccess = await d.call({ url: '/me', headers: bearer(t.refresh_token as string) });
      assertError(refreshAsAccess, 401, 'invalid_token', 'wrong_type');
    });

    test('refresh: rotation, then reuse of the old token is refused and kills the family', async () => {
      const t = await login(d);
      const r1 = await d.call({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: t.refresh_token } });
      assert.equal(r1.status, 200, r1.text);
      assert.notEqual(r1.json().refresh_token, t.refresh_token);
      s.clock.now += 60_000; // past the reuse grace
      const again = await d.call({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: t.refresh_token } });
      assertError(again, 400, 'invalid_grant', 'reused');
      const successor = await d.call({
        method: 'POST',
        url: '/auth/token',
        ...form({ grant_type: 'refresh_token', refresh_token: r1.json().refresh_token as string }),
      });
      assertError(successor, 400, 'invalid_grant', 'revoked');
    });

    test('token endpoint: refresh_token grant, narrower scope, wider scope is invalid_scope, unknown grant', async () => {
      const t = await login(d);
      const r = await d.call({
        method: 'POST',
        url: '/auth/token',
        ...form({ grant_type: 'refresh_token', refresh_token: t.refresh_token as string }),
      });
      assert.equal(r.status, 200, r.text);
      const wider = await d.call({
        method: 'POST',
        url: '/auth/token',
        ...form({ grant_type: 'refresh_token', refresh_token: r.json().refresh_token as string, scope: 'api admin' }),
      });
      assertError(wider, 400, 'invalid_scope');
      const grant = await d.call({
        method: 'POST',
        url: '/auth/token',
        ...form({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code' }),
      });
      assertError(grant, 400, 'unsupported_grant_type');
      const missing = await d.call({
        method: 'POST',
        url: '/auth/token',
        ...form({ grant_type: 'password', username: 'alice' }),
      });
      assertError(missing, 400, 'invalid_request');
    });

    test('revoke (RFC 7009): 200 with the JSON body {}, also for garbage; a revoked refresh token is dead', async () => {
      const t = await login(d);
      const res = await d.call({ method: 'POST', url: '/auth/revoke', ...form({ token: t.refresh_token as string }) });
      assert.equal(res.status, 200);
      assert.equal(res.text, '{}');
      assert.match(res.headers['content-type'] ?? '', /^application\/json/);
      assert.equal(res.headers['cache-control'], 'no-store');
      const garbage = await d.call({ method: 'POST', url: '/auth/revoke', ...form({ token: 'garbage' }) });
      assert.equal(garbage.status, 200);
      assert.deepEqual(garbage.json(), {});
      const r = await d.call({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: t.refresh_token } });
      assertError(r, 400, 'invalid_grant', 'revoked');
      assertError(await d.call({ method: 'POST', url: '/auth/revoke', ...form({}) }), 400, 'invalid_request');
    });

    test('introspect (RFC 7662): authenticated client with the right; 401 invalid_client + Basic challenge otherwise', async () => {
      const t = await login(d);
      const ok = await d.call({
        method: 'POST',
        url: '/auth/introspect',
        ...form({ token: t.access_token as string }, basicAuth(s.rs.id, s.rs.secret)),
      });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.json().active, true);
      assert.equal(ok.json().username, 'alice');
      assert.equal(ok.headers['cache-control'], 'no-store');
      const inactive = await d.call({
        method: 'POST',
        url: '/auth/introspect',
        ...form({ token: 'nope' }, basicAuth(s.rs.id, s.rs.secret)),
      });
      assert.deepEqual(inactive.json(), { active: false });
      const anon = await d.call({ method: 'POST', url: '/auth/introspect', ...form({ token: t.access_token as string }) });
      assertError(anon, 401, 'invalid_client');
      assert.match(anon.headers['www-authenticate'] ?? '', /^Basic realm="tessera"/);
      const user = await d.call({
        method: 'POST',
        url: '/auth/introspect',
        ...form({ token: t.access_token as string }, bearer(t.access_token as string)),
      });
      assert.equal(user.status, 401);
      const wrongSecret = await d.call({
        method: 'POST',
        url: '/auth/introspect',
        ...form({ token: 'x' }, basicAuth(s.rs.id, 'wrong')),
      });
      assertError(wrongSecret, 401, 'invalid_client');
    });

    test('logout ends the family (204); logout-all needs a Bearer token and ends every family', async () => {
      const t = await login(d);
      const out = await d.call({ method: 'POST', url: '/auth/logout', payload: { refresh_token: t.refresh_token } });
      assert.equal(out.status, 204);
      assert.equal(out.text, '');
      assertError(
        await d.call({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: t.refresh_token } }),
        400,
        'invalid_grant',
        'revoked',
      );
      // Logging out twice is still a success: the session is over.
      assert.equal(
        (await d.call({ method: 'POST', url: '/auth/logout', payload: { refresh_token: t.refresh_token } })).status,
        204,
      );

      const a = await login(d, 'bob');
      const b = await login(d, 'bob');
      assertError(await d.call({ method: 'POST', url: '/auth/logout-all' }), 401, 'unauthorized');
      const all = await d.call({ method: 'POST', url: '/auth/logout-all', headers: bearer(a.access_token as string) });
      assert.equal(all.status, 204);
      assertError(
        await d.call({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: b.refresh_token } }),
        400,
        'invalid_grant',
        'revoked',
      );
    });

    test('logout authenticates the client as refresh does and ends only its own current session (RFC 7009 §2.1)', async () => {
      const web = await s.clients.add(`web-${name}`, { confidential: true });
      const creds = basicAuth(web.client.clientId, web.secret as string);
      const signIn = await d.call({
        method: 'POST',
        url: '/auth/token',
        ...form({ grant_type: 'password', username: 'alice', password: PASSWORD }, creds),
      });
      assert.equal(signIn.status, 200, signIn.text);
      const t1 = signIn.json().refresh_token as string;
      const refreshWeb = (token: string) =>
        d.call({ method: 'POST', url: '/auth/refresh', ...form({ refresh_token: token }, creds) });
      const logout = (params: Record<string, string>, headers: Record<string, string> = {}) =>
        d.call({ method: 'POST', url: '/auth/logout', ...form(params, headers) });

      // A confidential client's secret is required, and must be right.
      assertError(await logout({ refresh_token: t1, client_id: web.client.clientId }), 401, 'invalid_client');
      assertError(await logout({ refresh_token: t1 }, basicAuth(web.client.clientId, 'wrong')), 401, 'invalid_client');
      // No client at all (the default public client), or another authenticated client: nothing ends.
      assert.equal((await logout({ refresh_token: t1 })).status, 204);
      assert.equal((await logout({ refresh_token: t1 }, basicAuth(s.rs.id, s.rs.secret))).status, 204);
      const r2 = await refreshWeb(t1);
      assert.equal(r2.status, 200, `the session outlived other clients' logouts: ${r2.text}`);
      const t2 = r2.json().refresh_token as string;
      // The rotated token, even with the right client: no effect, and no reuse detection either.
      assert.equal((await logout({ refresh_token: t1 }, creds)).status, 204);
      const r3 = await refreshWeb(t2);
      assert.equal(r3.status, 200, `a rotated token ended nothing: ${r3.text}`);
      const t3 = r3.json().refresh_token as string;
      // The current token with the client's credentials ends the session.
      const out = await logout({ refresh_token: t3 }, creds);
      assert.equal(out.status, 204);
      assert.equal(out.text, '');
      assertError(await refreshWeb(t3), 400, 'invalid_grant', 'revoked');
    });

    test('an empty client_secret from a public client is an omitted one (RFC 6749 §2.3.1), not a failed authentication', async () => {
      const spa = `spa-${name}`;
      await s.clients.add(spa);
      const signIn = await d.call({
        method: 'POST',
        url: '/auth/token',
        ...form({ grant_type: 'password', username: 'alice', password: PASSWORD, client_id: spa, client_secret: '' }),
      });
      assert.equal(signIn.status, 200, signIn.text);
      const t = signIn.json();
      const emptyBasic = basicAuth(spa, '');
      const r = await d.call({
        method: 'POST',
        url: '/auth/refresh',
        ...form({ refresh_token: t.refresh_token as string }, emptyBasic),
      });
      assert.equal(r.status, 200, r.text);
      const revoked = await d.call({
        method: 'POST',
        url: '/auth/revoke',
        ...form({ token: r.json().refresh_token as string, client_id: spa, client_secret: '' }),
      });
      assert.equal(revoked.status, 200, revoked.text);
      assertError(
        await d.call({
          method: 'POST',
          url: '/auth/refresh',
          ...form({ refresh_token: r.json().refresh_token as string, client_id: spa }),
        }),
        400,
        'invalid_grant',
        'revoked',
      );
      // A confidential client with an empty secret has not authenticated.
      assertError(
        await d.call({ method: 'POST', url: '/auth/revoke', ...form({ token: 'x', client_id: s.rs.id, client_secret: '' }) }),
        401,
        'invalid_client',
      );
      assertError(
        await d.call({ method: 'POST', url: '/auth/revoke', ...form({ token: 'x' }, basicAuth(s.rs.id, '')) }),
        401,
        'invalid_client',
      );
    });

    test('RFC 8414 metadata and health are public', async () => {
      const res = await d.call({ url: '/.well-known/oauth-authorization-server' });
      assert.equal(res.status, 200);
      const m = res.json();
      assert.equal(m.issuer, ISSUER);
      assert.equal(m.token_endpoint, `${m.issuer}/auth/token`);
      assert.deepEqual(m.grant_types_supported, ['password', 'client_credentials', 'refresh_token']);
      assert.deepEqual(m.response_types_supported, []);
      assert.deepEqual(m.scopes_supported, ['api']);
      assert.equal((await d.call({ url: '/health' })).status, 200);
      assert.deepEqual((await d.call({ url: '/ready' })).json(), { status: 'ready', revocation_feed: 'up' });
    });

    test('RFC 8414 metadata: the issuer comes from the token service, never from Host or X-Forwarded-Host; cacheable', async () => {
      const plain = await d.call({ url: '/.well-known/oauth-authorization-server' });
      assert.equal(plain.headers['cache-control'], 'public, max-age=300');
      const hostile: Record<string, string>[] = [
        { host: 'evil.example' },
        { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' },
        { host: 'evil.example:8443', 'x-forwarded-host': 'evil.example', forwarded: 'host=evil.example;proto=https' },
      ];
      for (const headers of hostile) {
        const res = await d.call({ url: '/.well-known/oauth-authorization-server', headers });
        assert.equal(res.status, 200);
        assert.equal(res.text, plain.text, JSON.stringify(headers));
        assert.ok(!res.text.includes('evil.example'));
        assert.equal(res.headers['cache-control'], 'public, max-age=300');
      }
    });

    test('an unknown route with a valid token is a 404 not_found; registration is off unless enabled', async () => {
      const t = await login(d);
      assertError(await d.call({ url: '/nope', headers: bearer(t.access_token as string) }), 404, 'not_found');
      assertError(
        await d.call({ method: 'POST', url: '/auth/register', payload: { username: 'x', password: 'y' } }),
        404,
        'not_found',
      );
    });

    describe('hostile input', () => {
      const cases: [string, Call, number][] = [
        [
          'duplicate JSON member',
          {
            method: 'POST',
            url: '/auth/token',
            headers: { 'content-type': 'application/json' },
            payload: '{"grant_type":"password","grant_type":"refresh_token"}',
          },
          400,
        ],
        [
          'repeated form parameter',
          {
            method: 'POST',
            url: '/auth/token',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            payload: 'grant_type=password&username=alice&username=bob&password=x',
          },
          400,
        ],
        [
          'number where a string is due',
          { method: 'POST', url: '/auth/token', payload: { grant_type: 'password', username: 1, password: 'x' } },
          400,
        ],
        ['missing grant_type', { method: 'POST', url: '/auth/token', payload: {} }, 400],
        [
          'invalid JSON',
          { method: 'POST', url: '/auth/token', headers: { 'content-type': 'application/json' }, payload: '{"grant_type":' },
          400,
        ],
        [
          'empty JSON body',
          { method: 'POST', url: '/auth/refresh', headers: { 'content-type': 'application/json' }, payload: '' },
          400,
        ],
        [
          'JSON array body',
          { method: 'POST', url: '/auth/refresh', headers: { 'content-type': 'application/json' }, payload: '[]' },
          400,
        ],
        [
          'prototype poisoning',
          {
            method: 'POST',
            url: '/auth/refresh',
            headers: { 'content-type': 'application/json' },
            payload: '{"__proto__":{"x":1},"refresh_token":"a"}',
          },
          400,
        ],
        [
          'unsupported content type',
          { method: 'POST', url: '/auth/token', headers: { 'content-type': 'application/xml' }, payload: '<grant_type/>' },
          415,
        ],
        [
          'text/plain body',
          { method: 'POST', url: '/auth/token', headers: { 'content-type': 'text/plain' }, payload: 'grant_type=password' },
          400,
        ],
        [
          'body over the limit',
          {
            method: 'POST',
            url: '/auth/refresh',
            headers: { 'content-type': 'application/json' },
            payload: `{"refresh_token":"${'a'.repeat(70_000)}"}`,
          },
          413,
        ],
        [
          'token over the length limit',
          { method: 'POST', url: '/auth/refresh', payload: { refresh_token: 'a'.repeat(20_000) } },
          400,
        ],
        ['refresh without a token', { method: 'POST', url: '/auth/refresh' }, 400],
        [
          // Limits count UTF-16 code units on every adapter (Ajv's default counts code points):
          // 4,097 astral characters are 8,194 units, over the 8,192 a token may have.
          'token over the length limit in UTF-16 units, under it in code points',
          { method: 'POST', url: '/auth/refresh', payload: { refresh_token: '\u{1F600}'.repeat(4097) } },
          400,
        ],
        [
          'Basic and client_secret together',
          { method: 'POST', url: '/auth/token', ...form({ grant_type: 'password', client_secret: 'x' }, basicAuth('rs', 'x')) },
          400,
        ],
      ];
      for (const [what, call, status] of cases) {
        test(`${what}: ${status}`, async () => {
          const res = await d.call(call);
          assert.equal(res.status, status, res.text);
          const body = res.json();
          assert.equal(body.error, 'invalid_request');
          assert.ok(!res.text.includes('aaaaaaaaaa'), 'no echo of the request');
        });
      }
    });
  });

  describe(`conformance: ${name}, cookie mode with CSRF`, () => {
    let s: Shared;
    let d: Driver;
    before(async () => {
      s = await shared();
      d = await driver(name, s, { cookie: { secure: true } });
    });
    after(async () => {
      await d.close();
      await s.close();
    });

    test('login sets __Secure- and __Host- cookies, no refresh_token in the body; refresh needs the CSRF header', async () => {
      const res = await d.call({
        method: 'POST',
        url: '/auth/token',
        ...form({ grant_type: 'password', username: 'alice', password: PASSWORD }),
      });
      assert.equal(res.status, 200);
      assert.equal(res.json().refresh_token, undefined);
      const rtCookie = res.setCookies.find((c) => c.startsWith('__Secure-tessera_rt='));
      const csrfCookie = res.setCookies.find((c) => c.startsWith('__Host-tessera_csrf='));
      assert.ok(rtCookie && csrfCookie, res.setCookies.join(' | '));
      assert.match(rtCookie, /; Path=\/auth; HttpOnly; Secure; SameSite=Strict$/);
      assert.match(csrfCookie, /; Path=\/; Secure; SameSite=Strict$/);
      const jar = cookieJar(res.setCookies);
      const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');

      const noHeader = await d.call({ method: 'POST', url: '/auth/refresh', headers: { cookie } });
      assertError(noHeader, 403, 'invalid_request');
      const forged = await d.call({ method: 'POST', url: '/auth/refresh', headers: { cookie, 'x-csrf-token': 'attacker' } });
      assertError(forged, 403, 'invalid_request');
      const ok = await d.call({
        method: 'POST',
        url: '/auth/refresh',
        headers: { cookie, 'x-csrf-token': jar.get('__Host-tessera_csrf') as string },
      });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.json().refresh_token, undefined);
      const next = cookieJar(ok.setCookies);
      assert.notEqual(next.get('__Secure-tessera_rt'), jar.get('__Secure-tessera_rt'));

      // The old cookie again: reuse, and the dead cookies are cleared with the error.
      s.clock.now += 60_000;
      const reuse = await d.call({
        method: 'POST',
        url: '/auth/refresh',
        headers: { cookie, 'x-csrf-token': jar.get('__Host-tessera_csrf') as string },
      });
      assertError(reuse, 400, 'invalid_grant', 'reused');
      assert.ok(
        reuse.setCookies.some((c) => c.startsWith('__Secure-tessera_rt=;') && c.includes('Max-Age=0')),
        reuse.setCookies.join(' | '),
      );
    });

    test('logout with the cookie clears both cookies', async () => {
      const res = await d.call({
        method: 'POST',
        url: '/auth/token',
        ...form({ grant_type: 'password', username: 'alice', password: PASSWORD }),
      });
      const jar = cookieJar(res.setCookies);
      const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
      const out = await d.call({
        method: 'POST',
        url: '/auth/logout',
        headers: { cookie, 'x-csrf-token': jar.get('__Host-tessera_csrf') as string },
      });
      assert.equal(out.status, 204);
      assert.equal(out.setCookies.length, 2);
      assert.ok(out.setCookies.every((c) => c.includes('Max-Age=0') && c.includes('Expires=Thu, 01 Jan 1970 00:00:00 GMT')));
    });
  });

  describe(`conformance: ${name}, guessing limiter`, () => {
    let s: Shared;
    let d: Driver;
    before(async () => {
      s = await shared();
      d = await driver(name, s, { rateLimit: { max: 6, perUser: 3, windowSeconds: 60, clock: () => s.clock.now } });
    });
    after(async () => {
      await d.close();
      await s.close();
    });

    test('the 4th failed login for one user is a 429 with Retry-After, even with the right password; refreshes with valid tokens never count', async () => {
      const bad = () =>
        d.call({ method: 'POST', url: '/auth/token', ...form({ grant_type: 'password', username: 'bob', password: 'wrong' }) });
      const codes = [];
      for (let i = 0; i < 3; i++) codes.push((await bad()).status);
      assert.deepEqual(codes, [400, 400, 400]);
      const blocked = await d.call({
        method: 'POST',
        url: '/auth/token',
        ...form({ grant_type: 'password', username: 'bob', password: PASSWORD }),
      });
      assertError(blocked, 429, 'temporarily_unavailable');
      assert.equal(blocked.headers['retry-after'], '60');
      let t = await login(d);
      for (let i = 0; i < 10; i++) {
        const r = await d.call({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: t.refresh_token } });
        assert.equal(r.status, 200);
        t = r.json();
      }
    });
  });
}

describe('conformance: the same answer from every adapter', () => {
  let s: Shared;
  const drivers = new Map<AdapterName, Driver>();
  before(async () => {
    s = await shared();
    for (const n of ADAPTERS) drivers.set(n, await driver(n, s));
  });
  after(async () => {
    for (const d of drivers.values()) await d.close();
    await s.close();
  });

  /** Status, body, and the headers of the contract. */
  const view = (r: Answer) => ({
    status: r.status,
    body: r.text === '' ? '' : r.json(),
    'cache-control': r.headers['cache-control'],
    pragma: r.headers.pragma,
    'www-authenticate': r.headers['www-authenticate'],
    'retry-after': r.headers['retry-after'],
    'content-type': r.text === '' ? undefined : r.headers['content-type'],
    ...Object.fromEntries(Object.keys(SECURITY).map((k) => [k, r.headers[k]])),
  });

  const calls: [string, Call][] = [
    ['no token', { url: '/me' }],
    ['malformed Authorization', { url: '/me', headers: { authorization: 'Bearer a b' } }],
    ['bad token', { url: '/me', headers: bearer('abc.def.ghi') }],
    [
      'wrong password',
      { method: 'POST', url: '/auth/token', ...form({ grant_type: 'password', username: 'alice', password: 'x' }) },
    ],
    ['unsupported grant', { method: 'POST', url: '/auth/token', payload: { grant_type: 'implicit' } }],
    ['missing grant_type', { method: 'POST', url: '/auth/token', payload: {} }],
    ['wrong type', { method: 'POST', url: '/auth/token', payload: { grant_type: 5 } }],
    ['refresh garbage', { method: 'POST', url: '/auth/refresh', payload: { refresh_token: 'garbage' } }],
    ['refresh nothing', { method: 'POST', url: '/auth/refresh' }],
    [
      'duplicate member',
      {
        method: 'POST',
        url: '/auth/refresh',
        headers: { 'content-type': 'application/json' },
        payload: '{"refresh_token":"a","refresh_token":"b"}',
      },
    ],
    ['415', { method: 'POST', url: '/auth/refresh', headers: { 'content-type': 'application/xml' }, payload: 'x' }],
    ['text/plain', { method: 'POST', url: '/auth/refresh', headers: { 'content-type': 'text/plain' }, payload: 'x' }],
    ['invalid JSON', { method: 'POST', url: '/auth/refresh', headers: { 'content-type': 'application/json' }, payload: '{' }],
    ['introspect anonymous', { method: 'POST', url: '/auth/introspect', ...form({ token: 'x' }) }],
    ['introspect unknown client', { method: 'POST', url: '/auth/introspect', ...form({ token: 'x' }, basicAuth('ghost', 'x')) }],
    ['revoke garbage', { method: 'POST', url: '/auth/revoke', ...form({ token: 'x' }) }],
    ['revoke nothing', { method: 'POST', url: '/auth/revoke', ...form({}) }],
    ['logout garbage', { method: 'POST', url: '/auth/logout', payload: { refresh_token: 'garbage' } }],
    [
      'unknown client_id',
      {
        method: 'POST',
        url: '/auth/token',
        ...form({ grant_type: 'password', username: 'alice', password: PASSWORD, client_id: 'ghost' }),
      },
    ],
  ];
  for (const [what, call] of calls) {
    test(what, async () => {
      const fastify = view(await (drivers.get('fastify') as Driver).call(call));
      for (const n of ['express', 'hono'] as const) {
        assert.deepEqual(view(await (drivers.get(n) as Driver).call(call)), fastify, n);
      }
    });
  }

  test('metadata: the same document, the token service issuer, from every adapter', async () => {
    const docs = [];
    for (const d of drivers.values()) docs.push((await d.call({ url: '/.well-known/oauth-authorization-server' })).json());
    assert.equal(docs[0]?.issuer, ISSUER);
    assert.deepEqual(docs[1], docs[0]);
    assert.deepEqual(docs[2], docs[0]);
  });

  test('a token issued through one adapter refreshes through another on the shared store', async () => {
    const f = drivers.get('fastify') as Driver;
    const e = drivers.get('express') as Driver;
    const h = drivers.get('hono') as Driver;
    let t = await login(f);
    for (const d of [e, h, f, h, e]) {
      const r = await d.call({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: t.refresh_token } });
      assert.equal(r.status, 200, `${d.name}: ${r.text}`);
      t = r.json();
      for (const other of [f, e, h]) {
        const me = await other.call({ url: '/me', headers: bearer(t.access_token as string) });
        assert.equal(me.status, 200, `${d.name} token on ${other.name}`);
      }
    }
    // Logging out through Hono ends the session the others see.
    assert.equal(
      (await h.call({ method: 'POST', url: '/auth/logout', payload: { refresh_token: t.refresh_token } })).status,
      204,
    );
    const r = await e.call({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: t.refresh_token } });
    assertError(r, 400, 'invalid_grant', 'revoked');
  });
});
