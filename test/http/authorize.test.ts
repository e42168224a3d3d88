/**
 * The authorization code flow in process (Fastify inject, memory store, injected clock):
 * GET /authorize, the login and consent forms, the code exchange with PKCE, and every
 * refusal the RFCs ask for. The same flow in a real browser with outside clients: test/e2e.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { completeClient } from '../../src/oauth-clients/types.js';
import type { OneTimeRecords } from '../../src/stores/types.js';
import { hiddenFields, Jar, pkce } from '../support/forms.js';
import { basicAuth, body, form, type Harness, PASSWORD, setup } from './helpers.js';

const ISSUER = 'https://auth.example';
const CB = 'https://app.example/cb';
const NATIVE = 'http://127.0.0.1/native';

describe('authorization code flow with PKCE (RFC 6749 §4.1, RFC 7636, RFC 9207)', () => {
  let h: Harness;
  let webSecret: string;

  before(async () => {
    let store: Harness['store'] | undefined;
    const now = () => h.clock.now;
    h = await setup({
      service: { issuer: ISSUER },
      wrapStore: (s) => (store = s),
      app: {
        issuer: ISSUER,
        rateLimit: { max: 20, perUser: 3, windowSeconds: 60, clock: now },
        authorize: {
          // The harness opens the store: reach it through the one it wrapped.
          records: {
            putOnce: (i: Parameters<OneTimeRecords['putOnce']>[0]) => (store as unknown as OneTimeRecords).putOnce(i),
            consumeOnce: (i: Parameters<OneTimeRecords['consumeOnce']>[0]) => (store as unknown as OneTimeRecords).consumeOnce(i),
          },
          clock: now,
          key: Buffer.alloc(32, 7),
        },
      },
    });
    const web = await h.clients.add('web-app', { confidential: true });
    webSecret = web.secret as string;
    const dir = h.store as unknown as { createClient(c: unknown): Promise<boolean>; removeClient(id: string): Promise<boolean> };
    // Registrations with redirect URIs (what `tessera client add --redirect-uri` stores).
    await dir.removeClient('web-app');
    await dir.createClient({
      ...completeClient({
        clientId: 'web-app',
        clientType: 'confidential',
        secretHash: web.client.secretHash,
        introspect: false,
        createdAt: 1,
      }),
      redirectUris: [CB],
      grantTypes: ['authorization_code', 'refresh_token'],
      scope: 'api read',
      firstParty: true,
    });
    await dir.createClient({
      ...completeClient({ clientId: 'spa', clientType: 'public', secretHash: '', introspect: false, createdAt: 1 }),
      redirectUris: [CB, NATIVE],
      grantTypes: ['authorization_code', 'refresh_token'],
      scope: 'api',
      firstParty: true,
    });
    await dir.createClient({
      ...completeClient({ clientId: 'third', clientType: 'public', secretHash: '', introspect: false, createdAt: 1 }),
      redirectUris: [CB],
      grantTypes: ['authorization_code', 'refresh_token'],
      scope: 'api',
      firstParty: false,
    });
  });
  after(() => h.close());

  function authorizeUrl(params: Record<string, string>): string {
    return `/authorize?${new URLSearchParams(params)}`;
  }

  async function get(jar: Jar, params: Record<string, string>) {
    const res = await h.app.inject({ method: 'GET', url: authorizeUrl(params), headers: jar.header() });
    jar.take(res.headers['set-cookie']);
    return res;
  }

  async function post(jar: Jar, fields: Record<string, string>) {
    const res = await h.app.inject({ method: 'POST', url: '/authorize', ...merge(form(fields), jar.header()) });
    jar.take(res.headers['set-cookie']);
    return res;
  }

  function merge(f: { headers: Record<string, string>; payload: string }, extra: Record<string, string>) {
    return { headers: { ...f.headers, ...extra }, payload: f.payload };
  }

  function request(clientId: string, challenge: string, extra: Record<string, string> = {}) {
    return {
      response_type: 'code',
      client_id: clientId,
      redirect_uri: CB,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state: 'st-123',
      ...extra,
    };
  }

  /** Signs alice in on the login page; answers the redirect. */
  async function signIn(jar: Jar, params: Record<string, string>, password = PASSWORD) {
    const page = await get(jar, params);
    assert.equal(page.statusCode, 200, page.body);
    return post(jar, { ...hiddenFields(page.body), username: 'alice', password });
  }

  function codeOf(res: LightMyRequestResponse): URL {
    assert.ok(res.statusCode === 302 || res.statusCode === 303, `${res.statusCode} ${res.body}`);
    return new URL(res.headers.location as string);
  }

  async function exchange(clientId: string, code: string, verifier: string, extra: Record<string, string> = {}, auth = {}) {
    const f = form({ grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier, ...extra });
    if (clientId !== 'web-app') f.payload += `&client_id=${clientId}`;
    return h.app.inject({ method: 'POST', url: '/auth/token', headers: { ...f.headers, ...auth }, payload: f.payload });
  }

  test('the metadata names the authorization endpoint, code, S256 and iss support, and the enabled grants', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' });
    const m = res.json();
    assert.equal(m.authorization_endpoint, `${ISSUER}/authorize`);
    assert.deepEqual(m.response_types_supported, ['code']);
    assert.deepEqual(m.code_challenge_methods_supported, ['S256']);
    assert.equal(m.authorization_response_iss_parameter_supported, true);
    assert.deepEqual(m.grant_types_supported, ['authorization_code', 'password', 'client_credentials', 'refresh_token']);
  });

  test('a confidential client: login page, code with state and iss, exchange with the verifier, then refresh', async () => {
    const jar = new Jar();
    const { verifier, challenge } = pkce();
    const page = await get(jar, request('web-app', challenge));
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(page.body, /<input[^>]*name="username"/);
    assert.match(page.body, /<input[^>]*name="password"/);
    assert.match(String(page.headers['content-security-policy']), /form-action 'self' https:\/\/app\.example/);
    const done = await post(jar, { ...hiddenFields(page.body), username: 'alice', password: PASSWORD });
    const url = codeOf(done);
    assert.equal(done.statusCode, 303);
    assert.equal(`${url.origin}${url.pathname}`, CB);
    assert.equal(url.searchParams.get('state'), 'st-123');
    assert.equal(url.searchParams.get('iss'), ISSUER);
    const code = url.searchParams.get('code') as string;
    const res = await exchange('web-app', code, verifier, {}, basicAuth('web-app', webSecret));
    assert.equal(res.statusCode, 200, res.body);
    const t = res.json();
    assert.equal(t.token_type, 'Bearer');
    assert.equal(t.scope, 'api read');
    const me = await h.app.inject({ method: 'GET', url: '/me', headers: { authorization: `Bearer ${t.access_token}` } });
    assert.equal(me.json().preferred_username, 'alice');
    assert.equal(me.json().client_id, 'web-app');
    const r = await h.app.inject({
      method: 'POST',
      url: '/auth/token',
      headers: { ...form({}).headers, ...basicAuth('web-app', webSecret) },
      payload: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: t.refresh_token }).toString(),
    });
    assert.equal(r.statusCode, 200, r.body);
  });

  test('a browser session skips the password on the next authorization; prompt=login asks again', async () => {
    const jar = new Jar();
    const first = pkce();
    codeOf(await signIn(jar, request('spa', first.challenge)));
    const again = await get(jar, request('spa', pkce().challenge));
    assert.equal(again.statusCode, 302);
    assert.ok(codeOf(again).searchParams.get('code'));
    const forced = await get(jar, request('spa', pkce().challenge, { prompt: 'login' }));
    assert.equal(forced.statusCode, 200);
    assert.match(forced.body, /name="password"/);
  });

  test('prompt=none without a session redirects with login_required, state and iss, and shows no page', async () => {
    const res = await get(new Jar(), request('spa', pkce().challenge, { prompt: 'none' }));
    const url = codeOf(res);
    assert.equal(url.searchParams.get('error'), 'login_required');
    assert.equal(url.searchParams.get('state'), 'st-123');
    assert.equal(url.searchParams.get('iss'), ISSUER);
  });

  test('a third-party client gets the consent page; deny is access_denied; approve is remembered', async () => {
    const jar = new Jar();
    const page = await signIn(jar, request('third', pkce().challenge));
    assert.equal(page.statusCode, 200, page.body);
    assert.match(page.body, /<button[^>]*name="decision"[^>]*value="approve"/);
    assert.match(page.body, /<button[^>]*name="decision"[^>]*value="deny"/);
    const denied = await post(jar, { ...hiddenFields(page.body), decision: 'deny' });
    assert.equal(codeOf(denied).searchParams.get('error'), 'access_denied');
    const none = await get(jar, request('third', pkce().challenge, { prompt: 'none' }));
    assert.equal(codeOf(none).searchParams.get('error'), 'consent_required');
    const again = await get(jar, request('third', pkce().challenge));
    assert.equal(again.statusCode, 200);
    const approved = await post(jar, { ...hiddenFields(again.body), decision: 'approve' });
    assert.ok(codeOf(approved).searchParams.get('code'));
    const later = await get(jar, request('third', pkce().challenge));
    assert.equal(later.statusCode, 302, 'the approval is remembered');
    assert.ok(codeOf(later).searchParams.get('code'));
  });

  test('an unknown client and a redirect URI one character off get an error page, never a redirect', async () => {
    for (const params of [
      request('nobody', pkce().challenge),
      { ...request('spa', pkce().challenge), redirect_uri: `${CB}x` },
      { ...request('spa', pkce().challenge), redirect_uri: 'https://evil.example/cb' },
    ]) {
      const res = await get(new Jar(), params);
      assert.equal(res.statusCode, 400);
      assert.equal(res.headers.location, undefined);
      assert.match(String(res.headers['content-type']), /^text\/html/);
    }
  });

  test('a loopback redirect URI matches on any port (RFC 8252 §7.3), and only that way', async () => {
    const ok = await get(new Jar(), { ...request('spa', pkce().challenge), redirect_uri: 'http://127.0.0.1:53211/native' });
    assert.equal(ok.statusCode, 200);
    const off = await get(new Jar(), { ...request('spa', pkce().challenge), redirect_uri: 'http://127.0.0.1:53211/nativex' });
    assert.equal(off.statusCode, 400);
  });

  test('PKCE: a missing challenge and plain are refused with invalid_request by redirect', async () => {
    const { code_challenge: _, ...noChallenge } = request('spa', 'x');
    for (const params of [noChallenge, request('spa', pkce().challenge, { code_challenge_method: 'plain' })]) {
      const url = codeOf(await get(new Jar(), params));
      assert.equal(url.searchParams.get('error'), 'invalid_request');
      assert.equal(url.searchParams.get('state'), 'st-123');
    }
  });

  test('a wrong or missing code_verifier is invalid_grant, and the code is spent', async () => {
    const jar = new Jar();
    const { verifier, challenge } = pkce();
    const code = codeOf(await signIn(jar, request('spa', challenge))).searchParams.get('code') as string;
    const wrong = await exchange('spa', code, pkce().verifier);
    assert.equal(wrong.statusCode, 400);
    assert.equal(body(wrong)?.error, 'invalid_grant');
    const right = await exchange('spa', code, verifier);
    assert.equal(right.statusCode, 400, 'a code gets one try');
    const missing = await h.app.inject({
      method: 'POST',
      url: '/auth/token',
      ...form({ grant_type: 'authorization_code', code, redirect_uri: CB, client_id: 'spa' }),
    });
    assert.equal(missing.statusCode, 400);
    assert.equal(body(missing)?.error, 'invalid_request');
  });

  test('a code used twice: the second is refused and the tokens from the first are revoked', async () => {
    const jar = new Jar();
    const { verifier, challenge } = pkce();
    const code = codeOf(await signIn(jar, request('spa', challenge))).searchParams.get('code') as string;
    const first = await exchange('spa', code, verifier);
    assert.equal(first.statusCode, 200);
    const second = await exchange('spa', code, verifier);
    assert.equal(second.statusCode, 400);
    assert.equal(body(second)?.error, 'invalid_grant');
    const refresh = await h.app.inject({
      method: 'POST',
      url: '/auth/token',
      ...form({ grant_type: 'refresh_token', refresh_token: first.json().refresh_token, client_id: 'spa' }),
    });
    assert.equal(refresh.statusCode, 400, 'the refresh token of the first exchange is revoked');
    const me = await h.app.inject({
      method: 'GET',
      url: '/me',
      headers: { authorization: `Bearer ${first.json().access_token}` },
    });
    assert.equal(me.statusCode, 401, 'so is its access token');
  });

  test('a code presented by another client is invalid_grant', async () => {
    const jar = new Jar();
    const { verifier, challenge } = pkce();
    const code = codeOf(await signIn(jar, request('spa', challenge))).searchParams.get('code') as string;
    const res = await exchange('third', code, verifier);
    assert.equal(res.statusCode, 400);
    assert.equal(body(res)?.error, 'invalid_grant');
  });

  test('a code expires after 60 seconds', async () => {
    const jar = new Jar();
    const { verifier, challenge } = pkce();
    const code = codeOf(await signIn(jar, request('spa', challenge))).searchParams.get('code') as string;
    h.clock.now += 60_000;
    const res = await exchange('spa', code, verifier);
    assert.equal(res.statusCode, 400);
    assert.equal(body(res)?.error, 'invalid_grant');
  });

  test('the login and consent forms refuse a post without the CSRF cookie and token (403, no session)', async () => {
    const jar = new Jar();
    const page = await get(jar, request('spa', pkce().challenge));
    const fields = { ...hiddenFields(page.body), username: 'alice', password: PASSWORD };
    const noCookie = await post(new Jar(), fields);
    assert.equal(noCookie.statusCode, 403);
    assert.equal(noCookie.headers['set-cookie'], undefined);
    const wrongToken = await post(jar, { ...fields, csrf: 'A'.repeat(43) });
    assert.equal(wrongToken.statusCode, 403);
    const consent = await post(new Jar(), { ...hiddenFields(page.body), decision: 'approve' });
    assert.equal(consent.statusCode, 403);
  });

  test('a guessing burst on the login page is stopped by the limiter, and the right password waits too', async () => {
    const jar = new Jar();
    const params = request('spa', pkce().challenge);
    const page = await get(jar, params);
    const fields = { ...hiddenFields(page.body), username: 'bob' };
    const codes: number[] = [];
    for (let i = 0; i < 5; i++) codes.push((await post(jar, { ...fields, password: `wrong-${i}` })).statusCode);
    assert.deepEqual(codes.slice(0, 3), [400, 400, 400]);
    assert.equal(codes[3], 429);
    const right = await post(jar, { ...fields, password: PASSWORD });
    assert.equal(right.statusCode, 429);
    assert.match(right.body, /role="alert"/);
    assert.ok(Number(right.headers['retry-after']) > 0);
  });

  test('client_credentials: a confidential client gets an access token for itself and no refresh token', async () => {
    const dir = h.store as unknown as { createClient(c: unknown): Promise<boolean> };
    const svc = await h.clients.add('svc-temp', { confidential: true });
    const secretHash = svc.client.secretHash;
    await (h.store as unknown as { removeClient(id: string): Promise<boolean> }).removeClient('svc-temp');
    await dir.createClient({
      ...completeClient({ clientId: 'svc', clientType: 'confidential', secretHash, introspect: false, createdAt: 1 }),
      grantTypes: ['client_credentials'],
      scope: 'reports:read',
    });
    const auth = basicAuth('svc', svc.secret as string);
    const res = await h.app.inject({
      method: 'POST',
      url: '/auth/token',
      headers: { ...form({}).headers, ...auth },
      payload: 'grant_type=client_credentials',
    });
    assert.equal(res.statusCode, 200, res.body);
    const t = res.json();
    assert.equal(t.refresh_token, undefined);
    assert.equal(t.scope, 'reports:read');
    const me = await h.app.inject({ method: 'GET', url: '/me', headers: { authorization: `Bearer ${t.access_token}` } });
    assert.equal(me.json().sub, 'svc');
    const wider = await h.app.inject({
      method: 'POST',
      url: '/auth/token',
      headers: { ...form({}).headers, ...auth },
      payload: 'grant_type=client_credentials&scope=admin',
    });
    assert.equal(body(wider)?.error, 'invalid_scope');
    const notRegistered = await h.app.inject({
      method: 'POST',
      url: '/auth/token',
      headers: { ...form({}).headers, ...auth },
      payload: new URLSearchParams({ grant_type: 'password', username: 'alice', password: PASSWORD }).toString(),
    });
    assert.equal(body(notRegistered)?.error, 'unauthorized_client');
  });
});
