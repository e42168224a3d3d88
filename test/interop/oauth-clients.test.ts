/**
 * Real OAuth clients that nobody here wrote, against a real `tessera serve`
 * process: Node's openid-client 6 and Python's authlib
 * (Debian python3-authlib, installed by .ci/run). Clients are registered with
 * `tessera client add`, users with `tessera user add`, on the server's SQLite
 * store; a restart in the middle shows the client binding survives it.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import * as oidc from 'openid-client';
import { call, PASSWORD, runCli, type ServerProcess, type Suite, serverEnv, startServer } from '../support/processes.js';

const SUITE: Suite = { rateLimit: 0, clockFile: false, dropNodeOptions: false, timeoutMs: 30_000 };
const PYTHON = process.env.TESSERA_TEST_PYTHON ?? '/usr/bin/python3';
const hasAuthlib =
  existsSync(PYTHON) &&
  spawnSync(PYTHON, ['-c', 'import authlib.integrations.requests_client, requests'], { stdio: 'ignore' }).status === 0;
const skipAuthlib = !hasAuthlib && process.env.CI !== 'true' ? `needs ${PYTHON} with python3-authlib` : false;

interface Registered {
  client_id: string;
  client_type: string;
  client_secret?: string;
}

/** A server with users alice and bob and clients web, other (confidential), rs (introspection) and spa (public). */
async function provision(scheme: string) {
  // Empty TESSERA_ISSUER: the default, the URL listened on, which discovery checks (RFC 8414 §3.3).
  const env = serverEnv(SUITE, { TESSERA_SCHEME: scheme, TESSERA_ISSUER: '' });
  for (const user of ['alice', 'bob']) {
    const r = await runCli(SUITE, ['user', 'add', user], env, PASSWORD);
    assert.equal(r.code, 0, r.stderr);
  }
  const clients: Record<string, Registered> = {};
  for (const [id, ...flags] of [
    ['web', '--confidential'],
    ['other', '--confidential'],
    ['rs', '--confidential', '--introspect'],
    ['spa'],
  ]) {
    const r = await runCli(SUITE, ['client', 'add', id as string, ...flags], env);
    assert.equal(r.code, 0, r.stderr);
    clients[id as string] = JSON.parse(r.stdout) as Registered;
  }
  return { env, clients, secret: (id: string) => clients[id]?.client_secret as string };
}

