/**
 * Signing-key rotation end to end (docs/keys.md "Rotating signing keys"), against a real `tessera serve`
 * on SQLite restarted on one port (one issuer) after each step, its key file edited with
 * `tessera keys`, for RS256 and ES256:
 *
 * 0. `[old]`: a relying party (openid-client 6, default OpenID discovery, ID token signatures
 *    checked) signs alice in with the code flow; its ID token and access token name `old`.
 * 1. `tessera keys add`: `[old, new]`: `new` is published, nothing is signed with it. Once the
 *    RP's copy of the set expires (openid-client keeps it 300 s; its time passes through its own
 *    getJwksCache/setJwksCache, no waiting) its next sign-in refetches the set, which names `new`.
 * 2. `tessera keys promote new`: `[new, old]`: ID tokens and access tokens name `new`; the SAME
 *    openid-client Configuration as before the switch validates them from its cache; tokens
 *    signed by `old` still verify everywhere (the server, createJwksVerifier, jose). An RP whose
 *    cache, younger than 60 s, was filled before `new` was published (a rotation without step 1)
 *    refuses the ID token (oauth4webapi refetches for an unknown kid only once its copy is 60 s
 *    old), which is why `new` is published first.
 * 3. `tessera keys remove old`: `[new]`: tokens of `old` are refused (server 401 invalid_token,
 *    createJwksVerifier `unknown_key` once its copy of the set is refreshed, jose
 *    ERR_JWKS_NO_MATCHING_KEY; an ID token of `old` is no longer a valid `id_token_hint` for
 *    RP-Initiated Logout); tokens of `new` verify.
 *
 * createJwksVerifier runs on an injected clock through all of it: an unknown kid within the
 * cool-down after its last fetch is refused without a fetch, after it the set is fetched again.
 * No browser: the login form is driven over fetch (test/e2e/code-flow.ts Agent).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { isTokenError } from '../../src/errors.js';
import { createJwksVerifier, type FetchLike } from '../../src/verify/jwks.js';
import { runMain } from '../support/main-io.js';
import {
  call,
  freePort,
  PASSWORD,
  runCli,
  type ServerProcess,
  type Suite,
  serverEnv,
  startServer,
  tempDir,
} from '../support/processes.js';
import { Agent } from './code-flow.js';
import { E2E } from './helpers.js';

/** Four starts of the server per algorithm: time enough for each on a loaded machine. */
const SUITE: Suite = { ...E2E, timeoutMs: 60_000 };
const REDIRECT_URI = 'http://127.0.0.1:9/callback';
/** createJwksVerifier's defaults, stated here because the test moves its clock across them. */
const COOLDOWN_MS = 30_000;
const MAX_AGE_MS = 600_000;

const headerOf = (jwt: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(jwt.split('.')[0] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
const kidOf = (jwt: string) => headerOf(jwt).kid as string;

/** The rejection code of a promise: `accepted`, a TokenError's code, or a jose error's code. */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'accepted';
  } catch (e) {
    if (isTokenError(e)) return e.code;
    if (e instanceof joseErrors.JOSEError) return e.code;
    throw e;
  }
}

interface Signed {
  idToken: string;
  accessToken: string;
  refreshToken: string;
}

