/**
 * Logout everywhere:
 *
 * - is O(1) in the number of sessions: it writes the user's epoch alone; with
 *   20,000 sessions it touches a constant number of rows / keys (counted, not
 *   timed), and every session is still refused;
 * - ends tokens without a family (minted by `tessera token issue`) too: their
 *   `iat` is compared with the user's epoch, from memory and in the store; and
 *   `token issue` refuses a `--ttl` beyond the refresh lifetime.
 */
import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import type { Redis } from 'ioredis';
import { tokenCommand } from '../../src/cli/token.js';
import { createTokenService } from '../../src/refresh/service.js';
import { openStore } from '../../src/stores/open.js';
import { openPostgresStore } from '../../src/stores/postgres.js';
import type { RedisStore } from '../../src/stores/redis.js';
import { SqliteStore } from '../../src/stores/sqlite.js';
import type { TokenStore } from '../../src/stores/types.js';
import { createCodec } from '../../src/tokens/codec.js';
import { userShard } from '../../src/tokens/opaque.js';
import { codeOf } from '../stores/contract.js';
import {
  deletePrefix,
  dropSchema,
  FakeClock,
  monitorOf,
  PG_URL,
  postgresUnavailable,
  REDIS_URL,
  redisUnavailable,
  SECRET,
  skipUnlessAvailable,
  tempSqlitePath,
  uniquePrefix,
  uniqueSchema,
} from '../stores/harness.js';

// Services are probed before any test is registered: node:test drops a test registered after a
// top-level await once the tests before it have finished.
const reason = await redisUnavailable();
const pgReason = await postgresUnavailable();

const SESSIONS = 20_000;

/** Creates `n` sessions of `sub` directly in the store (what `n` logins would write). */
async function sessions(store: TokenStore, sub: string, n: number, now: number): Promise<void> {
  const shard = userShard(sub);
  const batch: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    batch.push(
      store.createFamily({
        shard,
        now,
        familyId: `fam-${i}`,
        sub,
        absoluteExpiresAt: now + 86_400_000,
        scope: '',
        claims: '',
        next: { refreshId: `r-${i}`, refreshOpaque: false, refreshExpiresAt: now + 3_600_000, accessExpiresAt: now + 900_000 },
        leewayMs: 0,
      }),
    );
    if (batch.length === 500) await Promise.all(batch.splice(0));
  }
  await Promise.all(batch);
}

async function allRevoked(store: TokenStore, sub: string, now: number): Promise<void> {
  for (const i of [0, 1, SESSIONS / 2, SESSIONS - 1]) {
    const r = await store.checkAccess({ shard: userShard(sub), now, sub, familyId: `fam-${i}` });
    assert.equal(r.status, 'revoked', `fam-${i}`);
  }
}

