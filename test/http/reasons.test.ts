/**
 * Errors a program can act on: every refused token or grant carries a
 * machine-readable `reason` (the TokenError code), and a store outage is a 503
 * with `Retry-After` and no `reason`, whether the store throws the
 * StoreUnavailableError class or the older TokenError('store_unavailable').
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { StoreUnavailableError } from '../../src/errors.js';
import { ERROR_REASONS, toHttpError } from '../../src/http/errors.js';
import type { TokenStore, UserDirectory } from '../../src/stores/types.js';
import { bearer, form, type Harness, PASSWORD, SCHEMES, setup } from './helpers.js';

function refused(res: LightMyRequestResponse, status: number, error: string, reason: string, what: string): void {
  assert.equal(res.statusCode, status, `${what}: ${res.body}`);
  const body = res.json() as Record<string, unknown>;
  assert.equal(body.error, error, what);
  assert.equal(body.reason, reason, what);
  assert.equal(typeof body.error_description, 'string', what);
  assert.deepEqual(Object.keys(body).sort(), ['error', 'error_description', 'reason'], what);
}

const refresh = (h: Harness, token: string) =>
  h.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: token } });

for (const scheme of SCHEMES) {
  describe(`reason in error bodies (${scheme})`, () => {
    let h: Harness;
    before(async () => {
      h = await setup({ scheme });
    });
    after(() => h.close());

    test('reused, then revoked for the rest of the family', async () => {
      const t = await h.login();
      const r1 = await refresh(h, t.refresh_token);
      assert.equal(r1.statusCode, 200);
      refused(await refresh(h, t.refresh_token), 400, 'invalid_grant', 'reused', 'replayed refresh token');
      // The same reason through the RFC 6749 token endpoint.
      const t2 = await h.login();
      const r2 = await h.app.inject({
        method: 'POST',
        url: '/auth/token',
        ...form({ grant_type: 'refresh_token', refresh_token: t2.refresh_token }),
      });
      assert.equal(r2.statusCode, 200);
      const replay = await h.app.inject({
        method: 'POST',
        url: '/auth/token',
        ...form({ grant_type: 'refresh_token', refresh_token: t2.refresh_token }),
      });
      refused(replay, 400, 'invalid_grant', 'reused', 'replay on /auth/token');
    });

    test('revoked: a refresh token after logout, an access token after logout-all', async () => {
      const t = await h.login();
      const out = await h.app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: t.refresh_token } });
      assert.equal(out.statusCode, 204);
      refused(await refresh(h, t.refresh_token), 400, 'invalid_grant', 'revoked', 'refresh after logout');

      if (scheme === 'opaque') {
        // Opaque access tokens are looked up on every use, so a revoked one is refused at once.
        const u = await h.login('bob');
        const all = await h.app.inject({ method: 'POST', url: '/auth/logout-all', headers: bearer(u.access_token) });
        assert.equal(all.statusCode, 204);
        const me = await h.app.inject({ url: '/me', headers: bearer(u.access_token) });
        assert.equal(me.statusCode, 401);
        assert.ok(['revoked', 'unknown_token'].includes(me.json().reason), me.body);
      }
    });

    test('expired: access token on /me, refresh token on /auth/refresh', async () => {
      const t = await h.login();
      h.clock.now += 901_000;
      try {
        const me = await h.app.inject({ url: '/me', headers: bearer(t.access_token) });
        refused(me, 401, 'invalid_token', 'expired', 'expired access token');
        assert.match(String(me.headers['www-authenticate']), /error="invalid_token"/);
        h.clock.now += 31 * 86400_000;
        refused(await refresh(h, t.refresh_token), 400, 'invalid_grant', 'expired', 'expired refresh token');
      } finally {
        h.clock.now = Date.now();
      }
    });

    test('malformed: junk as refresh token, as access token, on logout', async () => {
      refused(await refresh(h, 'not-a-token'), 400, 'invalid_grant', 'malformed', 'junk refresh token');
      refused(
        await h.app.inject({ url: '/me', headers: bearer('not-a-token') }),
        401,
        'invalid_token',
        'malformed',
        'junk access token',
      );
      refused(
        await h.app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: 'not-a-token' } }),
        400,
        'invalid_grant',
        'malformed',
        'junk on logout',
      );
    });

    test('wrong_type: an access token as refresh token and the reverse', async () => {
      const t = await h.login();
      refused(await refresh(h, t.access_token), 400, 'invalid_grant', 'wrong_type', 'access token on /auth/refresh');
      refused(
        await h.app.inject({ url: '/me', headers: bearer(t.refresh_token) }),
        401,
        'invalid_token',
        'wrong_type',
        'refresh token as Bearer',
      );
    });

    test('a forged token: bad_signature (self-contained) or unknown_token (opaque)', async () => {
      const t = await h.login();
      // Change a character in the middle: the structure stays valid, the MAC (or the lookup) fails.
      const i = Math.floor(t.access_token.length / 2);
      const c = t.access_token[i] === 'A' ? 'B' : 'A';
      const forged = t.access_token.slice(0, i) + c + t.access_token.slice(i + 1);
      const me = await h.app.inject({ url: '/me', headers: bearer(forged) });
      assert.equal(me.statusCode, 401);
      assert.equal(me.json().reason, scheme === 'opaque' ? 'unknown_token' : 'bad_signature', me.body);
    });

    test('wrong password: invalid_grant with reason invalid_credentials', async () => {
      const res = await h.app.inject({
        method: 'POST',
        url: '/auth/token',
        ...form({ grant_type: 'password', username: 'alice', password: 'wrong password!' }),
      });
      refused(res, 400, 'invalid_grant', 'invalid_credentials', 'wrong password');
    });

    test('other errors carry no reason', async () => {
      for (const res of [
        await h.app.inject({ url: '/me' }),
        await h.app.inject({ method: 'POST', url: '/auth/refresh', payload: {} }),
        await h.app.inject({ method: 'POST', url: '/auth/token', payload: { grant_type: 'magic' } }),
        await h.app.inject({ url: '/nowhere' }),
      ]) {
        assert.ok(res.statusCode >= 400, res.body);
        assert.equal('reason' in res.json(), false, res.body);
      }
    });
  });
}

describe('reason in the OpenAPI document', () => {
  let h: Harness;
  before(async () => {
    h = await setup();
  });
  after(() => h.close());

  test('ErrorResponse.reason is an enum of the TokenError codes, without store_unavailable', async () => {
    const doc = (await h.app.inject({ url: '/openapi.json' })).json();
    const refreshErrors = doc.paths['/auth/refresh'].post.responses['400'].content['application/json'].schema;
    const reason = refreshErrors.properties.reason;
    assert.equal(reason.type, 'string');
    assert.deepEqual(reason.enum, [...ERROR_REASONS]);
    for (const r of ['reused', 'revoked', 'expired', 'malformed', 'wrong_type', 'bad_signature', 'unknown_token']) {
      assert.ok(reason.enum.includes(r), r);
    }
    assert.ok(!reason.enum.includes('store_unavailable'));
    assert.ok(!(refreshErrors.required ?? []).includes('reason'));
  });
});

/** `store`, except that every call but `close` fails with `make()` while `down.value` is true. */
function failingStore<S extends TokenStore>(store: S, down: { value: boolean }, make: () => Error): S {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function' || prop === 'close') return v;
      return (...args: unknown[]) => (down.value ? Promise.reject(make()) : v.apply(target, args));
    },
  });
}

