import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { CLIENT_DEFAULTS } from '../../src/oauth-clients/types.js';
import { createTokenService } from '../../src/refresh/service.js';
import { openStore } from '../../src/stores/open.js';
import { migrate, SQLITE_SCHEMA_VERSION, SqliteStore } from '../../src/stores/sqlite.js';
import { userShard } from '../../src/tokens/opaque.js';
import { codeOf, isOutage, runStoreContract } from './contract.js';
import { FakeClock, SECRET, tempSqlitePath } from './harness.js';

runStoreContract('sqlite', async (clock) => {
  const file = tempSqlitePath();
  const store = new SqliteStore(file.path, { clock: clock.now });
  const others: SqliteStore[] = [];
  return {
    store,
    realExpiry: false,
    // Another process's view of the file: its own connection, its own poll.
    reopen: async () => {
      const other = new SqliteStore(file.path, { clock: clock.now });
      others.push(other);
      return other;
    },
    cleanup: async () => {
      await store.close();
      for (const o of others) await o.close();
      file.remove();
    },
  };
});

test('sqlite: WAL, versioned schema; a file from a newer version is refused', async (t) => {
  const file = tempSqlitePath();
  t.after(() => file.remove());
  const store = new SqliteStore(file.path);
  assert.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
  assert.equal(store.db.pragma('user_version', { simple: true }), SQLITE_SCHEMA_VERSION);
  await store.close();
  const db = new Database(file.path);
  assert.equal(migrate(db), SQLITE_SCHEMA_VERSION, 'migrating again is a no-op');
  db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION + 1}`);
  assert.throws(() => migrate(db), { name: 'ConfigError', message: /newer/ });
  db.close();
});

/** What migrations 5, 6 and 7 added, undone newest first: the file as the tessera of `version` left it. */
const UNDO: Record<number, string> = {
  7: 'ALTER TABLE families DROP COLUMN grant_type;',
  6: `DROP INDEX families_by_sub;
    ALTER TABLE families DROP COLUMN last_used_at;
    ALTER TABLE families DROP COLUMN user_agent;
    ALTER TABLE families DROP COLUMN address;`,
  5: 'ALTER TABLE clients DROP COLUMN settings;',
};

function downgrade(path: string, version: number): Database.Database {
  const db = new Database(path);
  for (let v = SQLITE_SCHEMA_VERSION; v > version; v--) db.exec(UNDO[v] as string);
  db.pragma(`user_version = ${version}`);
  return db;
}

test('sqlite: a family written before the session columns is listed after the migration (last used when created, no device)', async (t) => {
  const file = tempSqlitePath();
  t.after(() => file.remove());
  const now = Date.now();
  const first = new SqliteStore(file.path);
  await first.createFamily({
    shard: userShard('old'),
    now,
    familyId: 'fam-before',
    sub: 'old',
    absoluteExpiresAt: now + 86_400_000,
    scope: '',
    claims: '',
    next: { refreshId: 'j1', refreshOpaque: false, refreshExpiresAt: now + 60_000, accessExpiresAt: now + 60_000 },
    leewayMs: 0,
    userAgent: 'dropped with the column',
  });
  await first.close();
  // Back to version 5: the session columns and their index gone, as the previous tessera had it.
  downgrade(file.path, 5).close();

  const store = new SqliteStore(file.path);
  t.after(() => store.close());
  assert.equal(store.db.pragma('user_version', { simple: true }), SQLITE_SCHEMA_VERSION);
  assert.deepEqual(
    (await store.listFamilies({ shard: userShard('old'), now: now + 1000, sub: 'old' })).map((f) => [
      f.familyId,
      f.lastUsedAt,
      f.userAgent,
      f.address,
      f.grant,
    ]),
    [['fam-before', now, '', '', null]],
  );
});

test('sqlite: a family written before the grant column lists grant null after the migration, and keeps its device; a new sign-in records its grant', async (t) => {
  const file = tempSqlitePath();
  t.after(() => file.remove());
  const now = Date.now();
  const family = (familyId: string, grant?: string) => ({
    shard: userShard('old'),
    now,
    familyId,
    sub: 'old',
    absoluteExpiresAt: now + 86_400_000,
    scope: '',
    claims: '',
    next: { refreshId: `${familyId}-j1`, refreshOpaque: false, refreshExpiresAt: now + 60_000, accessExpiresAt: now + 60_000 },
    leewayMs: 0,
    userAgent: 'curl/8',
    ...(grant === undefined ? {} : { grant }),
  });
  const first = new SqliteStore(file.path);
  await first.createFamily(family('fam-before', 'dropped with the column'));
  await first.close();
  downgrade(file.path, 6).close();

  const store = new SqliteStore(file.path);
  t.after(() => store.close());
  assert.equal(store.db.pragma('user_version', { simple: true }), SQLITE_SCHEMA_VERSION);
  await store.createFamily(family('fam-after', 'password'));
  const listed = await store.listFamilies({ shard: userShard('old'), now: now + 1000, sub: 'old' });
  assert.deepEqual(listed.map((f) => [f.familyId, f.userAgent, f.grant]).sort(), [
    ['fam-after', 'curl/8', 'password'],
    ['fam-before', 'curl/8', null],
  ]);
});

test('sqlite: a client row written before the settings column reads back with CLIENT_DEFAULTS after the migration', async (t) => {
  const file = tempSqlitePath();
  t.after(() => file.remove());
  // A file of the previous schema version: the clients table without `settings`, one row in it.
  await new SqliteStore(file.path).close();
  // Version 4: before the settings column (5) and the session listing's columns (6, 7).
  const db = downgrade(file.path, 4);
  db.prepare(
    "INSERT INTO clients (client_id, client_type, secret_hash, introspect, created_at) VALUES ('old', 'confidential', 'sha256$x', 1, 5)",
  ).run();
  db.close();

  const store = new SqliteStore(file.path);
  t.after(() => store.close());
  assert.equal(store.db.pragma('user_version', { simple: true }), SQLITE_SCHEMA_VERSION);
  const expected = {
    clientId: 'old',
    clientType: 'confidential',
    secretHash: 'sha256$x',
    introspect: true,
    createdAt: 5,
    ...CLIENT_DEFAULTS,
  };
  assert.deepEqual(await store.getClient('old'), expected);
  assert.deepEqual(await store.listClients(), [expected]);
  // An instance that writes the old columns only (its statements name them) leaves the defaults too.
  store.db
    .prepare(
      "INSERT INTO clients (client_id, client_type, secret_hash, introspect, created_at) VALUES ('older', 'public', '', 0, 6)",
    )
    .run();
  assert.deepEqual((await store.getClient('older'))?.grantTypes, ['password', 'refresh_token']);
});

test('sqlite: a damaged client settings value is an error, never the defaults', async (t) => {
  const file = tempSqlitePath();
  t.after(() => file.remove());
  const store = new SqliteStore(file.path);
  t.after(() => store.close());
  store.db
    .prepare(
      `INSERT INTO clients (client_id, client_type, secret_hash, introspect, created_at, settings)
       VALUES ('bad', 'public', '', 0, 1, '{"firstParty":"yes"}')`,
    )
    .run();
  await assert.rejects(store.getClient('bad'), { message: /firstParty has the wrong type/ });
});

test('sqlite: takes an open Database handle (and leaves it open on close)', async () => {
  const db = new Database(':memory:');
  const store = new SqliteStore(db);
  assert.equal(await store.createUser({ id: '1', username: 'a', passwordHash: 'h', createdAt: 1 }), true);
  await store.close();
  assert.equal(db.open, true);
  db.close();
});

test('sqlite: state survives reopening the file (revocations included)', async (t) => {
  const file = tempSqlitePath();
  t.after(() => file.remove());
  const clock = new FakeClock();
  const first = await openStore(`sqlite:${file.path}`, { clock: clock.now });
  const tokens = createTokenService({ secret: SECRET, store: first, clock: clock.now, access: { checkRevocation: true } });
  const revoked = await tokens.issue({ sub: 'amy' });
  const kept = await tokens.issue({ sub: 'amy' });
  await tokens.revoke(revoked.refreshToken);
  await first.close();
  const second = await openStore(`sqlite:${file.path}`, { clock: clock.now });
  t.after(() => second.close());
  const again = createTokenService({ secret: SECRET, store: second, clock: clock.now, access: { checkRevocation: true } });
  assert.equal(await codeOf(again.refresh(revoked.refreshToken)), 'revoked');
  assert.equal(await codeOf(again.authenticate(revoked.accessToken)), 'revoked');
  assert.equal(await codeOf(again.refresh(kept.refreshToken)), 'ok');
});

test('sqlite: a closed or broken database is StoreUnavailableError, never a silent accept', async (t) => {
  const file = tempSqlitePath();
  t.after(() => file.remove());
  const store = new SqliteStore(file.path);
  const tokens = createTokenService({ secret: SECRET, store });
  const p = await tokens.issue({ sub: 'x' });
  await store.close();
  await assert.rejects(tokens.refresh(p.refreshToken), (e: unknown) => isOutage(e));
  await assert.rejects(store.ping(), (e: unknown) => isOutage(e));
  const db = new Database(':memory:');
  const broken = new SqliteStore(db);
  db.exec('DROP TABLE families');
  await assert.rejects(
    broken.rotate({
      shard: userShard('x'),
      now: Date.now(),
      presented: { kind: 'jti', familyId: 'f', sub: 'x', jti: 'j' },
      next: { refreshId: 'n', refreshOpaque: false, refreshExpiresAt: Date.now() + 1000, accessExpiresAt: Date.now() + 1000 },
      graceMs: 0,
      leewayMs: 0,
    }),
    (e: unknown) => isOutage(e),
  );
  db.close();
});

test('sqlite: expired rows are purged on a write once the purge interval has passed (injected clock)', async (t) => {
  const file = tempSqlitePath();
  t.after(() => file.remove());
  const clock = new FakeClock();
  const store = new SqliteStore(file.path, { clock: clock.now, purgeIntervalMs: 60_000 });
  t.after(() => store.close());
  const shard = userShard('p');
  await store.revokeAccess({ shard, now: clock.ms, jti: 'a', expiresAt: clock.ms + 1000 });
  clock.advance(61);
  await store.revokeAccess({ shard, now: clock.ms, jti: 'b', expiresAt: clock.ms + 120_000 });
  assert.equal(await store.countStateEntries(), 2, "b's deny-list entry and its row in the revocations log; a's both gone");
});
