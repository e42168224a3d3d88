/**
 * Refresh tokens of every self-contained format (jwt, sealed, fernet) are made with keys derived
 * for refresh tokens alone (keys.ts refreshKeyRing), so a verifier of access tokens holding the
 * configured secret refuses them (RFC 8725 §2.8, §3.11); key rotation still works; refresh tokens
 * made with the secret itself (before the derivation) keep refreshing while
 * `refresh.acceptLegacyKeys` is on (the default), and never once it is off.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isTokenError } from '../../src/errors.js';
import { createKeyRing, generateSecret, REFRESH_KID_SUFFIX, refreshKeyRing } from '../../src/keys.js';
import { createTokenService } from '../../src/refresh/service.js';
import type { TokenServiceOptions } from '../../src/refresh/types.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { createCodec, type SelfContainedFormat } from '../../src/tokens/codec.js';
import { codeOf } from '../stores/contract.js';
import { FakeClock } from '../stores/harness.js';

const FORMATS: readonly SelfContainedFormat[] = ['jwt', 'sealed', 'fernet'];
const ISSUER = 'https://auth.example';

function decodeCode(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (e) {
    if (isTokenError(e)) return e.code;
    throw e;
  }
}

function setup(format: SelfContainedFormat, secret: TokenServiceOptions['secret'], o: Partial<TokenServiceOptions> = {}) {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock: clock.now });
  const opts: TokenServiceOptions = {
    secret,
    store,
    clock: clock.now,
    issuer: ISSUER,
    access: { format },
    refresh: { format },
    ...o,
  };
  return { clock, store, opts, tokens: createTokenService(opts) };
}

for (const format of FORMATS) {
  describe(`refresh keys: ${format}`, () => {
    test('a refresh token does not verify with the configured secret; an access token does', async () => {
      const secret = generateSecret();
      const { tokens, clock } = setup(format, secret);
      const p = await tokens.issue({ sub: 'ann' });
      const withSecret = createCodec({ format, secret, clock: clock.now });
      assert.equal(withSecret.decode(p.accessToken, { type: 'access' }).sub, 'ann');
      // Without a type check (what an outside verifier does): still refused, by the key.
      assert.match(
        decodeCode(() => withSecret.decode(p.refreshToken)),
        /^(bad_signature|unknown_key)$/,
      );
      // The derived keys are what verifies it.
      const derived = createCodec({ format, secret: refreshKeyRing(createKeyRing([{ secret }])), clock: clock.now });
      assert.equal(derived.decode(p.refreshToken, { type: 'refresh' }).sub, 'ann');
      // And the access token is no refresh token there.
      assert.match(
        decodeCode(() => derived.decode(p.accessToken)),
        /^(bad_signature|unknown_key)$/,
      );
      // The service still rotates it, and names a token of the other type as such.
      const next = await tokens.refresh(p.refreshToken);
      assert.equal((await tokens.authenticate(next.accessToken)).sub, 'ann');
      assert.equal(await codeOf(tokens.refresh(next.accessToken)), 'wrong_type');
      assert.equal(await codeOf(tokens.authenticate(next.refreshToken)), 'wrong_type');
      tokens.close();
    });

    test('key rotation: a refresh token of the old key refreshes once a new key signs', async () => {
      const oldSecret = generateSecret();
      const newSecret = generateSecret();
      const before = setup(format, [{ kid: 'old', secret: oldSecret }]);
      const p = await before.tokens.issue({ sub: 'ann' });
      before.tokens.close();
      const ring = createKeyRing([
        { kid: 'new', secret: newSecret },
        { kid: 'old', secret: oldSecret },
      ]);
      const after = createTokenService({ ...before.opts, secret: ring });
      const next = await after.refresh(p.refreshToken);
      const derived = createCodec({ format, secret: refreshKeyRing(createKeyRing([{ kid: 'new', secret: newSecret }])) });
      assert.equal(derived.decode(next.refreshToken, { type: 'refresh' }).sub, 'ann', 'the new key signs');
      if (format === 'jwt') {
        const header = JSON.parse(Buffer.from(next.refreshToken.split('.')[0] as string, 'base64url').toString('utf8'));
        assert.equal(header.kid, `new${REFRESH_KID_SUFFIX}`);
      }
      assert.equal((await after.refresh(next.refreshToken)).tokenType, 'Bearer');
      after.close();
    });

    test('a refresh token made with the secret itself (before derived keys) still refreshes, once, into a derived one', async () => {
      const secret = generateSecret();
      const { tokens, clock, opts } = setup(format, secret);
      const p = await tokens.issue({ sub: 'ann', scope: 'read' });
      // What an earlier version minted for this family: the same claims under the configured key.
      const derived = createCodec({ format, secret: refreshKeyRing(createKeyRing([{ secret }])), clock: clock.now });
      const legacyCodec = createCodec({ format, secret, clock: clock.now });
      const legacy = legacyCodec.encode(derived.decode(p.refreshToken, { type: 'refresh' }));
      assert.equal(legacyCodec.decode(legacy, { type: 'refresh' }).sub, 'ann');

      // With the transition off, it is refused and nothing is consumed.
      const strict = createTokenService({ ...opts, refresh: { ...opts.refresh, acceptLegacyKeys: false } });
      assert.match(await codeOf(strict.refresh(legacy)), /^(bad_signature|unknown_key)$/);
      assert.deepEqual(await strict.introspect(legacy), { active: false });
      strict.close();

      // With it on (the default): introspected, rotated, and its successor is made with the derived keys.
      assert.equal((await tokens.introspect(legacy, 'refresh_token')).active, true);
      const next = await tokens.refresh(legacy);
      assert.equal(next.scope, 'read');
      assert.equal(derived.decode(next.refreshToken, { type: 'refresh' }).sub, 'ann');
      assert.match(
        decodeCode(() => legacyCodec.decode(next.refreshToken)),
        /^(bad_signature|unknown_key)$/,
      );
      // Reuse detection holds for it as for any refresh token.
      assert.equal(await codeOf(tokens.refresh(legacy)), 'reused');
      assert.equal(await codeOf(tokens.refresh(next.refreshToken)), 'revoked');

      // An access token made with the secret is still no refresh token, legacy path or not.
      const q = await tokens.issue({ sub: 'bob' });
      assert.equal(await codeOf(tokens.refresh(q.accessToken)), 'wrong_type');
      // An expired legacy token says expired (not an unknown key).
      const old = legacyCodec.encode({ ...derived.decode(q.refreshToken, { type: 'refresh' }), exp: clock.ms / 1000 - 1 });
      assert.equal(await codeOf(tokens.refresh(old)), 'expired');
      tokens.close();
    });
  });
}

describe('refresh keys: asymmetric access tokens', () => {
  test('with EdDSA access tokens, jwt refresh tokens are HS256 on a derived key, not on the secret', async () => {
    const { parseSigningKeySet, generateSigningJwk } = await import('../../src/tokens/jwk.js');
    const signingKeys = parseSigningKeySet(JSON.stringify({ keys: [generateSigningJwk('EdDSA')] }), 'test keys');
    const secret = generateSecret();
    const { tokens } = setup('jwt', secret, { access: { format: 'jwt', signingKeys } });
    const p = await tokens.issue({ sub: 'ann' });
    const header = JSON.parse(Buffer.from(p.refreshToken.split('.')[0] as string, 'base64url').toString('utf8'));
    assert.equal(header.alg, 'HS256');
    assert.match(
      decodeCode(() => createCodec({ format: 'jwt', secret }).decode(p.refreshToken)),
      /^(bad_signature|unknown_key)$/,
    );
    assert.equal((await tokens.refresh(p.refreshToken)).tokenType, 'Bearer');
    tokens.close();
  });
});
