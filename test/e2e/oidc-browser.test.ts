/**
 * tessera as an OpenID Provider for relying parties and resource servers nobody here
 * wrote, signing in through the server's own login page in a real Chromium (playwright-core),
 * against real `tessera serve` processes, once per asymmetric signing algorithm:
 *
 * - openid-client 6 with its default (OpenID Connect Discovery 1.0) discovery: code + PKCE +
 *   nonce, the ID token validated by the library, UserInfo (OIDC Core §3.1, §5.3);
 * - Auth0's express-openid-connect protecting a page of an Express app, and its `/logout`
 *   through tessera's end-session endpoint (RP-Initiated Logout 1.0);
 * - authlib's OIDC client (Debian python3-authlib) with the ID token checked by authlib.jose;
 * - express-oauth2-jwt-bearer and Hono's `jwk` middleware accepting tessera access tokens
 *   (RFC 9068 `at+jwt`);
 * - through openid-client: `login_hint` and `max_age` (OIDC Core §3.1.2.1, the server's clock
 *   moved with its test clock file), and RP-Initiated Logout 1.0 (`state` passed back, the
 *   browser session and the client's refresh token ended).
 *
 * Chromium comes from Debian (`/usr/bin/chromium`, or CHROMIUM_PATH); the suite is skipped only
 * when it is absent and CI is not set. Python: /usr/bin/python3 (or TESSERA_TEST_PYTHON).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import express from 'express';
import { auth as bearerAuth } from 'express-oauth2-jwt-bearer';
import { auth as oidcAuth } from 'express-openid-connect';
import { Hono } from 'hono';
import { jwk } from 'hono/jwk';
import * as client from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/chromium.js';
import {
  call,
  onExit,
  PASSWORD,
  runCli,
  type ServerProcess,
  type Suite,
  serverEnv,
  startServer,
  tempDir,
  track,
} from '../support/processes.js';
import { skipBrowser } from './code-flow.js';

/** A clock file per server: the max_age tests move the server's clock. */
const SUITE: Suite = { rateLimit: 0, clockFile: true, dropNodeOptions: false, timeoutMs: 30_000 };
const PYTHON = process.env.TESSERA_TEST_PYTHON ?? '/usr/bin/python3';
const hasAuthlib =
  existsSync(PYTHON) &&
  spawnSync(PYTHON, ['-c', 'import authlib.jose, authlib.oidc.core, authlib.integrations.requests_client, requests'], {
    stdio: 'ignore',
  }).status === 0;
const skipAuthlib = !hasAuthlib && process.env.CI !== 'true' ? `needs ${PYTHON} with python3-authlib` : false;

/**
 * express-openid-connect 2.20 reads its session cookie with `cookie.parse(header).hasOwnProperty(name)`;
 * cookie 1.x, which this package's `overrides` installs for every dependant, returns a null-prototype
 * object, so the library throws on every request and never keeps a session (a sign-in loop). Its
 * `cookie.parse` gets an ordinary object here; nothing else in this test depends on the difference.
 */
function shimCookieParseForExpressOpenidConnect(): void {
  const requireHere = createRequire(import.meta.url);
  const cookie = createRequire(requireHere.resolve('express-openid-connect'))('cookie') as {
    parse: (header: string, options?: unknown) => Record<string, string | undefined>;
  };
  const parse = cookie.parse;
  if (!('hasOwnProperty' in parse('a=1'))) cookie.parse = (header, options) => ({ ...parse(header, options) });
}
shimCookieParseForExpressOpenidConnect();

const ALGS = ['RS256', 'ES256', 'EdDSA'] as const;
type Alg = (typeof ALGS)[number];

interface Registered {
  client_id: string;
  client_secret: string;
}

/** An HTTP server on 127.0.0.1 with a free port, its handler attached later. */
async function listen(): Promise<{
  server: Server;
  url: string;
  handle(fn: (req: IncomingMessage, res: ServerResponse) => void): void;
}> {
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onExit(() => server.close());
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `http://127.0.0.1:${port}`,
    handle(fn) {
      handler = fn;
    },
  };
}

