/**
 * The grant registry's own rules (core/grants/registry.ts) and the query parser every
 * adapter uses (core/request.ts `parseQuery`).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { passwordGrant } from '../../src/http/core/grants/password.js';
import { refreshTokenGrant } from '../../src/http/core/grants/refresh-token.js';
import { builtinGrants, createGrantRegistry } from '../../src/http/core/grants/registry.js';
import type { Grant } from '../../src/http/core/grants/types.js';
import { createAuthHandlers } from '../../src/http/core/handlers.js';
import { parseQuery } from '../../src/http/core/request.js';
import { form, setup } from './helpers.js';

const fixed = (type: string, extra: Partial<Grant> = {}): Grant => ({
  type,
  description: type,
  params: {},
  handle: (ctx) => ctx.tokens.issue({ sub: 'fixed', clientId: ctx.client.clientId }),
  ...extra,
});

describe('grant registry', () => {
  test('the built-in grants: authorization_code with codes, password with a user directory unless off, client_credentials, refresh_token', () => {
    assert.deepEqual(
      builtinGrants({ users: undefined, codes: undefined }).map((g) => g.type),
      ['client_credentials', 'refresh_token'],
    );
    assert.deepEqual(
      builtinGrants({ users: {} as never, codes: undefined }).map((g) => g.type),
      ['password', 'client_credentials', 'refresh_token'],
    );
    assert.deepEqual(
      builtinGrants({ users: {} as never, codes: {} as never, password: false, clientCredentials: false }).map((g) => g.type),
      ['authorization_code', 'refresh_token'],
    );
  });

  test("the token endpoint's rules: grant_type first, the grants' parameters (all optional), the client's last", () => {
    const r = createGrantRegistry([passwordGrant, refreshTokenGrant]);
    assert.deepEqual(Object.keys(r.rules), [
      'grant_type',
      'username',
      'password',
      'refresh_token',
      'scope',
      'client_id',
      'client_secret',
    ]);
    assert.deepEqual(r.rules.grant_type, { min: 1, max: 64, required: true });
    for (const name of ['username', 'password', 'refresh_token', 'scope']) assert.equal(r.rules[name]?.required, undefined);
  });

  test('a grant_type registered twice, an unfit type, or a clash of parameter limits is refused at construction', () => {
    assert.throws(() => createGrantRegistry([refreshTokenGrant, fixed('refresh_token')]), /registered twice/);
    assert.throws(() => createGrantRegistry([fixed('')]), TypeError);
    assert.throws(() => createGrantRegistry([fixed('x'.repeat(65))]), TypeError);
    assert.throws(
      () => createGrantRegistry([passwordGrant, fixed('urn:x', { params: { username: { max: 10, description: 'x' } } })]),
      /another length limit/,
    );
    assert.throws(
      () => createGrantRegistry([fixed('urn:x', { params: { client_id: { max: 1024, description: 'x' } } })]),
      /cannot redefine/,
    );
  });

  test('a shared parameter with the same limit is listed once, its descriptions joined', () => {
    const r = createGrantRegistry([
      refreshTokenGrant,
      fixed('urn:x', { params: { scope: { max: 1024, description: 'urn:x grant: the scope' } } }),
    ]);
    assert.match(r.params.scope?.description ?? '', /RFC 6749 §6.*; urn:x grant: the scope$/);
  });

  test('an object key of Object.prototype is no grant_type', () => {
    const r = createGrantRegistry([refreshTokenGrant]);
    for (const t of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) assert.equal(r.get(t), undefined);
    assert.equal(r.get(['refresh_token']), undefined);
  });
});

describe('grant client rules', () => {
  test('a grant limited to public clients refuses a confidential one with 400 unauthorized_client (RFC 6749 §5.2)', async (t) => {
    const publicOnly = fixed('urn:example:public-only', { clientTypes: ['public'] });
    const h = await setup({ app: { grants: [publicOnly] } });
    t.after(() => h.close());
    const asPublic = await h.app.inject({ method: 'POST', url: '/auth/token', ...form({ grant_type: publicOnly.type }) });
    assert.equal(asPublic.statusCode, 200, asPublic.body);
    const { headers, payload } = form({ grant_type: publicOnly.type });
    const asConfidential = await h.app.inject({
      method: 'POST',
      url: '/auth/token',
      headers: { ...headers, ...h.rs.basic },
      payload,
    });
    assert.equal(asConfidential.statusCode, 400, asConfidential.body);
    assert.equal(asConfidential.json().error, 'unauthorized_client');
  });

  test('a grant is given the authenticated client and whether it proved a secret', async (t) => {
    const seen: [string, boolean][] = [];
    const probe = fixed('urn:example:probe', {
      handle: (ctx) => {
        seen.push([ctx.client.clientId, ctx.authenticated]);
        return ctx.tokens.issue({ sub: 'probe', clientId: ctx.client.clientId });
      },
    });
    const h = await setup({ app: { grants: [probe] } });
    t.after(() => h.close());
    const { headers, payload } = form({ grant_type: probe.type });
    await h.app.inject({ method: 'POST', url: '/auth/token', headers, payload });
    await h.app.inject({ method: 'POST', url: '/auth/token', headers: { ...headers, ...h.rs.basic }, payload });
    assert.deepEqual(seen, [
      ['tessera', false],
      ['rs', true],
    ]);
  });

  test('without a user directory the password grant is not registered: unsupported_grant_type names the others', async () => {
    const h = await setup();
    try {
      const handlers = createAuthHandlers({ tokens: h.tokens, rateLimit: false });
      assert.deepEqual(handlers.grants.types, ['client_credentials', 'refresh_token']);
      await assert.rejects(
        handlers.token({
          method: 'POST',
          path: '/auth/token',
          headers: {},
          body: { grant_type: 'password', username: 'alice', password: 'x' },
          query: {},
          ip: '127.0.0.1',
          cookies: {},
        }),
        (e: Error & { code?: string }) =>
          e.code === 'unsupported_grant_type' && e.message === 'Supported grant types: client_credentials, refresh_token',
      );
    } finally {
      await h.close();
    }
  });
});

describe('parseQuery', () => {
  test('decodes a query as a form: + and %20 are spaces, a repeated name is an array, the fragment is not part of it', () => {
    assert.deepEqual({ ...parseQuery('/auth/token?a=1&b=x+y%20z&a=2#frag=3') }, { a: ['1', '2'], b: 'x y z' });
    assert.deepEqual(
      { ...parseQuery('http://localhost/authorize?response_type=code&state=') },
      { response_type: 'code', state: '' },
    );
  });

  test('no query, or an empty one, is an empty object that has no prototype keys', () => {
    for (const target of ['/me', '/me?', '/me?#x']) {
      const q = parseQuery(target);
      assert.deepEqual(Object.keys(q), []);
      assert.equal((q as Record<string, unknown>).constructor, undefined);
    }
  });
});