describe('logout-all is O(1) in the number of sessions', () => {
  test(`SQLite: ${SESSIONS} sessions, revokeUser changes 2 rows (the epoch and its log row)`, async (t) => {
    const file = tempSqlitePath();
    const store = new SqliteStore(file.path);
    t.after(async () => {
      await store.close();
      file.remove();
    });
    const now = Date.now();
    await sessions(store, 'busy', SESSIONS, now);
    const changes = () => (store.db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;
    const before = changes();
    await store.revokeUser({ shard: userShard('busy'), now: now + 1, sub: 'busy', keepUntil: now + 86_400_000 });
    assert.equal(changes() - before, 2);
    await allRevoked(store, 'busy', now + 2);
  });

  test(
    `Redis: ${SESSIONS} sessions, the revokeUser script runs a constant number of commands (MONITOR)`,
    skipUnlessAvailable(reason),
    async (t: TestContext) => {
      const keyPrefix = uniquePrefix('logout-all');
      const store = (await openStore(REDIS_URL, { keyPrefix })) as RedisStore;
      const monitor = await monitorOf(store.client as Redis);
      t.after(async () => {
        monitor.disconnect();
        await deletePrefix(store.client, keyPrefix);
        await store.close();
      });
      const now = Date.now();
      await sessions(store, 'busy', SESSIONS, now);
      const seen: string[][] = [];
      monitor.on('monitor', (_time: string, args: string[]) => {
        if (args.some((a) => a.includes(keyPrefix))) seen.push(args);
      });
      // Markers around it: once MONITOR shows a marker, it has shown everything sent before it.
      const marker = async (name: string) => {
        await store.client.set(`${keyPrefix}${name}`, '1', 'PX', 10_000);
        for (let i = 0; i < 1000 && !seen.some((a) => a[1] === `${keyPrefix}${name}`); i++)
          await new Promise((r) => setTimeout(r, 10));
      };
      await marker('before');
      seen.length = 0;
      await store.revokeUser({ shard: userShard('busy'), now: now + 1, sub: 'busy', keepUntil: now + 86_400_000 });
      await marker('after');
      const inScript = seen.filter((a) => a[0] !== 'evalsha' && a[0] !== 'eval' && a[1] !== `${keyPrefix}after`);
      const names = inScript.map((a) => a[0]?.toLowerCase());
      assert.ok(inScript.length <= 4, `revokeUser ran ${inScript.length} commands on keys: ${names.join(' ')}`);
      assert.ok(names.includes('set'), 'MONITOR saw the epoch being written');
      assert.ok(!names.includes('hset') && !names.includes('zrange'), 'no per-family write, no index walk');
      await allRevoked(store, 'busy', now + 2);
    },
  );
});

describe('logout-all is O(1) on PostgreSQL', () => {
  test(
    `PostgreSQL: ${SESSIONS} sessions, the revoke_user transaction writes the epoch row and no family row`,
    skipUnlessAvailable(pgReason),
    async (t: TestContext) => {
      const schema = uniqueSchema('logout_all');
      const store = await openPostgresStore(PG_URL, { schema, purgeIntervalMs: 0, poolSize: 8 });
      t.after(async () => {
        await store.close();
        await dropSchema(schema);
      });
      const now = Date.now();
      await sessions(store, 'busy', SESSIONS, now);
      await store.revokeUser({ shard: userShard('busy'), now: now + 1, sub: 'busy', keepUntil: now + 86_400_000 });
      // Rows written by a transaction carry its id (xmin): the epoch's transaction touched no family.
      const { rows } = await store.pool.query(
        `SELECT (SELECT count(*)::int FROM "${schema}".families f WHERE f.xmin = e.xmin) AS families,
                (SELECT count(*)::int FROM "${schema}".families WHERE revoked) AS flagged
         FROM "${schema}".user_epochs e WHERE e.sub = 'busy'`,
      );
      assert.deepEqual(rows, [{ families: 0, flagged: 0 }]);
      await allRevoked(store, 'busy', now + 2);
    },
  );
});

describe('tokens without a session do not survive logout-all', () => {
  test('a CLI-minted access token (no fam) is refused after logout-all, from memory and with checkRevocation', async () => {
    const clock = new FakeClock();
    const store = await openStore('memory', { clock: clock.now });
    // What `tessera token issue --format jwt --type access --sub mallory --ttl 86400` prints.
    const codec = createCodec({ format: 'jwt', secret: SECRET, ttlSeconds: 86_400, clock: clock.now, typ: 'at+jwt' });
    const minted = codec.encode({ sub: 'mallory', type: 'access' });
    const pushed = createTokenService({ secret: SECRET, store, clock: clock.now });
    const looked = createTokenService({
      secret: SECRET,
      store,
      clock: clock.now,
      access: { checkRevocation: true, revocationPush: false },
    });
    assert.equal(await codeOf(pushed.authenticate(minted)), 'ok');
    assert.equal(await codeOf(looked.authenticate(minted)), 'ok');
    clock.advance(2);
    await pushed.revokeUser('mallory');
    assert.equal(await codeOf(pushed.authenticate(minted)), 'revoked');
    assert.equal(await codeOf(looked.authenticate(minted)), 'revoked');
    assert.deepEqual(await pushed.introspect(minted), { active: false });
  });

  test('`token issue` refuses a --ttl longer than the refresh lifetime, in one line', async () => {
    const out: string[] = [];
    const io = { out: (l: string) => void out.push(l), err: (l: string) => void out.push(l) };
    const saved = { secret: process.env.TESSERA_SECRET, ttl: process.env.TESSERA_REFRESH_TTL };
    process.env.TESSERA_SECRET = SECRET.toString('base64url');
    try {
      const args = (ttl: string) => ['issue', '--format', 'jwt', '--type', 'access', '--sub', 'x', '--ttl', ttl];
      await assert.rejects(tokenCommand(args('315360000'), io), (e: Error) => {
        assert.equal(e.name, 'UsageError');
        assert.match(e.message, /^--ttl must not exceed the refresh lifetime \(2592000 s, TESSERA_REFRESH_TTL\)/);
        assert.ok(!e.message.includes('\n'));
        return true;
      });
      process.env.TESSERA_REFRESH_TTL = '3600';
      await assert.rejects(tokenCommand(args('3601'), io), { name: 'UsageError' });
      assert.equal(await tokenCommand(args('3600'), io), 0);
      assert.equal(out.length, 1, 'the allowed one printed its token');
    } finally {
      for (const [k, v] of [
        ['TESSERA_SECRET', saved.secret],
        ['TESSERA_REFRESH_TTL', saved.ttl],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
