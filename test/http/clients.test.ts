/**
 * Registered clients over HTTP (inject), for each preset: client authentication
 * (RFC 6749 §2.3.1, §5.2), binding of refresh tokens to their client (§6),
 * protected introspection (RFC 7662 §2.1), revocation of a client's own tokens
 * (RFC 7009 §2.1), RFC 8414 metadata, RFC 9068 access tokens and GET /me.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { createCodec } from '../../src/tokens/codec.js';
import { basicAuth, bearer, form, type Harness, PASSWORD, SCHEMES, setup } from './helpers.js';

const ISSUER = 'https://auth.example.test';

for (const scheme of SCHEMES) {
  describe(`clients over HTTP (${scheme})`, () => {
    let h: Harness;
    let web: { id: string; secret: string };
    before(async () => {
      h = await setup({
        scheme,
        service: { issuer: ISSUER, audience: ISSUER },
        app: { issuer: ISSUER },
      });
      const added = await h.clients.add('web', { confidential: true });
      web = { id: 'web', secret: added.secret as string };
      await h.clients.add('spa');
      await h.clients.add('backend', { confidential: true });
    });
    after(() => h.close());

    const token = (params: Record<string, string>, headers: Record<string, string> = {}) => {
      const f = form(params);
      return h.app.inject({ method: 'POST', url: '/auth/token', headers: { ...f.headers, ...headers }, payload: f.payload });
    };
    const password = { grant_type: 'password', username: 'alice', password: PASSWORD };

    test('client_secret_basic and client_secret_post authenticate; a wrong or missing secret is 401 invalid_client with Basic', async () => {
      assert.equal((await token(password, basicAuth(web.id, web.secret))).statusCode, 200);
      assert.equal((await token({ ...password, client_id: web.id, client_secret: web.secret })).statusCode, 200);
      for (const res of [
        await token(password, basicAuth(web.id, 'wrong')),
        await token({ ...password, client_id: web.id, client_secret: 'wrong' }),
        await token({ ...password, client_id: web.id }),
        await token(password, basicAuth('nobody', 'x')),
        await token({ ...password, client_id: 'spa', client_secret: 'a public client has none' }),
      ]) {
        assert.equal(res.statusCode, 401, res.body);
        assert.equal(res.json().error, 'invalid_client');
        assert.match(String(res.headers['www-authenticate']), /^Basic realm="tessera"/);
        assert.doesNotMatch(res.body, /wrong/);
      }
      // RFC 6749 §2.3: one method per request.
      const both = await token({ ...password, client_secret: web.secret }, basicAuth(web.id, web.secret));
      assert.equal(both.statusCode, 400);
      assert.equal(both.json().error, 'invalid_request');
    });

    test('Basic credentials are form-urlencoded before base64 (RFC 6749 §2.3.1)', async () => {
      const added = await h.clients.add(`odd.${scheme}`, { confidential: true });
      const res = await token(password, basicAuth(`odd.${scheme}`, added.secret as string));
      assert.equal(res.statusCode, 200);
      // The same credentials, not encoded, differ only where encoding matters: still fine for these characters.
      const raw = `Basic ${Buffer.from(`odd.${scheme}:${added.secret}`).toString('base64')}`;
      assert.equal((await token(password, { authorization: raw })).statusCode, 200);
    });

    test('a request that names no client acts as the default public client; unknown grant_type is unsupported_grant_type', async () => {
      const t = (await token(password)).json();
      const me = await h.app.inject({ url: '/me', headers: bearer(t.access_token) });
      assert.equal(me.json().client_id, 'tessera');
      const seed = await h.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: t.refresh_token } });
      assert.equal(seed.statusCode, 200, 'the seed flow keeps working through the default client');
      const unknown = await token({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code' }, basicAuth(web.id, web.secret));
      assert.equal(unknown.statusCode, 400);
      assert.equal(unknown.json().error, 'unsupported_grant_type');
    });

    test('a refresh token presented by another client is invalid_grant, not consumed, and still valid for its owner', async () => {
      const t = (await token(password, basicAuth(web.id, web.secret))).json();
      const stolen = await token({ grant_type: 'refresh_token', refresh_token: t.refresh_token, client_id: 'spa' });
      assert.equal(stolen.statusCode, 400);
      assert.equal(stolen.json().error, 'invalid_grant');
      assert.equal(stolen.json().reason, 'wrong_client', 'RFC 6749 §5.2 invalid_grant, with our reason');
      const viaSeed = await h.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: t.refresh_token } });
      assert.equal(viaSeed.statusCode, 400, 'the default client is another client too');
      const other = await token({ grant_type: 'refresh_token', refresh_token: t.refresh_token }, basicAuth('backend', 'x'));
      assert.equal(other.statusCode, 401);
      const owner = await token({ grant_type: 'refresh_token', refresh_token: t.refresh_token }, basicAuth(web.id, web.secret));
      assert.equal(owner.statusCode, 200, owner.body);
    });

    test('refresh scope can only narrow (RFC 6749 §6)', async () => {
      const t = (await token(password, basicAuth(web.id, web.secret))).json();
      assert.equal(t.scope, 'api');
      const wider = await token(
        { grant_type: 'refresh_token', refresh_token: t.refresh_token, scope: 'api admin' },
        basicAuth(web.id, web.secret),
      );
      assert.equal(wider.statusCode, 400);
      assert.equal(wider.json().error, 'invalid_scope');
      assert.equal(wider.json().reason, undefined, 'no reason: the refresh token was not refused');
      const same = await token(
        { grant_type: 'refresh_token', refresh_token: t.refresh_token, scope: 'api' },
        basicAuth(web.id, web.secret),
      );
      assert.equal(same.statusCode, 200, 'the refused request consumed nothing');
      assert.equal(same.json().scope, 'api');
    });

    test('introspection: only authenticated clients registered for it; answers iss, client_id, token_type, username', async () => {
      const t = (await token(password, basicAuth(web.id, web.secret))).json();
      const introspect = (headers: Record<string, string>, params: Record<string, string> = { token: t.access_token }) => {
        const f = form(params);
        return h.app.inject({
          method: 'POST',
          url: '/auth/introspect',
          headers: { ...f.headers, ...headers },
          payload: f.payload,
        });
      };
      const ok = await introspect(h.rs.basic);
      assert.equal(ok.statusCode, 200);
      const a = ok.json();
      assert.equal(a.active, true);
      assert.equal(a.iss, ISSUER);
      assert.equal(a.client_id, 'web');
      assert.equal(a.token_type, 'access_token');
      assert.equal(a.username, 'alice');
      const post = await introspect({}, { token: t.refresh_token, client_id: h.rs.id, client_secret: h.rs.secret });
      assert.deepEqual(
        [post.json().active, post.json().token_type, post.json().client_id, post.json().username],
        [true, 'refresh_token', 'web', 'alice'],
      );
      // Not allowed: a user's token, a client without the right, a public client, a wrong secret.
      assert.equal((await introspect(bearer(t.access_token))).statusCode, 401);
      const forbidden = await introspect(basicAuth(web.id, web.secret));
      assert.equal(forbidden.statusCode, 403);
      assert.equal(forbidden.json().error, 'unauthorized_client');
      assert.equal((await introspect({}, { token: t.access_token, client_id: 'spa' })).statusCode, 401);
      assert.equal((await introspect(basicAuth(h.rs.id, 'wrong'))).statusCode, 401);
      // Introspecting never consumes and never trips reuse detection: the refresh token still works.
      for (let i = 0; i < 3; i++) await introspect(h.rs.basic, { token: t.refresh_token });
      const r = await token({ grant_type: 'refresh_token', refresh_token: t.refresh_token }, basicAuth(web.id, web.secret));
      assert.equal(r.statusCode, 200);
      const consumed = await introspect(h.rs.basic, { token: t.refresh_token });
      assert.deepEqual(consumed.json(), { active: false });
      const stillFine = await token(
        { grant_type: 'refresh_token', refresh_token: r.json().refresh_token },
        basicAuth(web.id, web.secret),
      );
      assert.equal(stillFine.statusCode, 200, 'probing a consumed token did not revoke the family');
    });

    test("revocation (RFC 7009 §2.1): another client's revocation is 200 and does nothing; the owner's ends the family", async () => {
      const t = (await token(password, basicAuth(web.id, web.secret))).json();
      const revoke = (headers: Record<string, string>, params: Record<string, string>) => {
        const f = form(params);
        return h.app.inject({ method: 'POST', url: '/auth/revoke', headers: { ...f.headers, ...headers }, payload: f.payload });
      };
      assert.equal((await revoke({}, { token: t.refresh_token, client_id: 'spa' })).statusCode, 200);
      assert.equal((await revoke({}, { token: t.refresh_token })).statusCode, 200, 'the default client is not the owner');
      const bad = await revoke(basicAuth(web.id, 'wrong'), { token: t.refresh_token });
      assert.equal(bad.statusCode, 401);
      assert.equal(
        (await revoke({}, { token: t.refresh_token, client_id: web.id })).statusCode,
        401,
        'confidential: must authenticate',
      );
      const intro = (tok: string) =>
        h.app.inject({ method: 'POST', url: '/auth/introspect', headers: h.rs.basic, payload: { token: tok } });
      assert.equal((await intro(t.refresh_token)).json().active, true);
      assert.equal((await revoke(basicAuth(web.id, web.secret), { token: t.refresh_token })).statusCode, 200);
      assert.equal((await intro(t.refresh_token)).json().active, false);
    });

    test('RFC 8414 metadata', async () => {
      const res = await h.app.inject({ url: '/.well-known/oauth-authorization-server' });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), {
        issuer: ISSUER,
        token_endpoint: `${ISSUER}/auth/token`,
        revocation_endpoint: `${ISSUER}/auth/revoke`,
        introspection_endpoint: `${ISSUER}/auth/introspect`,
        grant_types_supported: ['password', 'client_credentials', 'refresh_token'],
        token_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
        revocation_endpoint_auth_methods_supported: ['none', 'client_secret_basic', 'client_secret_post'],
        introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        scopes_supported: ['api'],
        response_types_supported: [],
      });
    });

    test('GET /me answers sub, preferred_username, client_id, scope, iat, exp', async () => {
      const t = (await token(password, basicAuth(web.id, web.secret))).json();
      const me = (await h.app.inject({ url: '/me', headers: bearer(t.access_token) })).json();
      assert.deepEqual(Object.keys(me).sort(), ['client_id', 'exp', 'iat', 'preferred_username', 'scope', 'sub']);
      assert.equal(me.preferred_username, 'alice');
      assert.equal(me.client_id, 'web');
      assert.equal(me.sub, (await h.store.getUser('alice'))?.id);
    });

    if (scheme === 'jwt') {
      test('jwt access tokens follow RFC 9068: typ at+jwt; iss, aud, sub, client_id, iat, exp, jti, scope', async () => {
        const t = (await token(password, basicAuth(web.id, web.secret))).json();
        assert.equal(decodeProtectedHeader(t.access_token).typ, 'at+jwt');
        const c = decodeJwt(t.access_token);
        for (const claim of ['iss', 'aud', 'sub', 'client_id', 'iat', 'exp', 'jti', 'scope']) assert.ok(claim in c, claim);
        assert.equal(c.iss, ISSUER);
        assert.equal(c.aud, ISSUER);
        assert.equal(c.client_id, 'web');
        // A refresh token (typ JWT) is no access token, even to a route that only checks the signature.
        const res = await h.app.inject({ url: '/me', headers: bearer(t.refresh_token) });
        assert.equal(res.statusCode, 401);
        // RFC 9068 §4: a JWT with every access-token claim, signed with the very key, but typed JWT: refused.
        const untyped = createCodec({ format: 'jwt', secret: h.secret }).encode({ ...c, type: 'access' });
        assert.equal(decodeProtectedHeader(untyped).typ, 'JWT');
        const refused = await h.app.inject({ url: '/me', headers: bearer(untyped) });
        assert.equal(refused.statusCode, 401);
        assert.equal(refused.json().reason, 'invalid_claims');
      });
    }

    test('OpenAPI shows the client authentication scheme', async () => {
      const spec = (await h.app.inject({ url: '/openapi.json' })).json();
      assert.deepEqual(spec.components.securitySchemes.basic, {
        type: 'http',
        scheme: 'basic',
        description: 'client_secret_basic: client_id and client_secret (RFC 6749 §2.3.1)',
      });
      assert.deepEqual(spec.paths['/auth/introspect'].post.security, [{ basic: [] }]);
      assert.ok(spec.paths['/.well-known/oauth-authorization-server']);
    });
  });
}

describe('without a default client (TESSERA_DEFAULT_CLIENT empty)', () => {
  test('a request that names no client is 401 invalid_client; a named public client works', async (t) => {
    const h = await setup();
    t.after(() => h.close());
    const { createClientService } = await import('../../src/oauth-clients/clients.js');
    const clients = createClientService(h.store as never, { defaultClientId: '' });
    await clients.add('spa');
    const { buildApp } = await import('../../src/server/app.js');
    const app = buildApp({ tokens: h.tokens, users: h.users, clients, log: false, rateLimit: false });
    t.after(() => app.close());
    const login = (extra: Record<string, string>) =>
      app.inject({
        method: 'POST',
        url: '/auth/token',
        ...form({ grant_type: 'password', username: 'alice', password: PASSWORD, ...extra }),
      });
    const anonymous = await login({});
    assert.equal(anonymous.statusCode, 401);
    assert.equal(anonymous.json().error, 'invalid_client');
    const named = await login({ client_id: 'spa' });
    assert.equal(named.statusCode, 200);
    const seed = await app.inject({
      method: 'POST',
      url: '/auth/refresh',
      payload: { refresh_token: named.json().refresh_token },
    });
    assert.equal(seed.statusCode, 401, 'the seed path must name its client too');
    const ok = await app.inject({
      method: 'POST',
      url: '/auth/refresh',
      payload: { refresh_token: named.json().refresh_token, client_id: 'spa' },
    });
    assert.equal(ok.statusCode, 200);
  });
});