for (const scheme of ['jwt', 'sealed', 'opaque']) {
  describe(`openid-client 6 against tessera serve (${scheme})`, () => {
    let p: Awaited<ReturnType<typeof provision>>;
    let srv: ServerProcess;
    const discover = (id: string, auth: oidc.ClientAuth) =>
      oidc.discovery(new URL(srv.url), id, undefined, auth, { algorithm: 'oauth2', execute: [oidc.allowInsecureRequests] });

    before(async () => {
      p = await provision(scheme);
      srv = await startServer(SUITE, p.env);
    });
    after(() => srv.stop());

    test('discovery (RFC 8414), password grant, refresh, introspection, protected resource, revocation', async () => {
      const web = await discover('web', oidc.ClientSecretBasic(p.secret('web')));
      const meta = web.serverMetadata();
      assert.equal(meta.issuer, srv.url);
      assert.equal(meta.token_endpoint, `${srv.url}/auth/token`);
      assert.deepEqual(meta.response_types_supported, ['code']);

      const t0 = await oidc.genericGrantRequest(web, 'password', { username: 'alice', password: PASSWORD });
      assert.equal(t0.token_type.toLowerCase(), 'bearer');
      assert.ok(t0.refresh_token);
      const t1 = await oidc.refreshTokenGrant(web, t0.refresh_token as string);
      assert.notEqual(t1.refresh_token, t0.refresh_token);

      const me = await oidc.fetchProtectedResource(web, t1.access_token, new URL(`${srv.url}/me`), 'GET');
      assert.equal(me.status, 200);
      const who = (await me.json()) as Record<string, unknown>;
      assert.equal(who.preferred_username, 'alice');
      assert.equal(who.client_id, 'web');

      // A resource server introspects with its own credentials (RFC 7662 §2.1), here client_secret_post.
      const rs = await discover('rs', oidc.ClientSecretPost(p.secret('rs')));
      const a = await oidc.tokenIntrospection(rs, t1.access_token);
      assert.equal(a.active, true);
      assert.equal(a.client_id, 'web');
      assert.equal(a.username, 'alice');
      assert.equal(a.token_type, 'access_token');
      assert.equal(a.iss, srv.url);
      const consumed = await oidc.tokenIntrospection(rs, t0.refresh_token as string);
      assert.equal(consumed.active, false);

      await oidc.tokenRevocation(web, t1.refresh_token as string);
      assert.equal((await oidc.tokenIntrospection(rs, t1.refresh_token as string)).active, false);
      await assert.rejects(oidc.refreshTokenGrant(web, t1.refresh_token as string), (e: unknown) => {
        assert.equal((e as { error?: string }).error, 'invalid_grant');
        return true;
      });
    });

    test('negative cases: wrong secret, introspection by a user or a client without the right, another client refreshing', async () => {
      const wrong = await discover('web', oidc.ClientSecretBasic('not the secret'));
      // RFC 6749 §5.2: 401 with a Basic challenge, which openid-client reports as such, body included.
      const err = await oidc.genericGrantRequest(wrong, 'password', { username: 'alice', password: PASSWORD }).then(
        () => assert.fail('a wrong secret was accepted'),
        (e: unknown) => e as oidc.WWWAuthenticateChallengeError,
      );
      assert.equal(err.status, 401);
      assert.equal(err.cause[0]?.scheme, 'basic');
      assert.equal(((await err.response.json()) as { error: string }).error, 'invalid_client');

      const web = await discover('web', oidc.ClientSecretBasic(p.secret('web')));
      const t = await oidc.genericGrantRequest(web, 'password', { username: 'alice', password: PASSWORD });
      // The web client may not introspect (403), nor may alice's token (401).
      await assert.rejects(oidc.tokenIntrospection(web, t.access_token), (e: unknown) => {
        assert.equal((e as { status?: number }).status, 403);
        return true;
      });
      const byUser = await call(srv.url, 'POST', '/auth/introspect', { token: t.access_token, form: { token: t.access_token } });
      assert.equal(byUser.status, 401);
      assert.equal(byUser.json.error, 'invalid_client');

      // Another client (confidential, or public) presenting web's refresh token: invalid_grant, nothing consumed.
      const other = await discover('other', oidc.ClientSecretBasic(p.secret('other')));
      const spa = await discover('spa', oidc.None());
      for (const thief of [other, spa]) {
        await assert.rejects(oidc.refreshTokenGrant(thief, t.refresh_token as string), (e: unknown) => {
          assert.equal((e as { error?: string }).error, 'invalid_grant');
          return true;
        });
      }

      // The binding is in the store: it survives a restart of the server (SQLite).
      // Same port: the issuer (the URL listened on, by default) is part of every self-contained token.
      const port = srv.port;
      await srv.stop();
      srv = await startServer(SUITE, p.env, ['--port', String(port)]);
      const webAgain = await discover('web', oidc.ClientSecretBasic(p.secret('web')));
      const otherAgain = await discover('other', oidc.ClientSecretBasic(p.secret('other')));
      await assert.rejects(oidc.refreshTokenGrant(otherAgain, t.refresh_token as string));
      const owner = await oidc.refreshTokenGrant(webAgain, t.refresh_token as string).catch(async (e: unknown) => {
        throw new Error(`the owner was refused: ${JSON.stringify((e as { cause?: unknown }).cause)}`);
      });
      assert.ok(owner.access_token, 'still valid for its owner');
    });
  });
}

