/**
 * The OpenAPI document at /openapi.json says what the endpoint table
 * (src/http/core/endpoints.ts) says: the same methods and paths, and per row the
 * summary, the Bearer security of a protected row, the body's parameter rules and
 * the documented statuses.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { docText, ENDPOINTS, PUBLIC_ENDPOINT_PATHS } from '../../src/http/core/endpoints.js';
import type { ParamRules } from '../../src/http/core/request.js';
import { generateSigningJwk, type JwkSet, parseSigningKeySet } from '../../src/tokens/jwk.js';
import { type Harness, setup } from './helpers.js';

const SIGNING_KEYS = parseSigningKeySet(JSON.stringify({ keys: [generateSigningJwk('EdDSA')] }));
const JWKS: JwkSet = SIGNING_KEYS.publicJwks();
const CTX = { grantTypes: ['authorization_code', 'password', 'client_credentials', 'refresh_token'], csrfHeader: 'x-csrf-token' };

interface Operation {
  summary?: string;
  security?: { [scheme: string]: string[] }[];
  requestBody?: {
    content: Record<string, { schema: { properties: Record<string, Record<string, unknown>>; required?: string[] } }>;
  };
  responses?: Record<string, unknown>;
}

describe('the OpenAPI document follows the endpoint table', () => {
  let h: Harness;
  let paths: Record<string, Record<string, Operation>>;
  before(async () => {
    h = await setup({ app: { allowRegister: true, jwks: JWKS, oidc: { signingKeys: SIGNING_KEYS } }, authorize: true });
    const res = await h.app.inject({ url: '/openapi.json' });
    assert.equal(res.statusCode, 200);
    paths = res.json().paths;
  });
  after(() => h.close());

  test('the same methods and paths as the table, no more, no fewer', () => {
    const documented = Object.entries(paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    assert.deepEqual(documented.sort(), ENDPOINTS.map((e) => `${e.method} ${e.path}`).sort());
  });

  for (const row of ENDPOINTS) {
    test(`${row.method} ${row.path}: summary, security, parameters and statuses of its row`, () => {
      const op = paths[row.path]?.[row.method.toLowerCase()] as Operation;
      assert.ok(op);
      assert.equal(op.summary, docText(row.doc.summary, CTX));
      if (!row.public) assert.deepEqual(op.security, [{ bearer: [] }]);
      else assert.ok(!op.security?.some((s) => 'bearer' in s), 'a public row does not ask for a Bearer token');
      if (row.params === undefined) assert.equal(op.requestBody, undefined);
      else {
        const schema = op.requestBody?.content['application/x-www-form-urlencoded']?.schema;
        assert.ok(schema);
        if (row.params !== 'grants') {
          const rules: ParamRules = row.params;
          assert.deepEqual(Object.keys(schema.properties), Object.keys(rules));
          for (const [name, rule] of Object.entries(rules)) {
            const p = schema.properties[name] as Record<string, unknown>;
            assert.equal(p.type, 'string', name);
            assert.equal(p.maxLength, rule.max, name);
            assert.equal(p.minLength, rule.min, name);
            assert.equal(p.description, rule.description, name);
          }
          const required = Object.keys(rules).filter((n) => rules[n]?.required);
          assert.deepEqual(schema.required ?? [], required);
        } else {
          for (const name of ['grant_type', 'username', 'password', 'refresh_token', 'client_id', 'client_secret'])
            assert.ok(name in schema.properties, name);
        }
      }
      const declared = [...(row.doc.response ? [row.doc.response.status] : []), ...(row.doc.errors ?? [])].map(String);
      // A row that describes no answer is documented with @fastify/swagger's default 200.
      const statuses = declared.length ? declared : ['200'];
      assert.deepEqual(Object.keys(op.responses ?? {}).sort(), statuses.sort());
    });
  }

  test('the public paths are the public rows', () => {
    assert.deepEqual(
      [...PUBLIC_ENDPOINT_PATHS].sort(),
      ENDPOINTS.filter((e) => e.public)
        .map((e) => e.path)
        .sort(),
    );
    assert.ok(!PUBLIC_ENDPOINT_PATHS.includes('/me'));
    assert.ok(!PUBLIC_ENDPOINT_PATHS.includes('/auth/logout-all'));
  });
});
