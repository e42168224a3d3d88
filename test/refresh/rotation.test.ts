/**
 * The refresh engine's details, on the memory store (and SQLite where the
 * stored bytes matter): configuration, token claims, the grace-replay record,
 * revocation edge cases, key rotation.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { ConfigError } from '../../src/errors.js';
import { createKeyRing, refreshKeyRing } from '../../src/keys.js';
import { DEFAULTS } from '../../src/refresh/config.js';
import { openReplay, sealReplay } from '../../src/refresh/replay.js';
import { createTokenService } from '../../src/refresh/service.js';
import type { TokenServiceOptions } from '../../src/refresh/types.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { SqliteStore } from '../../src/stores/sqlite.js';
import { createCodec } from '../../src/tokens/codec.js';
import { codeOf, isOutage } from '../stores/contract.js';
import { FakeClock, SECRET } from '../stores/harness.js';

function setup(overrides: Partial<TokenServiceOptions> = {}) {
  const clock = new FakeClock();
  const store = new MemoryStore({ clock: clock.now });
  const tokens = createTokenService({ secret: SECRET, store, clock: clock.now, ...overrides });
  return { clock, store, tokens };
}

describe('configuration', () => {
  test('defaults: jwt preset, 900 s access, 30 d refresh, grace 0, 90 d absolute, no revocation check, 100000 revocations held, 1000 cached access tokens', () => {
    const { tokens } = setup();
    assert.deepEqual(tokens.config, {
      accessFormat: 'jwt',
      refreshFormat: 'jwt',
      accessTtlSeconds: 900,
      refreshTtlSeconds: 2_592_000,
      reuseGraceSeconds: 0,
      absoluteLifetimeSeconds: 7_776_000,
      checkRevocation: false,
      revocationPush: true,
      acceptLegacyRefreshKeys: true,
      revocationCap: 100_000,
      accessCacheSize: 1000,
      leewaySeconds: 0,
    });
    assert.equal(DEFAULTS.reuseGraceSeconds, 0);
  });

  test('presets, and formats that override them', () => {
    const store = new MemoryStore();
    const sealed = createTokenService({ secret: SECRET, store, scheme: 'sealed' });
    assert.equal(sealed.config.accessFormat, 'sealed');
    assert.equal(sealed.config.refreshFormat, 'sealed');
    const mixed = createTokenService({ secret: SECRET, store, scheme: 'opaque', access: { format: 'fernet' } });
    assert.equal(mixed.config.accessFormat, 'fernet');
    assert.equal(mixed.config.refreshFormat, 'opaque');
  });

  test('bad configuration is a ConfigError at construction', () => {
    const store = new MemoryStore();
    const bad: Partial<TokenServiceOptions>[] = [
      { access: { format: 'paseto' as never } },
      { scheme: 'xml' as never },
      { access: { ttlSeconds: 0 } },
      { refresh: { ttlSeconds: 1.5 } },
      { refresh: { reuseGraceSeconds: -1 } },
      { refresh: { ttlSeconds: 60, reuseGraceSeconds: 60 } },
      { secret: undefined },
      { secret: Buffer.alloc(16) },
      { store: undefined as never },
    ];
    for (const o of bad) assert.throws(() => createTokenService({ secret: SECRET, store, ...o }), ConfigError, JSON.stringify(o));
  });

  test('opaque tokens alone need no secret', async () => {
    const tokens = createTokenService({ store: new MemoryStore(), scheme: 'opaque' });
    const p = await tokens.issue({ sub: 'nosecret' });
    assert.equal((await tokens.authenticate(p.accessToken)).sub, 'nosecret');
  });

  test("a bad sub or scope is the caller's mistake: TypeError", async () => {
    const { tokens } = setup();
    await assert.rejects(tokens.issue({ sub: '' }), TypeError);
    await assert.rejects(tokens.issue({ sub: 'x'.repeat(1025) }), TypeError);
    await assert.rejects(tokens.issue({ sub: 'x', scope: 5 as never }), TypeError);
    await assert.rejects(tokens.revokeUser(undefined as never), TypeError);
  });
});

describe('claims', () => {
  test('refresh tokens carry sub, fam, jti, type, exp, auth_time; access tokens sub, fam, jti, type, scope, exp', async () => {
    const { tokens, clock } = setup({ issuer: 'https://auth.example', audience: 'api' });
    const p = await tokens.issue({ sub: 'ann', scope: 'read', claims: { tenant: 't', sub: 'mallory', type: 'refresh', exp: 1 } });
    const codec = createCodec({ format: 'jwt', secret: SECRET, clock: clock.now });
    const refreshCodec = createCodec({
      format: 'jwt',
      secret: refreshKeyRing(createKeyRing([{ secret: SECRET }])),
      clock: clock.now,
    });
    const nowSec = clock.ms / 1000;
    const r = refreshCodec.decode(p.refreshToken, { type: 'refresh' });
    assert.equal(r.sub, 'ann');
    assert.equal(r.fam, p.familyId);
    assert.equal(r.type, 'refresh');
    assert.equal(r.exp, nowSec + 2_592_000);
    assert.equal(r.auth_time, nowSec);
    assert.equal(r.iss, 'https://auth.example');
    assert.equal(r.aud, undefined, 'refresh tokens are for the token service alone');
    assert.equal(typeof r.jti, 'string');
    const a = codec.decode(p.accessToken, { type: 'access' });
    assert.equal(a.sub, 'ann', 'extra claims cannot override registered ones');
    assert.equal(a.type, 'access');
    assert.equal(a.exp, nowSec + 900);
    assert.equal(a.scope, 'read');
    assert.equal(a.tenant, 't');
    assert.equal(a.aud, 'api');
    assert.equal(a.fam, p.familyId);
    assert.notEqual(a.jti, r.jti);
    const who = await tokens.authenticate(p.accessToken);
    assert.equal(who.tokenId, a.jti);
    assert.equal(who.iat, nowSec);
  });

  test('the audience and issuer are checked on authenticate', async () => {
    const a = setup({ issuer: 'https://a.example', audience: 'api-a' });
    const b = createTokenService({
      secret: SECRET,
      store: a.store,
      clock: a.clock.now,
      issuer: 'https://a.example',
      audience: 'api-b',
    });
    const p = await a.tokens.issue({ sub: 'x' });
    assert.equal(await codeOf(b.authenticate(p.accessToken)), 'invalid_claims');
  });

  test('key rotation: a new signing key in front, tokens of the old one still refresh', async () => {
    const oldKey = Buffer.alloc(32, 1);
    const newKey = Buffer.alloc(32, 2);
    const store = new MemoryStore();
    const before = createTokenService({ secret: [{ kid: 'old', secret: oldKey }], store });
    const p = await before.issue({ sub: 'k' });
    const after = createTokenService({
      secret: createKeyRing([
        { kid: 'new', secret: newKey },
        { kid: 'old', secret: oldKey },
      ]),
      store,
    });
    const q = await after.refresh(p.refreshToken);
    const onlyNew = createTokenService({ secret: [{ kid: 'new', secret: newKey }], store });
    assert.equal((await onlyNew.authenticate(q.accessToken)).sub, 'k', 'new tokens are signed with the new key');
    assert.equal(await codeOf(onlyNew.refresh(p.refreshToken)), 'unknown_key');
  });

  test('a token of another secret is refused (its derived kid is unknown), and revoke ignores it', async () => {
    const { tokens, store } = setup();
    const other = createTokenService({ secret: Buffer.alloc(32, 9), store });
    const p = await other.issue({ sub: 'z' });
    assert.equal(await codeOf(tokens.refresh(p.refreshToken)), 'unknown_key');
    assert.equal(await codeOf(tokens.authenticate(p.accessToken)), 'unknown_key');
    await tokens.revoke(p.refreshToken);
    assert.equal(await codeOf(other.refresh(p.refreshToken)), 'ok');
  });
});

describe('grace replay record', () => {
  test('stored encrypted under the consumed token: a store dump does not reveal the pair', async () => {
    const clock = new FakeClock();
    const db = new Database(':memory:');
    const store = new SqliteStore(db, { clock: clock.now });
    const tokens = createTokenService({ secret: SECRET, store, clock: clock.now, refresh: { reuseGraceSeconds: 30 } });
    const p = await tokens.issue({ sub: 'dump' });
    const q = await tokens.refresh(p.refreshToken);
    const rows = db.prepare('SELECT * FROM families').all();
    const dump = JSON.stringify(rows);
    assert.ok(!dump.includes(q.refreshToken) && !dump.includes(q.accessToken));
    const replay = (rows[0] as { replay: string }).replay;
    assert.ok(replay.length > 0);
    const payload = openReplay(p.refreshToken, replay);
    assert.equal(payload.r, q.refreshToken);
    // An unreadable record is the store's fault, not the token's: an outage, never a TokenError.
    assert.throws(() => openReplay(q.refreshToken, replay), isOutage);
    assert.throws(() => openReplay(p.refreshToken, `${replay.slice(0, -2)}AA`), isOutage);
    assert.equal(JSON.stringify(openReplay('t', sealReplay('t', payload))), JSON.stringify(payload));
    await store.close();
  });

  test('without a grace window nothing is kept for replay', async () => {
    const db = new Database(':memory:');
    const store = new SqliteStore(db);
    const tokens = createTokenService({ secret: SECRET, store });
    const p = await tokens.issue({ sub: 'nogrp' });
    await tokens.refresh(p.refreshToken);
    assert.equal((db.prepare('SELECT replay FROM families').get() as { replay: string }).replay, '');
    await store.close();
  });

  test('only the token consumed last replays: an older one is reuse even within the window', async () => {
    const { tokens } = setup({ refresh: { reuseGraceSeconds: 60 } });
    const p0 = await tokens.issue({ sub: 'g' });
    const p1 = await tokens.refresh(p0.refreshToken);
    await tokens.refresh(p1.refreshToken);
    assert.equal(await codeOf(tokens.refresh(p0.refreshToken)), 'reused');
  });
});

describe('revocation edges', () => {
  test('by default a revoked self-contained access token is refused at once, from memory (the pushed revocations)', async () => {
    const { tokens } = setup();
    const p = await tokens.issue({ sub: 'offline' });
    await tokens.revoke(p.accessToken);
    assert.equal(await codeOf(tokens.authenticate(p.accessToken)), 'revoked');
    assert.equal((await tokens.introspect(p.accessToken)).active, false, 'introspection agrees');
  });

  test('with revocationPush off (and no checkRevocation) it is verified offline and outlives its revocation', async () => {
    const { tokens } = setup({ access: { revocationPush: false } });
    const p = await tokens.issue({ sub: 'offline' });
    await tokens.revoke(p.accessToken);
    assert.equal(await codeOf(tokens.authenticate(p.accessToken)), 'ok', 'no I/O: the opted-out trade-off');
    assert.equal((await tokens.introspect(p.accessToken)).active, false, 'introspection always consults the store');
  });

  test('revoke: expired, malformed and foreign tokens are ignored (RFC 7009 §2.2); the hint only orders the search', async () => {
    const { tokens, clock } = setup({ access: { ttlSeconds: 60 } });
    const p = await tokens.issue({ sub: 'r' });
    clock.advance(61);
    await tokens.revoke(p.accessToken);
    await tokens.revoke('');
    await tokens.revoke('tsa_x');
    await tokens.revoke(p.refreshToken, 'access_token');
    assert.equal(await codeOf(tokens.refresh(p.refreshToken)), 'revoked');
  });

  test('with checkRevocation every authenticate asks the store, and the set remembers none of the answers', async () => {
    const { tokens, store } = setup({ access: { checkRevocation: true } });
    const p = await tokens.issue({ sub: 'asks' });
    let asked = 0;
    const checkAccess = store.checkAccess.bind(store);
    store.checkAccess = (input) => {
      asked++;
      return checkAccess(input);
    };
    for (let i = 0; i < 5; i++) assert.equal(await codeOf(tokens.authenticate(p.accessToken)), 'ok');
    assert.equal(asked, 5);
    // The memo of store answers serves only tokens the set cannot vouch for; here nothing reads it.
    assert.equal(tokens.revocations?.vouched, 0);
  });

  test('logout needs a refresh token; revoking an access token leaves the family', async () => {
    const { tokens } = setup({ access: { checkRevocation: true } });
    const p = await tokens.issue({ sub: 'l' });
    assert.equal(await codeOf(tokens.logout(p.accessToken)), 'wrong_type');
    await tokens.revoke(p.accessToken);
    assert.equal(await codeOf(tokens.authenticate(p.accessToken)), 'revoked');
    const q = await tokens.refresh(p.refreshToken);
    assert.equal(await codeOf(tokens.authenticate(q.accessToken)), 'ok');
  });

  test('a deny-list entry lasts until the token expires, leeway included, then is purged', async () => {
    const { tokens, clock, store } = setup({ access: { ttlSeconds: 60, checkRevocation: true }, leewaySeconds: 5 });
    const p = await tokens.issue({ sub: 'leeway' });
    await tokens.revoke(p.accessToken);
    const entries = await store.countStateEntries();
    clock.advance(64);
    assert.equal(await codeOf(tokens.authenticate(p.accessToken)), 'revoked', 'within the leeway: still refused');
    clock.advance(1);
    await store.purgeExpired();
    assert.equal(await store.countStateEntries(), entries - 1, 'the deny-list entry is gone');
    assert.equal(await codeOf(tokens.authenticate(p.accessToken)), 'expired');
  });
});
