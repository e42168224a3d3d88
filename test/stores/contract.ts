/**
 * The one contract every TokenStore keeps, run against memory, SQLite, Redis,
 * Redis Cluster and PostgreSQL (test/stores/*.test.ts). Two layers: the store operations
 * themselves, then the token service's behaviour on that store for each of the
 * seed's three presets (rotation, reuse, grace replay, revocation, races, expiry,
 * and nothing left behind once the TTLs have passed).
 */
import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { InvalidScopeError, StoreUnavailableError, TokenError } from '../../src/errors.js';
import { type ClientDirectory, completeClient, isClientDirectory } from '../../src/oauth-clients/types.js';
import { createTokenService } from '../../src/refresh/service.js';
import type { Scheme, TokenPair, TokenServiceOptions } from '../../src/refresh/types.js';
import { openStore } from '../../src/stores/open.js';
import type { RedisStore } from '../../src/stores/redis.js';
import type { NextTokens, OneTimeRecords, RevocationEvent, TokenStore, UserDirectory } from '../../src/stores/types.js';
import { DpopError } from '../../src/tokens/dpop.js';
import { userShard } from '../../src/tokens/opaque.js';
import { deletePrefix, dropSchema, FakeClock, PG_URL, SECRET, uniquePrefix, uniqueSchema } from './harness.js';

export interface StoreUnderTest {
  /** The built-in stores keep users and one-time records too (the directory half of the suite). */
  store: TokenStore & UserDirectory & OneTimeRecords;
  /**
   * A second store object on the same backend (another connection: the same SQLite
   * file, the same Redis prefix), as another instance would have; none for memory.
   * Closed by `cleanup`.
   */
  reopen?(): Promise<TokenStore>;
  /** Keys expire in real time (Redis), not when the injected clock passes them. */
  realExpiry: boolean;
  cleanup(): Promise<void>;
}

export type MakeStore = (clock: FakeClock) => Promise<StoreUnderTest>;

/** A fresh Redis store (single node or cluster, by `spec`) under its own key prefix, deleted on cleanup. */
export function redisStoreMaker(spec: string, label: string): MakeStore {
  return async () => {
    const keyPrefix = uniquePrefix(label);
    const store = (await openStore(spec, { keyPrefix })) as RedisStore;
    const others: TokenStore[] = [];
    return {
      store,
      realExpiry: true,
      reopen: async () => {
        const other = await openStore(spec, { keyPrefix });
        others.push(other);
        return other;
      },
      cleanup: async () => {
        await deletePrefix(store.client, keyPrefix);
        await store.close();
        for (const o of others) await o.close();
      },
    };
  };
}

/** A fresh PostgreSQL store in a schema of its own (migrated at open), dropped on cleanup. Purging by the test's clock. */
export function postgresStoreMaker(label: string, url = PG_URL): MakeStore {
  return async (clock) => {
    const schema = uniqueSchema(label);
    const { openPostgresStore } = await import('../../src/stores/postgres.js');
    const store = await openPostgresStore(url, { schema, clock: clock.now, purgeIntervalMs: 0, poolSize: 4 });
    const others: TokenStore[] = [];
    return {
      store,
      realExpiry: false,
      reopen: async () => {
        const other = await openPostgresStore(url, { schema, clock: clock.now, purgeIntervalMs: 0, poolSize: 2 });
        others.push(other);
        return other;
      },
      cleanup: async () => {
        await store.close();
        for (const o of others) await o.close();
        await dropSchema(schema, url);
      },
    };
  };
}

/** The error code of a rejected promise, or 'ok'. */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (e instanceof TokenError) return e.code;
    // A wider scope is the request's fault, not the token's: its own class, never a TokenError.
    if (e instanceof InvalidScopeError) return e.code;
    throw e;
  }
}

/** A store outage: its own class, and never a TokenError (which would read as "sign the user out"). */
export function isOutage(e: unknown): boolean {
  return e instanceof StoreUnavailableError && !(e instanceof TokenError);
}

const PRESETS: readonly Scheme[] = ['jwt', 'sealed', 'opaque'];

