/**
 * Browser mode: the refresh token in an HttpOnly; Secure; SameSite=Strict
 * cookie on /auth, and the double-submit CSRF check on cookie-authenticated
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
    return { res, rt: jar.get('tessera_rt') as Cookie, csrf: jar.get('tessera_csrf') as Cookie };
  }

  test('login sets an HttpOnly; Secure; SameSite=Strict refresh cookie on Path=/auth and keeps it out of the body', async () => {
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
  });

  test('a cookie refresh needs the X-CSRF-Token header to match the CSRF cookie', async () => {
    const { rt, csrf } = await login();
    const jar = { tessera_rt: rt.value, tessera_csrf: csrf.value };
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
      cookies: { tessera_rt: rt.value },
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
    assert.notEqual(next.get('tessera_rt')?.value, rt.value, 'rotated');
    // The CSRF value lives as long as the session: a page that read it once keeps sending it.
    assert.equal(next.get('tessera_csrf')?.value, csrf.value);
    const jar2 = { tessera_rt: next.get('tessera_rt')?.value as string, tessera_csrf: csrf.value };
    const second = await h.app.inject({
      method: 'POST',
      url: '/auth/refresh',
      cookies: jar2,
      headers: { 'x-csrf-token': csrf.value },
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
    const cleared = cookies(replay.headers['set-cookie']).get('tessera_rt');
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
    const jar = { tessera_rt: rt.value, tessera_csrf: csrf.value };
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
    assert.equal(cleared.get('tessera_rt')?.value, '');
    assert.equal(cleared.get('tessera_csrf')?.value, '');
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

  test('no Secure attribute, everything else unchanged', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/auth/token',
      payload: { grant_type: 'password', username: 'alice', password: PASSWORD },
    });
    const rt = cookies(res.headers['set-cookie']).get('tessera_rt');
    assert.equal(rt?.attrs.get('secure'), undefined);
    assert.equal(rt?.attrs.get('httponly'), true);
    assert.equal(rt?.attrs.get('samesite'), 'Strict');
  });
});
