/**
 * The in-memory revoked set is bounded and never forgets. A refresh + revoke loop in one
 * session folds into one entry for the family (its tokens then ask the store); revocations
 * spread over many sessions meet the cap (`access.revocationCap`), past which a revocation is
 * let go and every token issued before it is checked against the store (once for a token
 * that is not revoked). Two token services on one store: A revokes, B hears the push.
 */
import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { Redis } from 'ioredis';
import { PER_FAMILY, RevocationSet } from '../../src/refresh/revocations.js';
import { type ConfiguredTokenService, createTokenService } from '../../src/refresh/service.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { RedisStore, redisClientOptions } from '../../src/stores/redis.js';
import type { TokenStore } from '../../src/stores/types.js';
import { codeOf, waitUntil } from '../stores/contract.js';
import {
  deletePrefix,
  FakeClock,
  REDIS_URL,
  redisUnavailable,
  SECRET,
  skipUnlessAvailable,
  uniquePrefix,
} from '../stores/harness.js';

// Services are probed before any test is registered: node:test drops a test registered after a
// top-level await once the tests before it have finished.
const redisReason = await redisUnavailable();

const CAP = 40;
const LOOPS = 300;

interface Instance {
  tokens: ConfiguredTokenService;
  lookups(): number;
}

function instance(store: TokenStore, clock: FakeClock): Instance {
  let n = 0;
  // Every method runs on the store itself (private fields); checkAccess calls are counted.
  const counted = new Proxy(store, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target);
      if (typeof v !== 'function') return v;
      if (prop === 'checkAccess') n++;
      return (v as (...a: unknown[]) => unknown).bind(target);
    },
  });
  const tokens = createTokenService({ secret: SECRET, store: counted, clock: clock.now, access: { revocationCap: CAP } });
  return { tokens, lookups: () => n };
}

type Backend = { open(): Promise<TokenStore[]>; cleanup(): Promise<void> };

/** Waits until B's set stops changing (every push has arrived: they come in order, within ms). */
async function settled(x: Instance): Promise<void> {
  const mark = () => `${x.tokens.revocations!.size}/${x.tokens.revocations!.dropped}`;
  let last = mark();
  for (let stable = 0; stable < 10; ) {
    await new Promise((r) => setTimeout(r, 10));
    const now = mark();
    stable = now === last ? stable + 1 : 0;
    last = now;
  }
}

function suite(title: string, backend: () => Promise<Backend>, skip: { skip?: string } = {}): void {
  describe(`the revoked set is bounded: ${title}`, skip, () => {
    async function setup(t: TestContext) {
      const b = await backend();
      const [sa, sb] = await b.open();
      const clock = new FakeClock();
      const a = instance(sa as TokenStore, clock);
      const o = instance(sb as TokenStore, clock);
      t.after(async () => {
        a.tokens.close();
        o.tokens.close();
        await b.cleanup();
      });
      await waitUntil(() => a.tokens.revocations?.live === true && o.tokens.revocations?.live === true);
      clock.advance(5);
      const bystander = await a.tokens.issue({ sub: 'bystander' });
      assert.equal(await codeOf(o.tokens.authenticate(bystander.accessToken)), 'ok');
      assert.equal(o.lookups(), 0);
      return { a, o, clock, bystander };
    }

    test(`a refresh + revoke loop of ${LOOPS} in one session: the family's revoked tokens fold into one entry; others pay nothing`, async (t) => {
      const { a, o, bystander } = await setup(t);
      const revoked: string[] = [];
      let pair = await a.tokens.issue({ sub: 'flooder' });
      for (let i = 0; i < LOOPS; i++) {
        pair = await a.tokens.refresh(pair.refreshToken);
        await a.tokens.revoke(pair.accessToken);
        revoked.push(pair.accessToken);
      }
      await settled(o);
      for (const x of [a, o]) {
        assert.ok(x.tokens.revocations!.size <= PER_FAMILY + 1, `held ${x.tokens.revocations!.size} entries`);
        assert.equal(x.tokens.revocations!.dropped, 0, 'nothing let go: the cap was never reached');
      }
      for (const token of revoked) {
        assert.equal(await codeOf(o.tokens.authenticate(token)), 'revoked');
        assert.equal(await codeOf(a.tokens.authenticate(token)), 'revoked');
      }
      // The live session itself now asks the store on every request; everybody else is untouched.
      const n = o.lookups();
      assert.equal(await codeOf(o.tokens.authenticate(bystander.accessToken)), 'ok');
      assert.equal(o.lookups(), n, 'a bystander is vouched for from memory');
      pair = await a.tokens.refresh(pair.refreshToken);
      assert.equal(await codeOf(o.tokens.authenticate(pair.accessToken)), 'ok');
      assert.equal(await codeOf(o.tokens.authenticate(pair.accessToken)), 'ok');
      assert.equal(o.lookups(), n + 2, "the flooder's family: one store check per request");
      // Ending the session supersedes its entries: one family entry is left.
      await a.tokens.logout(pair.refreshToken);
      await settled(o);
      assert.equal(await codeOf(o.tokens.authenticate(pair.accessToken)), 'revoked');
      assert.equal(o.tokens.revocations!.size, 1);
    });

    test(`revocations over ${LOOPS} sessions stay within a cap of ${CAP}; every revoked token is still refused`, async (t) => {
      const { a, o, clock, bystander } = await setup(t);
      const revoked: string[] = [];
      let peak = 0;
      for (let i = 0; i < LOOPS; i++) {
        // A session per loop (each revoked access token in a family of its own: nothing folds).
        let pair = await a.tokens.issue({ sub: `flooder-${i % 7}` });
        pair = await a.tokens.refresh(pair.refreshToken);
        await a.tokens.revoke(pair.accessToken);
        revoked.push(pair.accessToken);
        if (i % 50 === 49) {
          const ended = await a.tokens.issue({ sub: 'flooder-logout' });
          await a.tokens.logout(ended.refreshToken);
          revoked.push(ended.accessToken);
        }
        peak = Math.max(peak, a.tokens.revocations!.size, o.tokens.revocations!.size);
      }
      await settled(o);
      assert.ok(peak <= CAP, `held at most ${peak} entries`);
      assert.ok(o.tokens.revocations!.dropped > 0, 'the cap was reached');
      for (const token of revoked) {
        assert.equal(await codeOf(o.tokens.authenticate(token)), 'revoked');
        assert.equal(await codeOf(a.tokens.authenticate(token)), 'revoked');
      }
      assert.ok(Math.max(a.tokens.revocations!.size, o.tokens.revocations!.size) <= CAP);

      // A token issued before the flood: checked against the store once, then vouched for again.
      const n = o.lookups();
      assert.equal(await codeOf(o.tokens.authenticate(bystander.accessToken)), 'ok');
      assert.equal(await codeOf(o.tokens.authenticate(bystander.accessToken)), 'ok');
      assert.equal(o.lookups(), n + 1, 'one store check, then from memory');
      // A token issued after the flood (past the margin) costs no lookup at all.
      clock.advance(5);
      const fresh = await a.tokens.issue({ sub: 'fresh' });
      const m = o.lookups();
      assert.equal(await codeOf(o.tokens.authenticate(fresh.accessToken)), 'ok');
      assert.equal(o.lookups(), m);
    });
  });
}

