/**
 * Security headers on every route (nosniff, a CSP
 * with frame-ancestors 'none', one that Swagger UI works under on /docs, the
 * demo page's strict one), no-store on answers that carry a token or a
 * principal, and duplicate JSON member names refused like duplicate form fields.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { findDuplicateKey } from '../../src/http/core/strict-json.js';
import { bearer, type Harness, PASSWORD, setup } from './helpers.js';

function csp(res: { headers: Record<string, unknown> }): Map<string, string> {
  const value = String(res.headers['content-security-policy'] ?? '');
  return new Map(
    value
      .split(';')
      .map((d) => d.trim())
      .filter(Boolean)
      .map((d) => {
        const i = d.indexOf(' ');
        return [i < 0 ? d : d.slice(0, i), i < 0 ? '' : d.slice(i + 1)] as [string, string];
      }),
  );
}

describe('security headers', () => {
  let h: Harness;
  let access: string;
  before(async () => {
    h = await setup();
    access = (await h.login()).access_token;
  });
  after(() => h.close());

  test('every answer has nosniff and a CSP with frame-ancestors none: JSON, errors, 404s, /docs, the demo page', async () => {
    const answers = [
      await h.app.inject({ url: '/health' }),
      await h.app.inject({ url: '/me', headers: bearer(access) }),
      await h.app.inject({ url: '/me' }),
      await h.app.inject({ url: '/nope' }),
      await h.app.inject({
        method: 'POST',
        url: '/auth/token',
        payload: { grant_type: 'password', username: 'alice', password: 'x' },
      }),
      await h.app.inject({ url: '/openapi.json' }),
      await h.app.inject({ url: '/docs' }),
      await h.app.inject({ url: '/docs/' }),
      await h.app.inject({ url: '/docs/static/swagger-initializer.js' }),
      await h.app.inject({ url: '/' }),
    ];
    for (const res of answers) {
      const where = `${res.raw.req.url} -> ${res.statusCode}`;
      assert.equal(res.headers['x-content-type-options'], 'nosniff', where);
      assert.equal(csp(res).get('frame-ancestors'), "'none'", where);
      assert.equal(res.headers['x-frame-options'], 'DENY', where);
    }
  });

  test("API answers: default-src 'none'; /docs: scripts only from this origin, no inline script; /: the demo page's strict policy", async () => {
    assert.equal(csp(await h.app.inject({ url: '/health' })).get('default-src'), "'none'");
    const docs = await h.app.inject({ url: '/docs/' });
    assert.equal(docs.statusCode, 200);
    const policy = csp(docs);
    assert.equal(policy.get('script-src'), "'self'");
    assert.equal(policy.get('connect-src'), "'self'");
    // Swagger UI's page loads its scripts from files; an inline one would be blocked by this policy.
    const scripts = [...docs.body.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
    assert.ok(scripts.length >= 2);
    for (const [, attrs, body] of scripts) {
      assert.match(attrs as string, /src="/);
      assert.equal((body as string).trim(), '');
    }
    assert.doesNotMatch(docs.body, /\son[a-z]+="/i, 'no inline event handlers');
    const page = await h.app.inject({ url: '/' });
    const demo = csp(page);
    assert.equal(demo.get('script-src'), "'self'");
    assert.ok(!page.body.match(/<script(?![^>]*\bsrc=)[^>]*>/), 'the demo page has no inline script');
    assert.doesNotMatch(page.body, /\sstyle="|\son[a-z]+="/i);
  });

  test('Cache-Control: no-store on every answer that carries a token or a principal', async () => {
    const t = await h.login();
    const answers = [
      await h.app.inject({ url: '/me', headers: bearer(t.access_token) }),
      await h.app.inject({
        method: 'POST',
        url: '/auth/token',
        payload: { grant_type: 'password', username: 'alice', password: PASSWORD },
      }),
      await h.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: t.refresh_token } }),
      await h.app.inject({
        method: 'POST',
        url: '/auth/introspect',
        // RFC 7662 §2.1: a resource server authenticates as a client registered for introspection.
        headers: h.rs.basic,
        payload: { token: t.access_token },
      }),
    ];
    for (const res of answers) {
      assert.equal(res.statusCode, 200, res.raw.req.url);
      assert.equal(res.headers['cache-control'], 'no-store', res.raw.req.url);
    }
  });
});

describe('duplicate JSON member names', () => {
  let h: Harness;
  before(async () => {
    h = await setup();
  });
  after(() => h.close());

  test('{"refresh_token":"garbage","refresh_token":"<valid>"} is a 400 invalid_request, not a refresh', async () => {
    const t = await h.tokens.issue({ sub: 'dup' });
    const payload = `{"refresh_token":"garbage","refresh_token":${JSON.stringify(t.refreshToken)}}`;
    const res = await h.app.inject({
      method: 'POST',
      url: '/auth/refresh',
      headers: { 'content-type': 'application/json' },
      payload,
    });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error, 'invalid_request');
    assert.match(res.json().error_description, /duplicate/);
    assert.ok(!res.body.includes('garbage'));
    // The same token, once, still works: nothing was consumed.
    const once = await h.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: t.refreshToken } });
    assert.equal(once.statusCode, 200);
  });

  test('on every JSON route, escaped spellings included; prototype poisoning still refused', async () => {
    const post = (url: string, payload: string) =>
      h.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json; charset=utf-8' }, payload });
    for (const payload of [
      '{"grant_type":"password","username":"alice","username":"bob","password":"x"}',
      '{"grant_type":"password","grant_type":"refresh_token"}',
      '{"grant_type":"password","user\\u006eame":"a","username":"b","password":"x"}',
    ]) {
      const res = await post('/auth/token', payload);
      assert.equal(res.statusCode, 400, payload);
      assert.equal(res.json().error, 'invalid_request');
    }
    assert.equal((await post('/auth/revoke', '{"token":"a","token":"b"}')).statusCode, 400);
    assert.equal((await post('/auth/token', '{"__proto__":{"x":1},"grant_type":"password"}')).statusCode, 400);
    assert.equal((await post('/auth/token', '{"grant_type":"password","username":"alice","password":')).statusCode, 400);
  });

  test('findDuplicateKey: per object, not across objects or arrays; strings that look like keys do not count', () => {
    assert.equal(findDuplicateKey('{"a":1,"a":2}'), 'a');
    assert.equal(findDuplicateKey('{"a":{"b":1},"c":{"b":2}}'), undefined);
    assert.equal(findDuplicateKey('{"a":{"b":1,"b":2}}'), 'b');
    assert.equal(findDuplicateKey('[{"a":1},{"a":2}]'), undefined);
    assert.equal(findDuplicateKey('{"a":"a","b":["a","a"]}'), undefined);
    assert.equal(findDuplicateKey('{"a\\"":1,"a\\"":2}'), 'a"');
    assert.equal(findDuplicateKey('{"x":[1,{"y":1}],"y":2}'), undefined);
    assert.equal(findDuplicateKey('{"x":[1,2],"x":3}'), 'x');
    assert.equal(findDuplicateKey('"just a string"'), undefined);
    assert.equal(findDuplicateKey('{"a":"x\\\\","a":1}'), 'a', 'a value ending in an escaped backslash');
    assert.equal(findDuplicateKey('{"a":"q\\"a","b":"a","b":1}'), 'b', 'an escaped quote inside a value');
    assert.equal(findDuplicateKey('{"\\u0061":1,"a":2}'), 'a', 'an escaped name is the name it decodes to');
    assert.equal(findDuplicateKey('{"a":"\\\\"}'), undefined);
    assert.equal(findDuplicateKey('{"a":"unterminated'), undefined);
    assert.equal(findDuplicateKey('{"a":"\\'), undefined);
  });

  test('findDuplicateKey: the same answer as a character-by-character scan, on generated JSON with escapes', () => {
    // The scan before strings were skipped with indexOf: the reference.
    const reference = (text: string): string | undefined => {
      const stack: (Set<string> | null)[] = [];
      let expectName = false;
      for (let i = 0; i < text.length; i++) {
        const c = text[i];
        if (c === '"') {
          const start = i + 1;
          let escaped = false;
          i++;
          while (i < text.length && text[i] !== '"') {
            if (text[i] === '\\') {
              escaped = true;
              i++;
            }
            i++;
          }
          if (i >= text.length) return undefined;
          const top = stack[stack.length - 1];
          if (expectName && top) {
            const raw = text.slice(start, i);
            const name = escaped ? (JSON.parse(`"${raw}"`) as string) : raw;
            if (top.has(name)) return name;
            top.add(name);
            expectName = false;
          }
        } else if (c === '{') {
          stack.push(new Set());
          expectName = true;
        } else if (c === '[') {
          stack.push(null);
          expectName = false;
        } else if (c === '}' || c === ']') {
          stack.pop();
          expectName = false;
        } else if (c === ',') expectName = stack[stack.length - 1] != null;
      }
      return undefined;
    };
    // Names and values from a small alphabet with quotes and backslashes, so that escapes and
    // repeated names are common; a member is written twice by splicing the text.
    const text = fc.string({ unit: fc.constantFrom('a', 'b', '"', '\\', '/', 'é'), maxLength: 6 });
    const value = fc.letrec<{ v: unknown }>((tie) => ({
      v: fc.oneof(
        { depthSize: 'small' },
        text,
        fc.integer(),
        fc.array(tie('v'), { maxLength: 3 }),
        fc.dictionary(text, tie('v'), { maxKeys: 3 }),
      ),
    })).v;
    fc.assert(
      fc.property(value, fc.nat(), fc.boolean(), (v, at, dup) => {
        let json = JSON.stringify(v);
        if (dup) {
          // Repeat the first member of the first object found after `at` (when there is one).
          const open = json.indexOf('{"', at % (json.length + 1));
          const colon = open < 0 ? -1 : json.indexOf('":', open);
          if (colon > 0) json = `${json.slice(0, open + 1)}${json.slice(open + 1, colon + 2)}0,${json.slice(open + 1)}`;
        }
        const expected = reference(json);
        assert.equal(findDuplicateKey(json), expected, json);
        // The truncated text too: a scan must stop cleanly wherever the body ends.
        assert.equal(findDuplicateKey(json.slice(0, at % (json.length + 1))), reference(json.slice(0, at % (json.length + 1))));
      }),
      { numRuns: 3000 },
    );
  });
});
