/**
 * The Fastify plugin on its own: protected by default, public by config,
 * scopes, RFC 6750 challenges, and the Authorization header parser.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { StoreUnavailableError } from '../../src/errors.js';
import { parseBearer, tesseraAuth } from '../../src/http/plugin.js';
import { bearer, type Harness, setup } from './helpers.js';

describe('parseBearer (RFC 6750 §2.1)', () => {
  test('accepts b64token credentials, case-insensitive scheme', () => {
    assert.equal(parseBearer('Bearer abc.DEF-_~+/='), 'abc.DEF-_~+/=');
    assert.equal(parseBearer('bearer abc'), 'abc');
    assert.equal(parseBearer('BEARER   abc'), 'abc');
    assert.equal(parseBearer('Bearer gAAAAA=='), 'gAAAAA==');
  });
  test('another scheme or nothing is "no token"', () => {
    assert.equal(parseBearer(undefined), null);
    assert.equal(parseBearer(''), null);
    assert.equal(parseBearer('Basic YWxhZGRpbjpvcGVuc2VzYW1l'), null);
    assert.equal(parseBearer('Bearerabc'), null);
  });
  test('a malformed Bearer credential is false', () => {
    for (const h of ['Bearer', 'Bearer ', 'Bearer a b', 'Bearer tök', 'Bearer a=b', 'Bearer "abc"', 'Bearer abc,def']) {
      assert.equal(parseBearer(h), false, h);
    }
  });
});

describe('tesseraAuth plugin', () => {
  let h: Harness;
  let app: FastifyInstance;
  before(async () => {
    h = await setup();
    app = Fastify();
    // Declared before the plugin: still protected (the guard is a global hook).
    app.get('/early', async (req) => ({ sub: req.principal?.sub }));
    await app.register(tesseraAuth, { tokens: h.tokens });
    app.get('/private', async (req) => ({ sub: req.principal?.sub }));
    app.get('/open', { config: { public: true } }, async (req) => ({ principal: req.principal }));
    app.get('/admin', { config: { scope: 'admin' } }, async () => ({ ok: true }));
    app.get('/api', { config: { scope: 'api' } }, async () => ({ ok: true }));
    app.register(async (child) => {
      child.get('/child', async (req) => ({ sub: req.principal?.sub }));
    });
    await app.ready();
  });
  after(async () => {
    await app.close();
    await h.close();
  });

  test('every route is protected unless public', async () => {
    for (const url of ['/early', '/private', '/child', '/admin']) {
      const res = await app.inject(url);
      assert.equal(res.statusCode, 401, url);
      // RFC 6750 §3.1: no error code when the request had no authentication information.
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="tessera"');
      assert.equal(res.json().error, 'unauthorized');
    }
    const open = await app.inject('/open');
    assert.equal(open.statusCode, 200);
    assert.deepEqual(open.json(), { principal: null });
  });

  test('a valid token sets request.principal', async () => {
    const t = await h.login();
    const sub = (await h.store.getUser('alice'))?.id;
    for (const url of ['/early', '/private', '/child']) {
      const res = await app.inject({ url, headers: bearer(t.access_token) });
      assert.equal(res.statusCode, 200, url);
      assert.equal(res.json().sub, sub);
    }
  });

  test('route scopes: 403 insufficient_scope (RFC 6750 §3.1)', async () => {
    const t = await h.login();
    const ok = await app.inject({ url: '/api', headers: bearer(t.access_token) });
    assert.equal(ok.statusCode, 200);
    const res = await app.inject({ url: '/admin', headers: bearer(t.access_token) });
    assert.equal(res.statusCode, 403);
    assert.equal(res.json().error, 'insufficient_scope');
    assert.match(String(res.headers['www-authenticate']), /error="insufficient_scope".*scope="admin"/);
  });

  test('bad tokens: 401 invalid_token, never echoed', async () => {
    const t = await h.login();
    const tampered = `${t.access_token.slice(0, -2)}${t.access_token.endsWith('AA') ? 'BB' : 'AA'}`;
    for (const token of ['garbage', tampered, t.refresh_token, 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.']) {
      const res = await app.inject({ url: '/private', headers: bearer(token) });
      assert.equal(res.statusCode, 401, token);
      assert.equal(res.json().error, 'invalid_token');
      assert.match(
        String(res.headers['www-authenticate']),
        /^Bearer realm="tessera", error="invalid_token", error_description="[^"]+"$/,
      );
      assert.ok(!res.body.includes(token), 'the body must not echo the token');
      assert.ok(!String(res.headers['www-authenticate']).includes(token));
    }
  });

  test('malformed Authorization header: 400 invalid_request', async () => {
    for (const authorization of ['Bearer', 'Bearer a b', 'Bearer tök']) {
      const res = await app.inject({ url: '/private', headers: { authorization } });
      assert.equal(res.statusCode, 400, authorization);
      assert.equal(res.json().error, 'invalid_request');
      assert.match(String(res.headers['www-authenticate']), /error="invalid_request"/);
    }
    const basic = await app.inject({ url: '/private', headers: { authorization: 'Basic YWxpY2U6eA==' } });
    assert.equal(basic.statusCode, 401);
  });

  test('unknown routes stay 404 (not 401)', async () => {
    const res = await app.inject('/nope');
    assert.equal(res.statusCode, 404);
  });

  test('decorators: app.tokens, app.authenticate', () => {
    assert.equal(app.tokens, h.tokens);
    assert.equal(typeof app.authenticate, 'function');
  });

  test('options are validated at registration', async () => {
    const bad = Fastify();
    // @ts-expect-error: tokens is required
    bad.register(tesseraAuth, {});
    await assert.rejects(async () => bad.ready(), /tokens/);
    const badRealm = Fastify();
    badRealm.register(tesseraAuth, { tokens: h.tokens, realm: 'a"b' });
    await assert.rejects(async () => badRealm.ready(), /realm/);
  });
});

describe('app.authenticate: the same check as the hook', () => {
  let h: Harness;
  let app: FastifyInstance;
  before(async () => {
    h = await setup(); // tokens are issued with scope "api"
    app = Fastify();
    await app.register(tesseraAuth, { tokens: h.tokens });
    // Hook path: the global guard.
    app.get('/hook/admin', { config: { scope: 'admin' } }, async () => ({ ok: true }));
    // Decorator path: public for the hook, authenticated by the route itself.
    const auth = { preHandler: app.authenticate };
    app.get('/dec/admin', { config: { public: true, scope: 'admin' }, ...auth }, async () => ({ ok: true }));
    app.get('/dec/api', { config: { public: true, scope: 'api' }, ...auth }, async (req) => ({ sub: req.principal?.sub }));
    app.get('/dec/any', { config: { public: true }, ...auth }, async (req) => ({ sub: req.principal?.sub }));
    await app.ready();
  });
  after(async () => {
    await app.close();
    await h.close();
  });

  test('a scope the token lacks: 403 insufficient_scope, exactly like the hook', async () => {
    const t = await h.login();
    const viaHook = await app.inject({ url: '/hook/admin', headers: bearer(t.access_token) });
    const viaDecorator = await app.inject({ url: '/dec/admin', headers: bearer(t.access_token) });
    assert.equal(viaDecorator.statusCode, 403);
    assert.equal(viaDecorator.json().error, 'insufficient_scope');
    assert.deepEqual(viaDecorator.json(), viaHook.json());
    assert.equal(viaDecorator.headers['www-authenticate'], viaHook.headers['www-authenticate']);
    assert.match(String(viaDecorator.headers['www-authenticate']), /scope="admin"/);
  });

  test('a scope the token has, or no scope: the handler runs with the principal', async () => {
    const t = await h.login();
    const sub = (await h.store.getUser('alice'))?.id;
    for (const url of ['/dec/api', '/dec/any']) {
      const res = await app.inject({ url, headers: bearer(t.access_token) });
      assert.equal(res.statusCode, 200, url);
      assert.equal(res.json().sub, sub, url);
    }
  });

  test("no token, a malformed header, a bad token: the hook's answers", async () => {
    const none = await app.inject({ url: '/dec/any' });
    assert.equal(none.statusCode, 401);
    assert.equal(none.json().error, 'unauthorized');
    const malformed = await app.inject({ url: '/dec/any', headers: { authorization: 'Bearer a b' } });
    assert.equal(malformed.statusCode, 400);
    const bad = await app.inject({ url: '/dec/any', headers: bearer('garbage') });
    assert.equal(bad.statusCode, 401);
    assert.equal(bad.json().error, 'invalid_token');
    assert.equal(bad.json().reason, 'malformed');
  });
});

describe('tesseraAuth in an app without our error handler: a store outage is still a 503', () => {
  const down = { value: false };
  let h: Harness;
  let app: FastifyInstance;
  before(async () => {
    h = await setup({
      scheme: 'opaque', // access tokens are looked up: authentication meets the outage
      wrapStore: (store) =>
        new Proxy(store, {
          get(target, prop, receiver) {
            const v = Reflect.get(target, prop, receiver);
            if (typeof v !== 'function' || prop === 'close') return v;
            return (...args: unknown[]) => (down.value ? Promise.reject(new StoreUnavailableError()) : v.apply(target, args));
          },
        }),
    });
    app = Fastify();
    await app.register(tesseraAuth, { tokens: h.tokens });
    app.get('/private', async () => ({ ok: true }));
    app.get('/dec', { config: { public: true }, preHandler: app.authenticate }, async () => ({ ok: true }));
    await app.ready();
  });
  after(async () => {
    await app.close();
    await h.close();
  });

  test('hook and decorator answer 503 + Retry-After, no reason, no challenge', async () => {
    const t = await h.login();
    down.value = true;
    try {
      for (const url of ['/private', '/dec']) {
        const res = await app.inject({ url, headers: bearer(t.access_token) });
        assert.equal(res.statusCode, 503, `${url}: ${res.body}`);
        assert.equal(res.headers['retry-after'], '5', url);
        assert.deepEqual(Object.keys(res.json()).sort(), ['error', 'error_description'], url);
        assert.equal(res.headers['www-authenticate'], undefined, url);
      }
    } finally {
      down.value = false;
    }
    assert.equal((await app.inject({ url: '/private', headers: bearer(t.access_token) })).statusCode, 200);
  });
});
