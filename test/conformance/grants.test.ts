/**
 * A grant added in one place (the `grants` option) answers on Fastify, Express and Hono
 * alike, with its parameter rules, its client rules and the request's query, and shows in
 * the RFC 8414 metadata, the `unsupported_grant_type` text and the OpenAPI document.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { HttpError } from '../../src/http/core/errors.js';
import type { Grant } from '../../src/http/core/grants/types.js';
import { buildApp } from '../../src/server/app.js';
import { ADAPTERS, type Answer, basicAuth, bearer, type Driver, driver, form, type Shared, shared } from './adapters.js';

/** RFC 6749 §4.5 extension grant: a fixed user for the right code; the query's `tag` goes into a claim. */
const toyGrant: Grant = {
  type: 'urn:example:toy',
  description: 'a toy extension grant (RFC 6749 §4.5)',
  params: { toy_code: { max: 32, required: true, description: 'toy grant: the code `open-sesame`' } },
  async handle(ctx) {
    if (ctx.param('toy_code') !== 'open-sesame') throw new HttpError(400, 'invalid_grant', 'Wrong toy code');
    const tag = ctx.req.query.tag;
    return ctx.tokens.issue({
      sub: 'toy-user',
      clientId: ctx.client.clientId,
      claims: { preferred_username: `toy:${JSON.stringify(tag ?? null)}` },
    });
  },
};

/** A grant only an authenticated confidential client may use. */
const serviceGrant: Grant = {
  type: 'urn:example:service',
  description: 'a toy grant for confidential clients',
  params: {},
  clientAuthentication: 'required',
  clientTypes: ['confidential'],
  handle: (ctx) => ctx.tokens.issue({ sub: `service:${ctx.client.clientId}`, clientId: ctx.client.clientId }),
};

const GRANTS = [toyGrant, serviceGrant];
const ALL_TYPES = ['password', 'client_credentials', 'refresh_token', 'urn:example:toy', 'urn:example:service'];

function assertError(res: Answer, status: number, error: string): Record<string, unknown> {
  assert.equal(res.status, status, res.text);
  const body = res.json();
  assert.equal(body.error, error, res.text);
  return body;
}

