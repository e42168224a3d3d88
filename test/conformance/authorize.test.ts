/**
 * The authorization endpoint on every adapter (Fastify, Express, Hono): the same login
 * page, the same redirect with code, state and iss, the same exchange, the same refusals.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hiddenFields, Jar, pkce, registerSpa, spaAuthorizeQuery } from '../support/forms.js';
import { ADAPTERS, type Answer, type Driver, driver, ISSUER, PASSWORD, type Shared, shared } from './adapters.js';

const CB = 'https://app.example/cb';

function form(fields: Record<string, string>): { headers: Record<string, string>; payload: string } {
  return { headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(fields).toString() };
}

for (const name of ADAPTERS) {
  describe(`authorization endpoint: ${name}`, () => {
    let s: Shared;
    let d: Driver;
    before(async () => {
      s = await shared();
      await registerSpa(s.store, CB);
      d = await driver(name, s, { authorize: true });
    });
    after(async () => {
      await d.close();
      await s.close();
    });

    async function call(jar: Jar, c: Parameters<Driver['call']>[0]): Promise<Answer> {
      const res = await d.call({ ...c, headers: { ...c.headers, ...jar.header() } });
      jar.take(res.setCookies);
      return res;
    }

    const query = (challenge: string, extra: Record<string, string> = {}) => spaAuthorizeQuery(CB, challenge, extra);

    test('the login page, then a 303 to the client with code, state and iss; the code buys a pair', async () => {
      const jar = new Jar();
      const { verifier, challenge } = pkce();
      const page = await call(jar, { url: query(challenge) });
      assert.equal(page.status, 200, page.text);
      assert.match(page.headers['content-type'] ?? '', /^text\/html/);
      assert.match(page.headers['content-security-policy'] ?? '', /form-action 'self' https:\/\/app\.example/);
      const done = await call(jar, {
        method: 'POST',
        url: '/authorize',
        ...form({ ...hiddenFields(page.text), username: 'alice', password: PASSWORD }),
      });
      assert.equal(done.status, 303, done.text);
      const url = new URL(done.headers.location ?? '');
      assert.equal(url.searchParams.get('state'), 'xyz');
      assert.equal(url.searchParams.get('iss'), ISSUER);
      const token = await d.call({
        method: 'POST',
        url: '/auth/token',
        ...form({
          grant_type: 'authorization_code',
          code: url.searchParams.get('code') ?? '',
          redirect_uri: CB,
          code_verifier: verifier,
          client_id: 'spa',
        }),
      });
      assert.equal(token.status, 200, token.text);
      const me = await d.call({ url: '/me', headers: { authorization: `Bearer ${token.json().access_token}` } });
      assert.equal(me.json().preferred_username, 'alice');
      const sessions = await d.call({ url: '/auth/sessions', headers: { authorization: `Bearer ${token.json().access_token}` } });
      assert.deepEqual(
        (sessions.json().sessions as { current: boolean; grant: string; client_id: string }[])
          .filter((x) => x.current)
          .map((x) => [x.client_id, x.grant]),
        [['spa', 'authorization_code']],
        'the session records the grant that created it',
      );
      const again = await call(jar, { url: query(pkce().challenge) });
      assert.equal(again.status, 302, 'the browser session skips the password');
    });

    test('an unregistered redirect URI is an HTML error page without Location', async () => {
      const res = await d.call({ url: query(pkce().challenge, { redirect_uri: 'https://evil.example/cb' }) });
      assert.equal(res.status, 400);
      assert.equal(res.headers.location, undefined);
      assert.match(res.headers['content-type'] ?? '', /^text\/html/);
    });

    test('a login post without the CSRF cookie is refused with 403', async () => {
      const page = await d.call({ url: query(pkce().challenge) });
      const res = await d.call({
        method: 'POST',
        url: '/authorize',
        ...form({ ...hiddenFields(page.text), username: 'alice', password: PASSWORD }),
      });
      assert.equal(res.status, 403);
      assert.deepEqual(res.setCookies, []);
    });

    test('the metadata names the authorization endpoint and S256', async () => {
      const m = (await d.call({ url: '/.well-known/oauth-authorization-server' })).json();
      assert.equal(m.authorization_endpoint, `${ISSUER}/authorize`);
      assert.deepEqual(m.code_challenge_methods_supported, ['S256']);
    });
  });
}