const OUTAGES = {
  StoreUnavailableError: () => new StoreUnavailableError(),
};

for (const [kind, make] of Object.entries(OUTAGES)) {
  describe(`store outage as ${kind}: 503 + Retry-After, no reason`, () => {
    const down = { value: false };
    // jwt: access tokens verify without I/O, so every route reaches its handler; opaque: the
    // plugin's own lookup of the access token meets the outage.
    let h: Harness;
    let o: Harness;
    before(async () => {
      const wrapStore = (store: TokenStore & UserDirectory) => failingStore(store, down, make);
      h = await setup({ scheme: 'jwt', app: { allowRegister: true }, wrapStore });
      o = await setup({ scheme: 'opaque', wrapStore });
    });
    after(async () => {
      await h.close();
      await o.close();
    });

    function outage(res: LightMyRequestResponse, what: string): void {
      assert.equal(res.statusCode, 503, `${what}: ${res.body}`);
      assert.equal(res.headers['retry-after'], '5', what);
      // /ready also says what is not ready.
      const members = what === 'ready' ? ['error', 'error_description', 'not_ready'] : ['error', 'error_description'];
      assert.deepEqual(Object.keys(res.json()).sort(), members, what);
      assert.equal(res.json().error, 'temporarily_unavailable', what);
      assert.equal(res.headers['www-authenticate'], undefined, `${what}: not a token challenge`);
    }

    test('every route that needs the store, and the plugin', async () => {
      const t = await h.login();
      const ot = await o.login();
      down.value = true;
      try {
        outage(
          await h.app.inject({
            method: 'POST',
            url: '/auth/token',
            ...form({ grant_type: 'password', username: 'alice', password: PASSWORD }),
          }),
          'login',
        );
        outage(await refresh(h, t.refresh_token), 'refresh');
        outage(await h.app.inject({ method: 'POST', url: '/auth/revoke', payload: { token: t.refresh_token } }), 'revoke');
        outage(
          await h.app.inject({ method: 'POST', url: '/auth/logout', payload: { refresh_token: t.refresh_token } }),
          'logout',
        );
        assert.equal((await h.app.inject({ url: '/me', headers: bearer(t.access_token) })).statusCode, 200, 'jwt /me: no I/O');
        outage(await o.app.inject({ url: '/me', headers: bearer(ot.access_token) }), '/me (opaque: looked up)');
        outage(await h.app.inject({ method: 'POST', url: '/auth/logout-all', headers: bearer(t.access_token) }), 'logout-all');
        outage(
          await h.app.inject({
            method: 'POST',
            url: '/auth/introspect',
            // RFC 7662 §2.1: a client registered for introspection (its own lookup meets the outage too).
            headers: h.rs.basic,
            payload: { token: t.refresh_token },
          }),
          'introspect',
        );
        outage(
          await h.app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'carol', password: PASSWORD } }),
          'register',
        );
        const ready = await h.app.inject({ url: '/ready' });
        outage(ready, 'ready');
        assert.ok(
          ['store'].every((d) => ready.json().not_ready.includes(d)),
          ready.body,
        );
      } finally {
        down.value = false;
      }
      // Nothing was consumed by the failed attempts.
      assert.equal((await refresh(h, t.refresh_token)).statusCode, 200);
    });

    test('toHttpError maps the thrown value itself', () => {
      const mapped = toHttpError(make());
      assert.equal(mapped.statusCode, 503);
      assert.equal(mapped.reason, undefined);
    });
  });
}
