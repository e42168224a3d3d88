/**
 * The authorization code flow with PKCE (RFC 6749 §4.1, RFC 7636, RFC 9207) from the
 * outside: a real `tessera serve` on SQLite, clients registered with `tessera client add`,
 * the hosted login and consent pages in a real Chromium (playwright-core), and three
 * OAuth clients nobody here wrote (openid-client 6, oauth4webapi 3, Python's authlib)
 * exchanging the codes. Written against DESIGN "Contracts for the third round"
 * ("Clients, grown", "Authorization code + PKCE").
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as oauth from 'oauth4webapi';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from '../support/chromium.js';
import { ROOT } from '../support/processes.js';
import {
  type CodeFlowServer,
  endpoints,
  metadata,
  PASSWORD,
  randomState,
  skipBrowser,
  startCodeFlowServer,
  tokenRequest,
} from './code-flow.js';

const PYTHON = process.env.TESSERA_TEST_PYTHON ?? '/usr/bin/python3';
const hasAuthlib =
  existsSync(PYTHON) &&
  spawnSync(PYTHON, ['-c', 'import authlib.integrations.requests_client, requests'], { stdio: 'ignore' }).status === 0;
const skipAuthlib = !hasAuthlib && process.env.CI !== 'true' ? `needs ${PYTHON} with python3-authlib` : false;
const AXE = join(ROOT, 'node_modules', 'axe-core', 'axe.min.js');

describe('authorization code + PKCE in Chromium, with openid-client, oauth4webapi and authlib', { skip: skipBrowser }, () => {
  let s: CodeFlowServer;
  let browser: Browser;
  let ep: Awaited<ReturnType<typeof endpoints>> | undefined;
  /** alice's `sub`, as the first client saw it. */
  let aliceSub: string | undefined;

  before(async () => {
    s = await startCodeFlowServer(
      ['alice', 'bob', 'carol'],
      [
        { id: 'web', flags: ['--confidential', '--first-party', '--redirect-uri', '{cb}/cb'] },
        { id: 'spa', flags: ['--first-party', '--redirect-uri', '{cb}/spa-cb'] },
        { id: 'third', flags: ['--redirect-uri', '{cb}/third-cb'] },
        { id: 'py', flags: ['--confidential', '--first-party', '--redirect-uri', '{cb}/py-cb'] },
        { id: 'reports', flags: ['--confidential', '--grant', 'client_credentials', '--scope', 'reports:read'] },
        { id: 'rs', flags: ['--confidential', '--introspect'] },
      ],
      ['/cb', '/spa-cb', '/third-cb', '/py-cb'],
    );
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await s?.stop();
  });

  const secret = (id: string) => s.clients[id]?.client_secret as string;

  async function newContext(options: { bypassCSP?: boolean; javaScriptEnabled?: boolean } = {}): Promise<BrowserContext> {
    const ctx = await browser.newContext(options);
    ctx.setDefaultTimeout(10_000);
    return ctx;
  }

  /**
   * Opens `url` in a new tab of `ctx`; signs in as alice when `login` (the form must be
   * shown), clicks the consent decision when `consent` (the page must be shown); resolves
   * with the URL the browser was redirected to at the client.
   */
  async function drive(
    ctx: BrowserContext,
    url: string,
    steps: { login?: boolean; consent?: 'approve' | 'deny'; onPage?: (page: Page) => void } = {},
  ): Promise<URL> {
    const page = await ctx.newPage();
    steps.onPage?.(page);
    const hit = s.cb.next(10_000);
    hit.catch(() => undefined);
    try {
      await page.goto(url);
      if (steps.login) {
        // The contract's login form: username, password and one submit button.
        const form = page.locator('form:has(input[name=password])');
        assert.equal(await form.locator('input[name=username]').count(), 1);
        assert.equal(await form.locator('button[type=submit]').count(), 1);
        await page.fill('input[name=username]', 'alice');
        await page.fill('input[name=password]', PASSWORD);
        await page.click('button[type=submit]');
      }
      if (steps.consent) await page.click(`button[name=decision][value=${steps.consent}]`);
      return await hit;
    } catch (e) {
      const body = await page
        .textContent('body')
        .then((t) => (t ?? '').replace(/\s+/g, ' ').slice(0, 400))
        .catch(() => '');
      throw new Error(`${(e as Error).message}\n  page: ${page.url()}\n  text: ${body}`);
    } finally {
      await page.close();
    }
  }

  /** A PKCE S256 authorization request URL for `client` (RFC 7636 §4.3). */
  async function request(client: string, path: string, extra: Record<string, string> = {}) {
    ep ??= await endpoints(s.issuer);
    const verifier = oidc.randomPKCECodeVerifier();
    const state = randomState();
    const u = new URL(ep.authorize);
    const params = {
      response_type: 'code',
      client_id: client,
      redirect_uri: s.redirect(path),
      scope: 'api',
      state,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      ...extra,
    };
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    return { url: u.href, verifier, state, redirectUri: params.redirect_uri };
  }

  /** A successful authorization response: code, the state sent, and iss = the issuer (RFC 9207 §2). */
  function assertCode(cb: URL, state: string, path: string): string {
    assert.equal(`${cb.origin}${cb.pathname}`, s.redirect(path), 'redirected to the registered URI');
    assert.equal(cb.searchParams.get('error'), null, `no error: ${cb.href}`);
    assert.equal(cb.searchParams.get('state'), state);
    assert.equal(cb.searchParams.get('iss'), s.issuer, 'RFC 9207: iss is the issuer');
    const code = cb.searchParams.get('code');
    assert.ok(code, 'a code');
    return code;
  }

  /** Exchanges a code of a public client: client_id, no client authentication (RFC 6749 §4.1.3). */
  async function exchangePublic(client: string, code: string, redirectUri: string, verifier: string) {
    ep ??= await endpoints(s.issuer);
    return tokenRequest(ep.token, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
      code_verifier: verifier,
      client_id: client,
    });
  }

  test('tessera client add prints the fields of the contract, with the default grants', async () => {
    const { web, spa, third, reports } = s.clients as Record<string, NonNullable<(typeof s.clients)[string]>>;
    assert.ok(web && spa && third && reports);
    assert.deepEqual(
      { ...web, client_secret: typeof web.client_secret },
      {
        client_id: 'web',
        client_type: 'confidential',
        client_secret: 'string',
        redirect_uris: [s.redirect('/cb')],
        grant_types: ['authorization_code', 'refresh_token'],
        scope: '',
        first_party: true,
        dpop_bound_access_tokens: false,
      },
    );
    assert.equal(spa.client_type, 'public');
    assert.equal('client_secret' in spa, false, 'no secret for a public client');
    assert.equal(third.first_party, false, 'without --first-party: third-party');
    assert.deepEqual(reports.grant_types, ['client_credentials']);
    assert.deepEqual(s.clients.rs?.grant_types, ['password', 'refresh_token'], 'no redirect URI: password and refresh_token');
    assert.deepEqual(s.clients.rs?.redirect_uris, []);
    assert.equal(reports.scope, 'reports:read');
  });

  test('metadata (RFC 8414) names the authorization endpoint, response type code, S256 and the iss parameter (RFC 9207 §3)', async () => {
    const meta = await metadata(s.issuer);
    assert.equal(meta.issuer, s.issuer);
    assert.equal(meta.authorization_endpoint, `${s.issuer}/authorize`);
    assert.deepEqual(meta.response_types_supported, ['code']);
    assert.deepEqual(meta.code_challenge_methods_supported, ['S256']);
    assert.equal(meta.authorization_response_iss_parameter_supported, true);
    for (const g of ['authorization_code', 'refresh_token', 'client_credentials']) {
      assert.ok((meta.grant_types_supported as string[]).includes(g), `grant_types_supported has ${g}`);
    }
  });

  test('openid-client 6, confidential first-party client: login page, code with state and iss, code grant, refresh, /me', async () => {
    const config = await oidc.discovery(new URL(s.issuer), 'web', secret('web'), oidc.ClientSecretBasic(secret('web')), {
      algorithm: 'oauth2',
      execute: [oidc.allowInsecureRequests],
    });
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: s.redirect('/cb'),
      scope: 'api',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
    });
    const ctx = await newContext();
    const cspViolations: string[] = [];
    try {
      const cb = await drive(ctx, url.href, {
        login: true,
        onPage: (page) =>
          page.on('console', (m) => {
            if (/Content Security Policy|Refused to/i.test(m.text())) cspViolations.push(m.text());
          }),
      });
      assertCode(cb, state, '/cb');
      assert.deepEqual(cspViolations, [], 'the login page renders under its own Content-Security-Policy');

      // openid-client checks state and, as the issuer is known, iss (RFC 9207 §2.4).
      const tokens = await oidc.authorizationCodeGrant(config, cb, { pkceCodeVerifier: verifier, expectedState: state });
      assert.equal(tokens.token_type.toLowerCase(), 'bearer');
      assert.ok(tokens.refresh_token, 'a refresh token');
      const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token as string);
      assert.notEqual(refreshed.refresh_token, tokens.refresh_token, 'the refresh token rotates');

      const me = await oidc.fetchProtectedResource(config, refreshed.access_token, new URL(`${s.issuer}/me`), 'GET');
      assert.equal(me.status, 200);
      const who = (await me.json()) as Record<string, unknown>;
      assert.equal(who.preferred_username, 'alice');
      assert.match(String(who.sub), /^u_/);
      assert.equal(who.client_id, 'web');
      aliceSub = who.sub as string;
    } finally {
      await ctx.close();
    }
  });

  test('oauth4webapi 3, public first-party client (no client authentication): code grant with PKCE, refresh, protected resource', async () => {
    const insecure = { [oauth.allowInsecureRequests]: true } as const;
    const issuer = new URL(s.issuer);
    const as = await oauth.processDiscoveryResponse(
      issuer,
      await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }),
    );
    const client: oauth.Client = { client_id: 'spa', token_endpoint_auth_method: 'none' };
    const auth = oauth.None();
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const url = new URL(as.authorization_endpoint as string);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: 'spa',
      redirect_uri: s.redirect('/spa-cb'),
      scope: 'api',
      state,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    }).toString();

    const ctx = await newContext();
    try {
      const cb = await drive(ctx, url.href, { login: true });
      assertCode(cb, state, '/spa-cb');
      const params = oauth.validateAuthResponse(as, client, cb, state);
      const res = await oauth.authorizationCodeGrantRequest(as, client, auth, params, s.redirect('/spa-cb'), verifier, insecure);
      const tokens = await oauth.processAuthorizationCodeResponse(as, client, res);
      assert.equal(tokens.token_type, 'bearer');
      assert.ok(tokens.refresh_token);

      const r = await oauth.processRefreshTokenResponse(
        as,
        client,
        await oauth.refreshTokenGrantRequest(as, client, auth, tokens.refresh_token as string, insecure),
      );
      assert.notEqual(r.refresh_token, tokens.refresh_token);

      const me = await oauth.protectedResourceRequest(
        r.access_token,
        'GET',
        new URL(`${s.issuer}/me`),
        undefined,
        undefined,
        insecure,
      );
      assert.equal(me.status, 200);
      const who = (await me.json()) as Record<string, unknown>;
      assert.equal(who.preferred_username, 'alice');
      assert.equal(who.client_id, 'spa');
      if (aliceSub) assert.equal(who.sub, aliceSub, 'the same user, the same sub');
    } finally {
      await ctx.close();
    }
  });

  test('authlib (Python), confidential client: create_authorization_url, fetch_token with the callback URL, refresh, /me', {
    skip: skipAuthlib,
  }, async () => {
    const script = join(ROOT, 'test', 'e2e', 'authlib_code_flow.py');
    const base = { issuer: s.issuer, client_id: 'py', client_secret: secret('py'), redirect_uri: s.redirect('/py-cb') };
    // Asynchronous: the event loop keeps serving the callback server while Python runs.
    const py = (mode: string, input: Record<string, unknown>) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const child = spawn(PYTHON, [script, mode], { env: { ...process.env, AUTHLIB_INSECURE_TRANSPORT: '1' } });
        let out = '';
        let err = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (err += d));
        child.on('error', reject);
        child.on('exit', (code) => {
          if (code !== 0) reject(new Error(`authlib_code_flow.py ${mode} exited ${code}: ${err}`));
          else resolve(JSON.parse(out) as Record<string, unknown>);
        });
        child.stdin.end(JSON.stringify(input));
      });
    const start = (await py('authorize', base)) as { url: string; state: string; code_verifier: string };
    const sent = new URL(start.url);
    assert.equal(sent.searchParams.get('code_challenge_method'), 'S256');
    assert.equal(`${sent.origin}${sent.pathname}`, (await metadata(s.issuer)).authorization_endpoint);

    const ctx = await newContext();
    try {
      const cb = await drive(ctx, start.url, { login: true });
      assertCode(cb, start.state, '/py-cb');
      const out = await py('token', { ...base, callback: cb.href, state: start.state, code_verifier: start.code_verifier });
      assert.deepEqual(out, {
        token_type: 'Bearer',
        has_access_token: true,
        has_refresh_token: true,
        scope: 'api',
        rotated: true,
        me_status: 200,
        sub: aliceSub ?? out.sub,
        preferred_username: 'alice',
        client_id: 'py',
      });
    } finally {
      await ctx.close();
    }
  });

  test('a second authorization in the same browser skips the password; prompt=login asks again; prompt=none answers with a code', async () => {
    const ctx = await newContext();
    try {
      const first = await request('web', '/cb');
      assertCode(await drive(ctx, first.url, { login: true }), first.state, '/cb');

      // The browser session: straight back to the client with a code, no form.
      const second = await request('web', '/cb');
      const code = assertCode(await drive(ctx, second.url), second.state, '/cb');
      const t = await tokenRequest(
        (ep ??= await endpoints(s.issuer)).token,
        { grant_type: 'authorization_code', code, redirect_uri: second.redirectUri, code_verifier: second.verifier },
        { id: 'web', secret: secret('web') },
      );
      assert.equal(t.status, 200, JSON.stringify(t.json));

      // Another first-party client in the same browser: the session is the user's, not the client's.
      const spa = await request('spa', '/spa-cb');
      assertCode(await drive(ctx, spa.url), spa.state, '/spa-cb');

      // OpenID Connect Core §3.1.2.1 prompt=login: the form again, even with a session.
      const again = await request('web', '/cb', { prompt: 'login' });
      assertCode(await drive(ctx, again.url, { login: true }), again.state, '/cb');

      const silent = await request('web', '/cb', { prompt: 'none' });
      assertCode(await drive(ctx, silent.url), silent.state, '/cb');
    } finally {
      await ctx.close();
    }
  });

  test('the hosted pages work without JavaScript, submitted from the keyboard (Enter in the password field)', async () => {
    const ctx = await newContext({ javaScriptEnabled: false });
    try {
      const r = await request('third', '/third-cb');
      // carol has not consented to third: login, then the consent page, both plain HTML forms.
      const page = await ctx.newPage();
      const hit = s.cb.next(10_000);
      hit.catch(() => undefined);
      await page.goto(r.url);
      await page.fill('input[name=username]', 'carol');
      await page.fill('input[name=password]', PASSWORD);
      await page.press('input[name=password]', 'Enter');
      await page.focus('button[name=decision][value=approve]');
      await page.keyboard.press('Enter');
      const code = assertCode(await hit, r.state, '/third-cb');
      const t = await exchangePublic('third', code, r.redirectUri, r.verifier);
      assert.equal(t.status, 200, JSON.stringify(t.json));
    } finally {
      await ctx.close();
    }
  });

  test('prompt=none without a browser session redirects with error=login_required, state and iss', async () => {
    const ctx = await newContext();
    try {
      const r = await request('web', '/cb', { prompt: 'none' });
      const cb = await drive(ctx, r.url);
      assert.equal(`${cb.origin}${cb.pathname}`, s.redirect('/cb'));
      assert.equal(cb.searchParams.get('error'), 'login_required');
      assert.equal(cb.searchParams.get('state'), r.state);
      assert.equal(cb.searchParams.get('iss'), s.issuer);
      assert.equal(cb.searchParams.get('code'), null);
    } finally {
      await ctx.close();
    }
  });

  test('a third-party client gets the consent page: deny gives access_denied, approve a code, and the next authorization skips it', async () => {
    const ctx = await newContext();
    try {
      const denied = await request('third', '/third-cb');
      const cb1 = await drive(ctx, denied.url, { login: true, consent: 'deny' });
      assert.equal(cb1.searchParams.get('error'), 'access_denied');
      assert.equal(cb1.searchParams.get('state'), denied.state);
      assert.equal(cb1.searchParams.get('iss'), s.issuer);
      assert.equal(cb1.searchParams.get('code'), null);

      // Signed in by now: the consent page again (a denial is not remembered as consent).
      const approved = await request('third', '/third-cb');
      const code = assertCode(await drive(ctx, approved.url, { consent: 'approve' }), approved.state, '/third-cb');
      const t = await exchangePublic('third', code, approved.redirectUri, approved.verifier);
      assert.equal(t.status, 200, JSON.stringify(t.json));
      assert.ok(t.json.access_token);

      // Consent given once: no page the next time.
      const later = await request('third', '/third-cb');
      const code2 = assertCode(await drive(ctx, later.url), later.state, '/third-cb');
      const t2 = await exchangePublic('third', code2, later.redirectUri, later.verifier);
      assert.equal(t2.status, 200, JSON.stringify(t2.json));
    } finally {
      await ctx.close();
    }
  });

  test('the login, consent and error pages have no axe-core violation', async () => {
    const ctx = await newContext({ bypassCSP: true });
    const page = await ctx.newPage();
    const audit = async (what: string) => {
      await page.addScriptTag({ path: AXE });
      const violations = await page.evaluate(async () => {
        // biome-ignore lint/suspicious/noExplicitAny: axe is injected into the page
        const axe = (globalThis as any).axe;
        const result = await axe.run(document, { resultTypes: ['violations'] });
        return (result.violations as { id: string; impact: string; nodes: { target: string[] }[] }[]).map((v) => ({
          id: v.id,
          impact: v.impact,
          targets: v.nodes.map((n) => n.target.join(' ')),
        }));
      });
      assert.deepEqual(violations, [], `${what}: ${JSON.stringify(violations, null, 2)}`);
    };
    try {
      const r = await request('third', '/third-cb');
      await page.goto(r.url);
      await page.waitForSelector('input[name=password]');
      await audit('login page');

      // bob has consented to nothing yet (alice has, to third, above).
      await page.fill('input[name=username]', 'bob');
      await page.fill('input[name=password]', PASSWORD);
      await page.click('button[type=submit]');
      await page.waitForSelector('button[name=decision][value=approve]');
      await audit('consent page');

      const bad = await request('web', '/not-registered');
      const res = await page.goto(bad.url);
      assert.equal(res?.status(), 400);
      await audit('error page');
    } finally {
      await ctx.close();
    }
  });

  test('client_credentials (openid-client): an access token whose sub is the client id, and no refresh token', async () => {
    const config = await oidc.discovery(
      new URL(s.issuer),
      'reports',
      secret('reports'),
      oidc.ClientSecretBasic(secret('reports')),
      { algorithm: 'oauth2', execute: [oidc.allowInsecureRequests] },
    );
    const t = await oidc.clientCredentialsGrant(config, { scope: 'reports:read' });
    assert.equal(t.token_type.toLowerCase(), 'bearer');
    assert.ok(t.access_token);
    assert.equal(t.refresh_token, undefined, 'RFC 6749 §4.4.3: no refresh token');
    assert.equal(t.scope, 'reports:read');

    const rs = await oidc.discovery(new URL(s.issuer), 'rs', secret('rs'), oidc.ClientSecretBasic(secret('rs')), {
      algorithm: 'oauth2',
      execute: [oidc.allowInsecureRequests],
    });
    const i = await oidc.tokenIntrospection(rs, t.access_token);
    assert.equal(i.active, true);
    assert.equal(i.sub, 'reports');
    assert.equal(i.client_id, 'reports');
    assert.equal(i.scope, 'reports:read');
  });
});
