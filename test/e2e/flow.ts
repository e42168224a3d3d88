/**
 * The end-to-end flow run against a real server for every preset and store:
 * login, /me, refresh, replay detection, logout, logout-all, revoke,
 * introspect, wrong token type, expiry, and the 400/401 shapes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addIntrospector, call, PASSWORD, runCli, type ServerProcess, startServer } from '../support/processes.js';
import { E2E } from './helpers.js';

interface Tokens {
  access_token: string;
  refresh_token: string;
}

export function e2eFlow(
  label: string,
  makeEnv: () => Record<string, string>,
  cleanup?: (env: Record<string, string>) => Promise<void>,
): void {
  describe(label, () => {
    let srv: ServerProcess;
    let url: string;
    let n = 0;
    /** Basic credentials of a client registered for introspection. */
    let rs: Record<string, string>;

    before(async () => {
      const env = makeEnv();
      // A user per suite, created with the CLI against the server's store.
      const created = await runCli(E2E, ['user', 'add', 'alice'], env, `${PASSWORD}\n`);
      assert.equal(created.code, 0, created.stderr);
      assert.match(created.stdout, /created user alice/);
      const again = await runCli(E2E, ['user', 'add', 'ALICE'], env, `${PASSWORD}\n`);
      assert.equal(again.code, 1, 'a taken name is refused');
      rs = await addIntrospector(E2E, env);
      srv = await startServer(E2E, env);
      url = srv.url;
    });
    after(async () => {
      const code = await srv?.stop();
      if (srv && cleanup) await cleanup(srv.env);
      assert.equal(code, 0, 'graceful shutdown exits 0');
    });

    async function login(): Promise<Tokens> {
      n++;
      const res = await call(url, 'POST', '/auth/token', {
        form: { grant_type: 'password', username: 'alice', password: PASSWORD },
      });
      assert.equal(res.status, 200, res.text);
      return res.json as unknown as Tokens;
    }

    test('health and readiness', async () => {
      assert.deepEqual((await call(url, 'GET', '/health')).json, { status: 'ok' });
      // With self-contained access tokens /ready reports the revocation feed, which comes up once subscribed.
      const deadline = Date.now() + 5000;
      let body = (await call(url, 'GET', '/ready')).json as { status: string; revocation_feed?: string };
      while (body.revocation_feed === 'down' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        body = (await call(url, 'GET', '/ready')).json as { status: string; revocation_feed?: string };
      }
      assert.equal(body.status, 'ready');
      assert.ok(body.revocation_feed === undefined || body.revocation_feed === 'up', JSON.stringify(body));
    });

    test('login: RFC 6749 token response with no-store', async () => {
      const res = await call(url, 'POST', '/auth/token', {
        json: { grant_type: 'password', username: 'alice', password: PASSWORD },
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.equal(res.headers.pragma, 'no-cache');
      assert.equal(res.json.token_type, 'Bearer');
      assert.equal(res.json.expires_in, 900);
      assert.equal(res.json.scope, 'api');
      assert.equal(typeof res.json.access_token, 'string');
      assert.equal(typeof res.json.refresh_token, 'string');
      const bad = await call(url, 'POST', '/auth/token', {
        form: { grant_type: 'password', username: 'alice', password: 'wrong password' },
      });
      assert.equal(bad.status, 400);
      assert.deepEqual(bad.json, {
        error: 'invalid_grant',
        error_description: 'Invalid username or password',
        reason: 'invalid_credentials',
      });
    });

    test('/me with the access token', async () => {
      const t = await login();
      const me = await call(url, 'GET', '/me', { token: t.access_token });
      assert.equal(me.status, 200);
      assert.match(String(me.json.sub), /^u_/);
    });

    test('refresh rotates; replaying the old refresh token revokes the family', async () => {
      const t = await login();
      const r1 = await call(url, 'POST', '/auth/refresh', { json: { refresh_token: t.refresh_token } });
      assert.equal(r1.status, 200);
      assert.equal(r1.headers['cache-control'], 'no-store');
      const next = r1.json as unknown as Tokens;
      assert.notEqual(next.refresh_token, t.refresh_token);
      assert.equal((await call(url, 'GET', '/me', { token: next.access_token })).status, 200);

      const replay = await call(url, 'POST', '/auth/refresh', { json: { refresh_token: t.refresh_token } });
      assert.equal(replay.status, 400);
      assert.equal(replay.json.error, 'invalid_grant');
      assert.match(String(replay.json.error_description), /reused/);
      const victim = await call(url, 'POST', '/auth/token', {
        form: { grant_type: 'refresh_token', refresh_token: next.refresh_token },
      });
      assert.equal(victim.status, 400);
      assert.equal(victim.json.error, 'invalid_grant');
    });

    test('logout ends the family', async () => {
      const t = await login();
      const out = await call(url, 'POST', '/auth/logout', { json: { refresh_token: t.refresh_token } });
      assert.equal(out.status, 204);
      const r = await call(url, 'POST', '/auth/refresh', { json: { refresh_token: t.refresh_token } });
      assert.equal(r.status, 400);
      assert.equal(r.json.error, 'invalid_grant');
    });

    test('logout-all ends every family of the user', async () => {
      const a = await login();
      const b = await login();
      assert.equal((await call(url, 'POST', '/auth/logout-all')).status, 401);
      const res = await call(url, 'POST', '/auth/logout-all', { token: a.access_token });
      assert.equal(res.status, 204);
      for (const t of [a, b]) {
        const r = await call(url, 'POST', '/auth/refresh', { json: { refresh_token: t.refresh_token } });
        assert.equal(r.status, 400);
      }
    });

    test('revoke (RFC 7009): 200, refresh refused afterwards; 200 for junk; 400 without token', async () => {
      const t = await login();
      const res = await call(url, 'POST', '/auth/revoke', { form: { token: t.refresh_token, token_type_hint: 'refresh_token' } });
      assert.equal(res.status, 200);
      assert.equal(res.text, '{}');
      assert.match(String(res.headers['content-type']), /^application\/json/);
      assert.equal((await call(url, 'POST', '/auth/refresh', { json: { refresh_token: t.refresh_token } })).status, 400);
      assert.equal((await call(url, 'POST', '/auth/revoke', { form: { token: 'junk' } })).status, 200);
      const missing = await call(url, 'POST', '/auth/revoke', { form: {} });
      assert.equal(missing.status, 400);
      assert.equal(missing.json.error, 'invalid_request');
    });

    test('introspect (RFC 7662): needs client authentication; active true / false', async () => {
      const t = await login();
      assert.equal((await call(url, 'POST', '/auth/introspect', { form: { token: t.access_token } })).status, 401);
      const byUser = await call(url, 'POST', '/auth/introspect', { token: t.access_token, form: { token: t.access_token } });
      assert.equal(byUser.status, 401, "a user's Bearer token is not client authentication");
      const active = await call(url, 'POST', '/auth/introspect', { headers: rs, form: { token: t.access_token } });
      assert.equal(active.status, 200);
      assert.equal(active.json.active, true);
      assert.match(String(active.json.sub), /^u_/);
      const rt = await call(url, 'POST', '/auth/introspect', { headers: rs, json: { token: t.refresh_token } });
      assert.equal(rt.json.active, true);
      const junk = await call(url, 'POST', '/auth/introspect', { headers: rs, json: { token: 'junk' } });
      assert.deepEqual(junk.json, { active: false });
    });

    test('wrong token type is refused', async () => {
      const t = await login();
      const asRefresh = await call(url, 'POST', '/auth/refresh', { json: { refresh_token: t.access_token } });
      assert.equal(asRefresh.status, 400);
      assert.equal(asRefresh.json.error, 'invalid_grant');
      const asAccess = await call(url, 'GET', '/me', { token: t.refresh_token });
      assert.equal(asAccess.status, 401);
      assert.equal(asAccess.json.error, 'invalid_token');
    });

    test('an expired access token is refused (server clock moved 901 s ahead)', async () => {
      const t = await login();
      srv.setClockOffset(901_000);
      try {
        const res = await call(url, 'GET', '/me', { token: t.access_token });
        assert.equal(res.status, 401);
        assert.equal(res.json.error, 'invalid_token');
        assert.match(String(res.json.error_description), /expired/);
        assert.match(String(res.headers['www-authenticate']), /^Bearer realm="tessera", error="invalid_token"/);
        // The refresh token is still good: a client refreshes and carries on.
        const r = await call(url, 'POST', '/auth/refresh', { json: { refresh_token: t.refresh_token } });
        assert.equal(r.status, 200);
        assert.equal((await call(url, 'GET', '/me', { token: String(r.json.access_token) })).status, 200);
      } finally {
        srv.setClockOffset(0);
      }
    });

    test('401 and 400 shapes', async () => {
      const none = await call(url, 'GET', '/me');
      assert.equal(none.status, 401);
      // RFC 6750 §3 and, with DPoP served, RFC 9449 §7.1: a challenge per scheme the resource accepts.
      assert.equal(
        none.headers['www-authenticate'],
        'Bearer realm="tessera", DPoP realm="tessera", algs="ES256 EdDSA Ed25519 RS256"',
      );
      assert.equal(typeof none.json.error, 'string');
      const bad = await call(url, 'GET', '/me', { token: 'not.a.token' });
      assert.equal(bad.status, 401);
      assert.deepEqual(Object.keys(bad.json).sort(), ['error', 'error_description', 'reason']);
      assert.equal(typeof bad.json.reason, 'string');
      assert.ok(!bad.text.includes('not.a.token'));
      const malformed = await call(url, 'GET', '/me', { headers: { authorization: 'Bearer two words' } });
      assert.equal(malformed.status, 400);
      assert.equal(malformed.json.error, 'invalid_request');
      const badJson = await fetch(`${url}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"grant_type":',
      });
      assert.equal(badJson.status, 400);
      assert.equal(((await badJson.json()) as { error: string }).error, 'invalid_request');
      const grant = await call(url, 'POST', '/auth/token', { form: { grant_type: 'implicit' } });
      assert.equal(grant.status, 400);
      assert.equal(grant.json.error, 'unsupported_grant_type');
    });

    test('OpenAPI document and Swagger UI', async () => {
      const doc = await call(url, 'GET', '/openapi.json');
      assert.equal(doc.status, 200);
      assert.ok((doc.json.paths as Record<string, unknown>)['/auth/token']);
      const ui = await fetch(`${url}/docs`);
      assert.equal(ui.status, 200);
      assert.match(await ui.text(), /swagger/i);
      assert.ok(n > 0);
    });
  });
}