// Every await before the first suite: with --test-force-exit the run ends once registered suites finish.

suite('memory', async () => {
  const store = new MemoryStore();
  return { open: async () => [store, store], cleanup: () => store.close() };
});

suite(
  'Redis',
  async () => {
    const keyPrefix = uniquePrefix('cap');
    const stores = [0, 1].map(() => new RedisStore(new Redis(REDIS_URL, redisClientOptions()), { keyPrefix, ownsClient: true }));
    return {
      open: async () => stores,
      cleanup: async () => {
        await deletePrefix((stores[0] as RedisStore).client, keyPrefix);
        await Promise.all(stores.map((s) => s.close()));
      },
    };
  },
  skipUnlessAvailable(redisReason),
);

describe('RevocationSet past its cap', () => {
  const set = (maxEntries: number, clock: FakeClock) => {
    const s = new RevocationSet({ horizonMs: 900_000, clock: clock.now, maxEntries });
    s.status('up', true);
    return s;
  };

  test('a revocation let go while the store is asked is not vouched for by that answer', () => {
    const clock = new FakeClock();
    const s = set(1, clock);
    s.event({ kind: 'family', familyId: 'f0', until: clock.ms + 60_000 });
    const iat = clock.ms / 1000;
    const exp = iat + 900;
    clock.advance(1);
    s.event({ kind: 'jti', jti: 'other', until: clock.ms + 60_000 }); // let go: older tokens now ask
    assert.equal(s.check('u', 'f1', 'j1', iat, exp, clock.ms), 'ask');
    const gen = s.generation;
    // Revoked while that store check was in flight, and let go (full): the 'ok' answer is stale.
    s.event({ kind: 'jti', jti: 'j1', until: clock.ms + 60_000 });
    s.confirm('j1', gen);
    assert.equal(s.check('u', 'f1', 'j1', iat, exp, clock.ms), 'ask');
    assert.ok(s.size <= 1);
  });

  test('a token the store vouched for asks again when a revocation of it is let go', () => {
    const clock = new FakeClock();
    const s = set(1, clock);
    s.event({ kind: 'family', familyId: 'f0', until: clock.ms + 60_000 });
    const iat = clock.ms / 1000;
    clock.advance(1);
    s.event({ kind: 'jti', jti: 'other', until: clock.ms + 60_000 });
    s.confirm('j1', s.generation);
    assert.equal(s.check('u', 'f1', 'j1', iat, iat + 900, clock.ms), 'ok');
    s.event({ kind: 'jti', jti: 'j1', until: clock.ms + 60_000 });
    assert.equal(s.check('u', 'f1', 'j1', iat, iat + 900, clock.ms), 'ask');
    s.confirm('j2', s.generation);
    s.event({ kind: 'family', familyId: 'f2', until: clock.ms + 60_000 });
    assert.equal(s.check('u', 'f2', 'j2', iat, iat + 900, clock.ms), 'ask', 'a family let go drops every remembered answer');
  });
});