function close(server: Server | undefined): Promise<void> {
  if (!server) return Promise.resolve();
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Fills tessera's login page and submits it. */
async function signIn(page: Page, username = 'alice'): Promise<void> {
  await page.waitForSelector('input[name="username"]');
  await page.fill('input[name="username"]', username);
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
}

/** The payload of a compact JWS, unverified. */
function payloadOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
}
function headerOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[0] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** OIDC Core §3.1.3.6 at_hash with the hash of `alg` (SHA-256 for RS256 and ES256, SHA-512 for Ed25519). */
function expectedAtHash(accessToken: string, alg: Alg): string {
  const digest = createHash(alg === 'EdDSA' ? 'sha512' : 'sha256')
    .update(accessToken, 'ascii')
    .digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

/** authlib's OIDC client: the authorization URL out, the callback URL in, the validated claims out. */
const AUTHLIB_RP = `
import json, sys, requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, JsonWebToken
from authlib.jose.errors import JoseError
from authlib.oidc.core import CodeIDToken

issuer, client_id, client_secret, redirect_uri, alg = sys.argv[1:6]
meta = requests.get(issuer + "/.well-known/openid-configuration").json()
session = OAuth2Session(client_id, client_secret, scope="openid profile", redirect_uri=redirect_uri,
                        code_challenge_method="S256")
verifier = generate_token(48)
nonce = generate_token(20)
url, state = session.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
print(json.dumps({"url": url, "state": state}), flush=True)

callback = sys.stdin.readline().strip()
token = session.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=verifier)
keys = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"]).json())
options = {"iss": {"essential": True, "value": meta["issuer"]}, "aud": {"essential": True, "value": client_id}}

def validate(params):
    claims = JsonWebToken([alg]).decode(token["id_token"], keys, claims_cls=CodeIDToken,
                                          claims_options=options, claims_params=params)
    claims.validate()
    return claims

out = {"scope": token.get("scope"), "token_type": token.get("token_type")}
claims = validate({"nonce": nonce, "client_id": client_id})
out["claims"] = dict(claims)
out["header_alg"] = claims.header["alg"]
try:
    validate({"nonce": nonce, "client_id": client_id, "access_token": token["access_token"]})
    out["at_hash"] = "valid"
except JoseError as e:
    out["at_hash"] = e.error + ": " + str(e.description)
try:
    validate({"nonce": "another-nonce", "client_id": client_id})
    out["wrong_nonce"] = "accepted"
except JoseError as e:
    out["wrong_nonce"] = e.error
out["userinfo"] = session.get(meta["userinfo_endpoint"]).json()
print(json.dumps(out), flush=True)
`;

/** The next line a child writes on stdout; its stderr in the error when it exits first. */
async function nextLine(lines: AsyncIterator<string>, errors: () => string): Promise<string> {
  const r = await lines.next();
  if (r.done) throw new Error(`python exited before answering: ${errors()}`);
  return r.value;
}

type Listener = Awaited<ReturnType<typeof listen>>;

/** What the suite of one algorithm runs against. */
interface Setup {
  /** `tessera serve` on SQLite, signing with a key of the algorithm; alice and bob are its users. */
  tessera: ServerProcess;
  /** The openid-client RP's and authlib's callback server. */
  callbacks: Listener;
  /** The express-openid-connect app's server. */
  app: Listener;
  /** rp, py and eoc, registered with `tessera client add`. */
  clients: Record<string, Registered>;
  /** Called (once) with the next URL the browser lands on at `callbacks`. */
  waiting: { landed?: (url: string) => void };
}

/** A signing key of `alg`, the users and clients (the CLI), the relying parties' servers, then `tessera serve`. */
async function prepare(alg: Alg): Promise<Setup> {
  const dir = tempDir();
  const keygen = await runCli(SUITE, ['keygen', '--alg', alg], {});
  assert.equal(keygen.code, 0, keygen.stderr);
  const keyFile = join(dir, 'signing-keys.json');
  writeFileSync(keyFile, keygen.stdout, { mode: 0o600 });
  // Empty TESSERA_ISSUER: the development default, the URL listened on, which the browser and the RPs reach.
  const env = serverEnv(SUITE, {
    TESSERA_ISSUER: '',
    TESSERA_STORE: `sqlite:${join(dir, 'tessera.db')}`,
    TESSERA_ACCESS_ALG: alg,
    TESSERA_SIGNING_KEY_FILE: keyFile,
  });
  for (const user of ['alice', 'bob']) {
    const r = await runCli(SUITE, ['user', 'add', user], env, PASSWORD);
    assert.equal(r.code, 0, r.stderr);
  }
  const waiting: Setup['waiting'] = {};
  // The relying parties listen first: their redirect URIs carry their ports.
  const callbacks = await listen();
  callbacks.handle((req, res) => {
    const at = new URL(req.url ?? '/', callbacks.url);
    // The redirect URIs only (Chromium asks for /favicon.ico on its own).
    if (!['/callback', '/py-callback', '/signed-out'].includes(at.pathname)) {
      res.statusCode = 404;
      res.end();
      return;
    }
    waiting.landed?.(at.href);
    waiting.landed = undefined;
    res.setHeader('content-type', 'text/plain');
    res.end('callback received');
  });
  const app = await listen();
  const clients: Record<string, Registered> = {};
  const register = async (id: string, ...flags: string[]) => {
    const r = await runCli(SUITE, ['client', 'add', id, '--confidential', '--first-party', '--scope', 'api', ...flags], env);
    assert.equal(r.code, 0, r.stderr);
    clients[id] = JSON.parse(r.stdout) as Registered;
  };
  await register(
    'rp',
    '--redirect-uri',
    `${callbacks.url}/callback`,
    '--post-logout-redirect-uri',
    `${callbacks.url}/signed-out`,
  );
  await register('py', '--redirect-uri', `${callbacks.url}/py-callback`);
  await register('eoc', '--redirect-uri', `${app.url}/callback`, '--post-logout-redirect-uri', app.url);
  const tessera = await startServer(SUITE, env);
  return { tessera, callbacks, app, clients, waiting };
}

/**
 * The setups of the three algorithms, all started when the first suite starts: each is CLI runs and
 * a server start on files and ports of its own, so they run side by side while the first suite waits
 * for its own; the tests themselves still run one at a time. A failed setup fails its own suite.
 */
let setups: Map<Alg, Promise<Setup>> | undefined;
function setupOf(alg: Alg): Promise<Setup> {
  setups ??= new Map(
    ALGS.map((a) => {
      const setup = prepare(a);
      setup.catch(() => {}); // awaited, and reported, by the suite of `a`
      return [a, setup];
    }),
  );
  return setups.get(alg) as Promise<Setup>;
}

/** One Chromium for the three suites: every test opens a browser context of its own (its own cookies and storage). */
let chromium: Promise<Browser> | undefined;
function sharedBrowser(): Promise<Browser> {
  chromium ??= launchChromium();
  return chromium;
}
after(async () => {
  await chromium?.then(
    (b) => b.close(),
    () => {},
  );
});

for (const alg of ALGS) {
  describe(`OpenID Connect with ${alg} ID and access tokens, in Chromium against tessera serve`, { skip: skipBrowser }, () => {
    let tessera: ServerProcess;
    let browser: Browser;
    /** The openid-client RP's and authlib's callback: records the URL the browser lands on. */
    let callbacks: Listener;
    let waiting: Setup['waiting'];
    /** The express-openid-connect app. */
    let app: Listener;
    let clients: Record<string, Registered> = {};

    /** The next URL the browser is redirected to on the callback server. */
    function nextCallback(): Promise<string> {
      return new Promise((resolve) => {
        waiting.landed = resolve;
      });
    }

    before(async () => {
      ({ tessera, callbacks, app, clients, waiting } = await setupOf(alg));
      browser = await sharedBrowser();
    });

    after(async () => {
      await tessera?.stop();
      await close(callbacks?.server);
      await close(app?.server);
    });

    test('the discovery document names the algorithm under test for ID tokens and the end-session endpoint, and agrees with the RFC 8414 document on every member both carry', async () => {
      const res = await call(tessera.url, 'GET', '/.well-known/openid-configuration');
      assert.equal(res.status, 200);
      assert.equal(res.json.issuer, tessera.url);
      assert.deepEqual(res.json.id_token_signing_alg_values_supported, [alg]);
      assert.equal(res.json.end_session_endpoint, `${tessera.url}/logout`);
      assert.equal(res.json.userinfo_endpoint, `${tessera.url}/userinfo`);
      assert.ok((res.json.scopes_supported as string[]).includes('openid'));
      const oauth = await call(tessera.url, 'GET', '/.well-known/oauth-authorization-server');
      assert.equal(oauth.status, 200);
      for (const [name, value] of Object.entries(oauth.json as Record<string, unknown>)) {
        if (name in res.json) assert.deepEqual(res.json[name], value, name);
      }
      const jwks = await call(tessera.url, 'GET', '/.well-known/jwks.json');
      assert.ok((jwks.json.keys as { alg?: string }[]).every((k) => k.alg === alg));
    });

    /** An authorization request URL of the openid-client RP (scope openid) with `extra` parameters. */
    async function authorizationUrl(config: client.Configuration, extra: Record<string, string> = {}): Promise<string> {
      return client.buildAuthorizationUrl(config, {
        redirect_uri: `${callbacks.url}/callback`,
        scope: 'openid',
        code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
        code_challenge_method: 'S256',
        state: client.randomState(),
        ...extra,
      }).href;
    }

    /** Opens `url`: 'code' when tessera redirects with a code at once, 'login' when it shows its login form. */
    async function answerTo(page: Page, url: string): Promise<'code' | 'login'> {
      const redirected = nextCallback().then((u) => {
        assert.ok(new URL(u).searchParams.get('code'), u);
        return 'code' as const;
      });
      await page.goto(url);
      return Promise.race([redirected, page.waitForSelector('input[name="password"]').then(() => 'login' as const)]);
    }

    test('OIDC Core §3.1.2.1 login_hint: the login page opens with the hinted username filled in', async () => {
      const config = await discoverRp();
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        await page.goto(await authorizationUrl(config, { login_hint: 'bob' }));
        assert.equal(await page.inputValue('input[name="username"]'), 'bob');
      } finally {
        await context.close();
      }
    });

    test('OIDC Core §3.1.2.1 max_age=60: a session younger than that gets a code at once; once the sign-in is older, the password is asked again', async () => {
      const config = await discoverRp();
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        await signInWithOpenidClient(config, page);
        assert.equal(await answerTo(page, await authorizationUrl(config, { max_age: '60' })), 'code');
        tessera.setClockOffset(61_000);
        assert.equal(await answerTo(page, await authorizationUrl(config, { max_age: '60' })), 'login');
      } finally {
        tessera.setClockOffset(0);
        await context.close();
      }
    });

    test('OIDC Core §3.1.2.1 max_age=0 (equivalent to prompt=login) asks for the password again even within the second of the sign-in', async () => {
      const config = await discoverRp();
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        const tokens = await signInWithOpenidClient(config, page);
        const authTime = tokens.claims()?.auth_time as number;
        // The server's clock half a second into the second of auth_time: no whole second has elapsed.
        tessera.setClockOffset(authTime * 1000 + 500 - Date.now());
        assert.equal(await answerTo(page, await authorizationUrl(config, { max_age: '0' })), 'login');
      } finally {
        tessera.setClockOffset(0);
        await context.close();
      }
    });

    test('openid-client 6 (default OpenID discovery): code + PKCE S256 + nonce, the library validates the ID token, fetchUserInfo answers preferred_username', async () => {
      const config = await client.discovery(new URL(tessera.url), 'rp', clients.rp?.client_secret, undefined, {
        execute: [client.allowInsecureRequests],
      });
      assert.equal(config.serverMetadata().issuer, tessera.url);
      const verifier = client.randomPKCECodeVerifier();
      const nonce = client.randomNonce();
      const state = client.randomState();
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: `${callbacks.url}/callback`,
        scope: 'openid profile',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        nonce,
        state,
      });
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        const back = nextCallback();
        await page.goto(url.href);
        await signIn(page);
        const callbackUrl = new URL(await back);
        assert.equal(callbackUrl.searchParams.get('iss'), tessera.url);

        const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
          pkceCodeVerifier: verifier,
          expectedNonce: nonce,
          expectedState: state,
          idTokenExpected: true,
        });
        const idToken = tokens.id_token as string;
        assert.equal(headerOf(idToken).alg, alg);
        const claims = tokens.claims();
        assert.ok(claims);
        assert.equal(claims.iss, tessera.url);
        assert.equal(claims.aud, 'rp');
        assert.equal(claims.nonce, nonce);
        assert.equal(claims.preferred_username, 'alice');
        assert.equal(typeof claims.sub, 'string');
        assert.equal(claims.at_hash, expectedAtHash(tokens.access_token, alg));
        assert.equal(claims.azp, 'rp');
        assert.equal(typeof claims.auth_time, 'number');
        assert.ok((claims.exp as number) > (claims.iat as number));
        assert.notEqual(headerOf(idToken).typ, 'at+jwt', 'an ID token never passes for an access token (RFC 9068 §4)');

        const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
        assert.equal(info.sub, claims.sub);
        assert.equal(info.preferred_username, 'alice');

        // The code is one-time (RFC 6749 §4.1.2): the same callback exchanged again is refused.
        await assert.rejects(
          client.authorizationCodeGrant(config, callbackUrl, {
            pkceCodeVerifier: verifier,
            expectedNonce: nonce,
            expectedState: state,
            idTokenExpected: true,
          }),
          (e: unknown) => e instanceof client.ResponseBodyError && e.error === 'invalid_grant',
        );
      } finally {
        await context.close();
      }
    });

    function discoverRp(): Promise<client.Configuration> {
      return client.discovery(new URL(tessera.url), 'rp', clients.rp?.client_secret, undefined, {
        execute: [client.allowInsecureRequests],
      });
    }

    /** Signs alice in with openid-client, then signs her out through tessera's end-session endpoint; where the browser lands. */
    async function signInAndOut(page: Page, state: string) {
      const config = await client.discovery(new URL(tessera.url), 'rp', clients.rp?.client_secret, undefined, {
        execute: [client.allowInsecureRequests],
      });
      const tokens = await signInWithOpenidClient(config, page);
      const end = client.buildEndSessionUrl(config, {
        id_token_hint: tokens.id_token as string,
        post_logout_redirect_uri: `${callbacks.url}/signed-out`,
        state,
      });
      assert.equal(end.origin + end.pathname, `${tessera.url}/logout`);
      const back = nextCallback();
      await page.goto(end.href);
      return { config, tokens, landedAt: new URL(await back) };
    }

    test('openid-client 6 buildEndSessionUrl (id_token_hint, registered post_logout_redirect_uri, state): back to the RP with its state, and the tessera browser session ended (prompt=none answers login_required)', async () => {
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        const state = client.randomState();
        const { config, landedAt } = await signInAndOut(page, state);
        assert.equal(landedAt.pathname, '/signed-out');
        assert.equal(landedAt.searchParams.get('state'), state, 'RP-Initiated Logout 1.0 §3: state is passed back');

        // OIDC Core §3.1.2.6: with no browser session, prompt=none is login_required, never a code.
        const verifier = client.randomPKCECodeVerifier();
        const silent = client.buildAuthorizationUrl(config, {
          redirect_uri: `${callbacks.url}/callback`,
          scope: 'openid',
          code_challenge: await client.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          prompt: 'none',
          state,
        });
        const refused = nextCallback();
        await page.goto(silent.href);
        const answer = new URL(await refused);
        assert.equal(answer.searchParams.get('error'), 'login_required');
        assert.equal(answer.searchParams.get('code'), null);
      } finally {
        await context.close();
      }
    });

    test("after RP-initiated logout with the client's id_token_hint, the refresh token that client holds for the user is refused (invalid_grant)", async () => {
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        const { config, tokens, landedAt } = await signInAndOut(page, client.randomState());
        assert.equal(landedAt.pathname, '/signed-out');
        assert.ok(tokens.refresh_token, 'the code flow answers a refresh token');
        await assert.rejects(
          client.refreshTokenGrant(config, tokens.refresh_token as string),
          (e: unknown) => e instanceof client.ResponseBodyError && e.error === 'invalid_grant',
          "the end-session endpoint ends the user's sessions (refresh families) at the hint's client (RP-Initiated Logout 1.0 §2; AuthorizeDeps.endClientSessions)",
        );
      } finally {
        await context.close();
      }
    });

    const eocSetting = alg === 'RS256' ? 'default settings' : `idTokenSigningAlg: ${alg}`;
    test(`express-openid-connect (${eocSetting}) protects an Express page: sign in on tessera, the page shows preferred_username, /logout ends the tessera session`, async () => {
      const rp = express();
      // Before the middleware: its session is rolling (every answer to a signed-in request sets the
      // cookie again), so a favicon request still in flight when /logout clears the cookie would set
      // it back, and the browser would come back from tessera signed in (seen under load in CI).
      rp.get('/favicon.ico', (_req, res) => {
        res.status(204).end();
      });
      rp.use(
        oidcAuth({
          issuerBaseURL: tessera.url,
          baseURL: app.url,
          clientID: 'eoc',
          clientSecret: clients.eoc?.client_secret as string,
          secret: 'a long random cookie secret for the express-openid-connect session, 0123456789',
          authRequired: true,
          idpLogout: true,
          // The library expects RS256 by default (OIDC Core §15.1); another algorithm is its one setting.
          ...(alg === 'RS256' ? {} : { idTokenSigningAlg: alg }),
          authorizationParams: { response_type: 'code', scope: 'openid profile' },
        }),
      );
      rp.get('/profile', (req, res) => {
        res.type('html').send(`<p id="user">${String(req.oidc.user?.preferred_username)}</p>`);
      });
      rp.get('/', (req, res) => {
        res.type('html').send(`<p id="home">${String(req.oidc.user?.preferred_username)}</p>`);
      });
      const failures: unknown[] = [];
      rp.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
        failures.push(err);
        res.status(500).type('text').send(String(err));
      });
      app.handle(rp);

      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        await page.goto(`${app.url}/profile`);
        await page.waitForURL((u) => u.href.startsWith(`${tessera.url}/authorize?`));
        const request = new URL(page.url());
        assert.equal(request.searchParams.get('client_id'), 'eoc');
        assert.equal(request.searchParams.get('code_challenge_method'), 'S256');
        assert.ok(request.searchParams.get('nonce'));
        await signIn(page);
        await page
          .waitForURL((u) => u.href.startsWith(app.url) && !u.pathname.startsWith('/callback'), { timeout: 10_000 })
          .catch(async () => assert.fail(`stuck at ${page.url()}: ${await page.textContent('body')}`));
        assert.equal(page.url(), `${app.url}/profile`);
        assert.equal(await page.textContent('#user'), 'alice', `failures: ${failures.map(String).join('; ')}`);

        // RP-Initiated Logout: the app's /logout → tessera's end-session endpoint → back to the app.
        const trail: string[] = [];
        page.on('request', (r) => {
          if (r.isNavigationRequest()) trail.push(r.url());
        });
        // Nothing of the signed-in page still in flight (see the favicon route above).
        await page.waitForLoadState('networkidle');
        await page.goto(`${app.url}/logout`);
        // The app's `/` is protected too: coming back signed out sends the browser on to tessera's login form.
        await page
          .waitForSelector('input[name="password"]', { timeout: 15_000 })
          .catch(async () =>
            assert.fail(`stuck at ${page.url()} after ${trail.join(' -> ')}: ${await page.textContent('body')}`),
          );
        const endSession = trail.find((u) => u.startsWith(`${tessera.url}/logout?`));
        assert.ok(endSession, trail.join('\n'));
        const logout = new URL(endSession);
        assert.ok(logout.searchParams.get('id_token_hint'));
        assert.equal(logout.searchParams.get('post_logout_redirect_uri'), app.url);
        assert.ok(
          trail.some((u) => u === app.url || u === `${app.url}/`),
          `back to the app after the end-session endpoint:\n${trail.join('\n')}`,
        );

        // A new visit: the tessera browser session ended, so its login form again, not a silent code.
        await page.goto(`${app.url}/profile`);
        await page.waitForURL((u) => u.href.startsWith(`${tessera.url}/authorize?`));
        assert.ok(await page.isVisible('input[name="password"]'), 'the login form is shown again');
        assert.deepEqual(failures, []);
      } finally {
        await context.close();
      }
    });

    const atHashNote =
      alg === 'EdDSA'
        ? '; authlib 1.2 has no at_hash hash for EdDSA and refuses its at_hash (asserted)'
        : ', at_hash with the access token';
    test(`authlib's OIDC client (OAuth2Session, S256, nonce) signs in; authlib.jose validates the ID token from jwks_uri (iss, aud, nonce${atHashNote})`, {
      skip: skipAuthlib,
    }, async () => {
      const py = track(
        spawn(
          PYTHON,
          ['-c', AUTHLIB_RP, tessera.url, 'py', clients.py?.client_secret as string, `${callbacks.url}/py-callback`, alg],
          {
            stdio: ['pipe', 'pipe', 'pipe'],
          },
        ),
      );
      let stderr = '';
      py.stderr?.on('data', (d) => (stderr += d));
      const lines = createInterface({ input: py.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
      const context = await browser.newContext();
      try {
        const first = JSON.parse(await nextLine(lines, () => stderr)) as { url: string; state: string };
        const request = new URL(first.url);
        assert.equal(request.searchParams.get('code_challenge_method'), 'S256');
        assert.ok(request.searchParams.get('nonce'));
        const page = await context.newPage();
        const back = nextCallback();
        await page.goto(first.url);
        await signIn(page, 'bob');
        py.stdin?.end(`${await back}\n`);
        const out = JSON.parse(await nextLine(lines, () => stderr)) as {
          scope: string;
          claims: Record<string, unknown>;
          header_alg: string;
          at_hash: string;
          wrong_nonce: string;
          userinfo: Record<string, unknown>;
        };
        assert.equal(out.header_alg, alg);
        assert.equal(out.claims.iss, tessera.url);
        assert.equal(out.claims.aud, 'py');
        assert.equal(out.claims.preferred_username, 'bob');
        assert.equal(out.wrong_nonce, 'invalid_claim');
        assert.equal(out.userinfo.preferred_username, 'bob');
        assert.equal(out.userinfo.sub, out.claims.sub);
        // authlib 1.2 derives the at_hash hash from the alg's digits (`sha` + alg[2:]): it has no hash for EdDSA
        // and refuses every EdDSA at_hash; ours is SHA-512's left half (the OpenID Foundation's EdDSA errata).
        if (alg === 'EdDSA') assert.match(out.at_hash, /^invalid_claim: .*at_hash/);
        else assert.equal(out.at_hash, 'valid');
      } finally {
        await context.close();
        if (py.exitCode === null) py.kill('SIGKILL');
      }
    });

    test('express-oauth2-jwt-bearer (default settings, discovery) and Hono jwk (alg and typ at+jwt stated) accept a tessera access token', async () => {
      const token = await accessTokenOfAlice();
      assert.equal(headerOf(token).typ, 'at+jwt');
      assert.equal(payloadOf(token).aud, tessera.url, 'the access token audience defaults to the issuer');

      // express-oauth2-jwt-bearer: issuerBaseURL and audience only; the algorithms come from discovery.
      const api = express();
      api.get('/api', bearerAuth({ issuerBaseURL: tessera.url, audience: tessera.url }), (req, res) => {
        res.json({ sub: req.auth?.payload.sub, scope: req.auth?.payload.scope });
      });
      api.use(
        (err: { status?: number; code?: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
          res.status(err.status ?? 500).json({ error: err.code });
        },
      );
      const apiServer = await listen();
      apiServer.handle(api);
      try {
        const ok = await call(apiServer.url, 'GET', '/api', { token });
        assert.equal(ok.status, 200, ok.text);
        assert.equal(ok.json.sub, payloadOf(token).sub);
        const tampered = `${token.slice(0, -4)}AAAA`;
        const refused = await call(apiServer.url, 'GET', '/api', { token: tampered });
        assert.equal(refused.status, 401);
        assert.equal(refused.json.error, 'invalid_token');
      } finally {
        await close(apiServer.server);
      }

      // Hono's jwk: `alg` is a required option; the header check accepts only `typ: JWT` unless told `at+jwt`.
      const jwksUri = `${tessera.url}/.well-known/jwks.json`;
      const hono = new Hono<{ Variables: { jwtPayload: Record<string, unknown> } }>();
      hono.use(
        '/strict/*',
        jwk({ jwks_uri: jwksUri, alg: [alg], verification: { typ: 'at+jwt', iss: tessera.url, aud: tessera.url } }),
      );
      hono.use('/untyped/*', jwk({ jwks_uri: jwksUri, alg: [alg] }));
      hono.get('/strict/me', (c) => c.json(c.get('jwtPayload')));
      hono.get('/untyped/me', (c) => c.json(c.get('jwtPayload')));
      const headers = { authorization: `Bearer ${token}` };
      const strict = await hono.request('/strict/me', { headers });
      assert.equal(strict.status, 200, await strict.clone().text());
      assert.equal(((await strict.json()) as Record<string, unknown>).sub, payloadOf(token).sub);
      const untyped = await hono.request('/untyped/me', { headers });
      assert.equal(untyped.status, 401, 'without verification.typ, Hono accepts only typ JWT (RFC 9068 §2.1 says at+jwt)');
      const tampered = await hono.request('/strict/me', { headers: { authorization: `Bearer ${token.slice(0, -4)}AAAA` } });
      assert.equal(tampered.status, 401);
    });

    /** Signs alice in through `page` with scope `openid profile`; the token response. */
    async function signInWithOpenidClient(config: client.Configuration, page: Page) {
      const verifier = client.randomPKCECodeVerifier();
      const nonce = client.randomNonce();
      const state = client.randomState();
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: `${callbacks.url}/callback`,
        scope: 'openid profile',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        nonce,
        state,
      });
      const back = nextCallback();
      await page.goto(url.href);
      await signIn(page);
      return client.authorizationCodeGrant(config, new URL(await back), {
        pkceCodeVerifier: verifier,
        expectedNonce: nonce,
        expectedState: state,
        idTokenExpected: true,
      });
    }

    /** An access token of alice from the code flow (the openid-client RP, scope api). */
    async function accessTokenOfAlice(): Promise<string> {
      const config = await client.discovery(new URL(tessera.url), 'rp', clients.rp?.client_secret, undefined, {
        execute: [client.allowInsecureRequests],
      });
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: `${callbacks.url}/callback`,
        scope: 'api',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
      });
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        const back = nextCallback();
        await page.goto(url.href);
        await signIn(page);
        const tokens = await client.authorizationCodeGrant(config, new URL(await back), {
          pkceCodeVerifier: verifier,
          expectedState: state,
        });
        return tokens.access_token;
      } finally {
        await context.close();
      }
    }
  });
}