for (const alg of ['RS256', 'ES256'] as const) {
  describe(`signing-key rotation with ${alg}: publish, switch, remove, with relying parties that cache the JWK Set`, () => {
    let srv: ServerProcess | undefined;
    let env: Record<string, string>;
    let port: number;
    let issuer: string;
    let keyFile: string;
    let secret: string;
    /** The RP of every phase, discovered once: its JWK Set cache is what the rotation must keep working. */
    let rp: client.Configuration;
    /** The JWK Set fetches each RP made. */
    const jwksFetches = new Map<client.Configuration, number>();
    /** createJwksVerifier on an injected clock, counting its fetches. */
    let now = Date.now();
    let verifierFetches = 0;
    let verifier: ReturnType<typeof createJwksVerifier>;

    async function restart(): Promise<void> {
      await srv?.stop();
      srv = await startServer(SUITE, env, ['--port', String(port)]);
      assert.equal(srv.url, issuer);
    }

    async function keys(...args: string[]): Promise<string> {
      const r = await runMain(['keys', ...args, keyFile]);
      assert.equal(r.code, 0, r.err);
      return r.out.trim();
    }

    async function discover(): Promise<client.Configuration> {
      // enableNonRepudiationChecks: by default openid-client trusts an ID token from the token endpoint on
      // the strength of TLS (OIDC Core §3.1.3.7 6) and checks no signature; with it, it checks the
      // signature against the issuer's JWK Set, as RPs that keep ID tokens (or run without TLS) must.
      const config = await client.discovery(new URL(issuer), 'rp', secret, undefined, {
        execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
      });
      jwksFetches.set(config, 0);
      config[client.customFetch] = (url, options) => {
        if (new URL(url).pathname === '/.well-known/jwks.json') jwksFetches.set(config, (jwksFetches.get(config) ?? 0) + 1);
        return fetch(url, options as RequestInit);
      };
      return config;
    }

    /** The code flow as the RP runs it (PKCE S256, nonce, state), alice signing in on the login form; the library validates the ID token. */
    async function signIn(config: client.Configuration): Promise<Signed> {
      const verifier = client.randomPKCECodeVerifier();
      const nonce = client.randomNonce();
      const state = client.randomState();
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT_URI,
        scope: 'openid profile',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        nonce,
        state,
      });
      const callback = await new Agent(issuer).authorize(url.href);
      const tokens = await client.authorizationCodeGrant(config, callback, {
        pkceCodeVerifier: verifier,
        expectedNonce: nonce,
        expectedState: state,
        idTokenExpected: true,
      });
      assert.equal(tokens.claims()?.preferred_username, 'alice');
      return {
        idToken: tokens.id_token as string,
        accessToken: tokens.access_token,
        refreshToken: tokens.refresh_token as string,
      };
    }

    /** jose's verdicts on `t` with a JWK Set fetched now (a resource server or RP starting afresh). */
    async function jose(t: Signed): Promise<{ id: string; access: string }> {
      const set = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`));
      return {
        id: await outcome(jwtVerify(t.idToken, set, { issuer, audience: 'rp', algorithms: [alg] })),
        access: await outcome(jwtVerify(t.accessToken, set, { issuer, audience: issuer, algorithms: [alg], typ: 'at+jwt' })),
      };
    }

    const me = async (t: Signed) => (await call(issuer, 'GET', '/me', { token: t.accessToken })).status;
    const published = async () =>
      ((await call(issuer, 'GET', '/.well-known/jwks.json')).json.keys as { kid: string }[]).map((k) => k.kid);

    /**
     * The RP in a later process that restores the JWK Set cache an earlier one saved, `age` seconds
     * old (openid-client's getJwksCache/setJwksCache, for runtimes that keep no memory between
     * invocations): the way to let the RP's time pass without waiting.
     */
    async function restoredRp(jwks: client.ExportedJWKSCache['jwks'], age: number): Promise<client.Configuration> {
      const config = await discover();
      client.setJwksCache(config, { jwks, uat: Math.floor(Date.now() / 1000) - age });
      return config;
    }
    const rpCachedKids = (config: client.Configuration) =>
      ((client.getJwksCache(config)?.jwks.keys ?? []) as { kid?: string }[]).map((k) => k.kid);

    let oldKid: string;
    /** The RP's cached JWK Set from before the new key was published. */
    let oldSet: client.ExportedJWKSCache['jwks'];
    let newKid: string;
    let beforeSwitch: Signed;
    let afterSwitch: Signed;

    before(async () => {
      const dir = tempDir();
      keyFile = join(dir, 'signing-keys.json');
      const keygen = await runMain(['keygen', '--alg', alg]);
      assert.equal(keygen.code, 0, keygen.err);
      writeFileSync(keyFile, keygen.out, { mode: 0o600 });
      oldKid = (JSON.parse(keygen.out) as { keys: { kid: string }[] }).keys[0]?.kid as string;
      port = await freePort();
      issuer = `http://127.0.0.1:${port}`;
      env = serverEnv(SUITE, {
        TESSERA_ISSUER: issuer,
        TESSERA_STORE: `sqlite:${join(dir, 'tessera.db')}`,
        TESSERA_ACCESS_ALG: alg,
        TESSERA_SIGNING_KEY_FILE: keyFile,
      });
      const user = await runCli(SUITE, ['user', 'add', 'alice'], env, `${PASSWORD}\n`);
      assert.equal(user.code, 0, user.stderr);
      const rpClient = await runCli(
        SUITE,
        ['client', 'add', 'rp', '--confidential', '--first-party', '--redirect-uri', REDIRECT_URI],
        env,
      );
      assert.equal(rpClient.code, 0, rpClient.stderr);
      secret = (JSON.parse(rpClient.stdout) as { client_secret: string }).client_secret;
      const counting: FetchLike = (url, init) => {
        verifierFetches++;
        return fetch(url, init);
      };
      verifier = createJwksVerifier({
        jwksUri: `${issuer}/.well-known/jwks.json`,
        issuer,
        audience: issuer,
        clock: () => now,
        fetch: counting,
      });
      await restart();
      rp = await discover();
    });

    after(async () => {
      await srv?.stop();
    });

    test('0. one key: the RP signs alice in; its ID token and the access token name that key', async () => {
      beforeSwitch = await signIn(rp);
      assert.equal(kidOf(beforeSwitch.idToken), oldKid);
      assert.equal(headerOf(beforeSwitch.idToken).alg, alg);
      assert.equal(kidOf(beforeSwitch.accessToken), oldKid);
      assert.deepEqual(rpCachedKids(rp), [oldKid]);
      assert.equal(await outcome(verifier.verify(beforeSwitch.accessToken)), 'accepted');
      assert.equal(verifierFetches, 1);
    });

    test('1. tessera keys add: the new key is published and signs nothing; the RP learns it when its cached set expires', async () => {
      newKid = await keys('add', '--alg', alg);
      await restart();
      assert.deepEqual(await published(), [oldKid, newKid]);
      const t = await signIn(rp);
      assert.equal(kidOf(t.idToken), oldKid, 'a published key signs nothing before it is promoted');
      assert.equal(kidOf(t.accessToken), oldKid);
      // Its copy is younger than 300 s and names the kid of this ID token: not fetched again.
      assert.deepEqual(rpCachedKids(rp), [oldKid]);
      oldSet = client.getJwksCache(rp)?.jwks as client.ExportedJWKSCache['jwks'];
      // The wait of step 2, longer than the set's max-age and than the RP's 300 s: the RP's copy expires.
      rp = await restoredRp(oldSet, 301);
      const fetches = jwksFetches.get(rp);
      assert.equal(kidOf((await signIn(rp)).idToken), oldKid);
      assert.equal(jwksFetches.get(rp), (fetches ?? 0) + 1);
      assert.deepEqual(rpCachedKids(rp), [oldKid, newKid], 'the RP refetched the set and holds the new key');
    });

    test('2. tessera keys promote: ID and access tokens name the new key, the same RP validates them from its cache, tokens of the old key still verify', async () => {
      await keys('promote', newKid);
      await restart();
      assert.deepEqual(await published(), [newKid, oldKid]);

      const fetchesBefore = jwksFetches.get(rp);
      afterSwitch = await signIn(rp);
      assert.equal(kidOf(afterSwitch.idToken), newKid, 'ID tokens are signed by the promoted key');
      assert.equal(kidOf(afterSwitch.accessToken), newKid, 'access tokens too');
      assert.equal(jwksFetches.get(rp), fetchesBefore, 'the RP validated the new ID token from its cached set');

      // Without the publish step: an RP whose copy of the set lacks the new kid and is younger than
      // 60 s refuses the ID token; one whose copy is older fetches the set again and accepts it.
      await assert.rejects(
        signIn(await restoredRp(oldSet, 0)),
        (e: unknown) => (e as { code?: string }).code === 'OAUTH_KEY_SELECTION_FAILED',
      );
      const older = await restoredRp(oldSet, 61);
      assert.equal(kidOf((await signIn(older)).idToken), newKid);
      assert.deepEqual(rpCachedKids(older), [newKid, oldKid]);

      // Tokens signed before the switch: the server, jose and createJwksVerifier (its cached set) accept them.
      assert.equal(await me(beforeSwitch), 200);
      assert.deepEqual(await jose(beforeSwitch), { id: 'accepted', access: 'accepted' });
      assert.deepEqual(await jose(afterSwitch), { id: 'accepted', access: 'accepted' });
      assert.equal(await outcome(verifier.verify(beforeSwitch.accessToken)), 'accepted');
      assert.equal(verifierFetches, 1);
      // createJwksVerifier has never seen the new kid: within the cool-down of its last fetch it does not fetch...
      now += 1_000;
      assert.equal(await outcome(verifier.verify(afterSwitch.accessToken)), 'unknown_key');
      assert.equal(verifierFetches, 1);
      // ...after it, one fetch, and the token verifies.
      now += COOLDOWN_MS;
      assert.equal(await outcome(verifier.verify(afterSwitch.accessToken)), 'accepted');
      assert.equal(verifierFetches, 2);

      // A refresh token issued under the old key refreshes into an access token of the new one.
      const refreshed = await client.refreshTokenGrant(rp, beforeSwitch.refreshToken);
      assert.equal(kidOf(refreshed.access_token), newKid);
    });

    test('3. tessera keys remove: tokens of the old key are refused everywhere, those of the new key verify', async () => {
      await keys('remove', oldKid);
      await restart();
      assert.deepEqual(await published(), [newKid]);

      const refused = await call(issuer, 'GET', '/me', { token: beforeSwitch.accessToken });
      assert.equal(refused.status, 401);
      assert.match(String(refused.headers['www-authenticate']), /error="invalid_token"/);
      assert.deepEqual(await jose(beforeSwitch), { id: 'ERR_JWKS_NO_MATCHING_KEY', access: 'ERR_JWKS_NO_MATCHING_KEY' });
      // createJwksVerifier still holds the set that lists the old key: it accepts its tokens until
      // that copy is older than maxAgeMs, then fetches the set again and refuses them.
      assert.equal(await outcome(verifier.verify(beforeSwitch.accessToken)), 'accepted');
      now += MAX_AGE_MS;
      assert.equal(await outcome(verifier.verify(beforeSwitch.accessToken)), 'unknown_key');
      assert.equal(verifierFetches, 3);

      assert.equal(await me(afterSwitch), 200);
      assert.deepEqual(await jose(afterSwitch), { id: 'accepted', access: 'accepted' });
      assert.equal(await outcome(verifier.verify(afterSwitch.accessToken)), 'accepted');
      const t = await signIn(rp);
      assert.equal(kidOf(t.idToken), newKid);

      // RP-Initiated Logout 1.0 §2: a hint signed by the removed key can no longer be validated; the
      // request goes on as one without a hint (no browser session here: signed out), and one of the
      // new key signs out as before.
      const logout = (idToken: string) =>
        call(issuer, 'GET', `/logout?${new URLSearchParams({ id_token_hint: idToken, client_id: 'rp' })}`);
      const stale = await logout(beforeSwitch.idToken);
      assert.equal(stale.status, 200, stale.text);
      assert.match(stale.text, /You are signed out/);
      assert.equal((await logout(t.idToken)).status, 200);
    });
  });
}
