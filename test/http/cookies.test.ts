/**
 * Browser mode: the refresh token in an HttpOnly; Secure; SameSite=Strict
 * `__Secure-` cookie on /auth, and the signed double-submit CSRF check (an HMAC
 * of the session's refresh token in a `__Host-` cookie) on cookie-authenticated
 * refresh and logout.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Harness, PASSWORD, setup } from './helpers.js';

interface Cookie {
  name: string;
  value: string;
  attrs: Map<string, string | true>;
}

function cookies(setCookie: string | string[] | undefined): Map<string, Cookie> {
  const list = setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie];
  const out = new Map<string, Cookie>();
  for (const line of list) {
    const [pair, ...attrs] = line.split(';').map((s) => s.trim());
    const i = (pair as string).indexOf('=');
    const name = (pair as string).slice(0, i);
    const map = new Map<string, string | true>();
    for (const a of attrs) {
      const j = a.indexOf('=');
      map.set((j < 0 ? a : a.slice(0, j)).toLowerCase(), j < 0 ? true : a.slice(j + 1));
    }
    out.set(name, { name, value: (pair as string).slice(i + 1), attrs: map });
  }
  return out;
}

const RT = '__Secure-tessera_rt';
const CSRF = '__Host-tessera_csrf';

describe('cookie mode', () => {
  let h: Harness;
  before(async () => {
    h = await setup({ app: { cookie: {} } });
  });
  after(() => h.close());

  async function login() {
    const res = await h.app.inject({
      method: 'POST',
      url: '/auth/token',
      payload: { grant_type: 'password', username: 'alice', password: PASSWORD },
    });
    assert.equal(res.statusCode, 200);
    const jar = cookies(res.headers['set-cookie']);
    return { res, rt: jar.get(RT) as Cookie, csrf: jar.get(CSRF) as Cookie };
  }

  test('login sets an HttpOnly; Secure; SameSite=Strict __Secure- refresh cookie on Path=/auth and a __Host- CSRF cookie', async () => {
    const { res, rt, csrf } = await login();
    const b = res.json();
    assert.equal(b.refresh_token, undefined);
    assert.equal(typeof b.access_token, 'string');
    assert.ok(rt && rt.value.length > 10);
    assert.equal(rt.attrs.get('httponly'), true);
    assert.equal(rt.attrs.get('secure'), true);
    assert.equal(rt.attrs.get('samesite'), 'Strict');
    assert.equal(rt.attrs.get('path'), '/auth');
    assert.equal(rt.attrs.get('max-age'), String(b.refresh_expires_in));
    assert.ok(csrf && csrf.value.length >= 43);
    assert.equal(csrf.attrs.get('httponly'), undefined, 'the CSRF cookie is readable by the page');
    assert.equal(csrf.attrs.get('path'), '/');
    assert.equal(csrf.attrs.get('samesite'), 'Strict');
    // __Host- (RFC 6265bis §4.1.3.2): Secure, Path=/, no Domain.
    assert.equal(csrf.attrs.get('secure'), true);
    assert.equal(csrf.attrs.get('domain'), undefined);
    assert.equal(rt.attrs.get('domain'), undefined);
  });

  test('the CSRF value is bound to the session: an equal cookie/header pair of another value, or of another session, fails', async () => {
    const a = await login();
    const b = await login();
    const forged = await h.app.inject({
      method: 'POST',
      url: '/auth/refresh',
      cookies: { [RT]: a.rt.value, [CSRF]: 'attacker-chosen' },
      headers: { 'x-csrf-token': 'attacker-chosen' },
    });
    assert.equal(forged.statusCode, 403);
    const crossed = await h.app.inject({
      method: 'POST',
      url: '/auth/refresh',
      cookies: { [RT]: a.rt.value, [CSRF]: b.csrf.value },
      headers: { 'x-csrf-token': b.csrf.value },
    });
    assert.equal(crossed.statusCode, 403);
    const logout = await h.app.inject({
      method: 'POST',
      url: '/auth/logout',
      cookies: { [RT]: a.rt.value, [CSRF]: b.csrf.value },
      headers: { 'x-csrf-token': b.csrf.value },
    });
    assert.equal(logout.statusCode, 403);
    // Session a is untouched by the refused attempts.
    const ok = await h.app.inject({
      method: 'POST',
      url: '/auth/refresh',
      cookies: { [RT]: a.rt.value, [CSRF]: a.csrf.value },
      headers: { 'x-csrf-token': a.csrf.value },
    });
    assert.equal(ok.statusCode, 200);
  });

  test('a cookie refresh needs the X-CSRF-Token header to match the CSRF cookie', async () => {
    const { rt, csrf } = await login();
    const jar = { [RT]: rt.value, [CSRF]: csrf.value };
    const none = await h.app.inject({ method: 'POST', url: '/auth/refresh', cookies: jar });
    assert.equal(none.statusCode, 403);
    assert.equal(none.json().error, 'invalid_request');
    assert.match(none.json().error_description, /CSRF/);
    const wrong = await h.app.inject({
      method: 'POST',
      url: '/auth/refresh',
      cookies: jar,
      headers: { 'x-csrf-token': `${csrf.value.slice(0, -1)}x` },
    });
    assert.equal(wrong.statusCode, 403);
    const noCookie = await h.app.inject({
      method: 'POST',
      url: '/auth/refresh',
      cookies: { [RT]: rt.value },
      headers: { 'x-csrf-token': csrf.value },
    });
    assert.equal(noCookie.statusCode, 403);

    const ok = await h.app.inject({
      method: 'POST',
      url: '/auth/refresh',
      cookies: jar,
      headers: { 'x-csrf-token': csrf.value },
    });
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.headers['cache-control'], 'no-store');
    assert.equal(ok.json().refresh_token, undefined);
    const next = cookies(ok.headers['set-cookie']);
    assert.notEqual(next.get(RT)?.value, rt.value, 'rotated');
    // The CSRF value follows the refresh token: a new one with each rotation, the old one is refused.
    const csrf2 = next.get(CSRF)?.value as string;
    assert.notEqual(csrf2, csrf.value);
    const jar2 = { [RT]: next.get(RT)?.value as string, [CSRF]: csrf2 };
    const stale = await h.app.inject({
      method: 'POST',
      url: '/auth/refresh',
      cookies: { ...jar2, [CSRF]: csrf.value },
      headers: { 'x-csrf-token': csrf.value },
    });
    assert.equal(stale.statusCode, 403);
    const second = await h.app.inject({
      method: 'POST',
      url: '/auth/refresh',
      cookies: jar2,
      headers: { 'x-csrf-token': csrf2 },
    });
    assert.equal(second.statusCode, 200);
    // A new login gets a new CSRF value.
    assert.notEqual((await login()).csrf.value, csrf.value);

    // Replaying the consumed cookie: reuse detected, the dead cookie is cleared.
    const replay = await h.app.inject({
      method: 'POST',
      url: '/auth/refresh',
      cookies: jar,
      headers: { 'x-csrf-token': csrf.value },
    });
    assert.equal(replay.statusCode, 400);
    assert.match(replay.json().error_description, /reused/);
    const cleared = cookies(replay.headers['set-cookie']).get(RT);
    assert.equal(cleared?.value, '');
    assert.ok(cleared?.attrs.has('expires') || cleared?.attrs.get('max-age') === '0');
  });

  test('a refresh token in the body needs no CSRF header and comes back in the body', async () => {
    const t = await h.tokens.issue({ sub: 'body-client' });
    const res = await h.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: t.refreshToken } });
    assert.equal(res.statusCode, 200);
    assert.equal(typeof res.json().refresh_token, 'string');
  });

  test('logout with the cookie: CSRF checked, family ended, cookies cleared', async () => {
    const { rt, csrf } = await login();
    const jar = { [RT]: rt.value, [CSRF]: csrf.value };
    const forged = await h.app.inject({ method: 'POST', url: '/auth/logout', cookies: jar });
    assert.equal(forged.statusCode, 403);
    const res = await h.app.inject({
      method: 'POST',
      url: '/auth/logout',
      cookies: jar,
      headers: { 'x-csrf-token': csrf.value },
    });
    assert.equal(res.statusCode, 204);
    const cleared = cookies(res.headers['set-cookie']);
    assert.equal(cleared.get(RT)?.value, '');
    assert.equal(cleared.get(CSRF)?.value, '');
    const after = await h.app.inject({
      method: 'POST',
      url: '/auth/refresh',
      cookies: jar,
      headers: { 'x-csrf-token': csrf.value },
    });
    assert.equal(after.statusCode, 400);
  });
});

describe('cookie mode, insecure cookies for plain-http development', () => {
  let h: Harness;
  before(async () => {
    h = await setup({ app: { cookie: { secure: false } } });
  });
  after(() => h.close());

  test('no Secure attribute and no name prefix (browsers refuse prefixed names without Secure), everything else unchanged', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/auth/token',
      payload: { grant_type: 'password', username: 'alice', password: PASSWORD },
    });
    const jar = cookies(res.headers['set-cookie']);
    assert.ok(jar.has('tessera_csrf'));
    const rt = jar.get('tessera_rt');
    assert.equal(rt?.attrs.get('secure'), undefined);
    assert.equal(rt?.attrs.get('httponly'), true);
    assert.equal(rt?.attrs.get('samesite'), 'Strict');
  });
});
