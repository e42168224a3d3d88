/**
 * The Fastify plugin on its own: protected by default, public by config,
 * scopes, RFC 6750 challenges, and the Authorization header parser.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
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