for (const name of ADAPTERS) {
  describe(`registered grants: ${name}`, () => {
    let s: Shared;
    let d: Driver;
    before(async () => {
      s = await shared();
      d = await driver(name, s, { grants: GRANTS });
    });
    after(async () => {
      await d.close();
      await s.close();
    });

    const toy = (params: Record<string, string>, query = '') =>
      d.call({ method: 'POST', url: `/auth/token${query}`, ...form({ grant_type: 'urn:example:toy', ...params }) });

    test('a registered grant issues a pair that authenticates and refreshes like any other', async () => {
      const res = await toy({ toy_code: 'open-sesame' });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers['cache-control'], 'no-store');
      const pair = res.json();
      assert.equal(pair.token_type, 'Bearer');
      const me = await d.call({ url: '/me', headers: bearer(pair.access_token as string) });
      assert.equal(me.status, 200, me.text);
      assert.equal(me.json().sub, 'toy-user');
      const refreshed = await d.call({
        method: 'POST',
        url: '/auth/token',
        ...form({ grant_type: 'refresh_token', refresh_token: pair.refresh_token as string }),
      });
      assert.equal(refreshed.status, 200, refreshed.text);
      // The token endpoint records the grant_type that started the session; the refresh keeps it.
      const sessions = await s.tokens.sessions('toy-user');
      assert.ok(sessions.length > 0);
      assert.deepEqual(new Set(sessions.map((x) => x.grant)), new Set(['urn:example:toy']));
    });

    test("the grant's handler refuses with its own error", async () => {
      assertError(await toy({ toy_code: 'wrong' }), 400, 'invalid_grant');
    });

    test("the grant's required parameter and length limit are enforced from its declaration", async () => {
      const missing = assertError(await toy({}), 400, 'invalid_request');
      assert.equal(missing.error_description, 'grant_type=urn:example:toy needs toy_code');
      const long = assertError(await toy({ toy_code: 'x'.repeat(33) }), 400, 'invalid_request');
      assert.match(long.error_description as string, /toy_code must NOT have more than 32 characters/);
    });

    test('the handler reads the parsed query string (a repeated name is an array)', async () => {
      const claimOf = async (query: string) => {
        const res = await toy({ toy_code: 'open-sesame' }, query);
        assert.equal(res.status, 200, res.text);
        const me = await d.call({ url: '/me', headers: bearer(res.json().access_token as string) });
        return me.json().preferred_username;
      };
      assert.equal(await claimOf(''), 'toy:null');
      assert.equal(await claimOf('?tag=a%20b+c'), 'toy:"a b c"');
      assert.equal(await claimOf('?tag=1&other=x&tag=2'), 'toy:["1","2"]');
    });

    test('a grant that needs client authentication: 401 invalid_client without it, a pair with it', async () => {
      const anonymous = await d.call({ method: 'POST', url: '/auth/token', ...form({ grant_type: 'urn:example:service' }) });
      assertError(anonymous, 401, 'invalid_client');
      const ok = await d.call({
        method: 'POST',
        url: '/auth/token',
        ...form({ grant_type: 'urn:example:service' }, basicAuth(s.rs.id, s.rs.secret)),
      });
      assert.equal(ok.status, 200, ok.text);
      const me = await d.call({ url: '/me', headers: bearer(ok.json().access_token as string) });
      assert.equal(me.json().sub, 'service:rs');
    });

    test('an unknown grant_type is unsupported_grant_type naming every registered grant', async () => {
      const res = await d.call({
        method: 'POST',
        url: '/auth/token',
        ...form({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code' }),
      });
      const body = assertError(res, 400, 'unsupported_grant_type');
      assert.equal(body.error_description, `Supported grant types: ${ALL_TYPES.join(', ')}`);
    });

    test('RFC 8414 grant_types_supported lists the registered grants', async () => {
      const res = await d.call({ url: '/.well-known/oauth-authorization-server' });
      assert.equal(res.status, 200);
      assert.deepEqual(res.json().grant_types_supported, ALL_TYPES);
    });
  });
}

describe('registered grants: the OpenAPI document of the Fastify server', () => {
  test("/auth/token's body schema has the grant's parameters and grant_type names every grant", async (t) => {
    const s = await shared();
    const app = buildApp({ tokens: s.tokens, users: s.users, clients: s.clients, grants: GRANTS, log: false, demo: false });
    t.after(async () => {
      await app.close();
      await s.close();
    });
    const spec = (await app.inject({ url: '/openapi.json' })).json();
    const op = spec.paths['/auth/token'].post;
    const schema = op.requestBody.content['application/x-www-form-urlencoded'].schema;
    assert.deepEqual(schema.properties.toy_code, {
      type: 'string',
      maxLength: 32,
      description: 'toy grant: the code `open-sesame`',
    });
    assert.deepEqual(schema.required, ['grant_type']);
    for (const type of ALL_TYPES) {
      assert.ok(schema.properties.grant_type.description.includes(`\`${type}\``), type);
      assert.ok(op.summary.includes(type), type);
    }
    for (const p of ['username', 'password', 'refresh_token', 'scope', 'client_id', 'client_secret'])
      assert.ok(schema.properties[p], p);
  });

  test('without the grants option the document and the endpoint know only the built-in grants', async (t) => {
    const s = await shared();
    const app = buildApp({ tokens: s.tokens, users: s.users, clients: s.clients, log: false, demo: false });
    t.after(async () => {
      await app.close();
      await s.close();
    });
    const spec = (await app.inject({ url: '/openapi.json' })).json();
    const schema = spec.paths['/auth/token'].post.requestBody.content['application/x-www-form-urlencoded'].schema;
    assert.equal(schema.properties.toy_code, undefined);
    const res = await app.inject({
      method: 'POST',
      url: '/auth/token',
      ...form({ grant_type: 'urn:example:toy', toy_code: 'open-sesame' }),
    });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error_description, 'Supported grant types: password, client_credentials, refresh_token');
  });
});
