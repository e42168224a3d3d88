/**
 * Every access format with every refresh format (4 x 4) on the memory store:
 * the engine is one, whatever the tokens look like.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TokenError } from '../../src/errors.js';
import { opaqueAccessFormat } from '../../src/refresh/formats/opaque.js';
import { selfContainedAccessFormat } from '../../src/refresh/formats/self-contained.js';
import { createTokenService } from '../../src/refresh/service.js';
import { TOKEN_FORMATS, type TokenFormat, type TokenPair } from '../../src/refresh/types.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { type Codec, createCodec } from '../../src/tokens/codec.js';
import { userShard } from '../../src/tokens/opaque.js';
import { codeOf } from '../stores/contract.js';
import { FakeClock, SECRET } from '../stores/harness.js';

function setup(access: TokenFormat, refresh: TokenFormat, grace = 0) {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock: clock.now });
  const tokens = createTokenService({
    secret: SECRET,
    store,
    clock: clock.now,
    access: { format: access, checkRevocation: true },
    refresh: { format: refresh, reuseGraceSeconds: grace },
  });
  return { clock, store, tokens };
}

for (const access of TOKEN_FORMATS) {
  for (const refresh of TOKEN_FORMATS) {
    describe(`access ${access} + refresh ${refresh}`, () => {
      test('issue, authenticate, rotate, reuse, revoked family', async () => {
        const { tokens } = setup(access, refresh);
        const p0 = await tokens.issue({ sub: 'alice', scope: 'read', claims: { tenant: 't1' } });
        assert.equal(p0.accessToken.startsWith('tsa_'), access === 'opaque');
        assert.equal(p0.refreshToken.startsWith('tsr_'), refresh === 'opaque');
        const who = await tokens.authenticate(p0.accessToken);
        assert.equal(who.sub, 'alice');
        assert.equal(who.scope, 'read');
        assert.equal(who.familyId, p0.familyId);
        const p1 = await tokens.refresh(p0.refreshToken);
        const who1 = await tokens.authenticate(p1.accessToken);
        assert.equal(who1.sub, 'alice');
        assert.equal(who1.scope, 'read', 'scope carried across the rotation');
        if (access !== 'opaque') assert.equal(who1.claims?.tenant, 't1', 'extra claims carried across the rotation');
        assert.equal(await codeOf(tokens.refresh(p0.refreshToken)), 'reused');
        assert.equal(await codeOf(tokens.refresh(p1.refreshToken)), 'revoked');
        assert.equal(await codeOf(tokens.authenticate(p1.accessToken)), 'revoked');
      });

      test('wrong type both ways', async () => {
        const { tokens } = setup(access, refresh);
        const p = await tokens.issue({ sub: 'bob' });
        assert.equal(await codeOf(tokens.refresh(p.accessToken)), 'wrong_type');
        assert.equal(await codeOf(tokens.authenticate(p.refreshToken)), 'wrong_type');
        assert.equal(await codeOf(tokens.refresh(p.refreshToken)), 'ok');
      });

      test('grace replay returns the same pair (same tokens, or for a re-minted sealed/fernet access token the same jti)', async () => {
        const { tokens, clock } = setup(access, refresh, 30);
        const p = await tokens.issue({ sub: 'carol' });
        const pairs = await Promise.all(Array.from({ length: 10 }, () => tokens.refresh(p.refreshToken)));
        const first = pairs[0] as TokenPair;
        const id = async (q: TokenPair) => (await tokens.authenticate(q.accessToken)).tokenId;
        // Only an opaque refresh token with a sealed/fernet access token re-mints (random IV) on replay.
        const identical = !(refresh === 'opaque' && (access === 'sealed' || access === 'fernet'));
        for (const q of pairs) {
          assert.equal(q.refreshToken, first.refreshToken);
          if (identical) assert.equal(q.accessToken, first.accessToken);
          else assert.equal(await id(q), await id(first));
        }
        clock.advance(31);
        assert.equal(await codeOf(tokens.refresh(p.refreshToken)), 'reused');
        assert.equal(await codeOf(tokens.refresh(first.refreshToken)), 'revoked');
      });

      test('revoke and introspect', async () => {
        const { tokens } = setup(access, refresh);
        const p = await tokens.issue({ sub: 'dan', scope: 'a b' });
        assert.equal((await tokens.introspect(p.accessToken)).token_type, 'access_token');
        const r = await tokens.introspect(p.refreshToken);
        assert.equal(r.active, true);
        assert.equal(r.token_type, 'refresh_token');
        assert.equal(r.sub, 'dan');
        assert.equal(r.scope, 'a b');
        await tokens.revoke(p.accessToken);
        assert.notEqual(await codeOf(tokens.authenticate(p.accessToken)), 'ok');
        assert.equal((await tokens.introspect(p.accessToken)).active, false);
        await tokens.revoke(p.refreshToken);
        assert.equal(await codeOf(tokens.refresh(p.refreshToken)), 'revoked');
        assert.equal((await tokens.introspect(p.refreshToken)).active, false);
      });
    });
  }
}

describe('the format seam (src/refresh/formats)', () => {
  test('a self-contained access format takes any codec: what it mints, it verifies, through that codec alone', async () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock: clock.now });
    const inner = createCodec({ format: 'jwt', secret: SECRET, clock: clock.now });
    const calls = { encode: 0, decode: 0 };
    // A codec of another make (say an asymmetric signer) only has to keep the Codec API.
    const codec: Codec = {
      format: 'jwt',
      encode: (claims) => (calls.encode++, inner.encode(claims)),
      decode: (token, options) => (calls.decode++, inner.decode(token, options)),
    };
    const access = selfContainedAccessFormat({ codec, store, ttlSeconds: 60, leewaySeconds: 0, checkRevocation: false });
    const draft = access.draft('shard', Math.floor(clock.ms / 1000));
    const token = access.mint({ sub: 'eve', scope: 'read', extra: { tenant: 't' }, familyId: 'f1' }, draft);
    const who = await access.authenticate(token, clock.ms);
    assert.deepEqual(
      [who.sub, who.scope, who.familyId, who.tokenId, who.claims?.tenant],
      ['eve', 'read', 'f1', `f1.${draft.jti}`, 't'],
    );
    assert.deepEqual(calls, { encode: 1, decode: 1 });
    assert.equal(access.accepts('not a token', clock.ms), false);
    assert.equal(access.introspect('not a token', clock.ms), undefined, 'not ours: the service asks the other format');
    clock.advance(61);
    assert.throws(
      () => access.authenticate(token, clock.ms),
      (e: unknown) => e instanceof TokenError && e.code === 'expired',
    );
  });

  test('opaque access: authenticate asks the store (a promise); a token of the other type is refused before it', async () => {
    const clock = new FakeClock();
    const store = new MemoryStore({ clock: clock.now });
    const access = opaqueAccessFormat({ store, ttlSeconds: 60 });
    const draft = access.draft(userShard('eve'), Math.floor(clock.ms / 1000));
    assert.ok(draft.token?.startsWith('tsa_') && draft.hash !== undefined);
    assert.equal(access.mint({ sub: 'eve', scope: '', extra: {}, familyId: 'f' }, draft), draft.token);
    // Never stored (no createFamily): the store does not know it.
    const pending = access.authenticate(draft.token as string, clock.ms);
    assert.ok(pending instanceof Promise);
    assert.equal(await codeOf(pending), 'unknown_token');
    const refreshLike = `tsr_${(draft.token as string).slice(4)}`;
    assert.throws(
      () => access.authenticate(refreshLike, clock.ms),
      (e: unknown) => e instanceof TokenError && e.code === 'wrong_type',
    );
  });
});
