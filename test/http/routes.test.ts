/**
 * Every route of the HTTP contract, in-process (`app.inject()`), for each of
 * the seed's three presets.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { bearer, body, form, type Harness, PASSWORD, SCHEMES, setup } from './helpers.js';

function assertTokenHeaders(headers: Record<string, unknown>): void {
  // RFC 6749 §5.1
  assert.equal(headers['cache-control'], 'no-store');
  assert.equal(headers.pragma, 'no-cache');
}

for (const scheme of SCHEMES) {
  describe(`routes (${scheme})`, () => {
    let h: Harness;
    before(async () => {
      h = await setup({ scheme });
    });
    after(() => h.close());

    test('password grant, form-encoded: RFC 6749 §5.1 response', async () => {
      const res = await h.app.inject({
        method: 'POST',
        url: '/auth/token',
        ...form({ grant_type: 'password', username: 'alice', password: PASSWORD }),
      });
      assert.equal(res.statusCode, 200);
      assertTokenHeaders(res.headers);
      assert.match(String(res.headers['content-type']), /^application\/json/);
      const b = res.json();
      assert.equal(typeof b.access_token, 'string');
      assert.equal(typeof b.refresh_token, 'string');
      assert.equal(b.token_type, 'Bearer');
      assert.equal(b.expires_in, 900);
      assert.equal(b.scope, 'api');
      assert.deepEqual(Object.keys(b).sort(), [
        'access_token',
        'expires_in',
        'refresh_expires_in',
        'refresh_token',
        'scope',
        'token_type',
      ]);
    });

    test('password grant, JSON; usernames are case-insensitive', async () => {
      const res = await h.app.inject({
        method: 'POST',
        url: '/auth/token',
        payload: { grant_type: 'password', username: 'Alice', password: PASSWORD },
      });
      assert.equal(res.statusCode, 200);
      assertTokenHeaders(res.headers);
    });

    test('bad credentials: invalid_grant, the same for an unknown user', async () => {
      const wrong = await h.app.inject({
        method: 'POST',
        url: '/auth/token',
        payload: { grant_type: 'password', username: 'alice', password: 'nope-nope' },
      });
      const unknown = await h.app.inject({
        method: 'POST',
        url: '/auth/token',
        payload: { grant_type: 'password', username: 'mallory', password: 'nope-nope' },
      });
      for (const res of [wrong, unknown]) {
        assert.equal(res.statusCode, 400);
        assertTokenHeaders(res.headers);
        assert.deepEqual(res.json(), {
          error: 'invalid_grant',
          error_description: 'Invalid username or password',
          reason: 'invalid_credentials',
        });
      }
    });

    test('token endpoint request errors: invalid_request, unsupported_grant_type', async () => {
      const cases: [Record<string, string>, string][] = [
        [{ grant_type: 'password', username: 'alice' }, 'invalid_request'],
        [{ grant_type: 'password', password: PASSWORD }, 'invalid_request'],
        [{ grant_type: 'refresh_token' }, 'invalid_request'],
        [{ username: 'alice', password: PASSWORD }, 'invalid_request'],
        [{ grant_type: 'urn:ietf:params:oauth:grant-type:device_code' }, 'unsupported_grant_type'],
        [{ grant_type: 'authorization_code', code: 'x' }, 'unsupported_grant_type'],
      ];
      for (const [params, error] of cases) {
        for (const payload of [form(params), { payload: params }]) {
          const res = await h.app.inject({ method: 'POST', url: '/auth/token', ...payload });
          assert.equal(res.statusCode, 400, JSON.stringify(params));
          assert.equal(res.json().error, error, JSON.stringify(params));
          assert.equal(typeof res.json().error_description, 'string');
        }
      }
      const empty = await h.app.inject({ method: 'POST', url: '/auth/token' });
      assert.equal(empty.statusCode, 400);
      assert.equal(empty.json().error, 'invalid_request');
    });

    test('GET /me with the access token returns the principal', async () => {
      const t = await h.login();
      const res = await h.app.inject({ url: '/me', headers: bearer(t.access_token) });
      assert.equal(res.statusCode, 200);
      const me = res.json();
      const alice = await h.store.getUser('alice');
      assert.equal(me.sub, alice?.id);
      assert.equal(me.scope, 'api');
      assert.equal(typeof me.exp, 'number');
    });

    test('refresh grant on /auth/token rotates; replay revokes the family with "reused"', async () => {
      const t = await h.login();
      const r1 = await h.app.inject({
        method: 'POST',
        url: '/auth/token',
        ...form({ grant_type: 'refresh_token', refresh_token: t.refresh_token }),
      });
      assert.equal(r1.statusCode, 200);
      assertTokenHeaders(r1.headers);
      const next = r1.json();
      assert.notEqual(next.refresh_token, t.refresh_token);
      assert.notEqual(next.access_token, t.access_token);

      const replay = await h.app.inject({
        method: 'POST',
        url: '/auth/token',
        payload: { grant_type: 'refresh_token', refresh_token: t.refresh_token },
      });
      assert.equal(replay.statusCode, 400);
      assert.equal(replay.json().error, 'invalid_grant');
      assert.match(replay.json().error_description, /reused/);
      assert.equal(replay.json().reason, 'reused');

      // The thief and the victim both lose the family (RFC 9700 §4.14.2).
      const victim = await h.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: next.refresh_token } });
      assert.equal(victim.statusCode, 400);
      assert.equal(victim.json().error, 'invalid_grant');
    });

    test('POST /auth/refresh: JSON and form bodies; missing token', async () => {
      const t = await h.login();
      const r1 = await h.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: t.refresh_token } });
      assert.equal(r1.statusCode, 200);
      assertTokenHeaders(r1.headers);
      const r2 = await h.app.inject({
        method: 'POST',
        url: '/auth/refresh',
        ...form({ refresh_token: r1.json().refresh_token }),
      });
      assert.equal(r2.statusCode, 200);
      const me = await h.app.inject({ url: '/me', headers: bearer(r2.json().access_token) });
      assert.equal(me.statusCode, 200);

      for (const payload of [{}, { payload: {} }, { payload: { refresh_token: '' } }]) {
        const res = await h.app.inject({ method: 'POST', url: '/auth/refresh', ...payload });
        assert.equal(res.statusCode, 400);
        assert.equal(res.json().error, 'invalid_request');
      }
    });

    test('wrong token type is refused both ways', async () => {
      const t = await h.login();
      const asRefresh = await h.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: t.access_token } });
      assert.equal(asRefresh.statusCode, 400);
      assert.equal(asRefresh.json().error, 'invalid_grant');
      const asAccess = await h.app.inject({ url: '/me', headers: bearer(t.refresh_token) });
      assert.equal(asAccess.statusCode, 401);
      assert.equal(asAccess.json().error, 'invalid_token');
      assert.match(String(asAccess.headers['www-authenticate']), /^Bearer realm="tessera", error="invalid_token"/);
    });

    test('an expired access token gets 401 invalid_token "expired"; an expired refresh token invalid_grant', async () => {
      const t = await h.login();
      h.clock.now += 901_000;
      try {
        const res = await h.app.inject({ url: '/me', headers: bearer(t.access_token) });
        assert.equal(res.statusCode, 401);
        assert.equal(res.json().error, 'invalid_token');
        assert.match(res.json().error_description, /expired/);
        assert.match(String(res.headers['www-authenticate']), /error="invalid_token"/);
        // The refresh token still works after the access token expired.
        const r = await h.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: t.refresh_token } });
        assert.equal(r.statusCode, 200);
        h.clock.now += 31 * 86400_000;
        const late = await h.app.inject({
          method: 'POST',
          url: '/auth/refresh',
          payload: { refresh_token: r.json().refresh_token },
        });
        assert.equal(late.statusCode, 400);
        assert.equal(late.json().error, 'invalid_grant');
      } finally {
        h.clock.now = Date.now();
      }
    });

    test('POST /auth/revoke (RFC 7009): 200 for a refresh token, an unknown token, junk; 400 without token', async () => {
      const t = await h.login();
      const res = await h.app.inject({
        method: 'POST',
        url: '/auth/revoke',
        ...form({ token: t.refresh_token, token_type_hint: 'refresh_token' }),
      });
      assert.equal(res.statusCode, 200);
      assert.equal(res.body, '{}');
      assert.match(String(res.headers['content-type']), /^application\/json/);
      const after = await h.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: t.refresh_token } });
      assert.equal(after.statusCode, 400);
      assert.equal(after.json().error, 'invalid_grant');

      for (const token of ['not-a-token', 'a'.repeat(300), t.refresh_token, t.access_token]) {
        const r = await h.app.inject({ method: 'POST', url: '/auth/revoke', payload: { token } });
        assert.equal(r.statusCode, 200);
      }
      const missing = await h.app.inject({ method: 'POST', url: '/auth/revoke', payload: {} });
      assert.equal(missing.statusCode, 400);
      assert.equal(missing.json().error, 'invalid_request');
    });

    test('POST /auth/introspect (RFC 7662) needs client authentication; answers active true/false', async () => {
      const t = await h.login();
      const anon = await h.app.inject({ method: 'POST', url: '/auth/introspect', payload: { token: t.access_token } });
      assert.equal(anon.statusCode, 401);
      assert.equal(anon.json().error, 'invalid_client');
      assert.match(String(anon.headers['www-authenticate']), /^Basic /);
      const user = await h.app.inject({
        method: 'POST',
        url: '/auth/introspect',
        headers: bearer(t.access_token),
        payload: { token: t.access_token },
      });
      assert.equal(user.statusCode, 401, "an end user's Bearer token is not client authentication");
      assert.equal(user.json().error, 'invalid_client');

      const f = form({ token: t.access_token });
      const access = await h.app.inject({
        method: 'POST',
        url: '/auth/introspect',
        headers: { ...f.headers, ...h.rs.basic },
        payload: f.payload,
      });
      assert.equal(access.statusCode, 200);
      const a = access.json();
      assert.equal(a.active, true);
      assert.equal(a.sub, (await h.store.getUser('alice'))?.id);
      assert.equal(typeof a.exp, 'number');

      const refresh = await h.app.inject({
        method: 'POST',
        url: '/auth/introspect',
        headers: h.rs.basic,
        payload: { token: t.refresh_token },
      });
      assert.equal(refresh.json().active, true);

      for (const token of ['junk', `${t.access_token}x`, 'tsa_'.padEnd(55, 'A')]) {
        const r = await h.app.inject({
          method: 'POST',
          url: '/auth/introspect',
          headers: h.rs.basic,
          payload: { token },
        });
        assert.equal(r.statusCode, 200);
        assert.deepEqual(r.json(), { active: false });
      }
      const missing = await h.app.inject({
        method: 'POST',
        url: '/auth/introspect',
        headers: h.rs.basic,
        payload: {},
      });
      assert.equal(missing.statusCode, 400);
      assert.equal(missing.json().error, 'invalid_request');
    });

    test('POST /auth/logout ends the family; again is a no-op; junk is invalid_grant', async () => {
      const t = await h.login();
      const res = await h.app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: t.refresh_token } });
      assert.equal(res.statusCode, 204);
      const refresh = await h.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: t.refresh_token } });
      assert.equal(refresh.statusCode, 400);
      const again = await h.app.inject({ method: 'POST', url: '/auth/logout', ...form({ refresh_token: t.refresh_token }) });
      assert.equal(again.statusCode, 204);
      const junk = await h.app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: 'junk' } });
      assert.equal(junk.statusCode, 400);
      assert.equal(junk.json().error, 'invalid_grant');
      const missing = await h.app.inject({ method: 'POST', url: '/auth/logout' });
      assert.equal(missing.statusCode, 400);
      assert.equal(missing.json().error, 'invalid_request');
    });

    test('POST /auth/logout-all ends every family of the caller, not of other users', async () => {
      const a1 = await h.login();
      const a2 = await h.login();
      const b = await h.login('bob');
      const anon = await h.app.inject({ method: 'POST', url: '/auth/logout-all' });
      assert.equal(anon.statusCode, 401);
      const res = await h.app.inject({ method: 'POST', url: '/auth/logout-all', headers: bearer(a1.access_token) });
      assert.equal(res.statusCode, 204);
      for (const t of [a1, a2]) {
        const r = await h.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: t.refresh_token } });
        assert.equal(r.statusCode, 400);
        assert.equal(r.json().error, 'invalid_grant');
      }
      const rb = await h.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: b.refresh_token } });
      assert.equal(rb.statusCode, 200);
    });

    test('GET /health, /ready, /openapi.json, /docs are public', async () => {
      assert.deepEqual((await h.app.inject({ url: '/health' })).json(), { status: 'ok' });
      // Opaque access tokens are always looked up: no pushed revocations, so no feed to report.
      const feed = scheme === 'opaque' ? {} : { revocation_feed: 'up' };
      assert.deepEqual((await h.app.inject({ url: '/ready' })).json(), { status: 'ready', ...feed });
      const doc = await h.app.inject({ url: '/openapi.json' });
      assert.equal(doc.statusCode, 200);
      const spec = doc.json();
      assert.equal(spec.openapi, '3.0.3');
      for (const path of [
        '/auth/token',
        '/auth/refresh',
        '/auth/revoke',
        '/auth/introspect',
        '/auth/logout',
        '/auth/logout-all',
        '/me',
        '/health',
        '/ready',
      ]) {
        assert.ok(spec.paths[path], path);
      }
      assert.ok(spec.paths['/auth/token'].post.requestBody.content['application/x-www-form-urlencoded']);
      assert.ok(spec.paths['/auth/token'].post.requestBody.content['application/json']);
      const docs = await h.app.inject({ url: '/docs' });
      assert.ok(docs.statusCode === 200 || docs.statusCode === 302, String(docs.statusCode));
      const ui = await h.app.inject({ url: '/docs/static/index.html' });
      assert.ok(ui.statusCode < 400);
    });

    test('registration is off by default', async () => {
      const res = await h.app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'eve', password: PASSWORD } });
      assert.equal(res.statusCode, 404);
      assert.equal(body(res)?.error, 'not_found');
    });
  });
}

describe('registration (TESSERA_ALLOW_REGISTER)', () => {
  let h: Harness;
  before(async () => {
    h = await setup({ app: { allowRegister: true } });
  });
  after(() => h.close());

  test('creates a user who can log in; a taken name is 409; a short password 400', async () => {
    const res = await h.app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'carol', password: PASSWORD } });
    assert.equal(res.statusCode, 201);
    assert.equal(res.json().username, 'carol');
    assert.equal(res.json().passwordHash, undefined);
    await h.login('carol');
    const taken = await h.app.inject({
      method: 'POST',
      url: '/auth/register',
      ...form({ username: 'Carol', password: PASSWORD }),
    });
    assert.equal(taken.statusCode, 409);
    const short = await h.app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'dave', password: 'short' } });
    assert.equal(short.statusCode, 400);
    assert.equal(short.json().error, 'invalid_request');
    const badName = await h.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { username: 'no spaces', password: PASSWORD },
    });
    assert.equal(badName.statusCode, 400);
  });
});