export function runStoreContract(name: string, make: MakeStore, options: { skip?: string } = {}): void {
  describe(`store contract: ${name}`, options, () => {
    async function setup(t: TestContext) {
      const clock = new FakeClock();
      const h = await make(clock);
      t.after(() => h.cleanup());
      const service = (overrides: Partial<TokenServiceOptions> = {}) =>
        createTokenService({ secret: SECRET, store: h.store, clock: clock.now, ...overrides });
      return { clock, store: h.store, realExpiry: h.realExpiry, service, reopen: h.reopen };
    }

    describe('user directory', () => {
      test('createUser stores a user; getUser finds it, or null', async (t) => {
        const { store } = await setup(t);
        const user = {
          id: 'u-1',
          username: 'alice',
          passwordHash: 'scrypt$16384$8$1$c2FsdA$aGFzaA',
          createdAt: 1_700_000_000_000,
        };
        assert.equal(await store.createUser(user), true);
        assert.deepEqual(await store.getUser('alice'), user);
        assert.equal(await store.getUser('bob'), null);
      });

      test('createUser is atomic: of 20 concurrent creations of one name exactly one succeeds', async (t) => {
        const { store } = await setup(t);
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            store.createUser({ id: `u-${i}`, username: 'taken', passwordHash: `h${i}`, createdAt: i }),
          ),
        );
        assert.equal(results.filter(Boolean).length, 1);
        const winner = results.indexOf(true);
        assert.equal((await store.getUser('taken'))?.id, `u-${winner}`);
      });
    });

    describe('client directory (RFC 6749 §2)', () => {
      const web = completeClient({
        clientId: 'web-app',
        clientType: 'confidential' as const,
        secretHash: 'sha256$aGFzaA',
        introspect: true,
        createdAt: 1_700_000_000_000,
        // Every field away from its default (CLIENT_DEFAULTS), so a store that drops one fails the round trip.
        redirectUris: ['https://app.example.com/callback', 'http://127.0.0.1/cb', 'com.example.app:/oauth'],
        postLogoutRedirectUris: ['https://app.example.com/bye'],
        grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
        scope: 'read write',
        firstParty: false,
        dpopBoundAccessTokens: true,
      });
      const spa = completeClient({
        clientId: 'spa',
        clientType: 'public' as const,
        secretHash: '',
        introspect: false,
        createdAt: 1,
      });

      test('createClient stores a client; getClient finds it, or null; listClients is ordered by id', async (t) => {
        const { store } = await setup(t);
        const dir = store as unknown as ClientDirectory;
        assert.ok(isClientDirectory(store), 'every store is a client directory');
        assert.deepEqual(await dir.listClients(), []);
        assert.equal(await dir.createClient(web), true);
        assert.equal(await dir.createClient(spa), true);
        assert.deepEqual(await dir.getClient('web-app'), web);
        assert.deepEqual(await dir.getClient('spa'), spa);
        assert.equal(await dir.getClient('nobody'), null);
        assert.deepEqual(await dir.listClients(), [spa, web]);
      });

      test('a record round-trips exactly, and what a caller holds is a copy (changing its arrays changes nothing stored)', async (t) => {
        const { store } = await setup(t);
        const dir = store as unknown as ClientDirectory;
        const mine = completeClient(web);
        assert.equal(await dir.createClient(mine), true);
        mine.redirectUris.push('https://evil.example/');
        mine.grantTypes.length = 0;
        const got = await dir.getClient('web-app');
        assert.deepEqual(got, web);
        got?.redirectUris.push('https://evil.example/');
        got?.postLogoutRedirectUris.pop();
        assert.deepEqual(await dir.getClient('web-app'), web);
        const [listed] = await dir.listClients();
        listed?.grantTypes.push('password');
        assert.deepEqual(await dir.listClients(), [web]);
      });

      test('createClient is atomic: of 20 concurrent registrations of one id exactly one succeeds', async (t) => {
        const { store } = await setup(t);
        const dir = store as unknown as ClientDirectory;
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => dir.createClient({ ...web, secretHash: `sha256$h${i}` })),
        );
        assert.equal(results.filter(Boolean).length, 1);
        assert.equal((await dir.getClient('web-app'))?.secretHash, `sha256$h${results.indexOf(true)}`);
      });

      test('removeClient removes once; the id can then be registered again', async (t) => {
        const { store } = await setup(t);
        const dir = store as unknown as ClientDirectory;
        await dir.createClient(web);
        assert.equal(await dir.removeClient('web-app'), true);
        assert.equal(await dir.removeClient('web-app'), false);
        assert.equal(await dir.getClient('web-app'), null);
        assert.equal(await dir.createClient(spa), true);
        assert.deepEqual(await dir.listClients(), [spa]);
      });

      test('removeClient pushes the removal on the revocation feed (client caches drop the record); a miss pushes nothing', async (t) => {
        const { store } = await setup(t);
        const dir = store as unknown as ClientDirectory;
        const feed = listen(t, store);
        await feed.untilUp();
        await dir.createClient(web);
        await dir.createClient(spa);
        assert.equal(await dir.removeClient('nobody'), false);
        assert.equal(await dir.removeClient('web-app'), true);
        await dir.removeClient('spa');
        await feed.until((e) => e.kind === 'client' && e.clientId === 'spa');
        const removed = feed.events.flatMap((e) => (e.kind === 'client' ? [e.clientId] : []));
        assert.deepEqual([...new Set(removed)], ['web-app', 'spa'], 'in order, and only what was removed');
        assert.deepEqual(
          feed.events.filter((e) => e.kind !== 'client'),
          [],
          'no revocation',
        );
      });

      test('clients are no token state: countStateEntries ignores them', async (t) => {
        const { store } = await setup(t);
        await (store as unknown as ClientDirectory).createClient(web);
        assert.equal(await store.countStateEntries(), 0);
      });
    });

    describe('token-state operations', () => {
      const sub = 'alice';
      const shard = userShard(sub);
      const next = (now: number, refreshId: string, extra: Partial<NextTokens> = {}): NextTokens => ({
        refreshId,
        refreshOpaque: false,
        refreshExpiresAt: now + 3_600_000,
        accessExpiresAt: now + 900_000,
        ...extra,
      });
      const family = (now: number, familyId: string, first: NextTokens, absoluteMs = 86_400_000) => ({
        shard,
        now,
        familyId,
        sub,
        absoluteExpiresAt: now + absoluteMs,
        scope: 'read',
        claims: '',
        next: first,
        leewayMs: 0,
      });
      const jti = (familyId: string, id: string) => ({ kind: 'jti' as const, familyId, sub, jti: id });

      test('rotate: a family bound to a client refuses another client (wrong_client) and consumes nothing', async (t) => {
        const { store, clock } = await setup(t);
        const now = clock.ms;
        const bound = { ...family(now, 'fam-c', next(now, 'c1')), claims: JSON.stringify({ client_id: 'web' }) };
        await store.createFamily(bound);
        const opaque = { ...family(now, 'fam-co', next(now, 'ho', { refreshOpaque: true })), claims: bound.claims };
        await store.createFamily(opaque);
        const base = { shard, now, graceMs: 0, leewayMs: 0 };
        for (const [presented, nextId] of [
          [jti('fam-c', 'c1'), 'c2'],
          [{ kind: 'opaque' as const, hash: 'ho' }, 'ho2'],
        ] as const) {
          const refused = await store.rotate({ ...base, presented, next: next(now, nextId), clientId: 'other' });
          assert.deepEqual(refused, { status: 'wrong_client' });
          // Refused twice: still not consumed, no reuse detected.
          assert.deepEqual(await store.rotate({ ...base, presented, next: next(now, nextId), clientId: 'other' }), {
            status: 'wrong_client',
          });
          const owner = await store.rotate({ ...base, presented, next: next(now, nextId), clientId: 'web' });
          assert.equal(owner.status, 'rotated', 'still valid for its owner');
        }
        const opaqueRecord = await store.inspectRefresh({ shard, now, refreshHash: 'ho' });
        assert.equal(opaqueRecord.status, 'inactive', 'consumed by its owner');
        // Unchecked (no clientId) and unbound families accept any client.
        await store.createFamily(family(now, 'fam-u', next(now, 'u1')));
        const any = await store.rotate({ ...base, presented: jti('fam-u', 'u1'), next: next(now, 'u2'), clientId: 'x' });
        assert.equal(any.status, 'rotated');
      });

      test('rotate: a family bound to a DPoP key refuses another key and no proof (wrong_key), whichever token, and consumes nothing', async (t) => {
        const { store, clock } = await setup(t);
        const now = clock.ms;
        const claims = JSON.stringify({ client_id: 'web', cnf: { jkt: 'key-a' } });
        await store.createFamily({ ...family(now, 'fam-k', next(now, 'k1')), claims });
        await store.createFamily({ ...family(now, 'fam-ko', next(now, 'hk', { refreshOpaque: true })), claims });
        const base = { shard, now, graceMs: 10_000, leewayMs: 0, clientId: 'web' };
        for (const [presented, nextId] of [
          [jti('fam-k', 'k1'), 'k2'],
          [{ kind: 'opaque' as const, hash: 'hk' }, 'hk2'],
        ] as const) {
          const ahead = next(now, nextId, { refreshOpaque: presented.kind === 'opaque' });
          for (const jkt of ['key-b', null, null])
            assert.deepEqual(await store.rotate({ ...base, presented, next: ahead, replay: 'sealed', jkt }), {
              status: 'wrong_key',
            });
          // Still the family's current token: its key rotates it.
          assert.equal(
            (await store.rotate({ ...base, presented, next: ahead, replay: 'sealed', jkt: 'key-a' })).status,
            'rotated',
          );
          // The consumed token: without the key neither the grace replay nor, after it, reuse detection.
          assert.deepEqual(await store.rotate({ ...base, presented, next: ahead, replay: 'x', jkt: null }), {
            status: 'wrong_key',
          });
          const again = await store.rotate({ ...base, presented, next: ahead, replay: 'x', jkt: 'key-a' });
          assert.deepEqual([again.status, again.status === 'replayed' ? again.replay : ''], ['replayed', 'sealed']);
          const later = { ...base, now: now + 20_000, presented, next: ahead, replay: 'x' };
          assert.deepEqual(await store.rotate({ ...later, jkt: 'key-b' }), { status: 'wrong_key' });
          assert.deepEqual(await store.rotate({ ...later, jkt: 'key-a' }), { status: 'reused' }, 'by its key: reuse');
        }
        // Unchecked (no jkt) and unbound families: any proof, or none.
        await store.createFamily({ ...family(now, 'fam-kb', next(now, 'b1')), claims });
        const unchecked = await store.rotate({ ...base, presented: jti('fam-kb', 'b1'), next: next(now, 'b2') });
        assert.equal(unchecked.status, 'rotated');
        await store.createFamily(family(now, 'fam-ku', next(now, 'u1', { refreshOpaque: true })));
        const unbound = { ...base, clientId: undefined, presented: { kind: 'opaque' as const, hash: 'u1' } };
        assert.equal((await store.rotate({ ...unbound, next: next(now, 'u2'), jkt: null })).status, 'rotated');
      });

      test('rotate: a scope beyond the grant is invalid_scope and consumes nothing; a narrower one sets the opaque access scope', async (t) => {
        const { store, clock } = await setup(t);
        const now = clock.ms;
        await store.createFamily({ ...family(now, 'fam-s', next(now, 's1', { refreshOpaque: true })), scope: 'read write' });
        const base = { shard, now, graceMs: 0, leewayMs: 0, presented: { kind: 'opaque' as const, hash: 's1' } };
        assert.deepEqual(await store.rotate({ ...base, next: next(now, 's2', { refreshOpaque: true }), scope: 'read admin' }), {
          status: 'invalid_scope',
        });
        const ok = await store.rotate({
          ...base,
          next: next(now, 's2', { refreshOpaque: true, accessHash: 'as2', accessScope: 'read' }),
          scope: 'read',
        });
        assert.equal(ok.status, 'rotated');
        assert.ok(ok.status === 'rotated');
        assert.equal(ok.family.scope, 'read write', 'the grant keeps its scope (RFC 6749 §6)');
        const access = await store.checkAccess({ shard, now, accessHash: 'as2' });
        assert.ok(access.status === 'ok');
        assert.equal(access.record?.scope, 'read');
      });

      test('rotate consumes the current token once; a consumed one is reuse and revokes the family', async (t) => {
        const { store, clock } = await setup(t);
        const now = clock.ms;
        await store.createFamily(family(now, 'fam-1', next(now, 'j1')));
        const r1 = await store.rotate({
          shard,
          now,
          presented: jti('fam-1', 'j1'),
          next: next(now, 'j2'),
          graceMs: 0,
          leewayMs: 0,
        });
        assert.equal(r1.status, 'rotated');
        assert.ok(r1.status === 'rotated');
        assert.deepEqual(r1.family, {
          familyId: 'fam-1',
          sub,
          scope: 'read',
          claims: '',
          createdAt: now,
          absoluteExpiresAt: now + 86_400_000,
        });
        const r2 = await store.rotate({
          shard,
          now,
          presented: jti('fam-1', 'j1'),
          next: next(now, 'j3'),
          graceMs: 0,
          leewayMs: 0,
        });
        assert.equal(r2.status, 'reused');
        const r3 = await store.rotate({
          shard,
          now,
          presented: jti('fam-1', 'j2'),
          next: next(now, 'j4'),
          graceMs: 0,
          leewayMs: 0,
        });
        assert.equal(r3.status, 'revoked', 'the current token of a family revoked for reuse no longer refreshes');
      });

      test('a family that does not exist is refused (fail closed)', async (t) => {
        const { store, clock } = await setup(t);
        const now = clock.ms;
        const r = await store.rotate({
          shard,
          now,
          presented: jti('nope', 'j1'),
          next: next(now, 'j2'),
          graceMs: 0,
          leewayMs: 0,
        });
        assert.equal(r.status, 'revoked');
        const a = await store.checkAccess({ shard, now, sub, familyId: 'nope', jti: 'x' });
        assert.equal(a.status, 'revoked');
      });

      test('grace window: the consumed token replays the stored pair, until the window ends', async (t) => {
        const { store, clock } = await setup(t);
        const now = clock.ms;
        await store.createFamily(family(now, 'fam-g', next(now, 'j1')));
        const args = { shard, graceMs: 5000, leewayMs: 0 };
        const r1 = await store.rotate({ ...args, now, presented: jti('fam-g', 'j1'), next: next(now, 'j2'), replay: 'pair-1' });
        assert.equal(r1.status, 'rotated');
        clock.advance(4);
        const r2 = await store.rotate({
          ...args,
          now: clock.ms,
          presented: jti('fam-g', 'j1'),
          next: next(now, 'j3'),
          replay: 'pair-2',
        });
        assert.equal(r2.status, 'replayed');
        assert.ok(r2.status === 'replayed');
        assert.equal(r2.replay, 'pair-1', 'the pair of the first rotation, not a new sibling');
        clock.advance(1);
        const r3 = await store.rotate({
          ...args,
          now: clock.ms,
          presented: jti('fam-g', 'j1'),
          next: next(now, 'j4'),
          replay: 'x',
        });
        assert.equal(r3.status, 'reused', 'after the window the consumed token is reuse');
        const r4 = await store.rotate({
          ...args,
          now: clock.ms,
          presented: jti('fam-g', 'j2'),
          next: next(now, 'j5'),
          replay: 'x',
        });
        assert.equal(r4.status, 'revoked');
      });

      test('opaque tokens: records shaped as DESIGN.md specifies for the opaque scheme, under the hash, found by refresh and access lookups', async (t) => {
        const { store, clock } = await setup(t);
        const now = clock.ms;
        const nowSec = now / 1000;
        await store.createFamily(family(now, 'fam-o', next(now, 'h1', { refreshOpaque: true, accessHash: 'a1' })));
        const access = await store.checkAccess({ shard, now, accessHash: 'a1' });
        assert.deepEqual(access, {
          status: 'ok',
          record: { user_id: sub, issued_at: nowSec, expires_in: 900, scope: 'read', family: 'fam-o' },
          claims: '',
        });
        const inspected = await store.inspectRefresh({ shard, now, refreshHash: 'h1' });
        assert.equal(inspected.status, 'active');
        assert.ok(inspected.status === 'active');
        assert.deepEqual(inspected.record, {
          user_id: sub,
          issued_at: nowSec,
          refresh_expires_in: 3600,
          used_count: 0,
          family: 'fam-o',
        });
        const r = await store.rotate({
          shard,
          now,
          presented: { kind: 'opaque', hash: 'h1' },
          next: next(now, 'h2', { refreshOpaque: true, accessHash: 'a2' }),
          graceMs: 0,
          leewayMs: 0,
        });
        assert.equal(r.status, 'rotated');
        assert.ok(r.status === 'rotated');
        assert.equal(r.family.sub, sub, 'the family is found from the opaque record');
        assert.equal((await store.inspectRefresh({ shard, now, refreshHash: 'h1' })).status, 'inactive', 'consumed');
        assert.equal((await store.inspectRefresh({ shard, now, refreshHash: 'h2' })).status, 'active');
        assert.equal((await store.checkAccess({ shard, now, accessHash: 'a2' })).status, 'ok');
        const unknown = await store.rotate({
          shard,
          now,
          presented: { kind: 'opaque', hash: 'never-issued' },
          next: next(now, 'h9', { refreshOpaque: true }),
          graceMs: 0,
          leewayMs: 0,
        });
        assert.equal(unknown.status, 'unknown');
        assert.equal((await store.checkAccess({ shard, now, accessHash: 'never-issued' })).status, 'unknown');
        const reused = await store.rotate({
          shard,
          now,
          presented: { kind: 'opaque', hash: 'h1' },
          next: next(now, 'h3', { refreshOpaque: true }),
          graceMs: 0,
          leewayMs: 0,
        });
        assert.equal(reused.status, 'reused');
        assert.equal((await store.checkAccess({ shard, now, accessHash: 'a2' })).status, 'revoked', 'family revoked');
        await store.revokeAccess({ shard, now, accessHash: 'a1' });
        assert.equal((await store.checkAccess({ shard, now, accessHash: 'a1' })).status, 'unknown', 'record deleted');
      });

      test('opaque records expire with their token: expired, then gone once purged', async (t) => {
        const { store, clock, realExpiry } = await setup(t);
        const now = clock.ms;
        await store.createFamily(family(now, 'fam-x', next(now, 'h1', { refreshOpaque: true, accessHash: 'a1' })));
        clock.advance(900);
        assert.equal((await store.checkAccess({ shard, now: clock.ms, accessHash: 'a1' })).status, 'expired');
        clock.advance(2700);
        const r = await store.rotate({
          shard,
          now: clock.ms,
          presented: { kind: 'opaque', hash: 'h1' },
          next: next(clock.ms, 'h2', { refreshOpaque: true }),
          graceMs: 0,
          leewayMs: 0,
        });
        assert.equal(r.status, 'expired');
        if (!realExpiry) {
          await store.purgeExpired();
          assert.equal((await store.checkAccess({ shard, now: clock.ms, accessHash: 'a1' })).status, 'unknown');
        }
      });

      test('the absolute lifetime ends the family whatever its tokens say', async (t) => {
        const { store, clock } = await setup(t);
        const now = clock.ms;
        await store.createFamily(family(now, 'fam-a', next(now, 'j1'), 10_000));
        clock.advance(10);
        const r = await store.rotate({
          shard,
          now: clock.ms,
          presented: jti('fam-a', 'j1'),
          next: next(clock.ms, 'j2'),
          graceMs: 0,
          leewayMs: 0,
        });
        assert.equal(r.status, 'expired');
      });

      test('deny-list: a revoked jti is refused until its expiry; an expired one is not stored', async (t) => {
        const { store, clock } = await setup(t);
        const now = clock.ms;
        const before = await store.countStateEntries();
        await store.revokeAccess({ shard, now, jti: 'gone', expiresAt: now - 1 });
        assert.equal(await store.countStateEntries(), before, 'nothing to guard, nothing stored');
        await store.revokeAccess({ shard, now, jti: 'x', expiresAt: now + 60_000 });
        assert.equal((await store.checkAccess({ shard, now, sub, jti: 'x' })).status, 'revoked');
        assert.equal((await store.checkAccess({ shard, now, sub, jti: 'y' })).status, 'ok');
      });

      test('deny-list: revoking a jti again never shortens its entry, whichever expiry comes first', async (t) => {
        const { store, clock, realExpiry } = await setup(t);
        const now = clock.ms;
        // 'a': the longer expiry first, then a shorter one; 'b': the shorter first, then the longer.
        await store.revokeAccess({ shard, now, jti: 'a', expiresAt: now + 600_000 });
        await store.revokeAccess({ shard, now, jti: 'a', expiresAt: now + 5_000 });
        await store.revokeAccess({ shard, now, jti: 'b', expiresAt: now + 5_000 });
        await store.revokeAccess({ shard, now, jti: 'b', expiresAt: now + 600_000 });
        if (realExpiry) {
          // Redis expires keys in real time: read the entries' remaining lifetime instead of waiting.
          const redis = store as unknown as RedisStore;
          for (const jti of ['a', 'b']) {
            const ttl = await redis.client.pttl(`${redis.base(shard)}d:${jti}`);
            assert.ok(ttl > 590_000, `d:${jti} keeps the longer expiry (pttl ${ttl} ms)`);
          }
        } else {
          // Past the shorter expiry, before the longer: still refused, even after a purge.
          clock.advance(60);
          await store.purgeExpired();
        }
        for (const jti of ['a', 'b']) {
          assert.equal((await store.checkAccess({ shard, now: clock.ms, sub, jti })).status, 'revoked', jti);
        }
        if (!realExpiry) {
          clock.advance(600);
          await store.purgeExpired();
          assert.equal((await store.checkAccess({ shard, now: clock.ms, sub, jti: 'a' })).status, 'ok', 'gone after the longer');
        }
      });

      test('revokeFamily (by family id or opaque hash) and revokeUser (the epoch alone)', async (t) => {
        const { store, clock } = await setup(t);
        const now = clock.ms;
        await store.createFamily(family(now, 'fam-1', next(now, 'j1')));
        await store.createFamily(family(now, 'fam-2', next(now, 'h2', { refreshOpaque: true })));
        await store.createFamily(family(now, 'fam-3', next(now, 'j3')));
        assert.equal(await store.revokeFamily({ shard, now, familyId: 'fam-1' }), true);
        assert.equal(await store.revokeFamily({ shard, now, familyId: 'fam-1' }), false, 'already revoked');
        assert.equal(await store.revokeFamily({ shard, now, familyId: 'missing' }), false);
        assert.equal(await store.revokeFamily({ shard, now, refreshHash: 'h2' }), true);
        assert.equal((await store.checkAccess({ shard, now, sub, familyId: 'fam-1' })).status, 'revoked');
        assert.equal((await store.checkAccess({ shard, now, sub, familyId: 'fam-3' })).status, 'ok');
        const other = userShard('bob');
        await store.createFamily({ ...family(now, 'fam-b', next(now, 'jb')), shard: other, sub: 'bob' });

        await store.revokeUser({ shard, now, sub, keepUntil: now + 86_400_000 });
        assert.equal((await store.checkAccess({ shard, now, sub, familyId: 'fam-3' })).status, 'revoked');
        assert.equal(await store.revokeFamily({ shard, now, familyId: 'fam-3' }), false, 'revoked by the epoch already');
        assert.equal(
          (await store.rotate({ shard, now, presented: jti('fam-3', 'j3'), next: next(now, 'j4'), graceMs: 0, leewayMs: 0 }))
            .status,
          'revoked',
        );
        assert.equal(
          (await store.checkAccess({ shard: other, now, sub: 'bob', familyId: 'fam-b' })).status,
          'ok',
          'other users untouched',
        );
        clock.advance(1);
        await store.createFamily(family(clock.ms, 'fam-4', next(clock.ms, 'j5')));
        assert.equal(
          (await store.checkAccess({ shard, now: clock.ms, sub, familyId: 'fam-4' })).status,
          'ok',
          'a later login works',
        );
      });

      test("the user epoch against a token's iat: tokens without a family (CLI-minted) do not survive it", async (t) => {
        const { store, clock } = await setup(t);
        const iat = clock.ms / 1000 - 10;
        const check = (input: { iat?: number; familyId?: string; now?: number }) =>
          store.checkAccess({ shard, now: input.now ?? clock.ms, sub, jti: 'cli-1', ...input }).then((r) => r.status);
        assert.equal(await check({ iat }), 'ok', 'no epoch yet');
        clock.advance(0.5);
        await store.revokeUser({ shard, now: clock.ms, sub, keepUntil: clock.ms + 86_400_000 });
        assert.equal(await check({ iat }), 'revoked', 'issued ten seconds before logout everywhere');
        assert.equal(
          await check({ iat: clock.ms / 1000 - 0.5 }),
          'revoked',
          'issued in the same second, no family: the safe side',
        );
        assert.equal(await check({}), 'ok', 'without iat only the deny-list and the family can say');
        clock.advance(1.5);
        assert.equal(await check({ iat: Math.floor(clock.ms / 1000) }), 'ok', 'issued after the epoch');
        // A family created just after the epoch, in the same second: its creation time (ms) decides, not iat.
        const created = clock.ms - 1500 + 200;
        await store.createFamily(family(created, 'fam-after', next(created, 'j1')));
        assert.equal(await check({ iat: Math.floor(created / 1000), familyId: 'fam-after' }), 'ok');
      });

      test('revokeUser is O(1): its cost does not grow with the number of sessions', async (t) => {
        const { store, clock } = await setup(t);
        const many = userShard('many');
        for (let i = 0; i < 300; i++) {
          await store.createFamily({ ...family(clock.ms, `fam-m${i}`, next(clock.ms, `jm${i}`)), shard: many, sub: 'many' });
        }
        const before = await store.countStateEntries();
        clock.advance(1);
        await store.revokeUser({ shard: many, now: clock.ms, sub: 'many', keepUntil: clock.ms + 86_400_000 });
        // The epoch (and, on SQLite, its row in the revocations log): nothing per family.
        const written = (await store.countStateEntries()) - before;
        assert.ok(written >= 1 && written <= 2, `revokeUser wrote ${written} entries for 300 sessions`);
        for (const i of [0, 150, 299]) {
          assert.equal(
            (await store.checkAccess({ shard: many, now: clock.ms, sub: 'many', familyId: `fam-m${i}` })).status,
            'revoked',
          );
        }
      });

      test('the user epoch refuses a family created before it, even one the index never saw', async (t) => {
        const { store, clock } = await setup(t);
        const created = clock.ms;
        clock.advance(1);
        await store.revokeUser({ shard, now: clock.ms, sub, keepUntil: clock.ms + 86_400_000 });
        // A login that began before the logout-everywhere and was written after it (a race).
        await store.createFamily(family(created, 'fam-late', next(created, 'j1')));
        assert.equal((await store.checkAccess({ shard, now: clock.ms, sub, familyId: 'fam-late' })).status, 'revoked');
      });

      describe('session listing (listFamilies)', () => {
        const list = async (store: TokenStore, now: number, who = sub) => {
          assert.ok(store.listFamilies, 'every built-in store lists sessions');
          const found = await store.listFamilies({ shard: userShard(who), now, sub: who });
          return found.sort((a, b) => (a.familyId < b.familyId ? -1 : 1));
        };

        test('lists the live families of the user with client, times, device and grant; a rotation moves last use and device in the same write, and keeps the grant', async (t) => {
          const { store, clock } = await setup(t);
          const now = clock.ms;
          await store.createFamily({
            ...family(now, 'fam-1', next(now, 'j1')),
            claims: JSON.stringify({ client_id: 'web', username: 'alice' }),
            userAgent: 'Firefox/140',
            address: '192.0.2.0',
            grant: 'authorization_code',
          });
          await store.createFamily(family(now, 'fam-2', next(now, 'h2', { refreshOpaque: true })));
          assert.deepEqual(await list(store, now), [
            {
              familyId: 'fam-1',
              clientId: 'web',
              createdAt: now,
              lastUsedAt: now,
              absoluteExpiresAt: now + 86_400_000,
              recordExpiresAt: now + 3_600_000,
              userAgent: 'Firefox/140',
              address: '192.0.2.0',
              grant: 'authorization_code',
            },
            {
              familyId: 'fam-2',
              clientId: '',
              createdAt: now,
              lastUsedAt: now,
              absoluteExpiresAt: now + 86_400_000,
              recordExpiresAt: now + 3_600_000,
              userAgent: '',
              address: '',
              grant: null,
            },
          ]);
          clock.advance(60);
          const later = clock.ms;
          const base = { shard, now: later, graceMs: 0, leewayMs: 0 };
          const r1 = await store.rotate({ ...base, presented: jti('fam-1', 'j1'), next: next(later, 'j1b') });
          assert.equal(r1.status, 'rotated');
          const r2 = await store.rotate({
            ...base,
            presented: { kind: 'opaque', hash: 'h2' },
            next: next(later, 'h2b', { refreshOpaque: true }),
            userAgent: 'curl/8',
            address: '2001:db8::',
          });
          assert.equal(r2.status, 'rotated');
          const [one, two] = await list(store, later);
          assert.deepEqual(
            [one?.lastUsedAt, one?.userAgent, one?.address, one?.recordExpiresAt, one?.grant],
            [later, 'Firefox/140', '192.0.2.0', later + 3_600_000, 'authorization_code'],
            'a rotation without a device keeps the recorded one',
          );
          const r3 = await store.rotate({
            ...base,
            presented: jti('fam-1', 'j1b'),
            next: next(later, 'j1c'),
            userAgent: 'Firefox/141',
          });
          assert.equal(r3.status, 'rotated');
          const [again] = await list(store, later);
          assert.deepEqual(
            [again?.userAgent, again?.address, again?.grant],
            ['Firefox/141', '192.0.2.0', 'authorization_code'],
            'each field is kept unless given; the grant always',
          );
          assert.deepEqual(
            [two?.createdAt, two?.lastUsedAt, two?.userAgent, two?.address, two?.grant],
            [now, later, 'curl/8', '2001:db8::', null],
          );
        });

        test("a user sees only their own families; another user's listing is empty", async (t) => {
          const { store, clock } = await setup(t);
          const now = clock.ms;
          await store.createFamily(family(now, 'fam-a', next(now, 'ja')));
          await store.createFamily({ ...family(now, 'fam-b', next(now, 'jb')), shard: userShard('bob'), sub: 'bob' });
          assert.deepEqual(
            (await list(store, now)).map((f) => f.familyId),
            ['fam-a'],
          );
          assert.deepEqual(
            (await list(store, now, 'bob')).map((f) => f.familyId),
            ['fam-b'],
          );
          assert.deepEqual(await list(store, now, 'carol'), []);
        });

        test('revoked families (one ended, reuse, logout everywhere) and expired ones leave the list', async (t) => {
          const { store, clock } = await setup(t);
          const now = clock.ms;
          for (const id of ['end', 'reuse', 'keep', 'short']) {
            const absolute = id === 'short' ? 10_000 : 86_400_000;
            await store.createFamily(
              family(now, `fam-${id}`, next(now, `${id}1`, { refreshExpiresAt: now + absolute }), absolute),
            );
          }
          assert.equal(await store.revokeFamily({ shard, now, familyId: 'fam-end' }), true);
          const base = { shard, now, graceMs: 0, leewayMs: 0 };
          await store.rotate({ ...base, presented: jti('fam-reuse', 'reuse1'), next: next(now, 'reuse2') });
          assert.equal(
            (await store.rotate({ ...base, presented: jti('fam-reuse', 'reuse1'), next: next(now, 'reuse3') })).status,
            'reused',
          );
          assert.deepEqual(
            (await list(store, now)).map((f) => f.familyId),
            ['fam-keep', 'fam-short'],
          );
          clock.advance(11);
          assert.deepEqual(
            (await list(store, clock.ms)).map((f) => f.familyId),
            ['fam-keep'],
            'past its absolute expiry',
          );
          clock.advance(1);
          await store.revokeUser({ shard, now: clock.ms, sub, keepUntil: clock.ms + 86_400_000 });
          assert.deepEqual(await list(store, clock.ms), [], 'logout everywhere empties the list');
          clock.advance(1);
          const after = clock.ms;
          await store.createFamily(family(after, 'fam-new', next(after, 'new1')));
          assert.deepEqual(
            (await list(store, after)).map((f) => f.familyId),
            ['fam-new'],
            'a sign-in after it is listed',
          );
        });

        test('familyOwner names the user of a family by its id alone; null for an unknown id', async (t) => {
          const { store, clock } = await setup(t);
          const now = clock.ms;
          await store.createFamily(family(now, 'fam-own', next(now, 'o1')));
          await store.createFamily({ ...family(now, 'fam-bob', next(now, 'b1')), shard: userShard('bob'), sub: 'bob' });
          assert.ok(store.familyOwner, 'every built-in store answers it');
          assert.equal(await store.familyOwner('fam-own'), sub);
          assert.equal(await store.familyOwner('fam-bob'), 'bob');
          assert.equal(await store.familyOwner('fam-none'), null);
          assert.equal(await store.familyOwner('fam-*'), null, 'no pattern matching');
        });

        test("countActiveFamilies counts what every user's listing shows (Redis has no such count)", async (t) => {
          const { store, clock } = await setup(t);
          assert.equal(store.countActiveFamilies === undefined, name.startsWith('redis'), 'every store but Redis counts');
          const count = store.countActiveFamilies?.bind(store);
          if (count === undefined) return;
          const now = clock.ms;
          assert.equal(await count(now), 0);
          for (const id of ['end', 'reuse', 'keep', 'short']) {
            const absolute = id === 'short' ? 10_000 : 86_400_000;
            await store.createFamily(
              family(now, `fam-${id}`, next(now, `${id}1`, { refreshExpiresAt: now + absolute }), absolute),
            );
          }
          await store.createFamily({ ...family(now, 'fam-bob', next(now, 'b1')), shard: userShard('bob'), sub: 'bob' });
          assert.equal(await count(now), 5, 'every user');
          assert.equal(await store.revokeFamily({ shard, now, familyId: 'fam-end' }), true);
          const base = { shard, now, graceMs: 0, leewayMs: 0 };
          await store.rotate({ ...base, presented: jti('fam-reuse', 'reuse1'), next: next(now, 'reuse2') });
          assert.equal(await count(now), 4, 'a rotation keeps its family; a revoked one is not counted');
          await store.rotate({ ...base, presented: jti('fam-reuse', 'reuse1'), next: next(now, 'reuse3') });
          assert.equal(await count(now), 3, 'reuse ends the family');
          clock.advance(11);
          assert.equal(await count(clock.ms), 2, 'past its absolute expiry');
          clock.advance(1);
          await store.revokeUser({ shard, now: clock.ms, sub, keepUntil: clock.ms + 86_400_000 });
          assert.equal(await count(clock.ms), 1, "logout everywhere ends the user's families, not bob's");
        });

        test('the purge takes expired families out of the user index too', async (t) => {
          const { store, clock, realExpiry } = await setup(t);
          const now = clock.ms;
          await store.createFamily(
            family(now, 'fam-p', next(now, 'p1', { refreshExpiresAt: now + 5_000, accessExpiresAt: now + 5_000 }), 5_000),
          );
          clock.advance(6);
          if (!realExpiry) await store.purgeExpired();
          assert.deepEqual(await list(store, clock.ms), []);
          if (!realExpiry) assert.equal(await store.countStateEntries(), 0, 'nothing left of the family');
        });
      });
    });

    describe('one-time records (RFC 6749 §4.1.2, RFC 8628 §3.5, RFC 9449 §11.1)', () => {
      const put = (store: OneTimeRecords, now: number, kind: string, id: string, value: string, ttlMs = 60_000) =>
        store.putOnce({ kind, id, value, now, expiresAt: now + ttlMs });

      test('a record put is consumed once: its value, then null', async (t) => {
        const { store, clock } = await setup(t);
        assert.equal(await put(store, clock.ms, 'authorization_code', 'c1', '{"sub":"alice"}'), true);
        assert.equal(await store.consumeOnce({ kind: 'authorization_code', id: 'c1', now: clock.ms }), '{"sub":"alice"}');
        assert.equal(await store.consumeOnce({ kind: 'authorization_code', id: 'c1', now: clock.ms }), null);
        assert.equal(await store.consumeOnce({ kind: 'authorization_code', id: 'never', now: clock.ms }), null);
      });

      test('putOnce refuses a live id and keeps the first value', async (t) => {
        const { store, clock } = await setup(t);
        assert.equal(await put(store, clock.ms, 'dpop_jti', 'p1', 'first'), true);
        assert.equal(await put(store, clock.ms, 'dpop_jti', 'p1', 'second'), false);
        assert.equal(await store.consumeOnce({ kind: 'dpop_jti', id: 'p1', now: clock.ms }), 'first');
      });

      test('of 20 concurrent puts of one id exactly one stores', async (t) => {
        const { store, clock } = await setup(t);
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => put(store, clock.ms, 'device_code', 'd1', `v${i}`)),
        );
        assert.equal(results.filter(Boolean).length, 1);
        const winner = results.indexOf(true);
        assert.equal(await store.consumeOnce({ kind: 'device_code', id: 'd1', now: clock.ms }), `v${winner}`);
      });

      test('of 20 concurrent consumes (two connections where the store has them) exactly one gets the value', async (t) => {
        const { store, clock, reopen } = await setup(t);
        const other = (reopen ? await reopen() : store) as unknown as OneTimeRecords;
        for (let round = 0; round < 3; round++) {
          const id = `race-${round}`;
          assert.equal(await put(store, clock.ms, 'authorization_code', id, `value-${round}`), true);
          const got = await Promise.all(
            Array.from({ length: 20 }, (_, i) =>
              (i % 2 === 0 ? store : other).consumeOnce({ kind: 'authorization_code', id, now: clock.ms }),
            ),
          );
          assert.deepEqual(
            got.filter((v) => v !== null),
            [`value-${round}`],
          );
        }
      });

      test("kind and id are a namespace: no (kind, id) pair reads another's record or token state", async (t) => {
        const { store, clock } = await setup(t);
        const pairs: [string, string][] = [
          ['a:b', 'c'],
          ['a', 'b:c'],
          ['a\0b', 'c'],
          ['a', 'b\0c'],
          ['a', 'bc'],
          ['ab', 'c'],
          ['f', 'fam-1'],
        ];
        for (const [kind, id] of pairs) assert.equal(await put(store, clock.ms, kind, id, `${kind}|${id}`), true);
        for (const [kind, id] of pairs) {
          assert.equal(await store.consumeOnce({ kind, id, now: clock.ms }), `${kind}|${id}`);
        }
        await store.createFamily({
          shard: userShard('alice'),
          now: clock.ms,
          familyId: 'fam-1',
          sub: 'alice',
          absoluteExpiresAt: clock.ms + 86_400_000,
          scope: 'read',
          claims: '',
          next: {
            refreshId: 'j1',
            refreshOpaque: false,
            refreshExpiresAt: clock.ms + 3_600_000,
            accessExpiresAt: clock.ms + 900_000,
          },
          leewayMs: 0,
        });
        assert.equal(await store.consumeOnce({ kind: 'f', id: 'fam-1', now: clock.ms }), null);
        assert.equal(await store.consumeOnce({ kind: 'family', id: 'fam-1', now: clock.ms }), null);
        assert.equal(
          (await store.checkAccess({ shard: userShard('alice'), now: clock.ms, sub: 'alice', familyId: 'fam-1' })).status,
          'ok',
        );
      });

      test('an expired record is never returned and may be put again', async (t) => {
        const { store, clock } = await setup(t);
        assert.equal(await put(store, clock.ms, 'authorization_code', 'old', 'stale', 10_000), true);
        clock.advance(10_000);
        assert.equal(
          await store.consumeOnce({ kind: 'authorization_code', id: 'old', now: clock.ms }),
          null,
          'at its expiry it is gone',
        );
        assert.equal(await put(store, clock.ms, 'authorization_code', 'live', 'a', 10_000), true);
        clock.advance(10_000);
        assert.equal(
          await put(store, clock.ms, 'authorization_code', 'live', 'b', 10_000),
          true,
          'an expired holder is replaced',
        );
        assert.equal(await store.consumeOnce({ kind: 'authorization_code', id: 'live', now: clock.ms }), 'b');
      });

      test('records count as state entries and the purge removes expired ones', async (t) => {
        const { store, clock, realExpiry } = await setup(t);
        const before = await store.countStateEntries();
        await put(store, clock.ms, 'authorization_code', 'p1', 'x', 5_000);
        await put(store, clock.ms, 'authorization_code', 'p2', 'y', 5_000);
        assert.equal(await store.countStateEntries(), before + 2);
        assert.notEqual(await store.consumeOnce({ kind: 'authorization_code', id: 'p1', now: clock.ms }), null);
        assert.equal(await store.countStateEntries(), before + 1, 'a consumed record is deleted');
        if (realExpiry) {
          // Redis expires the key itself, relative to the caller's clock: a 5 s record, 5 s TTL.
          const s = store as unknown as { onceKey(k: string, i: string): string; client: { pttl(k: string): Promise<number> } };
          const ttl = await s.client.pttl(s.onceKey('authorization_code', 'p2'));
          assert.ok(ttl > 0 && ttl <= 5_000, `PTTL ${ttl}`);
        } else {
          clock.advance(5_000);
          await store.purgeExpired();
          assert.equal(await store.countStateEntries(), before, 'the expired record was purged');
        }
      });
    });

    describe('revocation feed', () => {
      const sub = 'feeder';
      const shard = userShard(sub);
      const next = (now: number, refreshId: string): NextTokens => ({
        refreshId,
        refreshOpaque: false,
        refreshExpiresAt: now + 3_600_000,
        accessExpiresAt: now + 900_000,
      });
      const family = (now: number, familyId: string) => ({
        shard,
        now,
        familyId,
        sub,
        absoluteExpiresAt: now + 86_400_000,
        scope: '',
        claims: '',
        next: next(now, `${familyId}-r1`),
        leewayMs: 0,
      });

      test('every revoking operation pushes its event, and nothing else does', async (t) => {
        const { store, clock } = await setup(t);
        const feed = listen(t, store);
        await feed.untilUp();
        const now = clock.ms;
        // Not revocations: a login, a rotation, a deny-list entry for an expired token, revoking a missing family.
        await store.createFamily(family(now, 'fam-a'));
        await store.createFamily(family(now, 'fam-b'));
        await store.createFamily(family(now, 'fam-c'));
        const rot = { shard, now, next: next(now, 'fam-a-r2'), graceMs: 0, leewayMs: 0 };
        assert.equal(
          (await store.rotate({ ...rot, presented: { kind: 'jti', familyId: 'fam-a', sub, jti: 'fam-a-r1' } })).status,
          'rotated',
        );
        await store.revokeAccess({ shard, now, jti: 'expired', expiresAt: now - 1 });
        await store.revokeFamily({ shard, now, familyId: 'missing' });
        await store.revokeAccess({ shard, now, jti: 'marker-1', expiresAt: now + 60_000 });
        await feed.until((e) => e.kind === 'jti' && e.jti === 'marker-1');
        assert.deepEqual(
          new Set(feed.events.map((e) => JSON.stringify(e))),
          new Set([JSON.stringify({ kind: 'jti', jti: 'marker-1', until: now + 60_000 })]),
        );
        feed.events.length = 0;

        // Revocations: RFC 7009 access, logout (family), reuse detection, logout everywhere.
        await store.revokeFamily({ shard, now, familyId: 'fam-b' });
        const reused = await store.rotate({
          ...rot,
          next: next(now, 'x'),
          presented: { kind: 'jti', familyId: 'fam-a', sub, jti: 'fam-a-r1' },
        });
        assert.equal(reused.status, 'reused');
        clock.advance(1);
        await store.revokeUser({ shard, now: clock.ms, sub, keepUntil: clock.ms + 86_400_000 });
        await feed.until((e) => e.kind === 'user');
        // At least once: a store may deliver an event twice (Redis: the reply, then the PUBLISH echo).
        const unique = [...new Map(feed.events.map((e) => [JSON.stringify(e), e])).values()].filter(
          (e) => !(e.kind === 'jti' && e.jti === 'marker-1'),
        );
        const kinds = unique.map((e) => (e.kind === 'family' ? `family:${e.familyId}` : e.kind));
        assert.deepEqual(kinds, ['family:fam-b', 'family:fam-a', 'user']);
        for (const e of unique) assert.ok(e.until > now, `${e.kind}: until lies ahead (${e.until})`);
        const user = unique[2];
        assert.deepEqual(user, { kind: 'user', sub, notBefore: clock.ms, until: clock.ms + 86_400_000 });
      });

      test('a second subscriber (on a second connection, where the store has connections) hears them too, within a second; unsubscribe stops delivery', async (t) => {
        const { store, clock, reopen } = await setup(t);
        // The memory store lives in one process: its second subscriber is on the same object.
        const other = reopen ? await reopen() : store;
        const feed = listen(t, other);
        await feed.untilUp();
        const started = performance.now();
        await store.revokeAccess({ shard, now: clock.ms, jti: 'remote', expiresAt: clock.ms + 60_000 });
        await feed.until((e) => e.kind === 'jti' && e.jti === 'remote');
        const ms = performance.now() - started;
        assert.ok(ms < 1000, `delivered in ${ms.toFixed(0)} ms`);
        feed.stop();
        await store.revokeAccess({ shard, now: clock.ms, jti: 'after-stop', expiresAt: clock.ms + 60_000 });
        // A marker through a fresh listener proves the message went out; the stopped one must not have it.
        const marker = listen(t, other);
        await marker.untilUp();
        await store.revokeAccess({ shard, now: clock.ms, jti: 'marker-2', expiresAt: clock.ms + 60_000 });
        await marker.until((e) => e.kind === 'jti' && e.jti === 'marker-2');
        assert.ok(!feed.events.some((e) => e.kind === 'jti' && e.jti === 'after-stop'));
      });

      test('the token service refuses revoked self-contained access tokens from memory: no store lookup', async (t) => {
        const { service, store, clock } = await setup(t);
        const tokens = service({ scheme: 'jwt' });
        await waitUntil(() => tokens.revocations?.live === true);
        clock.advance(5); // past the trust margin: tokens issued from now on need no store check
        let lookups = 0;
        const checkAccess = store.checkAccess;
        store.checkAccess = (input) => {
          lookups++;
          return checkAccess.call(store, input);
        };
        t.after(() => {
          store.checkAccess = checkAccess;
        });
        const a = await tokens.issue({ sub: 'mem' });
        const b = await tokens.issue({ sub: 'mem' });
        const c = await tokens.issue({ sub: 'mem' });
        const thief = await tokens.issue({ sub: 'mem2' });
        for (const p of [a, b, c, thief]) assert.equal(await codeOf(tokens.authenticate(p.accessToken)), 'ok');
        assert.equal(lookups, 0, 'steady state: no store round trip per request');
        await tokens.revoke(a.accessToken);
        await tokens.logout(b.refreshToken);
        await tokens.refresh(thief.refreshToken);
        assert.equal(await codeOf(tokens.refresh(thief.refreshToken)), 'reused');
        assert.equal(await codeOf(tokens.authenticate(a.accessToken)), 'revoked', 'RFC 7009 access token');
        assert.equal(await codeOf(tokens.authenticate(b.accessToken)), 'revoked', 'logout');
        assert.equal(await codeOf(tokens.authenticate(thief.accessToken)), 'revoked', 'reuse detection');
        assert.equal(await codeOf(tokens.authenticate(c.accessToken)), 'ok');
        // A second later (a token issued in the epoch's own second would be looked up once: its
        // family's creation time in milliseconds decides).
        clock.advance(1);
        await tokens.revokeUser('mem');
        assert.equal(await codeOf(tokens.authenticate(c.accessToken)), 'revoked', 'logout everywhere');
        assert.equal(lookups, 0, 'every refusal came from memory');
        for (const p of [a, b, c])
          assert.deepEqual(await tokens.introspect(p.accessToken), { active: false }, 'introspection agrees');
        clock.advance(1);
        const later = await tokens.issue({ sub: 'mem' });
        assert.equal(await codeOf(tokens.authenticate(later.accessToken)), 'ok', 'a later login works');
      });

      test('a token issued before the service listened is checked against the store once, then from memory', async (t) => {
        const { service, store, clock } = await setup(t);
        const issuer = service({ scheme: 'sealed', access: { revocationPush: false } });
        const revoked = await issuer.issue({ sub: 'early' });
        const kept = await issuer.issue({ sub: 'early' });
        await issuer.logout(revoked.refreshToken);
        // A new instance (restart): it never heard of that logout.
        clock.advance(1);
        let lookups = 0;
        const checkAccess = store.checkAccess;
        store.checkAccess = (input) => {
          lookups++;
          return checkAccess.call(store, input);
        };
        t.after(() => {
          store.checkAccess = checkAccess;
        });
        const tokens = service({ scheme: 'sealed' });
        assert.equal(await codeOf(tokens.authenticate(revoked.accessToken)), 'revoked', 'before the feed is even up');
        await waitUntil(() => tokens.revocations?.live === true);
        assert.equal(await codeOf(tokens.authenticate(revoked.accessToken)), 'revoked');
        const n = lookups;
        assert.equal(await codeOf(tokens.authenticate(kept.accessToken)), 'ok');
        assert.equal(await codeOf(tokens.authenticate(kept.accessToken)), 'ok');
        assert.equal(await codeOf(tokens.authenticate(revoked.accessToken)), 'revoked');
        // A store that replays a snapshot (memory, SQLite) needs none; one that cannot (Redis) one for the kept token.
        assert.ok(lookups - n <= 1, `${lookups - n} lookups: at most one per token issued before the feed came up`);
      });
    });

    for (const scheme of PRESETS) {
      describe(`token service, scheme ${scheme}`, () => {
        test('issue, authenticate, refresh; the consumed token is reuse and ends the family', async (t) => {
          const { service } = await setup(t);
          const tokens = service({ scheme });
          const p0 = await tokens.issue({ sub: 'alice', scope: 'read write' });
          assert.equal(p0.tokenType, 'Bearer');
          assert.equal(p0.expiresIn, 900);
          assert.equal(p0.refreshExpiresIn, 2_592_000);
          assert.equal(p0.scope, 'read write');
          const who = await tokens.authenticate(p0.accessToken);
          assert.equal(who.sub, 'alice');
          assert.equal(who.scope, 'read write');
          assert.equal(who.familyId, p0.familyId);
          const p1 = await tokens.refresh(p0.refreshToken);
          assert.notEqual(p1.refreshToken, p0.refreshToken);
          assert.notEqual(p1.accessToken, p0.accessToken);
          assert.equal(p1.familyId, p0.familyId);
          assert.equal((await tokens.authenticate(p1.accessToken)).scope, 'read write');
          const p2 = await tokens.refresh(p1.refreshToken);
          const err = await tokens.refresh(p0.refreshToken).catch((e: unknown) => e);
          assert.ok(err instanceof TokenError);
          assert.equal(err.code, 'reused');
          assert.match(err.message, /revoked/, 'the error says the session was revoked');
          assert.equal(await codeOf(tokens.refresh(p2.refreshToken)), 'revoked');
        });

        test('DPoP binding (RFC 9449 §5): a refresh without the key or by another is refused, consumes nothing, trips no reuse, even with a consumed token; the key refreshes', async (t) => {
          const { service } = await setup(t);
          const tokens = service({ scheme });
          const p0 = await tokens.issue({ sub: 'alice', clientId: 'spa', jkt: 'key-a' });
          assert.equal(p0.tokenType, 'DPoP');
          for (const jkt of [null, 'key-b', null])
            await assert.rejects(
              tokens.refresh(p0.refreshToken, { clientId: 'spa', jkt }),
              (e: unknown) => e instanceof DpopError && e.code === 'dpop_key_mismatch',
            );
          assert.equal((await tokens.introspect(p0.refreshToken)).active, true, 'not consumed, the family not revoked');
          const p1 = await tokens.refresh(p0.refreshToken, { clientId: 'spa', jkt: 'key-a' });
          assert.equal(p1.tokenType, 'DPoP');
          assert.deepEqual((await tokens.authenticate(p1.accessToken)).claims?.cnf, { jkt: 'key-a' });
          // A consumed token: without the key refused, the family untouched (a thief cannot end the
          // owner's session); by its key, reuse.
          await assert.rejects(
            tokens.refresh(p0.refreshToken, { clientId: 'spa', jkt: null }),
            (e: unknown) => e instanceof DpopError && e.code === 'dpop_key_mismatch',
          );
          assert.equal((await tokens.introspect(p1.refreshToken)).active, true);
          assert.equal(await codeOf(tokens.refresh(p0.refreshToken, { clientId: 'spa', jkt: 'key-a' })), 'reused');
          assert.equal(await codeOf(tokens.refresh(p1.refreshToken, { clientId: 'spa', jkt: 'key-a' })), 'revoked');
        });

        test('client binding (RFC 6749 §6): another client is refused and consumes nothing; the owner refreshes', async (t) => {
          const { service } = await setup(t);
          const tokens = service({ scheme, issuer: 'https://as.example', audience: 'https://api.example' });
          const p0 = await tokens.issue({
            sub: 'alice',
            scope: 'read write',
            clientId: 'web',
            claims: { preferred_username: 'alice' },
          });
          assert.equal((await tokens.authenticate(p0.accessToken)).clientId, 'web');
          assert.equal(await codeOf(tokens.refresh(p0.refreshToken, { clientId: 'mallory' })), 'wrong_client');
          assert.equal(await codeOf(tokens.refresh(p0.refreshToken, { clientId: 'mallory' })), 'wrong_client');
          const intro = await tokens.introspect(p0.refreshToken);
          assert.equal(intro.active, true, 'still active: nothing was consumed, no reuse was detected');
          assert.equal(intro.client_id, 'web');
          assert.equal(intro.username, 'alice');
          assert.equal(intro.iss, 'https://as.example');
          // RFC 6749 §6: scope can only narrow; the grant keeps its scope.
          await assert.rejects(
            tokens.refresh(p0.refreshToken, { clientId: 'web', scope: 'admin' }),
            (e: unknown) => e instanceof InvalidScopeError && !(e instanceof TokenError),
          );
          const p1 = await tokens.refresh(p0.refreshToken, { clientId: 'web', scope: 'read' });
          assert.equal(p1.scope, 'read');
          const who = await tokens.authenticate(p1.accessToken);
          assert.equal(who.scope, 'read');
          assert.equal(who.clientId, 'web');
          const a = await tokens.introspect(p1.accessToken);
          assert.deepEqual(
            [a.active, a.client_id, a.username, a.scope, a.token_type],
            [true, 'web', 'alice', 'read', 'access_token'],
          );
          const p2 = await tokens.refresh(p1.refreshToken, { clientId: 'web' });
          assert.equal(p2.scope, 'read write', 'the next refresh without scope gets the whole grant again');
          // RFC 7009 §2.1: another client's revocation does nothing; the owner's ends the family.
          await tokens.revoke(p2.refreshToken, undefined, { clientId: 'mallory' });
          await tokens.revoke(p2.accessToken, undefined, { clientId: 'mallory' });
          assert.equal((await tokens.introspect(p2.refreshToken)).active, true);
          assert.equal((await tokens.introspect(p2.accessToken)).active, true);
          await tokens.revoke(p2.refreshToken, 'refresh_token', { clientId: 'web' });
          assert.equal((await tokens.introspect(p2.refreshToken)).active, false);
          assert.equal(await codeOf(tokens.refresh(p2.refreshToken, { clientId: 'web' })), 'revoked');
        });

        test('wrong type: an access token cannot refresh, a refresh token cannot authenticate', async (t) => {
          const { service } = await setup(t);
          const tokens = service({ scheme });
          const p = await tokens.issue({ sub: 'alice' });
          assert.equal(await codeOf(tokens.refresh(p.accessToken)), 'wrong_type');
          assert.equal(await codeOf(tokens.authenticate(p.refreshToken)), 'wrong_type');
          assert.equal(await codeOf(tokens.refresh('garbage')), 'malformed');
          assert.equal(await codeOf(tokens.refresh(p.refreshToken)), 'ok', 'the failed attempts consumed nothing');
        });

        test('revoke: an access token (deny-list or record), a refresh token (its family), logout', async (t) => {
          const { service } = await setup(t);
          const tokens = service({ scheme, access: { checkRevocation: true } });
          const p = await tokens.issue({ sub: 'alice' });
          await tokens.revoke(p.accessToken);
          assert.equal(await codeOf(tokens.authenticate(p.accessToken)), scheme === 'opaque' ? 'unknown_token' : 'revoked');
          assert.equal(await codeOf(tokens.refresh(p.refreshToken)), 'ok', 'revoking an access token leaves the family');

          const q = await tokens.issue({ sub: 'alice' });
          await tokens.revoke(q.refreshToken);
          assert.equal(await codeOf(tokens.refresh(q.refreshToken)), 'revoked');
          assert.equal(await codeOf(tokens.authenticate(q.accessToken)), 'revoked', 'the family took its access tokens along');

          const r = await tokens.issue({ sub: 'alice' });
          const r1 = await tokens.refresh(r.refreshToken);
          await tokens.logout(r1.refreshToken);
          assert.equal(await codeOf(tokens.refresh(r1.refreshToken)), 'revoked');
          await tokens.revoke('not a token');
          await tokens.revoke(r1.refreshToken);
        });

        test('sessions: the user sees their own, newest use first, the current one marked, device as kept, the grant that created each', async (t) => {
          const { service, clock } = await setup(t);
          const tokens = service({ scheme });
          const firefox = 'Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0';
          const laptop = await tokens.issue({
            sub: 'dana',
            clientId: 'web',
            userAgent: firefox,
            address: '198.51.100.77',
            grant: 'password',
          });
          clock.advance(10);
          const phone = await tokens.issue({ sub: 'dana', userAgent: 'x'.repeat(1000), address: '2001:db8:aa:bb::1' });
          await tokens.issue({ sub: 'erin', userAgent: 'curl/8' });
          const list = await tokens.sessions('dana', laptop.familyId);
          assert.deepEqual(
            list.map((s) => [s.id, s.clientId, s.userAgent, s.address, s.current, s.grant]),
            [
              [phone.familyId, '', 'x'.repeat(256), '2001:db8:aa::', false, null],
              [laptop.familyId, 'web', firefox, '198.51.100.0', true, 'password'],
            ],
          );
          const [, first] = list;
          assert.equal(first?.createdAt, first?.lastUsedAt);
          assert.equal(first?.expiresAt, first!.createdAt + 2_592_000_000, 'the refresh token expiry');
          clock.advance(10);
          const moved = await tokens.refresh(laptop.refreshToken, { userAgent: 'Firefox/141', address: '::ffff:203.0.113.9' });
          const after = await tokens.sessions('dana');
          assert.deepEqual(
            after.map((s) => [s.id, s.userAgent, s.address, s.lastUsedAt - s.createdAt, s.current, s.grant]),
            [
              [laptop.familyId, 'Firefox/141', '203.0.113.0', 20_000, false, 'password'],
              [phone.familyId, 'x'.repeat(256), '2001:db8:aa::', 0, false, null],
            ],
          );
          assert.equal(moved.familyId, laptop.familyId);
          assert.deepEqual((await tokens.sessions('erin')).map((s) => s.id).length, 1, "erin's listing holds her session alone");
          for (const grant of ['', 'g'.repeat(257), 7]) {
            await assert.rejects(tokens.issue({ sub: 'dana', grant: grant as string }), TypeError, `grant ${String(grant)}`);
          }
          assert.equal((await tokens.sessions('dana')).length, 2, 'a refused grant starts no session');
        });

        test("endSession ends one session of the user (its tokens refused at once); another user's or an unknown id ends nothing", async (t) => {
          const { service, reopen, clock } = await setup(t);
          const tokens = service({ scheme });
          const a = await tokens.issue({ sub: 'fay' });
          const b = await tokens.issue({ sub: 'fay' });
          const c = await tokens.issue({ sub: 'fay' });
          const other = await tokens.issue({ sub: 'gus' });
          // A second instance on the same backend (where there is one), which has seen b's access token.
          const remoteStore = reopen ? await reopen() : undefined;
          const remote = remoteStore
            ? createTokenService({ secret: SECRET, store: remoteStore, clock: clock.now, scheme })
            : tokens;
          t.after(() => remote.close());
          assert.equal(await codeOf(remote.authenticate(b.accessToken)), 'ok');
          assert.equal(await tokens.endSession('fay', other.familyId), false, "another user's session");
          assert.equal(await tokens.endSession('gus', b.familyId), false, "another user's session");
          assert.equal(await tokens.endSession('fay', 'no-such-session'), false);
          assert.equal(await codeOf(tokens.authenticate(other.accessToken)), 'ok');
          const started = performance.now();
          assert.equal(await tokens.endSession('fay', b.familyId), true);
          assert.equal(await codeOf(tokens.authenticate(b.accessToken)), 'revoked');
          assert.equal(await codeOf(tokens.refresh(b.refreshToken)), 'revoked');
          // Every instance refuses within a second (the revocation push, or a store lookup).
          for (;;) {
            if ((await codeOf(remote.authenticate(b.accessToken))) === 'revoked') break;
            assert.ok(performance.now() - started < 1000, 'refused on the other instance within a second');
            await new Promise((r) => setTimeout(r, 20));
          }
          assert.equal(await tokens.endSession('fay', b.familyId), false, 'ended already');
          assert.deepEqual((await tokens.sessions('fay')).map((s) => s.id).sort(), [a.familyId, c.familyId].sort());
          // Sign out everywhere else: every session of the user but the asking one.
          assert.equal(await tokens.endOtherSessions('fay', a.familyId), 1);
          assert.equal(await codeOf(tokens.authenticate(c.accessToken)), 'revoked');
          assert.equal(await codeOf(tokens.authenticate(a.accessToken)), 'ok');
          assert.deepEqual(
            (await tokens.sessions('fay', a.familyId)).map((s) => [s.id, s.current]),
            [[a.familyId, true]],
          );
          assert.equal(await codeOf(tokens.authenticate(other.accessToken)), 'ok', "gus's session lives");
          assert.equal((await tokens.refresh(a.refreshToken)).familyId, a.familyId);
        });

        test('revokeUser ends every family of the user and no other; a later login works', async (t) => {
          const { service, clock } = await setup(t);
          const tokens = service({ scheme, access: { checkRevocation: true } });
          const a = await tokens.issue({ sub: 'carol' });
          const b = await tokens.issue({ sub: 'carol' });
          const b1 = await tokens.refresh(b.refreshToken);
          const d = await tokens.issue({ sub: 'dave' });
          await tokens.revokeUser('carol');
          assert.equal(await codeOf(tokens.refresh(a.refreshToken)), 'revoked');
          assert.equal(await codeOf(tokens.refresh(b1.refreshToken)), 'revoked');
          assert.equal(await codeOf(tokens.authenticate(b1.accessToken)), 'revoked');
          assert.equal(await codeOf(tokens.authenticate(d.accessToken)), 'ok');
          assert.equal(await codeOf(tokens.refresh(d.refreshToken)), 'ok');
          clock.advance(1);
          const c = await tokens.issue({ sub: 'carol' });
          assert.equal(await codeOf(tokens.refresh(c.refreshToken)), 'ok');
        });

        test('race: of 100 concurrent refreshes of one token exactly one wins (grace 0)', async (t) => {
          const { service } = await setup(t);
          const tokens = service({ scheme });
          const p = await tokens.issue({ sub: 'racer' });
          const results = await Promise.allSettled(Array.from({ length: 100 }, () => tokens.refresh(p.refreshToken)));
          const won = results.filter((r): r is PromiseFulfilledResult<TokenPair> => r.status === 'fulfilled');
          const codes = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as TokenError).code] : []));
          assert.equal(won.length, 1, `exactly one success, got ${won.length}`);
          assert.deepEqual(new Set(codes), new Set(['reused']));
          // The losers revoked the family: by design, the winner's new refresh token is dead too.
          assert.equal(await codeOf(tokens.refresh((won[0] as PromiseFulfilledResult<TokenPair>).value.refreshToken)), 'revoked');
        });

        test('grace window: concurrent refreshes all get the same pair; after the window, reuse', async (t) => {
          const { service, clock } = await setup(t);
          const tokens = service({ scheme, refresh: { reuseGraceSeconds: 10 } });
          const p = await tokens.issue({ sub: 'grace' });
          const pairs = await Promise.all(Array.from({ length: 20 }, () => tokens.refresh(p.refreshToken)));
          const first = pairs[0] as TokenPair;
          for (const q of pairs) {
            assert.equal(q.refreshToken, first.refreshToken);
            assert.equal(q.accessToken, first.accessToken);
          }
          clock.advance(3);
          const late = await tokens.refresh(p.refreshToken);
          assert.equal(late.refreshToken, first.refreshToken, 'a retry within the window: same pair');
          assert.equal(late.expiresIn, first.expiresIn - 3, 'lifetimes count from the original rotation');
          const second = await tokens.refresh(first.refreshToken);
          assert.notEqual(second.refreshToken, first.refreshToken, 'the replayed pair is current, not a sibling');
          clock.advance(11);
          assert.equal(await codeOf(tokens.refresh(first.refreshToken)), 'reused', 'after the window: reuse');
          assert.equal(await codeOf(tokens.refresh(second.refreshToken)), 'revoked', "the winner's tokens stop working");
        });

        test('expiry by the injected clock: access, refresh, and the absolute lifetime', async (t) => {
          const { service, clock } = await setup(t);
          const tokens = service({
            scheme,
            access: { ttlSeconds: 60 },
            refresh: { ttlSeconds: 120, absoluteLifetimeSeconds: 200 },
          });
          const p = await tokens.issue({ sub: 'erin' });
          clock.advance(60);
          assert.equal(await codeOf(tokens.authenticate(p.accessToken)), 'expired');
          const p1 = await tokens.refresh(p.refreshToken);
          assert.equal(p1.refreshExpiresIn, 120);
          clock.advance(100);
          const p2 = await tokens.refresh(p1.refreshToken);
          assert.equal(p2.refreshExpiresIn, 40, 'capped by the absolute lifetime');
          clock.advance(40);
          assert.equal(await codeOf(tokens.refresh(p2.refreshToken)), 'expired');
          const q = await tokens.issue({ sub: 'erin' });
          clock.advance(120);
          assert.equal(await codeOf(tokens.refresh(q.refreshToken)), 'expired');
        });

        test('introspect: active tokens, then inactive once consumed or revoked', async (t) => {
          const { service } = await setup(t);
          const tokens = service({ scheme });
          const p = await tokens.issue({ sub: 'ivy', scope: 'read' });
          const a = await tokens.introspect(p.accessToken);
          assert.equal(a.active, true);
          assert.equal(a.sub, 'ivy');
          assert.equal(a.scope, 'read');
          assert.equal(a.token_type, 'access_token');
          const r = await tokens.introspect(p.refreshToken);
          assert.equal(r.active, true);
          assert.equal(r.token_type, 'refresh_token');
          const p1 = await tokens.refresh(p.refreshToken);
          assert.deepEqual(await tokens.introspect(p.refreshToken), { active: false });
          assert.equal((await tokens.introspect(p1.refreshToken, 'refresh_token')).active, true);
          assert.deepEqual(await tokens.introspect('nonsense'), { active: false });
          await tokens.revoke(p1.refreshToken);
          assert.deepEqual(await tokens.introspect(p1.refreshToken), { active: false });
          assert.deepEqual(await tokens.introspect(p1.accessToken), { active: false });
        });
      });
    }

    test('nothing is left once every TTL has passed (families, deny-list, consumed and opaque records, indexes, epochs)', async (t) => {
      const { service, clock, store, realExpiry } = await setup(t);
      const ttl = realExpiry
        ? { access: { ttlSeconds: 1 }, refresh: { ttlSeconds: 2, absoluteLifetimeSeconds: 2, reuseGraceSeconds: 1 } }
        : { access: { ttlSeconds: 60 }, refresh: { ttlSeconds: 120, absoluteLifetimeSeconds: 300, reuseGraceSeconds: 5 } };
      for (const scheme of PRESETS) {
        const tokens = service({ scheme, ...ttl, access: { ...ttl.access, checkRevocation: true } });
        const p = await tokens.issue({ sub: `gc-${scheme}` });
        const p1 = await tokens.refresh(p.refreshToken);
        await tokens.refresh(p.refreshToken); // grace replay
        await tokens.revoke(p1.accessToken); // deny-list entry or record deletion
        const strict = service({ scheme, ...ttl, refresh: { ...ttl.refresh, reuseGraceSeconds: 0 } });
        const q = await strict.issue({ sub: `gc-${scheme}` });
        await strict.refresh(q.refreshToken);
        assert.equal(await codeOf(strict.refresh(q.refreshToken)), 'reused'); // a revoked family
        await tokens.issue({ sub: `gc2-${scheme}` });
        await tokens.revokeUser(`gc2-${scheme}`); // epoch
      }
      assert.ok((await store.countStateEntries()) > 0);
      if (realExpiry) {
        // Keys expire in real time: each at most 2 s (the longest TTL) after the command that wrote it.
        await new Promise((r) => setTimeout(r, 2300));
      } else {
        clock.advance(301);
        await store.purgeExpired();
      }
      assert.equal(await store.countStateEntries(), 0);
    });
  });
}

/** Polls `cond` every 5 ms for at most `ms` (real time: the push crosses connections). */
export async function waitUntil(cond: () => boolean, ms = 3000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Subscribes to a store's revocation feed for the test, recording events and status. */
export function listen(t: TestContext, store: TokenStore) {
  assert.ok(store.revocations, 'the built-in stores push revocations');
  const events: RevocationEvent[] = [];
  let up = false;
  const stop = store.revocations().subscribe({
    event: (e) => void events.push(e),
    status: (s) => {
      up = s === 'up';
    },
  });
  t.after(stop);
  return {
    events,
    stop,
    get up() {
      return up;
    },
    untilUp: () => waitUntil(() => up),
    until: (pred: (e: RevocationEvent) => boolean) => waitUntil(() => events.some(pred), 1000),
  };
}
