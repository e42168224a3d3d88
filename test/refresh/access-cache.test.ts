/**
 * The token service's access-token cache (`access.cacheSize`, default
 * DEFAULTS.accessCacheSize): on by default, frozen claims shared between
 * requests, and never a way around expiry or revocation.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { DEFAULTS } from '../../src/refresh/config.js';
import { createTokenService } from '../../src/refresh/service.js';
import type { TokenServiceOptions } from '../../src/refresh/types.js';
import { openStore } from '../../src/stores/open.js';
import type { TokenStore } from '../../src/stores/types.js';
import { SELF_CONTAINED_FORMATS } from '../../src/tokens/codec.js';
import { codeOf } from '../stores/contract.js';
import { FakeClock, SECRET } from '../stores/harness.js';

async function setup(options: Partial<TokenServiceOptions> = {}) {
  const clock = new FakeClock();
  const store: TokenStore = await openStore('memory', { clock: clock.now });
  const tokens = createTokenService({ secret: SECRET, store, clock: clock.now, ...options });
  return { clock, store, tokens };
}

test('DEFAULTS.accessCacheSize is 1000 and is the default', async () => {
  assert.equal(DEFAULTS.accessCacheSize, 1000);
  const { tokens, store } = await setup();
  assert.equal(tokens.config.accessCacheSize, 1000);
  await store.close();
});

for (const format of SELF_CONTAINED_FORMATS) {
  describe(`${format} access tokens`, () => {
    test('by default: principal.claims is deep-frozen and shared by every authenticate of the same token', async () => {
      const { tokens, store } = await setup({ access: { format } });
      const p = await tokens.issue({ sub: 'alice', scope: 'read', claims: { roles: ['a', 'b'], org: { id: 7 } } });
      const first = await tokens.authenticate(p.accessToken);
      const second = await tokens.authenticate(p.accessToken);
      assert.equal(second.claims, first.claims);
      assert.equal(second.sub, 'alice');
      assert.equal(second.scope, 'read');
      const claims = first.claims as Record<string, unknown>;
      for (const o of [claims, claims.roles, claims.org]) assert.ok(Object.isFrozen(o));
      assert.throws(() => {
        claims.sub = 'mallory';
      }, TypeError);
      assert.throws(() => (claims.roles as string[]).push('admin'), TypeError);
      // Another token of the same user has its own claims.
      const other = await tokens.authenticate((await tokens.issue({ sub: 'alice' })).accessToken);
      assert.notEqual(other.claims, first.claims);
      await store.close();
    });

    test('access.cacheSize 0: claims are neither shared nor frozen', async () => {
      const { tokens, store } = await setup({ access: { format, cacheSize: 0 } });
      assert.equal(tokens.config.accessCacheSize, 0);
      const p = await tokens.issue({ sub: 'alice', claims: { roles: ['a'] } });
      const first = await tokens.authenticate(p.accessToken);
      const second = await tokens.authenticate(p.accessToken);
      assert.notEqual(second.claims, first.claims);
      assert.deepEqual(second.claims, first.claims);
      assert.ok(!Object.isFrozen(first.claims));
      await store.close();
    });

    test('checkRevocation: a cached token is still refused after revokeUser', async () => {
      const { tokens, store, clock } = await setup({ access: { format, checkRevocation: true } });
      const p = await tokens.issue({ sub: 'alice' });
      const first = await tokens.authenticate(p.accessToken);
      assert.equal((await tokens.authenticate(p.accessToken)).claims, first.claims, 'cached');
      clock.advance(1);
      await tokens.revokeUser('alice');
      assert.equal(await codeOf(tokens.authenticate(p.accessToken)), 'revoked');
      assert.equal(await codeOf(tokens.authenticate(p.accessToken)), 'revoked', 'and again');
      assert.equal((await tokens.introspect(p.accessToken)).active, false);
      await store.close();
    });

    test('checkRevocation: a cached token is refused once its family or itself is revoked', async () => {
      const { tokens, store } = await setup({ access: { format, checkRevocation: true } });
      const family = await tokens.issue({ sub: 'bob' });
      const single = await tokens.issue({ sub: 'bob' });
      for (const p of [family, single]) {
        await tokens.authenticate(p.accessToken);
        await tokens.authenticate(p.accessToken);
      }
      await tokens.revoke(family.refreshToken);
      assert.equal(await codeOf(tokens.authenticate(family.accessToken)), 'revoked');
      assert.equal(await codeOf(tokens.authenticate(single.accessToken)), 'ok', 'another family is untouched');
      await tokens.revoke(single.accessToken);
      assert.equal(await codeOf(tokens.authenticate(single.accessToken)), 'revoked');
      await store.close();
    });

    test('a cached access token is refused as expired after its ttl (injected clock)', async () => {
      const { tokens, store, clock } = await setup({ access: { format, ttlSeconds: 60 } });
      const p = await tokens.issue({ sub: 'carol' });
      const first = await tokens.authenticate(p.accessToken);
      clock.advance(59);
      assert.equal((await tokens.authenticate(p.accessToken)).claims, first.claims, 'still valid, from the cache');
      clock.advance(1);
      assert.equal(await codeOf(tokens.authenticate(p.accessToken)), 'expired');
      assert.equal((await tokens.introspect(p.accessToken)).active, false);
      await store.close();
    });

    test('a cached access token still cannot refresh, and a refresh token still cannot authenticate', async () => {
      const { tokens, store } = await setup({ access: { format } });
      const p = await tokens.issue({ sub: 'dan' });
      await tokens.authenticate(p.accessToken);
      assert.equal(await codeOf(tokens.refresh(p.accessToken)), 'wrong_type');
      assert.equal(await codeOf(tokens.authenticate(p.refreshToken)), 'wrong_type');
      assert.equal(await codeOf(tokens.authenticate(p.refreshToken)), 'wrong_type');
      assert.equal(await codeOf(tokens.refresh(p.refreshToken)), 'ok');
      await store.close();
    });
  });
}

test('opaque access tokens with access.cacheSize set: the cache plays no part', async () => {
  const { tokens, store } = await setup({ scheme: 'opaque', access: { cacheSize: 10 } });
  const p = await tokens.issue({ sub: 'erin', scope: 'read' });
  const first = await tokens.authenticate(p.accessToken);
  const second = await tokens.authenticate(p.accessToken);
  assert.equal(first.sub, 'erin');
  assert.equal(second.scope, 'read');
  assert.equal(first.claims, undefined);
  await tokens.revoke(p.refreshToken);
  assert.equal(await codeOf(tokens.authenticate(p.accessToken)), 'revoked', 'its family is revoked');
  await tokens.revoke(p.accessToken);
  assert.equal(await codeOf(tokens.authenticate(p.accessToken)), 'unknown_token', 'its record is gone');
  await store.close();
});

test('access.cacheSize must be a non-negative integer', async () => {
  const store = await openStore('memory');
  for (const cacheSize of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(
      () => createTokenService({ secret: SECRET, store, access: { cacheSize } }),
      (e: unknown) => e instanceof ConfigError && /access\.cacheSize/.test(e.message),
      String(cacheSize),
    );
  }
  assert.throws(
    () => createTokenService({ secret: SECRET, store, access: { cacheSize: '5' as unknown as number } }),
    ConfigError,
  );
  await store.close();
});
