/**
 * tessera/client's authorization code flow against the real server (Fastify inject behind a
 * fetch): the URL it builds (PKCE S256, state, the metadata's endpoint), and what
 * completeAuthorization checks before it exchanges the code (state, RFC 9207 iss, the error).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AuthError, createClient, type FetchLike } from '../../src/client/index.js';
import { completeClient } from '../../src/oauth-clients/types.js';
import { type Harness, PASSWORD, setup } from '../http/helpers.js';
import { hiddenFields, Jar } from '../support/forms.js';

const ISSUER = 'https://auth.example';
const CB = 'https://app.example/cb';

describe('tessera/client: authorization code flow (RFC 6749 §4.1, RFC 7636, RFC 9207)', () => {
  let h: Harness;
  const fetch: FetchLike = async (url, init) => {
    const u = new URL(url, ISSUER);
    const res = await h.app.inject({
      method: (init?.method ?? 'GET') as 'GET',
      url: u.pathname + u.search,
      headers: Object.fromEntries(new Headers(init?.headers)),
      ...(init?.body === undefined ? {} : { payload: String(init.body) }),
    });
    return new Response(res.statusCode === 204 ? null : res.body, {
      status: res.statusCode,
      headers: res.headers as Record<string, string>,
    });
  };

  before(async () => {
    h = await setup({ service: { issuer: ISSUER }, app: { issuer: ISSUER }, authorize: true });
    const dir = h.store as unknown as { createClient(c: unknown): Promise<boolean> };
    await dir.createClient({
      ...completeClient({ clientId: 'spa', clientType: 'public', secretHash: '', introspect: false, createdAt: 1 }),
      redirectUris: [CB],
      grantTypes: ['authorization_code', 'refresh_token'],
      scope: 'api',
    });
  });
  after(() => h.close());

  /** Plays the browser: the login page, the form, the redirect. */
  async function browse(url: string): Promise<string> {
    const jar = new Jar();
    const u = new URL(url);
    const page = await h.app.inject({ method: 'GET', url: u.pathname + u.search });
    jar.take(page.headers['set-cookie']);
    const done = await h.app.inject({
      method: 'POST',
      url: '/authorize',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...jar.header() },
      payload: new URLSearchParams({ ...hiddenFields(page.body), username: 'alice', password: PASSWORD }).toString(),
    });
    assert.equal(done.statusCode, 303, done.body);
    return done.headers.location as string;
  }

  test('authorize() builds the request from the metadata; completeAuthorization() signs in', async () => {
    const client = createClient({ baseUrl: ISSUER, fetch, clientId: 'spa', locks: null, channel: null });
    const request = await client.authorize({ redirectUri: CB, scope: 'api' });
    const url = new URL(request.url);
    assert.equal(`${url.origin}${url.pathname}`, `${ISSUER}/authorize`);
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(url.searchParams.get('state'), request.state);
    assert.match(request.codeVerifier, /^[A-Za-z0-9_-]{43}$/);
    const session = await client.completeAuthorization(await browse(request.url), request);
    assert.equal(session.scope, 'api');
    const me = await (await client.fetch('/me')).json();
    assert.equal(me.preferred_username, 'alice');
    client.close();
  });

  test('completeAuthorization() refuses another state, another iss, and reports the error of the response', async () => {
    const client = createClient({ baseUrl: ISSUER, fetch, clientId: 'spa', locks: null, channel: null });
    const request = await client.authorize({ redirectUri: CB });
    const back = await browse(request.url);
    await assert.rejects(client.completeAuthorization(back, { ...request, state: 'other' }), /state does not match/);
    const mixedUp = new URL(back);
    mixedUp.searchParams.set('iss', 'https://evil.example');
    await assert.rejects(client.completeAuthorization(mixedUp.href, request), /iss names another issuer/);
    const denied = `${CB}?error=access_denied&state=${request.state}&iss=${encodeURIComponent(ISSUER)}`;
    await assert.rejects(
      client.completeAuthorization(denied, request),
      (e: unknown) => e instanceof AuthError && e.error === 'access_denied',
    );
    client.close();
  });
});
