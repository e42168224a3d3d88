/**
 * DPoP (RFC 9449) interop: oauth4webapi's `DPoP()` handle and openid-client 6's
 * `getDPoPHandle` against the app on a real socket: the token request, the refresh, and a
 * protected resource request, each with the client library's own proofs (WebCrypto keys); then
 * against a real `tessera serve` process with server nonces on and a client registered `--dpop`.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import * as oauth from 'oauth4webapi';
import * as oidc from 'openid-client';
import { type Harness, PASSWORD, setup } from '../http/helpers.js';
import { hiddenFields, Jar } from '../support/forms.js';
import { runCli, type ServerProcess, type Suite, serverEnv, startServer } from '../support/processes.js';

let h: Harness;
let base = '';

before(async () => {
  h = await setup({ dpop: true, app: { issuer: () => base } });
  // The proofs' iat is the library's wall clock: the server's clock must be the same.
  h.clock.now = Date.now();
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
});
after(() => h.close());

describe('oauth4webapi DPoP()', () => {
  test('token, refresh and a protected resource request, all DPoP-bound', async () => {
    h.clock.now = Date.now();
    const issuer = new URL(base);
    const as = await oauth.processDiscoveryResponse(
      issuer,
      await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', [oauth.allowInsecureRequests]: true }),
    );
    assert.deepEqual(as.dpop_signing_alg_values_supported, ['ES256', 'EdDSA', 'Ed25519', 'RS256']);
    const client: oauth.Client = { client_id: 'tessera' };
    const keyPair = await oauth.generateKeyPair('ES256');
    const DPoP = oauth.DPoP(client, keyPair);
    const opts = { DPoP, [oauth.allowInsecureRequests]: true };
    const granted = await oauth.processGenericTokenEndpointResponse(
      as,
      client,
      await oauth.genericTokenEndpointRequest(
        as,
        client,
        oauth.None(),
        'password',
        new URLSearchParams({ username: 'alice', password: PASSWORD }),
        opts,
      ),
    );
    assert.equal(granted.token_type, 'dpop');
    const me = await oauth.protectedResourceRequest(
      granted.access_token,
      'GET',
      new URL(`${base}/me`),
      new Headers(),
      null,
      opts,
    );
    assert.equal(me.status, 200);
    assert.equal(((await me.json()) as { sub: string }).sub.length > 0, true);
    const refreshed = await oauth.processRefreshTokenResponse(
      as,
      client,
      await oauth.refreshTokenGrantRequest(as, client, oauth.None(), granted.refresh_token as string, opts),
    );
    assert.equal(refreshed.token_type, 'dpop');
    const again = await oauth.protectedResourceRequest(
      refreshed.access_token,
      'GET',
      new URL(`${base}/me`),
      new Headers(),
      null,
      opts,
    );
    assert.equal(again.status, 200);
  });
});

/**
 * openid-client 6 with a DPoP handle against the server at `base`: a password grant, `/me`, a
 * refresh and `/me` again, every token DPoP-bound and every request answered.
 */
async function openidClientDpopRoundTrip(base: string, alg: 'ES256' | 'EdDSA'): Promise<void> {
  const config = await oidc.discovery(new URL(base), 'tessera', undefined, oidc.None(), {
    algorithm: 'oauth2',
    execute: [oidc.allowInsecureRequests],
  });
  const DPoP = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair(alg));
  const me = (token: string) =>
    oidc.fetchProtectedResource(config, token, new URL(`${base}/me`), 'GET', undefined, undefined, { DPoP });
  const granted = await oidc.genericGrantRequest(config, 'password', { username: 'alice', password: PASSWORD }, { DPoP });
  assert.equal(granted.token_type, 'dpop');
  assert.equal((await me(granted.access_token)).status, 200);
  const refreshed = await oidc.refreshTokenGrant(config, granted.refresh_token as string, undefined, { DPoP });
  assert.equal(refreshed.token_type, 'dpop');
  assert.equal((await me(refreshed.access_token)).status, 200);
}

describe('openid-client 6 getDPoPHandle', () => {
  test('token, refresh and fetchProtectedResource, all DPoP-bound', async () => {
    h.clock.now = Date.now();
    await openidClientDpopRoundTrip(base, 'ES256');
  });
});

describe('openid-client 6: dpop_jkt in buildAuthorizationUrl (RFC 9449 §10)', () => {
  const CB = 'https://app.example/cb';
  let code: Harness;
  let codeBase = '';
  before(async () => {
    code = await setup({ dpop: true, authorize: true, app: { issuer: () => codeBase } });
    await code.app.listen({ port: 0, host: '127.0.0.1' });
    codeBase = `http://127.0.0.1:${(code.app.server.address() as AddressInfo).port}`;
    await code.clients.add('spa', { redirectUris: [CB], grantTypes: ['authorization_code', 'refresh_token'] });
  });
  after(() => code.close());

  /** The browser's part: the login page, the consent page, and the redirect to the client with the code. */
  async function signIn(url: URL): Promise<URL> {
    const jar = new Jar();
    const page = await fetch(url);
    jar.take(page.headers.getSetCookie());
    const post = async (html: string, fields: Record<string, string>) => {
      const res = await fetch(`${codeBase}/authorize`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...jar.header() },
        body: new URLSearchParams({ ...hiddenFields(html), ...fields }),
      });
      jar.take(res.headers.getSetCookie());
      return res;
    };
    const login = await post(await page.text(), { username: 'alice', password: PASSWORD });
    // The consent page the first time; remembered afterwards.
    const done = login.status === 200 ? await post(await login.text(), { decision: 'approve' }) : login;
    assert.equal(done.status, 303, await done.text());
    return new URL(done.headers.get('location') ?? '');
  }

  test("the code is bound to the handle's key: its proof redeems it; another key's is invalid_grant", async () => {
    code.clock.now = Date.now();
    const config = await oidc.discovery(new URL(codeBase), 'spa', undefined, oidc.None(), {
      algorithm: 'oauth2',
      execute: [oidc.allowInsecureRequests],
    });
    for (const sameKey of [false, true]) {
      const DPoP = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
      const pkceCodeVerifier = oidc.randomPKCECodeVerifier();
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: CB,
        code_challenge: await oidc.calculatePKCECodeChallenge(pkceCodeVerifier),
        code_challenge_method: 'S256',
        dpop_jkt: await DPoP.calculateThumbprint(),
      });
      const callback = await signIn(url);
      const redeemer = sameKey ? DPoP : oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
      const exchange = oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier }, undefined, { DPoP: redeemer });
      if (sameKey) {
        const tokens = await exchange;
        assert.equal(tokens.token_type, 'dpop');
        const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token as string, undefined, { DPoP });
        assert.equal(refreshed.token_type, 'dpop');
      } else {
        await assert.rejects(exchange, (e: unknown) => (e as { error?: string }).error === 'invalid_grant');
      }
    }
  });
});

