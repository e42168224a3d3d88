/**
 * OpenID Connect on the code flow, in process: discovery, the ID token (verified with jose
 * against the served JWK Set), UserInfo, max_age, and RP-Initiated Logout. With HS256 there is
 * no OpenID Provider: no discovery document and no `openid` scope.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { createIdTokens } from '../../src/http/core/oidc.js';
import { completeClient } from '../../src/oauth-clients/types.js';
import { type AsymmetricAlg, generateSigningJwk, parseSigningKeySet } from '../../src/tokens/jwk.js';
import { hiddenFields, Jar, pkce } from '../support/forms.js';
import { type Harness, PASSWORD, setup } from './helpers.js';

const ISSUER = 'https://op.example';
const CB = 'https://rp.example/cb';
const BYE = 'https://rp.example/bye';

for (const alg of ['RS256', 'ES256', 'EdDSA'] as AsymmetricAlg[]) {
  describe(`OpenID Connect with ${alg} ID tokens`, () => {
    let h: Harness;
    before(async () => {
      const signingKeys = parseSigningKeySet(JSON.stringify({ keys: [generateSigningJwk(alg)] }));
      h = await setup({
        service: { issuer: ISSUER, access: { signingKeys } },
        app: { issuer: ISSUER, jwks: signingKeys.publicJwks(), oidc: { signingKeys } },
        authorize: true,
      });
      const dir = h.store as unknown as { createClient(c: unknown): Promise<boolean> };
      await dir.createClient({
        ...completeClient({ clientId: 'rp', clientType: 'public', secretHash: '', introspect: false, createdAt: 1 }),
        redirectUris: [CB],
        postLogoutRedirectUris: [BYE],
        grantTypes: ['authorization_code', 'refresh_token'],
        scope: 'api',
        firstParty: true,
      });
    });
    after(() => h.close());

    async function signIn(jar: Jar, extra: Record<string, string> = {}) {
      const { verifier, challenge } = pkce();
      const query = new URLSearchParams({
        response_type: 'code',
        client_id: 'rp',
        redirect_uri: CB,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        scope: 'openid profile api',
        nonce: 'n-0S6_WzA2Mj',
        state: 's1',
        ...extra,
      });
      const page = await h.app.inject({ url: `/authorize?${query}`, headers: jar.header() });
      jar.take(page.headers['set-cookie']);
      let res = page;
      if (page.statusCode === 200) {
        res = await h.app.inject({
          method: 'POST',
          url: '/authorize',
          headers: { 'content-type': 'application/x-www-form-urlencoded', ...jar.header() },
          payload: new URLSearchParams({ ...hiddenFields(page.body), username: 'alice', password: PASSWORD }).toString(),
        });
        jar.take(res.headers['set-cookie']);
      }
      const code = new URL(res.headers.location as string).searchParams.get('code') as string;
      const token = await h.app.inject({
        method: 'POST',
        url: '/auth/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          redirect_uri: CB,
          code_verifier: verifier,
          client_id: 'rp',
        }).toString(),
      });
      assert.equal(token.statusCode, 200, token.body);
      return { token: token.json(), loginShown: page.statusCode === 200 };
    }

    test('discovery: the OpenID configuration agrees with the RFC 8414 document and names the ID token alg', async () => {
      const oidc = (await h.app.inject({ url: '/.well-known/openid-configuration' })).json();
      const oauth = (await h.app.inject({ url: '/.well-known/oauth-authorization-server' })).json();
      for (const k of Object.keys(oauth)) assert.deepEqual(oidc[k], oauth[k], k);
      assert.equal(oidc.issuer, ISSUER);
      assert.equal(oidc.userinfo_endpoint, `${ISSUER}/userinfo`);
      assert.equal(oidc.end_session_endpoint, `${ISSUER}/logout`);
      assert.equal(oidc.jwks_uri, `${ISSUER}/.well-known/jwks.json`);
      assert.deepEqual(oidc.id_token_signing_alg_values_supported, [alg]);
      assert.deepEqual(oidc.subject_types_supported, ['public']);
      assert.ok(oidc.scopes_supported.includes('openid'));
    });

    test('scope openid: an ID token with iss, sub, aud, azp, nonce, auth_time and at_hash, verified by jose', async () => {
      const { token } = await signIn(new Jar());
      const jwks = createLocalJWKSet((await h.app.inject({ url: '/.well-known/jwks.json' })).json());
      const { payload, protectedHeader } = await jwtVerify(token.id_token, jwks, { issuer: ISSUER, audience: 'rp' });
      assert.equal(protectedHeader.alg, alg);
      assert.equal(payload.nonce, 'n-0S6_WzA2Mj');
      assert.equal(payload.azp, 'rp');
      assert.equal(payload.preferred_username, 'alice');
      assert.equal(typeof payload.auth_time, 'number');
      assert.equal(typeof payload.at_hash, 'string');
      const me = await h.app.inject({ url: '/me', headers: { authorization: `Bearer ${token.access_token}` } });
      assert.equal(payload.sub, me.json().sub);
    });

    test('UserInfo answers sub and preferred_username for an openid token; 403 insufficient_scope without openid', async () => {
      const { token } = await signIn(new Jar());
      const info = await h.app.inject({ url: '/userinfo', headers: { authorization: `Bearer ${token.access_token}` } });
      assert.equal(info.statusCode, 200, info.body);
      assert.equal(info.json().preferred_username, 'alice');
      const plain = await signIn(new Jar(), { scope: 'api' });
      const refused = await h.app.inject({ url: '/userinfo', headers: { authorization: `Bearer ${plain.token.access_token}` } });
      assert.equal(refused.statusCode, 403);
      assert.equal(refused.json().error, 'insufficient_scope');
      assert.equal(plain.token.id_token, undefined, 'no openid, no ID token');
    });

    test('max_age: a password entered longer ago than max_age is asked again', async () => {
      const jar = new Jar();
      await signIn(jar);
      h.clock.now += 120_000;
      assert.equal((await signIn(jar, { max_age: '600' })).loginShown, false);
      assert.equal((await signIn(jar, { max_age: '60' })).loginShown, true);
    });

    test('RP-initiated logout with id_token_hint ends the browser session and returns to the registered URI with state', async () => {
      const jar = new Jar();
      const { token } = await signIn(jar);
      const q = new URLSearchParams({ id_token_hint: token.id_token, post_logout_redirect_uri: BYE, state: 'bye-1' });
      const res = await h.app.inject({ url: `/logout?${q}`, headers: jar.header() });
      assert.equal(res.statusCode, 302, res.body);
      const back = new URL(res.headers.location as string);
      assert.equal(`${back.origin}${back.pathname}`, BYE);
      assert.equal(back.searchParams.get('state'), 'bye-1');
      jar.take(res.headers['set-cookie']);
      assert.equal((await signIn(jar)).loginShown, true, 'the next authorization asks for the password');
    });

    test('logout refuses an unregistered post_logout_redirect_uri with a page (no redirect), and asks to confirm without a hint', async () => {
      const jar = new Jar();
      await signIn(jar);
      const evil = await h.app.inject({
        url: `/logout?${new URLSearchParams({ client_id: 'rp', post_logout_redirect_uri: 'https://evil.example/' })}`,
        headers: jar.header(),
      });
      assert.equal(evil.statusCode, 400);
      assert.equal(evil.headers.location, undefined);
      const ask = await h.app.inject({ url: '/logout', headers: jar.header() });
      assert.equal(ask.statusCode, 200);
      assert.match(ask.body, /Sign out\?/);
      const forged = await h.app.inject({
        method: 'POST',
        url: '/logout',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...jar.header() },
        payload: 'csrf=forged',
      });
      assert.equal(forged.statusCode, 403);
      jar.take(ask.headers['set-cookie']);
      const confirmed = await h.app.inject({
        method: 'POST',
        url: '/logout',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...jar.header() },
        payload: new URLSearchParams(hiddenFields(ask.body)).toString(),
      });
      assert.equal(confirmed.statusCode, 200);
      jar.take(confirmed.headers['set-cookie']);
      assert.equal((await signIn(jar)).loginShown, true);
    });

    test('a hint signed by a key the set no longer holds asks a signed-in user to confirm; a forged one is refused', async () => {
      const jar = new Jar();
      const { token } = await signIn(jar);
      const sub = (await h.app.inject({ url: '/me', headers: { authorization: `Bearer ${token.access_token}` } })).json().sub;
      // What a removed key signed: a key of this algorithm that the server does not hold.
      const gone = createIdTokens({ signingKeys: parseSigningKeySet(JSON.stringify({ keys: [generateSigningJwk(alg)] })) });
      const stale = gone.mint({ issuer: ISSUER, sub, clientId: 'rp', authTime: 1, accessToken: 'x', now: h.clock.now / 1000 });
      const q = new URLSearchParams({ id_token_hint: stale, post_logout_redirect_uri: BYE, client_id: 'rp' });
      const ask = await h.app.inject({ url: `/logout?${q}`, headers: jar.header() });
      assert.equal(ask.statusCode, 200, ask.body);
      assert.match(ask.body, /Sign out\?/);
      assert.equal(ask.headers.location, undefined);
      // The same token with its signature changed names a key the server holds: not its token.
      const [head, body] = token.id_token.split('.');
      const forged = `${head}.${body}.${stale.split('.')[2]}`;
      const refused = await h.app.inject({
        url: `/logout?${new URLSearchParams({ id_token_hint: forged })}`,
        headers: jar.header(),
      });
      assert.equal(refused.statusCode, 400);
      assert.match(refused.body, /The ID token hint was not issued by this server/);
    });
  });
}

describe('OpenID Connect is off with HS256', () => {
  let h: Harness;
  before(async () => {
    h = await setup({ service: { issuer: ISSUER }, app: { issuer: ISSUER }, authorize: true });
  });
  after(() => h.close());

  test('no discovery document, no UserInfo, and the metadata does not offer openid', async () => {
    assert.equal((await h.app.inject({ url: '/.well-known/openid-configuration' })).statusCode, 404);
    const m = (await h.app.inject({ url: '/.well-known/oauth-authorization-server' })).json();
    assert.equal(m.userinfo_endpoint, undefined);
    assert.ok(!m.scopes_supported.includes('openid'));
  });
});
