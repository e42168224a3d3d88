/**
 * Failure modes: a store outage is a 503 with Retry-After (never an accept),
 * and no junk input produces a 500, a stack trace or an echo of the input.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { flakyStore } from '../support/flaky-store.js';
import { bearer, form, type Harness, PASSWORD, setup } from './helpers.js';

function assert503(res: { statusCode: number; headers: Record<string, unknown>; json(): { error: string } }, what: string) {
  assert.equal(res.statusCode, 503, what);
  assert.equal(res.headers['retry-after'], '5', what);
  assert.equal(res.json().error, 'temporarily_unavailable', what);
}

for (const scheme of ['jwt', 'opaque'] as const) {
  describe(`store outage (${scheme}): 503 + Retry-After, never an accept`, () => {
    const down = { value: false };
    let h: Harness;
    before(async () => {
      h = await setup({ scheme, wrapStore: (store) => flakyStore(store, down) });
    });
    after(() => h.close());

    test('every stateful endpoint answers 503', async () => {
      const t = await h.login();
      down.value = true;
      try {
        assert503(
          await h.app.inject({
            method: 'POST',
            url: '/auth/token',
            payload: { grant_type: 'password', username: 'alice', password: PASSWORD },
          }),
          'login',
        );
        assert503(
          await h.app.inject({
            method: 'POST',
            url: '/auth/token',
            ...form({ grant_type: 'refresh_token', refresh_token: t.refresh_token }),
          }),
          'refresh grant',
        );
        assert503(
          await h.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: t.refresh_token } }),
          'refresh',
        );
        assert503(await h.app.inject({ method: 'POST', url: '/auth/revoke', payload: { token: t.refresh_token } }), 'revoke');
        assert503(
          await h.app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: t.refresh_token } }),
          'logout',
        );
        assert503(await h.app.inject({ url: '/ready' }), 'ready');
        const me = await h.app.inject({ url: '/me', headers: bearer(t.access_token) });
        if (scheme === 'opaque') assert503(me, '/me with an opaque token (always looked up)');
        else assert.equal(me.statusCode, 200, 'a jwt access token verifies without I/O');
        if (scheme === 'jwt') {
          assert503(
            await h.app.inject({ method: 'POST', url: '/auth/logout-all', headers: bearer(t.access_token) }),
            'logout-all',
          );
        }
      } finally {
        down.value = false;
      }
      // Back up: the refresh token was never consumed by the failed attempts.
      const r = await h.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: t.refresh_token } });
      assert.equal(r.statusCode, 200);
    });
  });
}

describe('junk input: no 500, no stack, no echo', () => {
  let h: Harness;
  before(async () => {
    h = await setup();
  });
  after(() => h.close());

  const SECRET_MARK = 'S3cr3t-Marker-pw';
  const json = { 'content-type': 'application/json' };
  const formType = { 'content-type': 'application/x-www-form-urlencoded' };
  const cases: {
    name: string;
    url: string;
    method?: 'GET' | 'POST';
    headers?: Record<string, string>;
    payload?: string | object;
  }[] = [
    {
      name: 'truncated JSON with a password',
      url: '/auth/token',
      headers: json,
      payload: `{"grant_type":"password","password":"${SECRET_MARK}`,
    },
    { name: 'JSON array', url: '/auth/token', headers: json, payload: `["${SECRET_MARK}"]` },
    { name: 'JSON string', url: '/auth/token', headers: json, payload: `"${SECRET_MARK}"` },
    { name: 'JSON null', url: '/auth/token', headers: json, payload: 'null' },
    { name: 'empty JSON body', url: '/auth/token', headers: json, payload: '' },
    {
      name: 'number instead of string',
      url: '/auth/token',
      payload: { grant_type: 'password', username: 'alice', password: 12345678 },
    },
    { name: 'object instead of string', url: '/auth/token', payload: { grant_type: { $ne: 1 }, password: SECRET_MARK } },
    { name: 'array grant_type', url: '/auth/token', payload: { grant_type: ['password', 'refresh_token'] } },
    {
      name: 'prototype pollution',
      url: '/auth/token',
      headers: json,
      payload: `{"grant_type":"password","__proto__":{"admin":true},"password":"${SECRET_MARK}"}`,
    },
    {
      name: 'constructor pollution',
      url: '/auth/token',
      headers: json,
      payload: '{"grant_type":"password","constructor":{"prototype":{"x":1}}}',
    },
    {
      name: 'duplicate form parameter (RFC 6749 §3.1)',
      url: '/auth/token',
      headers: formType,
      payload: `grant_type=password&grant_type=refresh_token&password=${SECRET_MARK}`,
    },
    {
      name: 'form with broken percent-encoding',
      url: '/auth/token',
      headers: formType,
      payload: `grant_type=%ZZ&password=%E0%A4%A&x=${SECRET_MARK}`,
    },
    {
      name: 'unsupported content type',
      url: '/auth/token',
      headers: { 'content-type': 'application/xml' },
      payload: `<password>${SECRET_MARK}</password>`,
    },
    { name: 'text/plain', url: '/auth/refresh', headers: { 'content-type': 'text/plain' }, payload: SECRET_MARK },
    {
      name: 'multipart',
      url: '/auth/token',
      headers: { 'content-type': 'multipart/form-data; boundary=x' },
      payload: `--x\r\n${SECRET_MARK}`,
    },
    {
      name: 'huge body',
      url: '/auth/token',
      headers: json,
      payload: JSON.stringify({ grant_type: 'password', password: SECRET_MARK.repeat(10_000) }),
    },
    { name: 'overlong refresh token', url: '/auth/refresh', payload: { refresh_token: `${SECRET_MARK}${'A'.repeat(9000)}` } },
    {
      name: 'overlong password',
      url: '/auth/token',
      payload: { grant_type: 'password', username: 'alice', password: SECRET_MARK.repeat(200) },
    },
    { name: 'NUL bytes', url: '/auth/refresh', payload: { refresh_token: `\u0000${SECRET_MARK}\u0000` } },
    { name: 'unicode token', url: '/auth/refresh', payload: { refresh_token: `🔑${SECRET_MARK}` } },
    {
      name: 'jwt-shaped junk',
      url: '/auth/refresh',
      payload: { refresh_token: `eyJhbGciOiJub25lIn0.eyJ0eXBlIjoicmVmcmVzaCJ9.${SECRET_MARK}` },
    },
    {
      name: 'introspect junk with junk bearer',
      url: '/auth/introspect',
      headers: { authorization: `Bearer ${SECRET_MARK}` },
      payload: { token: SECRET_MARK },
    },
    { name: 'bearer with spaces', url: '/me', method: 'GET', headers: { authorization: `Bearer ${SECRET_MARK} ${SECRET_MARK}` } },
    { name: 'query-string token', url: `/me?access_token=${SECRET_MARK}`, method: 'GET' },
    { name: 'path traversal on docs', url: '/docs/static/../../package.json', method: 'GET' },
    { name: 'bad percent-encoding in path', url: '/auth/%E0%A4%A', method: 'GET' },
    { name: 'GET on a POST route', url: '/auth/token', method: 'GET' },
    { name: 'revoke with object token', url: '/auth/revoke', payload: { token: { nested: SECRET_MARK } } },
    { name: 'logout with number', url: '/auth/logout', payload: { refresh_token: 42 } },
  ];

  for (const c of cases) {
    test(c.name, async () => {
      const res = await h.app.inject({
        method: c.method ?? 'POST',
        url: c.url,
        headers: c.headers,
        payload: c.payload as string,
      });
      assert.ok(res.statusCode >= 400 && res.statusCode < 500, `${c.name}: status ${res.statusCode} ${res.body}`);
      const b = res.json();
      assert.equal(typeof b.error, 'string', c.name);
      assert.equal(typeof b.error_description, 'string', c.name);
      assert.ok(!res.body.includes(SECRET_MARK), `${c.name}: echoed the input: ${res.body}`);
      assert.ok(!/at .*\.(ts|js):\d+/.test(res.body), `${c.name}: stack trace`);
    });
  }

  test('prototype pollution did not leak', () => {
    assert.equal(({} as Record<string, unknown>).admin, undefined);
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });
});
