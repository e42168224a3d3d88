/**
 * The access-token cache seen through HTTP (app.inject): a repeated Bearer token
 * keeps working, expires on the injected clock, and a token differing from a
 * cached one in a single signature character is refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SELF_CONTAINED_FORMATS } from '../../src/tokens/codec.js';
import { bearer, type Harness, setup } from './helpers.js';

const INVALID_TOKEN = /^Bearer realm="tessera", error="invalid_token", error_description="[^"]+"$/;

/** `token` with one character of its MAC (within the last 43 characters, before any padding) changed. */
function tamperSignature(token: string, fromEnd: number): string {
  const i = token.length - fromEnd;
  const ch = token[i] === 'A' ? 'B' : 'A';
  return token.slice(0, i) + ch + token.slice(i + 1);
}

for (const format of SELF_CONTAINED_FORMATS) {
  describe(`GET /me with a cached ${format} access token`, () => {
    let h: Harness;
    before(async () => {
      h = await setup({ service: { access: { format, ttlSeconds: 300, cacheSize: 1000 } } });
    });
    after(async () => {
      await h.close();
    });

    test('the same Bearer token twice: 200 both times, the same principal', async () => {
      const t = await h.login();
      const first = await h.app.inject({ url: '/me', headers: bearer(t.access_token) });
      const second = await h.app.inject({ url: '/me', headers: bearer(t.access_token) });
      assert.equal(first.statusCode, 200, first.body);
      assert.equal(second.statusCode, 200, second.body);
      assert.deepEqual(second.json(), first.json());
      assert.equal(first.json().sub, (await h.store.getUser('alice'))?.id);
      // The service the app uses did cache it: the claims object is shared and frozen.
      const a = await h.tokens.authenticate(t.access_token);
      assert.ok(Object.isFrozen(a.claims));
      assert.equal((await h.tokens.authenticate(t.access_token)).claims, a.claims);
    });

    test('past its expiry on the injected clock: 401 invalid_token', async () => {
      const t = await h.login();
      const ok = await h.app.inject({ url: '/me', headers: bearer(t.access_token) });
      assert.equal(ok.statusCode, 200);
      const start = h.clock.now;
      try {
        h.clock.now = start + (t.expires_in - 1) * 1000;
        assert.equal((await h.app.inject({ url: '/me', headers: bearer(t.access_token) })).statusCode, 200);
        h.clock.now = start + t.expires_in * 1000 + 1000;
        const res = await h.app.inject({ url: '/me', headers: bearer(t.access_token) });
        assert.equal(res.statusCode, 401);
        assert.equal(res.json().error, 'invalid_token');
        assert.match(String(res.headers['www-authenticate']), INVALID_TOKEN);
      } finally {
        h.clock.now = start;
      }
      // Back in time (clock restored): the cached token is valid again, as without a cache.
      assert.equal((await h.app.inject({ url: '/me', headers: bearer(t.access_token) })).statusCode, 200);
    });

    test('one signature character changed: 401, even after the genuine token was cached', async () => {
      const t = await h.login();
      for (let k = 0; k < 3; k++) {
        const ok = await h.app.inject({ url: '/me', headers: bearer(t.access_token) });
        assert.equal(ok.statusCode, 200);
      }
      for (const fromEnd of [5, 10, 20, 30, 40]) {
        const forged = tamperSignature(t.access_token, fromEnd);
        assert.notEqual(forged, t.access_token);
        const res = await h.app.inject({ url: '/me', headers: bearer(forged) });
        assert.equal(res.statusCode, 401, `character ${fromEnd} from the end`);
        assert.equal(res.json().error, 'invalid_token');
        assert.match(String(res.headers['www-authenticate']), INVALID_TOKEN);
        assert.ok(!res.body.includes(forged));
        // The genuine token is not disturbed by the forgery.
        assert.equal((await h.app.inject({ url: '/me', headers: bearer(t.access_token) })).statusCode, 200);
      }
    });
  });
}
