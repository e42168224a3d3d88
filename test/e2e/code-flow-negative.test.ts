/**
 * What the authorization endpoint and the code grant must refuse, from the outside: a
 * real `tessera serve` on SQLite, clients registered with `tessera client add`, the hosted
 * pages driven with fetch (`redirect: 'manual'`, cookies kept) as a browser would.
 * RFC 6749 §4.1.2.1 (errors at the authorization endpoint), §4.1.3 and §5.2 (the token
 * request), §10.6 and RFC 9700 §4.1 (redirect URIs, open redirectors), RFC 7636 §4.4-4.6
 * (PKCE), RFC 9207 (iss); DESIGN "Contracts for the third round".
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { call, runCli } from '../support/processes.js';
import {
  Agent,
  authorizeUrl,
  type CodeFlowServer,
  consentForm,
  csrfField,
  endpoints,
  isLoginPage,
  loginForm,
  PASSWORD,
  pkce,
  randomState,
  type Step,
  startCodeFlowServer,
  tokenRequest,
} from './code-flow.js';
import { E2E } from './helpers.js';

describe('authorization code + PKCE from the outside: what is refused, and the rules of the requests', () => {
  let s: CodeFlowServer;
  let ep: Awaited<ReturnType<typeof endpoints>>;
  /** A browser signed in as alice (one login, reused where a test needs a session). */
  let alice: Agent;

  before(async () => {
    s = await startCodeFlowServer(
      ['alice', 'carol'],
      [
        { id: 'web', flags: ['--confidential', '--first-party', '--redirect-uri', '{cb}/cb'] },
        { id: 'other', flags: ['--confidential', '--first-party', '--redirect-uri', '{cb}/other-cb'] },
        { id: 'spa', flags: ['--first-party', '--redirect-uri', '{cb}/spa-cb'] },
        { id: 'third', flags: ['--redirect-uri', '{cb}/third-cb'] },
        { id: 'q', flags: ['--confidential', '--first-party', '--redirect-uri', '{cb}/q-cb?tenant=a'] },
        {
          id: 'machine',
          flags: ['--confidential', '--first-party', '--grant', 'client_credentials', '--redirect-uri', '{cb}/machine-cb'],
        },
      ],
      ['/cb', '/other-cb', '/spa-cb', '/third-cb', '/q-cb', '/machine-cb'],
    );
    ep = await endpoints(s.issuer);
    alice = new Agent(new URL(s.issuer).origin);
  });
  after(() => s?.stop());

  const secret = (id: string) => s.clients[id]?.client_secret as string;
  const cred = (id: string) => ({ id, secret: secret(id) });

  /** A valid PKCE S256 authorization request for `client`, with `changes` applied (undefined: left out). */
  function request(client: string, path: string, changes: Record<string, string | undefined> = {}) {
    const { verifier, challenge } = pkce();
    const state = randomState();
    const params: Record<string, string | undefined> = {
      response_type: 'code',
      client_id: client,
      redirect_uri: s.redirect(path),
      scope: 'api',
      state,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      ...changes,
    };
    const defined = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined)) as Record<string, string>;
    return { url: authorizeUrl(ep.authorize, defined), verifier, state, redirectUri: defined.redirect_uri as string };
  }

  /** A code for `client` issued to alice's browser session (signing in on the first use). */
  async function codeFor(client: string, path: string) {
    const r = request(client, path);
    const cb = await alice.authorize(r.url);
    assert.equal(cb.searchParams.get('error'), null, cb.href);
    assert.equal(cb.searchParams.get('state'), r.state);
    return { ...r, code: cb.searchParams.get('code') as string };
  }

  const exchange = (
    c: { code: string; redirectUri: string; verifier: string },
    client: { id: string; secret?: string },
    changes: Record<string, string | undefined> = {},
  ) => {
    const params: Record<string, string | undefined> = {
      grant_type: 'authorization_code',
      code: c.code,
      redirect_uri: c.redirectUri,
      code_verifier: c.verifier,
      ...(client.secret === undefined ? { client_id: client.id } : {}),
      ...changes,
    };
    const defined = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined)) as Record<string, string>;
    return tokenRequest(ep.token, defined, client.secret === undefined ? undefined : (client as { id: string; secret: string }));
  };

  /** RFC 6749 §4.1.2.1: the redirect URI or client is bad, so the user agent is not redirected. */
  function assertErrorPage(res: Step, what: string): void {
    assert.equal(res.status, 400, `${what}: status`);
    assert.equal(res.location, null, `${what}: no Location header`);
    assert.match(res.contentType, /^text\/html/, `${what}: an HTML page`);
  }

  /** RFC 6749 §4.1.2.1 + RFC 9207 §2: an error sent back to the registered URI with state and iss. */
  function assertErrorRedirect(res: Step, path: string, state: string, error: string): void {
    assert.ok(res.status === 302 || res.status === 303, `a redirect, got ${res.status}: ${res.text.slice(0, 200)}`);
    const to = new URL(res.location as string, res.url);
    assert.equal(`${to.origin}${to.pathname}`, s.redirect(path));
    assert.equal(to.searchParams.get('error'), error, to.href);
    assert.equal(to.searchParams.get('state'), state);
    assert.equal(to.searchParams.get('iss'), s.issuer);
    assert.equal(to.searchParams.get('code'), null);
  }

  test('a redirect URI differing by one character from the registered one gets an HTML error page (400), never a redirect', async () => {
    const registered = s.redirect('/cb');
    const variants = [
      s.redirect('/cc'),
      s.redirect('/cb/'),
      s.redirect('/CB'),
      s.redirect('/cb?'),
      s.redirect('/cbx'),
      registered.replace('127.0.0.1', '127.0.0.2'),
      registered.replace('http:', 'https:'),
    ];
    // A signed-in browser is not redirected either.
    await codeFor('web', '/cb');
    for (const uri of variants) {
      const r = request('web', '/cb', { redirect_uri: uri });
      assertErrorPage(await new Agent(alice.origin).get(r.url), `${uri} (no session)`);
      assertErrorPage(await alice.get(r.url), `${uri} (signed in)`);
    }
  });

  test('an unknown client gets an HTML error page (400), never a redirect', async () => {
    for (const client of ['nobody', '']) {
      const r = request(client, '/cb');
      assertErrorPage(await new Agent(alice.origin).get(r.url), `client "${client}"`);
      assertErrorPage(await alice.get(r.url), `client "${client}", signed in`);
    }
    const noClient = request('web', '/cb', { client_id: undefined });
    assertErrorPage(await alice.get(noClient.url), 'no client_id');
  });

  test('an unregistered redirect URI is never redirected to (no Location), whatever else is wrong', async () => {
    await codeFor('web', '/cb');
    const evil = 'https://evil.example/cb';
    const cases: [string, string, Record<string, string | undefined>][] = [
      ['registered client', 'web', { redirect_uri: evil }],
      ['unknown client', 'nobody', { redirect_uri: evil }],
      ['no client_id', 'web', { client_id: undefined, redirect_uri: evil }],
      ['missing code_challenge', 'web', { redirect_uri: evil, code_challenge: undefined }],
      ['unsupported response_type', 'web', { redirect_uri: evil, response_type: 'token' }],
      ['prompt=none', 'web', { redirect_uri: evil, prompt: 'none' }],
      ["another client's URI", 'web', { redirect_uri: s.redirect('/other-cb') }],
    ];
    for (const [what, client, changes] of cases) {
      const r = request(client, '/cb', changes);
      for (const [who, agent] of [
        ['no session', new Agent(alice.origin)],
        ['signed in', alice],
      ] as const) {
        const res = await agent.get(r.url);
        assert.equal(res.location, null, `${what}, ${who}: no Location header (got ${res.location})`);
        assert.ok(res.status >= 400 && res.status < 500, `${what}, ${who}: status ${res.status}`);
      }
    }
  });

  test('a missing code_challenge is sent back to the client as invalid_request (RFC 7636 §4.4.1)', async () => {
    await codeFor('web', '/cb');
    const r = request('web', '/cb', { code_challenge: undefined, code_challenge_method: undefined });
    assertErrorRedirect(await alice.get(r.url), '/cb', r.state, 'invalid_request');
  });

  test('code_challenge_method=plain is sent back as invalid_request (S256 only)', async () => {
    await codeFor('web', '/cb');
    const r = request('web', '/cb', { code_challenge_method: 'plain' });
    assertErrorRedirect(await alice.get(r.url), '/cb', r.state, 'invalid_request');
  });

  test('a code_challenge without code_challenge_method (plain, RFC 7636 §4.3) is sent back as invalid_request', async () => {
    await codeFor('web', '/cb');
    const r = request('web', '/cb', { code_challenge_method: undefined });
    assertErrorRedirect(await alice.get(r.url), '/cb', r.state, 'invalid_request');
  });

  test('a response_type other than code is sent back as unsupported_response_type (RFC 6749 §4.1.2.1)', async () => {
    await codeFor('web', '/cb');
    const r = request('web', '/cb', { response_type: 'token' });
    assertErrorRedirect(await alice.get(r.url), '/cb', r.state, 'unsupported_response_type');
  });

  /**
   * A token request without code_verifier: RFC 6749 §5.2 names invalid_request for a missing
   * parameter, RFC 7636 §4.6 invalid_grant for a verifier that does not match; either way no
   * token, and the code stays useless without its verifier.
   */
  function assertMissingVerifierRefused(res: { status: number; json: { error?: string } }): void {
    assert.equal(res.status, 400, JSON.stringify(res.json));
    assert.ok(['invalid_request', 'invalid_grant'].includes(res.json.error as string), JSON.stringify(res.json));
  }

  test('the token request without code_verifier is refused with 400 (invalid_request or invalid_grant), no token', async () => {
    const c = await codeFor('web', '/cb');
    assertMissingVerifierRefused(await exchange(c, cred('web'), { code_verifier: undefined }));
  });

  test('a wrong code_verifier is refused with 400 invalid_grant (RFC 7636 §4.6)', async () => {
    const c = await codeFor('web', '/cb');
    const res = await exchange(c, cred('web'), { code_verifier: pkce().verifier });
    assert.equal(res.status, 400, JSON.stringify(res.json));
    assert.equal(res.json.error, 'invalid_grant');
  });

  test('a public client without code_verifier or with a wrong one is refused with 400, no token', async () => {
    const missing = await codeFor('spa', '/spa-cb');
    assertMissingVerifierRefused(await exchange(missing, { id: 'spa' }, { code_verifier: undefined }));
    const c = await codeFor('spa', '/spa-cb');
    const res = await exchange(c, { id: 'spa' }, { code_verifier: pkce().verifier });
    assert.equal(res.status, 400, JSON.stringify(res.json));
    assert.equal(res.json.error, 'invalid_grant');
  });

  test('a code_verifier of the wrong length or alphabet is refused (RFC 7636 §4.1: 43-128 unreserved characters)', async () => {
    const c = await codeFor('web', '/cb');
    for (const verifier of ['short', 'a'.repeat(129), `${c.verifier.slice(0, 42)} `]) {
      const res = await exchange(c, cred('web'), { code_verifier: verifier });
      assert.equal(res.status, 400, `${JSON.stringify(verifier)}: ${JSON.stringify(res.json)}`);
      assert.ok(['invalid_request', 'invalid_grant'].includes(res.json.error), JSON.stringify(res.json));
    }
  });

  test('a code used twice: the second exchange gets invalid_grant and the refresh token of the first is revoked (RFC 6749 §4.1.2)', async () => {
    const c = await codeFor('web', '/cb');
    const first = await exchange(c, cred('web'));
    assert.equal(first.status, 200, JSON.stringify(first.json));
    assert.ok(first.json.refresh_token);
    const second = await exchange(c, cred('web'));
    assert.equal(second.status, 400, JSON.stringify(second.json));
    assert.equal(second.json.error, 'invalid_grant');
    const refresh = await tokenRequest(
      ep.token,
      { grant_type: 'refresh_token', refresh_token: first.json.refresh_token },
      cred('web'),
    );
    assert.equal(refresh.status, 400, `the first exchange's refresh token still refreshes: ${JSON.stringify(refresh.json)}`);
    assert.equal(refresh.json.error, 'invalid_grant');
  });

  test('a code presented by another client is refused with invalid_grant (RFC 6749 §4.1.3)', async () => {
    const c = await codeFor('web', '/cb');
    const byOther = await exchange(c, cred('other'));
    assert.equal(byOther.status, 400, JSON.stringify(byOther.json));
    assert.equal(byOther.json.error, 'invalid_grant');
    const byPublic = await exchange(c, { id: 'spa' });
    assert.equal(byPublic.status, 400, JSON.stringify(byPublic.json));
    assert.equal(byPublic.json.error, 'invalid_grant');

    // A public client's code presented by a confidential one, with the code's own redirect_uri.
    const p = await codeFor('spa', '/spa-cb');
    const stolen = await exchange(p, cred('other'));
    assert.equal(stolen.status, 400, JSON.stringify(stolen.json));
    assert.equal(stolen.json.error, 'invalid_grant');
  });

  test('a code with another redirect_uri at the token endpoint is refused with invalid_grant (RFC 6749 §4.1.3)', async () => {
    const c = await codeFor('web', '/cb');
    for (const uri of [s.redirect('/other-cb'), undefined]) {
      const res = await exchange(c, cred('web'), { redirect_uri: uri });
      assert.equal(res.status, 400, `${uri}: ${JSON.stringify(res.json)}`);
      assert.ok(['invalid_grant', 'invalid_request'].includes(res.json.error), JSON.stringify(res.json));
    }
    const c2 = await codeFor('web', '/cb');
    const wrong = await exchange(c2, cred('web'), { redirect_uri: s.redirect('/other-cb') });
    assert.equal(wrong.json.error, 'invalid_grant');
  });

  test('a code lives 60 s: at 59 s it is exchanged, at 61 s it is refused with invalid_grant', async () => {
    const young = await codeFor('web', '/cb');
    const old = await codeFor('web', '/cb');
    try {
      s.srv.setClockOffset(59_000);
      const ok = await exchange(young, cred('web'));
      assert.equal(ok.status, 200, JSON.stringify(ok.json));
      s.srv.setClockOffset(61_000);
      const expired = await exchange(old, cred('web'));
      assert.equal(expired.status, 400, JSON.stringify(expired.json));
      assert.equal(expired.json.error, 'invalid_grant');
    } finally {
      s.srv.setClockOffset(0);
    }
  });

  /** The login page of a fresh browser for `client`, with the request it answers. */
  async function loginPage(client = 'web', path = '/cb') {
    const agent = new Agent(alice.origin);
    const r = request(client, path);
    const first = await agent.open(r.url);
    assert.ok(first.page && isLoginPage(first.page), `a login page, got ${first.page?.status ?? first.callback?.href}`);
    return { agent, r, page: first.page };
  }

  /** No session: the same browser is asked to sign in again, and prompt=none answers login_required. */
  async function assertNoSession(agent: Agent, client = 'web', path = '/cb'): Promise<void> {
    const again = await agent.open(request(client, path).url);
    assert.ok(again.page && isLoginPage(again.page), `still the login page, got ${again.callback?.href}`);
    const silent = request(client, path, { prompt: 'none' });
    const res = await agent.get(silent.url);
    assertErrorRedirect(res, path, silent.state, 'login_required');
  }

  test('a login POST without the CSRF token gets 403 and no session', async () => {
    const { agent, page } = await loginPage();
    const field = csrfField(loginForm(page));
    assert.ok(field, `the login form carries a CSRF field: ${JSON.stringify(loginForm(page).fields.map(([n]) => n))}`);
    const { res, callback } = await agent.submitLogin(page, 'alice', PASSWORD, (n) => n === field);
    assert.equal(res.status, 403, res.text.slice(0, 200));
    assert.equal(callback, undefined);
    await assertNoSession(agent);
  });

  test('a login POST with a wrong CSRF token gets 403 and no session', async () => {
    const { agent, page } = await loginPage();
    const form = loginForm(page);
    const field = csrfField(form);
    assert.ok(field, 'the login form carries a CSRF field');
    const original = form.fields.find(([n]) => n === field)?.[1] ?? '';
    const forged: [string, string][] = form.fields
      .filter(([n]) => n !== 'username' && n !== 'password')
      .map(([n, v]) => [
        n,
        n === field ? randomBytes(Math.max(16, Math.ceil((original.length * 3) / 4))).toString('base64url') : v,
      ]);
    const res = await agent.post(form.action, [...forged, ['username', 'alice'], ['password', PASSWORD]]);
    assert.equal(res.status, 403, res.text.slice(0, 200));
    assert.equal(res.location, null);
    await assertNoSession(agent);

    // Another browser's token is as wrong as a random one.
    const otherBrowser = await loginPage();
    const theirs = csrfField(loginForm(otherBrowser.page)) as string;
    const theirValue = loginForm(otherBrowser.page).fields.find(([n]) => n === theirs)?.[1] as string;
    const swapped = form.fields
      .filter(([n]) => n !== 'username' && n !== 'password')
      .map(([n, v]): [string, string] => [n, n === field ? theirValue : v]);
    const res2 = await agent.post(form.action, [...swapped, ['username', 'alice'], ['password', PASSWORD]]);
    assert.equal(res2.status, 403, res2.text.slice(0, 200));
    await assertNoSession(agent);
  });

  test('a consent POST without the CSRF token is refused: no code, and the consent page stays', async () => {
    const agent = new Agent(alice.origin);
    const r = request('third', '/third-cb');
    const first = await agent.open(r.url);
    assert.ok(first.page && isLoginPage(first.page));
    const signedIn = await agent.submitLogin(first.page, 'alice', PASSWORD);
    assert.ok(signedIn.page, `the consent page after login, got ${signedIn.callback?.href}`);
    const consent = signedIn.page;
    const field = formsField(consent);
    const { res, callback } = await agent.submitConsent(consent, 'approve', (n) => n === field);
    assert.ok(res.status === 403 || res.status === 400, `refused, got ${res.status}`);
    assert.equal(res.location, null);
    assert.equal(callback, undefined);
    // Nothing was remembered: the next authorization shows the consent page again.
    const again = await agent.open(request('third', '/third-cb').url);
    assert.ok(again.page, `the consent page again, got ${again.callback?.href}`);
  });

  function formsField(page: Step): string {
    const form = consentForm(page);
    const field = csrfField(form);
    assert.ok(field, `the consent form carries a CSRF field: ${JSON.stringify(form.fields.map(([n]) => n))}`);
    return field;
  }

  test('a request posted back through the login or consent form is checked again: an unregistered redirect_uri is never redirected to', async () => {
    const evil = 'https://evil.example/cb';
    const swap = (fields: [string, string][]): [string, string][] => fields.map(([n, v]) => [n, n === 'redirect_uri' ? evil : v]);

    // The login form, posted with the right password and another redirect_uri.
    const agent = new Agent(alice.origin);
    const opened = await agent.open(request('web', '/cb').url);
    assert.ok(opened.page && isLoginPage(opened.page));
    const form = loginForm(opened.page);
    const hasRedirect = form.fields.some(([n]) => n === 'redirect_uri');
    const login = await agent.post(form.action, [
      ...swap(form.fields.filter(([n]) => n !== 'username' && n !== 'password')),
      ...(hasRedirect ? [] : ([['redirect_uri', evil]] as [string, string][])),
      ['username', 'alice'],
      ['password', PASSWORD],
    ]);
    assert.ok(!login.location?.startsWith(evil), `login: redirected to ${login.location}`);
    assert.ok(login.status >= 400 && login.status < 500, `login: status ${login.status}`);

    // The consent form of a signed-in user, approved with another redirect_uri.
    const signedIn = new Agent(alice.origin);
    const first = await signedIn.open(request('third', '/third-cb').url);
    assert.ok(first.page && isLoginPage(first.page));
    const consent = await signedIn.submitLogin(first.page, 'alice', PASSWORD);
    assert.ok(consent.page, 'the consent page');
    const cform = consentForm(consent.page);
    const approve = await signedIn.post(cform.action, [
      ...swap(cform.fields),
      ...(cform.fields.some(([n]) => n === 'redirect_uri') ? [] : ([['redirect_uri', evil]] as [string, string][])),
      ['decision', 'approve'],
    ]);
    assert.ok(!approve.location?.startsWith(evil), `consent: redirected to ${approve.location}`);
    assert.ok(approve.status >= 400 && approve.status < 500, `consent: status ${approve.status}`);
  });

  test('the browser session ends after TESSERA_SESSION_TTL (default 12 h): then prompt=none answers login_required', async () => {
    const agent = new Agent(alice.origin);
    assert.ok((await agent.authorize(request('web', '/cb').url)).searchParams.get('code'));
    try {
      s.srv.setClockOffset(43_200_000 - 60_000);
      const still = request('web', '/cb', { prompt: 'none' });
      const before = new URL((await agent.get(still.url)).location as string);
      assert.ok(before.searchParams.get('code'), `a minute before the end: ${before.href}`);
      s.srv.setClockOffset(43_200_000 + 1_000);
      const silent = request('web', '/cb', { prompt: 'none' });
      assertErrorRedirect(await agent.get(silent.url), '/cb', silent.state, 'login_required');
    } finally {
      s.srv.setClockOffset(0);
    }
  });

  test('a burst of wrong passwords on the login page is limited, and the right password is refused while locked', async () => {
    const agent = new Agent(alice.origin);
    const limited = (p: { res: Step; page?: Step }) =>
      p.res.status === 429 || /too many (attempts|tries|failed)/i.test(p.page?.text ?? p.res.text);
    let firstLimited = -1;
    for (let i = 1; i <= 10 && firstLimited < 0; i++) {
      const opened = await agent.open(request('web', '/cb').url);
      assert.ok(opened.page && isLoginPage(opened.page), `attempt ${i}: the login page`);
      const out = await agent.submitLogin(opened.page, 'carol', 'wrong password');
      assert.equal(out.callback, undefined, 'a wrong password never reaches the client');
      assert.notEqual(out.res.status, 403, `attempt ${i}: not a CSRF refusal`);
      if (limited(out)) firstLimited = i;
    }
    assert.ok(
      firstLimited > 1 && firstLimited <= 6,
      `the limit (TESSERA_LOGIN_LIMIT 5) is hit by attempt 6, got ${firstLimited}`,
    );

    const opened = await agent.open(request('web', '/cb').url);
    assert.ok(opened.page && isLoginPage(opened.page));
    const right = await agent.submitLogin(opened.page, 'carol', PASSWORD);
    assert.equal(right.callback, undefined, 'the right password is refused while locked');
    assert.ok(limited(right), `the page says why: ${right.res.status} ${(right.page?.text ?? right.res.text).slice(0, 200)}`);
    await assertNoSession(agent);

    // Another user from the same address is not locked out by carol's budget.
    assert.ok((await agent.authorize(request('web', '/cb').url, 'alice')).searchParams.get('code'));
  });

  test('a successful authorization redirects with 302 or 303, and the code answers a no-store token response (RFC 6749 §5.1)', async () => {
    const r = request('web', '/cb');
    await codeFor('web', '/cb');
    const res = await alice.get(r.url);
    assert.ok(res.status === 302 || res.status === 303, `status ${res.status}`);
    const to = new URL(res.location as string);
    assert.equal(`${to.origin}${to.pathname}`, s.redirect('/cb'));
    const raw = await fetch(ep.token, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`web:${secret('web')}`).toString('base64')}`,
      },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: to.searchParams.get('code') as string,
        redirect_uri: r.redirectUri,
        code_verifier: r.verifier,
      }).toString(),
    });
    assert.equal(raw.status, 200);
    assert.equal(raw.headers.get('cache-control'), 'no-store');
    const body = (await raw.json()) as Record<string, unknown>;
    assert.equal(body.token_type, 'Bearer');
    assert.equal(body.scope, 'api');
  });

  test('client_secret_post authenticates the code exchange as well as client_secret_basic (RFC 6749 §2.3.1)', async () => {
    const c = await codeFor('web', '/cb');
    const res = await exchange(c, { id: 'web' }, { client_secret: secret('web') });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.ok(res.json.refresh_token);
  });

  test('a scope the client may not ask for is sent back as invalid_scope (RFC 6749 §4.1.2.1)', async () => {
    await codeFor('web', '/cb');
    const r = request('web', '/cb', { scope: 'api admin:everything' });
    assertErrorRedirect(await alice.get(r.url), '/cb', r.state, 'invalid_scope');
  });

  test('a confidential client exchanging a code without its secret, or with a wrong one, gets 401 invalid_client', async () => {
    const c = await codeFor('web', '/cb');
    const unauthenticated = await exchange(c, { id: 'web' });
    assert.equal(unauthenticated.status, 401, JSON.stringify(unauthenticated.json));
    assert.equal(unauthenticated.json.error, 'invalid_client');
    const wrong = await exchange(c, { id: 'web', secret: 'not the secret' });
    assert.equal(wrong.status, 401, JSON.stringify(wrong.json));
    assert.equal(wrong.json.error, 'invalid_client');
    // Neither attempt used the code up for its owner.
    const owner = await exchange(c, cred('web'));
    assert.equal(owner.status, 200, JSON.stringify(owner.json));
  });

  test('prompt=none for a third-party client the user has not consented to is sent back as consent_required (OIDC Core §3.1.2.6)', async () => {
    await codeFor('web', '/cb');
    const r = request('third', '/third-cb', { prompt: 'none' });
    const res = await alice.get(r.url);
    assert.ok(res.status === 302 || res.status === 303, `a redirect, got ${res.status}`);
    const to = new URL(res.location as string);
    assert.ok(['consent_required', 'interaction_required'].includes(to.searchParams.get('error') as string), to.href);
    assert.equal(to.searchParams.get('state'), r.state);
    assert.equal(to.searchParams.get('iss'), s.issuer);
    assert.equal(to.searchParams.get('code'), null);
  });

  test('a code redeemed by 10 concurrent requests is exchanged once; the others get invalid_grant', async () => {
    const c = await codeFor('web', '/cb');
    const answers = await Promise.all(Array.from({ length: 10 }, () => exchange(c, cred('web'))));
    const ok = answers.filter((a) => a.status === 200);
    assert.equal(ok.length, 1, JSON.stringify(answers.map((a) => a.status)));
    for (const a of answers.filter((x) => x.status !== 200)) {
      assert.equal(a.status, 400);
      assert.equal(a.json.error, 'invalid_grant');
    }
  });

  test('a registered redirect URI with a query keeps it, and the response parameters are added to it (RFC 6749 §3.1.2)', async () => {
    await codeFor('web', '/cb');
    const r = request('q', '/q-cb?tenant=a');
    const res = await alice.get(r.url);
    assert.ok(res.status === 302 || res.status === 303, `status ${res.status}`);
    const to = new URL(res.location as string);
    assert.equal(`${to.origin}${to.pathname}`, s.redirect('/q-cb'));
    assert.equal(to.searchParams.get('tenant'), 'a');
    assert.equal(to.searchParams.get('state'), r.state);
    const t = await exchange({ ...r, code: to.searchParams.get('code') as string }, cred('q'));
    assert.equal(t.status, 200, JSON.stringify(t.json));
  });

  test('state comes back exactly as sent, reserved and non-ASCII characters included (RFC 6749 §4.1.2)', async () => {
    await codeFor('web', '/cb');
    const state = 'a b&c=d/é?#%20+';
    const r = request('web', '/cb', { state });
    const res = await alice.get(r.url);
    assert.equal(new URL(res.location as string).searchParams.get('state'), state);
  });

  test('a repeated parameter is refused (RFC 6749 §3.1): no redirect for a repeated client_id or redirect_uri', async () => {
    await codeFor('web', '/cb');
    const r = request('web', '/cb');
    const repeatedChallenge = await alice.get(`${r.url}&code_challenge=${pkce().challenge}`);
    assertErrorRedirect(repeatedChallenge, '/cb', r.state, 'invalid_request');
    for (const extra of [`&redirect_uri=${encodeURIComponent('https://evil.example/cb')}`, '&client_id=other']) {
      const res = await alice.get(`${r.url}${extra}`);
      assertErrorPage(res, extra);
    }
  });

  test('the login and consent pages cannot be framed (RFC 9700 §4.16) and are not cached', async () => {
    const agent = new Agent(alice.origin);
    const first = await agent.open(request('third', '/third-cb').url);
    assert.ok(first.page && isLoginPage(first.page));
    const consent = await agent.submitLogin(first.page, 'alice', PASSWORD);
    assert.ok(consent.page, 'the consent page');
    for (const [what, page] of [
      ['login page', first.page],
      ['consent page', consent.page],
    ] as const) {
      const csp = page.headers.get('content-security-policy') ?? '';
      assert.ok(
        /frame-ancestors 'none'/.test(csp) || page.headers.get('x-frame-options')?.toUpperCase() === 'DENY',
        `${what}: frame-ancestors 'none' or X-Frame-Options DENY`,
      );
      assert.match(page.headers.get('cache-control') ?? '', /no-store/, what);
    }
  });

  test('the login page answers a wrong password and an unknown user alike (no account enumeration)', async () => {
    const agent = new Agent(alice.origin);
    const url = request('web', '/cb').url;
    const answers = [];
    for (const username of ['alice', 'nobody-here']) {
      const opened = await agent.open(url);
      assert.ok(opened.page && isLoginPage(opened.page));
      const out = await agent.submitLogin(opened.page, username, 'wrong password');
      assert.equal(out.callback, undefined);
      const text = (out.page?.text ?? out.res.text).replace(/<input\b[^>]*>/g, '').replace(/'nonce-[^']*'|'sha256-[^']*'/g, '');
      answers.push({ status: out.res.status, text });
    }
    assert.equal(answers[0]?.status, answers[1]?.status);
    assert.equal(answers[0]?.text, answers[1]?.text);
  });

  test('the browser session cookie is HttpOnly and SameSite (not readable by scripts, not sent on cross-site POSTs)', async () => {
    const agent = new Agent(alice.origin);
    const opened = await agent.open(request('web', '/cb').url);
    assert.ok(opened.page && isLoginPage(opened.page));
    const form = loginForm(opened.page);
    const res = await fetch(form.action, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        origin: agent.origin,
        cookie: [...agent.jar].map(([k, v]) => `${k}=${v}`).join('; '),
      },
      body: new URLSearchParams([
        ...form.fields.filter(([n]) => n !== 'username' && n !== 'password'),
        ['username', 'alice'],
        ['password', PASSWORD],
      ]).toString(),
    });
    assert.ok(res.status === 302 || res.status === 303, `signed in: ${res.status}`);
    const cookies = res.headers.getSetCookie().filter((c) => !/max-age=0/i.test(c));
    assert.ok(cookies.length > 0, 'a session cookie is set');
    for (const c of cookies) {
      assert.match(c, /;\s*HttpOnly/i, c.split('=')[0]);
      assert.match(c, /;\s*SameSite=(Lax|Strict)/i, c.split('=')[0]);
    }
  });

  test('client_credentials: a client not registered for it gets unauthorized_client (RFC 6749 §5.2)', async () => {
    const res = await tokenRequest(ep.token, { grant_type: 'client_credentials' }, cred('web'));
    assert.equal(res.status, 400, JSON.stringify(res.json));
    assert.equal(res.json.error, 'unauthorized_client');
  });

  test('a client registered without the authorization_code grant is sent back unauthorized_client from /authorize (RFC 6749 §4.1.2.1)', async () => {
    await codeFor('web', '/cb');
    const r = request('machine', '/machine-cb');
    const res = await alice.get(r.url);
    if (res.status === 302 || res.status === 303) assertErrorRedirect(res, '/machine-cb', r.state, 'unauthorized_client');
    else assertErrorPage(res, 'a client without authorization_code');
  });

  test('a code-flow client (default grants: authorization_code, refresh_token) gets unauthorized_client for the password grant', async () => {
    const res = await tokenRequest(ep.token, { grant_type: 'password', username: 'alice', password: PASSWORD }, cred('web'));
    assert.equal(res.status, 400, JSON.stringify(res.json));
    assert.equal(res.json.error, 'unauthorized_client');
  });

  test('client_credentials cannot be registered for a public client', async () => {
    const r = await runCli(E2E, ['client', 'add', 'pub-cc', '--grant', 'client_credentials'], s.srv.env);
    assert.notEqual(r.code, 0, r.stdout);
    assert.equal(r.stdout, '');
  });
});

describe('authorization code + PKCE under a configured TESSERA_ISSUER', () => {
  const ISSUER = 'http://tessera.test';
  let s: CodeFlowServer;
  before(async () => {
    s = await startCodeFlowServer(
      ['alice'],
      [{ id: 'web', flags: ['--confidential', '--first-party', '--redirect-uri', '{cb}/cb'] }],
      ['/cb'],
      { TESSERA_ISSUER: ISSUER },
    );
  });
  after(() => s?.stop());

  test('iss in the redirect is the configured issuer, whatever Host or X-Forwarded-Host say (RFC 9207 §2)', async () => {
    const meta = (await (await fetch(`${s.srv.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, string>;
    assert.equal(meta.issuer, ISSUER);
    assert.equal(meta.authorization_endpoint, `${ISSUER}/authorize`);

    // The browser reaches the server at its listen URL (the issuer's name does not resolve here).
    const agent = new Agent(s.srv.url);
    const { challenge } = pkce();
    const url = authorizeUrl(`${s.srv.url}/authorize`, {
      response_type: 'code',
      client_id: 'web',
      redirect_uri: s.redirect('/cb'),
      state: randomState(),
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    const cb = await agent.authorize(url);
    assert.equal(cb.searchParams.get('iss'), ISSUER);
    // node:http, which sends Host as given (fetch would not).
    const target = new URL(url);
    const headerSets: Record<string, string>[] = [
      { host: 'evil.example' },
      { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' },
    ];
    for (const headers of headerSets) {
      const res = await call(s.srv.url, 'GET', `${target.pathname}${target.search}`, {
        headers: { ...headers, cookie: [...agent.jar].map(([k, v]) => `${k}=${v}`).join('; ') },
      });
      const location = res.headers.location;
      assert.ok(location, `${JSON.stringify(headers)}: a redirect (${res.status})`);
      assert.equal(new URL(location).searchParams.get('iss'), ISSUER, JSON.stringify(headers));
    }
  });
});