describe('authlib (Python) against tessera serve', { skip: skipAuthlib }, () => {
  let p: Awaited<ReturnType<typeof provision>>;
  let srv: ServerProcess;
  before(async () => {
    p = await provision('jwt');
    srv = await startServer(SUITE, p.env);
  });
  after(() => srv.stop());

  /** Runs a Python snippet with `inp` (JSON on stdin) and prints JSON. */
  const python = (code: string): Record<string, unknown> =>
    JSON.parse(
      execFileSync(PYTHON, ['-c', `import json, sys, time\ninp = json.load(sys.stdin)\n${code}`], {
        input: JSON.stringify({ url: srv.url, password: PASSWORD, clients: p.clients }),
        encoding: 'utf8',
        env: { ...process.env, AUTHLIB_INSECURE_TRANSPORT: '1' },
      }),
    ) as Record<string, unknown>;

  test('metadata: AuthorizationServerMetadata validates every field', () => {
    const out = python(`
import requests
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
m = AuthorizationServerMetadata(requests.get(inp["url"] + "/.well-known/oauth-authorization-server").json())
failed = []
for key in m.REGISTRY_KEYS:
    try:
        getattr(m, "validate_" + key)()
    except ValueError:
        failed.append(key)
print(json.dumps({"failed": failed, "token_endpoint": m["token_endpoint"]}))`);
    assert.deepEqual(out.failed, []);
    assert.equal(out.token_endpoint, `${srv.url}/auth/token`);
  });

  test('fetch_token, refresh_token, introspect_token, revoke_token, an auto-refreshing session; negative cases', () => {
    const out = python(`
from authlib.integrations.requests_client import OAuth2Session
from authlib.integrations.base_client.errors import OAuthError
url, c = inp["url"], inp["clients"]
token_url = url + "/auth/token"
res = {}
web = OAuth2Session(c["web"]["client_id"], c["web"]["client_secret"], token_endpoint_auth_method="client_secret_basic")
t0 = web.fetch_token(token_url, grant_type="password", username="alice", password=inp["password"])
res["fetched"] = t0["token_type"]
t1 = web.refresh_token(token_url, refresh_token=t0["refresh_token"])
res["rotated"] = t1["refresh_token"] != t0["refresh_token"]

rs = OAuth2Session(c["rs"]["client_id"], c["rs"]["client_secret"], token_endpoint_auth_method="client_secret_post")
i = rs.introspect_token(url + "/auth/introspect", token=t1["access_token"]).json()
res["introspected"] = [i["active"], i["client_id"], i["username"], i["token_type"]]

# Auto-refresh: the session refreshes an expired token by itself before the request.
updates = []
auto = OAuth2Session(c["web"]["client_id"], c["web"]["client_secret"], token_endpoint_auth_method="client_secret_basic",
                     token=dict(t1, expires_at=int(time.time()) - 10), token_endpoint=token_url,
                     update_token=lambda token, refresh_token=None, access_token=None: updates.append(refresh_token))
me = auto.get(url + "/me")
res["auto"] = [me.status_code, me.json()["preferred_username"], len(updates), updates[0] == t1["refresh_token"] if updates else None]
current = auto.token

# Negative: wrong secret; introspection by a user token, by a client without the right; another client's refresh token.
bad = OAuth2Session(c["web"]["client_id"], "wrong", token_endpoint_auth_method="client_secret_basic")
try:
    bad.fetch_token(token_url, grant_type="password", username="alice", password=inp["password"])
    res["wrong_secret"] = "accepted"
except OAuthError as e:
    res["wrong_secret"] = e.error
import requests
res["introspect_by_user"] = requests.post(url + "/auth/introspect", data={"token": current["access_token"]},
                                          headers={"Authorization": "Bearer " + current["access_token"]}).status_code
res["introspect_by_web"] = web.introspect_token(url + "/auth/introspect", token=current["access_token"]).status_code
other = OAuth2Session(c["other"]["client_id"], c["other"]["client_secret"], token_endpoint_auth_method="client_secret_basic")
try:
    other.refresh_token(token_url, refresh_token=current["refresh_token"])
    res["stolen"] = "accepted"
except OAuthError as e:
    res["stolen"] = e.error
res["still_active"] = rs.introspect_token(url + "/auth/introspect", token=current["refresh_token"]).json()["active"]
t2 = web.refresh_token(token_url, refresh_token=current["refresh_token"])
res["owner_refreshed"] = "access_token" in t2

# Revocation: by another client nothing happens (200); by the owner the family ends.
res["revoke_other"] = other.revoke_token(url + "/auth/revoke", token=t2["refresh_token"]).status_code
res["after_other"] = rs.introspect_token(url + "/auth/introspect", token=t2["refresh_token"]).json()["active"]
res["revoke_owner"] = web.revoke_token(url + "/auth/revoke", token=t2["refresh_token"]).status_code
res["after_owner"] = rs.introspect_token(url + "/auth/introspect", token=t2["refresh_token"]).json()["active"]
print(json.dumps(res))`);
    assert.deepEqual(out, {
      fetched: 'Bearer',
      rotated: true,
      introspected: [true, 'web', 'alice', 'access_token'],
      auto: [200, 'alice', 1, true],
      wrong_secret: 'invalid_client',
      introspect_by_user: 401,
      introspect_by_web: 403,
      stolen: 'invalid_grant',
      still_active: true,
      owner_refreshed: true,
      revoke_other: 200,
      after_other: true,
      revoke_owner: 200,
      after_owner: false,
    });
  });
});