describe('openid-client 6 with server nonces (RFC 9449 §8)', () => {
  let n: Harness;
  let nbase = '';
  before(async () => {
    n = await setup({ dpop: { nonce: { key: Buffer.alloc(32, 5) } }, app: { issuer: () => nbase } });
    n.clock.now = Date.now();
    await n.app.listen({ port: 0, host: '127.0.0.1' });
    nbase = `http://127.0.0.1:${(n.app.server.address() as AddressInfo).port}`;
  });
  after(() => n.close());

  test('the client retries once with the DPoP-Nonce it was given, at the token endpoint and at the resource', async () => {
    n.clock.now = Date.now();
    await openidClientDpopRoundTrip(nbase, 'EdDSA');
  });
});

describe('a real tessera serve with TESSERA_DPOP_NONCE=1 and a client registered --dpop', () => {
  const SUITE: Suite = { rateLimit: 0, clockFile: false, dropNodeOptions: false, timeoutMs: 30_000 };
  let srv: ServerProcess;
  before(async () => {
    // Empty TESSERA_ISSUER: the URL listened on, which discovery checks (RFC 8414 §3.3).
    const env = serverEnv(SUITE, { TESSERA_SCHEME: 'jwt', TESSERA_ISSUER: '', TESSERA_DPOP_NONCE: '1' });
    const user = await runCli(SUITE, ['user', 'add', 'alice'], env, PASSWORD);
    assert.equal(user.code, 0, user.stderr);
    const client = await runCli(SUITE, ['client', 'add', 'spa', '--dpop'], env);
    assert.equal(client.code, 0, client.stderr);
    srv = await startServer(SUITE, env);
  });
  after(() => srv?.stop());

  test('openid-client: the nonce round trip, token, refresh and a protected resource; the client cannot do without DPoP', async () => {
    const config = await oidc.discovery(new URL(srv.url), 'spa', undefined, oidc.None(), {
      algorithm: 'oauth2',
      execute: [oidc.allowInsecureRequests],
    });
    await assert.rejects(
      oidc.genericGrantRequest(config, 'password', { username: 'alice', password: PASSWORD }),
      (e: unknown) => (e as { error?: string }).error === 'invalid_dpop_proof',
    );
    const DPoP = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair('ES256'));
    const granted = await oidc.genericGrantRequest(config, 'password', { username: 'alice', password: PASSWORD }, { DPoP });
    assert.equal(granted.token_type, 'dpop');
    const me = await oidc.fetchProtectedResource(
      config,
      granted.access_token,
      new URL(`${srv.url}/me`),
      'GET',
      undefined,
      undefined,
      {
        DPoP,
      },
    );
    assert.equal(me.status, 200);
    const refreshed = await oidc.refreshTokenGrant(config, granted.refresh_token as string, undefined, { DPoP });
    assert.equal(refreshed.token_type, 'dpop');
    const asBearer = await fetch(`${srv.url}/me`, { headers: { authorization: `Bearer ${refreshed.access_token}` } });
    assert.equal(asBearer.status, 401);
  });

  test('oauth4webapi: use_dpop_nonce is answered, the retry with the nonce succeeds', async () => {
    const issuer = new URL(srv.url);
    const as = await oauth.processDiscoveryResponse(
      issuer,
      await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', [oauth.allowInsecureRequests]: true }),
    );
    const client: oauth.Client = { client_id: 'spa' };
    const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('EdDSA'));
    const opts = { DPoP, [oauth.allowInsecureRequests]: true };
    const request = () =>
      oauth.genericTokenEndpointRequest(
        as,
        client,
        oauth.None(),
        'password',
        new URLSearchParams({ username: 'alice', password: PASSWORD }),
        opts,
      );
    let granted: oauth.TokenEndpointResponse;
    try {
      granted = await oauth.processGenericTokenEndpointResponse(as, client, await request());
      assert.fail('the first proof has no nonce');
    } catch (e) {
      assert.ok(oauth.isDPoPNonceError(e), String(e));
      granted = await oauth.processGenericTokenEndpointResponse(as, client, await request());
    }
    assert.equal(granted.token_type, 'dpop');
    const me = await oauth.protectedResourceRequest(
      granted.access_token,
      'GET',
      new URL(`${srv.url}/me`),
      new Headers(),
      null,
      opts,
    );
    assert.equal(me.status, 200);
  });
});
