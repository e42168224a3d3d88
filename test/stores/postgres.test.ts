/**
 * The store contract on PostgreSQL (PG_URL: tessera_test on 127.0.0.1:5432), then
 * what only PostgreSQL has: versioned migrations under an advisory lock, the schema
 * option, one round trip per refresh, races without deadlocks, bounded purges.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pg from 'pg';
import { ConfigError } from '../../src/errors.js';
import { CLIENT_DEFAULTS } from '../../src/oauth-clients/types.js';
import { createTokenService } from '../../src/refresh/service.js';
import type { TokenPair } from '../../src/refresh/types.js';
import { openStore } from '../../src/stores/open.js';
import { openPostgresStore, POSTGRES_SCHEMA_VERSION, PostgresStore, parsePostgresUrl } from '../../src/stores/postgres.js';
import { migrationSql, revocationChannel } from '../../src/stores/postgres-sql.js';
import { userShard } from '../../src/tokens/opaque.js';
import { codeOf, isOutage, postgresStoreMaker, runStoreContract, waitUntil } from './contract.js';
import { dropSchema, FakeClock, PG_URL, postgresUnavailable, SECRET, skipUnlessAvailable, uniqueSchema } from './harness.js';

const skip = skipUnlessAvailable(await postgresUnavailable());

runStoreContract('postgres', postgresStoreMaker('contract'), skip);

/** A store in a fresh schema, closed and dropped after the test. */
async function fresh(t: { after(fn: () => Promise<void>): void }, options: Parameters<typeof openPostgresStore>[1] = {}) {
  const schema = uniqueSchema('pg');
  const store = await openPostgresStore(PG_URL, { schema, purgeIntervalMs: 0, ...options });
  t.after(async () => {
    await store.close();
    await dropSchema(schema);
  });
  return { store, schema };
}

/** A schema as the tessera of schema `version` left it (its migrations only), and a one-connection pool; dropped after the test. */
async function schemaAt(t: { after(fn: () => Promise<void>): void }, name: string, version: number) {
  const schema = uniqueSchema(name);
  t.after(() => dropSchema(schema));
  const pool = new pg.Pool({ connectionString: PG_URL, max: 1 });
  t.after(() => pool.end());
  await pool.query(`CREATE SCHEMA "${schema}"`);
  await pool.query(
    `CREATE TABLE "${schema}".schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
  );
  for (let v = 0; v < version; v++) {
    await pool.query(migrationSql(v, schema));
    await pool.query(`INSERT INTO "${schema}".schema_migrations (version) VALUES ($1)`, [v + 1]);
  }
  return { schema, pool };
}

describe('postgres store specifics', skip, () => {
  test('URL options: schema, pool, timeouts are taken out of the URL; bad ones are ConfigErrors', () => {
    const p = parsePostgresUrl(
      'postgres://u:pw@h:5432/db?schema=auth_1&pool=20&connect_timeout=3&statement_timeout=500&sslmode=disable',
    );
    assert.equal(p.schema, 'auth_1');
    assert.equal(p.poolSize, 20);
    assert.equal(p.connectTimeoutMs, 3000);
    assert.equal(p.statementTimeoutMs, 500);
    assert.equal(p.connectionString, 'postgres://u:pw@h:5432/db?sslmode=disable');
    assert.throws(() => parsePostgresUrl('postgres://h/db?schema=Bad-Name'), ConfigError);
    assert.throws(() => parsePostgresUrl('postgres://h/db?pool=0'), ConfigError);
    assert.throws(() => new PostgresStore(new pg.Pool(), { schema: 'x"; drop' }), ConfigError);
  });

  test('openStore(postgres:// and postgresql://) with ?schema= migrates that schema', async (t) => {
    for (const scheme of ['postgres', 'postgresql']) {
      const schema = uniqueSchema('open');
      const url = `${PG_URL.replace(/^postgres/, scheme)}?schema=${schema}`;
      const store = await openStore(url);
      t.after(() => dropSchema(schema));
      assert.equal(store.kind, 'postgres');
      assert.equal((store as PostgresStore).schema, schema);
      await store.ping();
      await store.close();
    }
    const e = await openStore('postgres://tessera:hunter2@127.0.0.1:1/x', { connectTimeoutMs: 500 }).catch((err: unknown) => err);
    assert.ok(e instanceof ConfigError, String(e));
    assert.ok(!e.message.includes('hunter2'));
  });

  test('migrations: versioned, a no-op when run again, concurrent starts migrate once, a newer schema is refused', async (t) => {
    const schema = uniqueSchema('mig');
    t.after(() => dropSchema(schema));
    // Five "instances" starting at once on an empty schema.
    const stores = await Promise.all(
      Array.from({ length: 5 }, () => openPostgresStore(PG_URL, { schema, purgeIntervalMs: 0, poolSize: 2 })),
    );
    const first = stores[0] as PostgresStore;
    const { rows } = await first.pool.query(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`);
    assert.deepEqual(
      rows.map((r) => r.version),
      Array.from({ length: POSTGRES_SCHEMA_VERSION }, (_, i) => i + 1),
    );
    assert.equal(await first.migrate(), POSTGRES_SCHEMA_VERSION);
    await first.pool.query(`INSERT INTO "${schema}".schema_migrations (version) VALUES ($1)`, [POSTGRES_SCHEMA_VERSION + 1]);
    await assert.rejects(first.migrate(), { name: 'ConfigError', message: /newer/ });
    await Promise.all(stores.map((s) => s.close()));
  });

  test('one round trip per refresh (and per authenticate with a revocation check): queries issued by the driver', async (t) => {
    const { store } = await fresh(t);
    const clientProto = pg.Client.prototype as unknown as { query: (...a: unknown[]) => unknown };
    const original = clientProto.query;
    let count = 0;
    let texts: string[] = [];
    clientProto.query = function (this: unknown, ...args: unknown[]) {
      count++;
      const q = args[0] as string | { text?: string };
      texts.push((typeof q === 'string' ? q : (q.text ?? '')).trim().split(/\s+/).slice(0, 3).join(' '));
      return original.apply(this, args);
    };
    t.after(() => {
      clientProto.query = original;
    });
    for (const scheme of ['jwt', 'opaque'] as const) {
      // The push off: its LISTEN connection's queries are not a request's round trips (counted below).
      const tokens = createTokenService({
        secret: SECRET,
        store,
        scheme,
        access: { checkRevocation: true, revocationPush: false },
      });
      let p = await tokens.issue({ sub: `rt-${scheme}` });
      for (let i = 0; i < 5; i++) {
        count = 0;
        texts = [];
        p = await tokens.refresh(p.refreshToken);
        assert.equal(count, 1, `${scheme}: refresh ${i} took ${count} queries`);
        // A self-contained token's rotation is the UPDATE itself; an opaque one is rotate_checked's call.
        assert.match(texts[0] as string, scheme === 'jwt' ? /^UPDATE "[^"]+"\.families f$/ : /^SELECT \* FROM$/);
      }
      count = 0;
      await tokens.authenticate(p.accessToken);
      assert.equal(count, 1, `${scheme}: authenticate`);
      count = 0;
      texts = [];
      assert.equal(await codeOf(tokens.refresh(p.refreshToken)), 'ok');
      await assert.rejects(tokens.refresh(p.refreshToken), { code: 'reused' });
      // A rotation is one query. A refused one is one for an opaque token; for a self-contained
      // token it is the UPDATE that found no row, then rotate_checked, which answers (here: reuse,
      // the family revoked and pushed).
      assert.equal(count, scheme === 'jwt' ? 3 : 2, `${scheme}: a rotation and a reuse: ${texts.join('; ')}`);
    }
  });

  test('100-way race on one family: one winner, 99 reused, no deadlock (jwt and opaque, grace 0 and 10 s)', async (t) => {
    const { store } = await fresh(t, { poolSize: 20 });
    for (const scheme of ['jwt', 'opaque'] as const) {
      const tokens = createTokenService({ secret: SECRET, store, scheme });
      const p = await tokens.issue({ sub: `race-${scheme}` });
      const results = await Promise.allSettled(Array.from({ length: 100 }, () => tokens.refresh(p.refreshToken)));
      const won = results.filter((r): r is PromiseFulfilledResult<TokenPair> => r.status === 'fulfilled');
      assert.equal(won.length, 1, `${scheme}: ${won.length} winners`);
      const codes = new Set(results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as { code: string }).code] : [])));
      assert.deepEqual(codes, new Set(['reused']));
      const graceful = createTokenService({ secret: SECRET, store, scheme, refresh: { reuseGraceSeconds: 10 } });
      const q = await graceful.issue({ sub: `grace-${scheme}` });
      const pairs = await Promise.all(Array.from({ length: 100 }, () => graceful.refresh(q.refreshToken)));
      assert.equal(new Set(pairs.map((x) => x.refreshToken)).size, 1, `${scheme}: one pair, replayed to all`);
    }
  });

  test('client and DPoP binding cost no round trip: a bound refresh (narrowed scope), a wrong_client, an authenticate, a refresh without the key: at most one query each', async (t) => {
    const { store } = await fresh(t);
    const clientProto = pg.Client.prototype as unknown as { query: (...a: unknown[]) => unknown };
    const original = clientProto.query;
    let count = 0;
    clientProto.query = function (this: unknown, ...args: unknown[]) {
      count++;
      return original.apply(this, args);
    };
    t.after(() => {
      clientProto.query = original;
    });
    for (const scheme of ['jwt', 'opaque'] as const) {
      const tokens = createTokenService({
        secret: SECRET,
        store,
        scheme,
        issuer: 'https://as.example',
        audience: 'https://api.example',
        access: { checkRevocation: true, revocationPush: false },
      });
      let p = await tokens.issue({ sub: `bound-${scheme}`, scope: 'read write', clientId: 'web' });
      count = 0;
      p = await tokens.refresh(p.refreshToken, { clientId: 'web', scope: 'read' });
      assert.equal(count, 1, `${scheme}: bound refresh`);
      count = 0;
      assert.equal(await codeOf(tokens.refresh(p.refreshToken, { clientId: 'mallory' })), 'wrong_client');
      // A self-contained token names its client itself: refused before the store; an opaque one in the one call.
      assert.equal(count, scheme === 'jwt' ? 0 : 1, `${scheme}: wrong_client`);
      count = 0;
      const who = await tokens.authenticate(p.accessToken);
      assert.equal(count, 1, `${scheme}: authenticate`);
      assert.deepEqual([who.scope, who.clientId], ['read', 'web']);
      // RFC 9449 §5: a DPoP-bound family's key is checked in the rotation's one statement.
      let bound = await tokens.issue({ sub: `bound-${scheme}`, clientId: 'web', jkt: 'key-a' });
      count = 0;
      bound = await tokens.refresh(bound.refreshToken, { clientId: 'web', jkt: 'key-a' });
      assert.equal(count, 1, `${scheme}: DPoP-bound refresh by its key`);
      for (const jkt of [null, 'key-b']) {
        count = 0;
        await assert.rejects(tokens.refresh(bound.refreshToken, { clientId: 'web', jkt }), { code: 'dpop_key_mismatch' });
        // A self-contained token names its key itself: refused before the store.
        assert.equal(count, scheme === 'jwt' ? 0 : 1, `${scheme}: DPoP-bound refresh, jkt ${jkt}`);
      }
    }
  });

  test('a plain rotation of a self-contained token is the one UPDATE of migration 9, with the client and key read from their columns; anything else goes on to rotate_checked in the same statement', async (t) => {
    const { store, schema } = await fresh(t);
    const now = Date.now();
    const family = (id: string, jti: string, claims = '') =>
      store.createFamily({
        now,
        leewayMs: 0,
        next: { refreshId: jti, refreshOpaque: false, refreshExpiresAt: now + 60_000, accessExpiresAt: now + 60_000 },
        shard: userShard('fast'),
        familyId: id,
        sub: 'fast',
        absoluteExpiresAt: now + 120_000,
        scope: 'read',
        claims,
      });
    await family('fam-plain', 'j1');
    await family('fam-bound', 'b1', JSON.stringify({ client_id: 'web', cnf: { jkt: 'key-a' } }));
    const pool = new pg.Pool({ connectionString: PG_URL, max: 1 });
    t.after(() => pool.end());
    await pool.query('BEGIN');
    // Function call counts of this transaction (pg_stat_xact_user_functions), rolled back after.
    await pool.query(`SET LOCAL track_functions = 'pl'`);
    const rotate = async (
      fam: string,
      jti: string,
      next: string,
      client = '',
      jkt: string | null = '',
      scope: string | null = null,
    ) => {
      const { rows } = await pool.query(
        `SELECT o_status, o_family, o_sub, o_scope, o_created, o_absolute FROM "${schema}".rotate($1, 0, $2, false, $3, '', $3,
          false, $4, $5, 0, '', $6, $7, NULL, NULL, NULL, $8)`,
        [now, next, now + 60_000, fam, jti, client, scope, jkt],
      );
      const calls = await pool.query(`SELECT funcname, calls FROM pg_stat_xact_user_functions WHERE schemaname = $1`, [schema]);
      const count = (fn: string) => Number(calls.rows.find((r) => r.funcname === fn)?.calls ?? 0);
      return { ...rows[0], checked: count('rotate_checked'), parsed: count('client_of') + count('jkt_of') };
    };
    const plain = await rotate('fam-plain', 'j1', 'j2');
    assert.deepEqual(
      [
        plain.o_status,
        plain.o_family,
        plain.o_sub,
        plain.o_scope,
        Number(plain.o_created),
        Number(plain.o_absolute),
        plain.checked,
      ],
      ['rotated', 'fam-plain', 'fast', 'read', now, now + 120_000, 0],
    );
    // Bound to a client and a key, presented by both, with a narrower scope: still the one UPDATE.
    // The claims are not parsed again: the login wrote the client and key beside them.
    const bound = await rotate('fam-bound', 'b1', 'b2', 'web', 'key-a', 'read');
    assert.deepEqual([bound.o_status, bound.o_family, bound.checked, bound.parsed], ['rotated', 'fam-bound', 0, 0]);
    // A family of the previous version (no client or key column yet): read from the claims at its
    // first rotation (by the WHERE and by the SET: two parses each), then kept. Counts add up.
    await pool.query(`UPDATE "${schema}".families SET client_id = NULL, jkt = NULL WHERE id = 'fam-bound'`);
    assert.deepEqual(Object.values(await rotate('fam-bound', 'b2', 'b2a', 'web', 'key-a')).slice(-2), [0, 4]);
    assert.deepEqual(Object.values(await rotate('fam-bound', 'b2a', 'b2', 'web', 'key-a')).slice(-2), [0, 4]);
    const cols = await pool.query(`SELECT client_id, jkt FROM "${schema}".families WHERE id = 'fam-bound'`);
    assert.deepEqual(cols.rows[0], { client_id: 'web', jkt: 'key-a' });
    // Each refusal is answered by rotate_checked, exactly as before migration 9.
    assert.deepEqual([(await rotate('fam-bound', 'b2', 'b3', 'mallory')).o_status], ['wrong_client']);
    assert.deepEqual([(await rotate('fam-bound', 'b2', 'b3', 'web', 'key-b')).o_status], ['wrong_key']);
    assert.deepEqual([(await rotate('fam-bound', 'b2', 'b3', 'web', 'key-a', 'admin')).o_status], ['invalid_scope']);
    const reused = await rotate('fam-plain', 'j1', 'j3');
    assert.deepEqual([reused.o_status, reused.checked], ['reused', 4]);
    assert.equal((await rotate('fam-plain', 'j2', 'j3')).o_status, 'revoked');
    await pool.query('ROLLBACK');
  });

  test('prepared statements: named by default (one Parse per connection), none with ?prepare=false; a connection that lost them is retried unnamed, and the store stops naming', async (t) => {
    const prepared = async (store: PostgresStore) =>
      (await store.pool.query(`SELECT name FROM pg_prepared_statements WHERE name LIKE 'tessera\\_%'`)).rows.map((r) => r.name);
    const issue = (store: PostgresStore) => createTokenService({ secret: SECRET, store }).issue({ sub: 'prep' });
    // One connection: what the store prepared is what this connection's server session has. The
    // push off: its snapshot after LISTEN would prepare a statement of its own at a moment of its own.
    const { store } = await fresh(t, { poolSize: 1 });
    const tokens = createTokenService({ secret: SECRET, store, access: { revocationPush: false } });
    let p = await tokens.issue({ sub: 'prep' });
    p = await tokens.refresh(p.refreshToken);
    const names = await prepared(store);
    assert.ok(names.length >= 2, String(names)); // create_family and rotate at least
    assert.ok(
      names.every((n) => /^tessera_[A-Za-z0-9_-]{32}$/.test(n)),
      String(names),
    );
    p = await tokens.refresh(p.refreshToken);
    assert.deepEqual((await prepared(store)).sort(), [...names].sort(), 'the same ones, parsed once');

    // What a pooler that moved the client to another server session looks like: the driver
    // believes the statements prepared, the server has none (26000 at Bind).
    await store.pool.query('DEALLOCATE ALL');
    p = await tokens.refresh(p.refreshToken);
    await tokens.refresh(p.refreshToken);
    assert.deepEqual(await prepared(store), [], 'unnamed from then on');

    const { store: unnamed } = await fresh(t, { poolSize: 1, prepare: false });
    await issue(unnamed);
    assert.deepEqual(await prepared(unnamed), []);
    assert.equal(parsePostgresUrl('postgres://h/db?prepare=false').prepare, false);
    assert.equal(parsePostgresUrl('postgres://h/db?prepare=true&x=1').connectionString, 'postgres://h/db?x=1');
    assert.throws(() => parsePostgresUrl('postgres://h/db?prepare=0'), /prepare must be true or false/);
  });

  test('100-way race with two clients: the other client is refused 50 times and counts nothing; the owner has one winner', async (t) => {
    const { store, schema } = await fresh(t, { poolSize: 20 });
    for (const scheme of ['jwt', 'opaque'] as const) {
      const tokens = createTokenService({
        secret: SECRET,
        store,
        scheme,
        issuer: 'https://as.example',
        audience: 'https://api.example',
      });
      const p = await tokens.issue({ sub: `race2-${scheme}`, clientId: 'web' });
      const results = await Promise.allSettled(
        Array.from({ length: 100 }, (_, i) => tokens.refresh(p.refreshToken, { clientId: i % 2 === 0 ? 'web' : 'mallory' })),
      );
      const codes = results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as { code: string }).code));
      const tally = (code: string) => codes.filter((c) => c === code).length;
      assert.deepEqual([tally('ok'), tally('reused'), tally('wrong_client')], [1, 49, 50], `${scheme}: ${codes.join(' ')}`);
      if (scheme === 'opaque') {
        // The seed's used_count counts the owner's 50 presentations, none of the other client's.
        const { rows } = await store.pool.query(`SELECT max(used_count) AS n FROM "${schema}".refresh_tokens`);
        assert.equal(Number(rows[0]?.n), 50);
      }
    }
  });

  test('a family whose claims are not JSON, or whose client_id is no string, is bound to no client', async (t) => {
    const { store } = await fresh(t);
    const shard = userShard('odd');
    const now = Date.now();
    const next = (id: string) => ({
      refreshId: id,
      refreshOpaque: false,
      refreshExpiresAt: now + 60_000,
      accessExpiresAt: now + 60_000,
    });
    for (const [i, claims] of ['{"client_id": broken', '{"client_id": 5}', '["client_id"]'].entries()) {
      const familyId = `odd-${i}`;
      await store.createFamily({
        shard,
        now,
        familyId,
        sub: 'odd',
        absoluteExpiresAt: now + 60_000,
        scope: '',
        claims,
        next: next(`j${i}`),
        leewayMs: 0,
      });
      const r = await store.rotate({
        shard,
        now,
        presented: { kind: 'jti', familyId, sub: 'odd', jti: `j${i}` },
        next: next(`k${i}`),
        graceMs: 0,
        leewayMs: 0,
        clientId: 'anyone',
      });
      assert.equal(r.status, 'rotated', claims);
    }
  });

  test('migration 2 upgrades a version-1 schema in place: its families keep working and gain the client check; version-1 calls still answer', async (t) => {
    // A schema as the previous tessera left it: migration 1 only, with a bound family in it.
    const { schema, pool } = await schemaAt(t, 'upg', 1);
    const now = Date.now();
    const v1CreateFamily = `SELECT "${schema}".create_family($1, 0, $2, false, $3, '', $3, $4, 'old', $3, 'read', $5)`;
    await pool.query(v1CreateFamily, [now, 'j1', now + 60_000, 'fam-old', JSON.stringify({ client_id: 'web' })]);
    await pool.query(v1CreateFamily, [now, 'm1', now + 60_000, 'fam-mixed', '']);

    const store = await openPostgresStore(PG_URL, { schema, purgeIntervalMs: 0, poolSize: 2 });
    t.after(() => store.close());
    const { rows } = await pool.query(`SELECT max(version) AS v FROM "${schema}".schema_migrations`);
    assert.equal(Number(rows[0]?.v), POSTGRES_SCHEMA_VERSION);
    const shard = userShard('old');
    const next = { refreshId: 'j2', refreshOpaque: false, refreshExpiresAt: now + 60_000, accessExpiresAt: now + 60_000 };
    const base = {
      shard,
      now,
      presented: { kind: 'jti' as const, familyId: 'fam-old', sub: 'old', jti: 'j1' },
      next,
      graceMs: 0,
      leewayMs: 0,
    };
    assert.deepEqual(await store.rotate({ ...base, clientId: 'mallory' }), { status: 'wrong_client' });
    assert.equal((await store.rotate({ ...base, clientId: 'web' })).status, 'rotated');
    // An instance still on the previous version (rolling upgrade) calls the version-1 rotate: it answers.
    const v1Rotate = await pool.query(
      `SELECT o_status FROM "${schema}".rotate($1, 0, 'm2', false, $2, '', $2, false, 'fam-mixed', 'm1', 0, '')`,
      [now, now + 60_000],
    );
    assert.equal(v1Rotate.rows[0]?.o_status, 'rotated');
    const v1Check = await pool.query(`SELECT o_status FROM "${schema}".check_access($1, false, '', 'fam-mixed')`, [now]);
    assert.equal(v1Check.rows[0]?.o_status, 'ok');
  });

  test('the client-settings migration keeps the clients of the previous version: they read back with CLIENT_DEFAULTS', async (t) => {
    // A schema as the tessera before client settings left it (version 4), with a client in it.
    const { schema, pool } = await schemaAt(t, 'upgcl', 4);
    const oldInsert = `INSERT INTO "${schema}".clients (client_id, client_type, secret_hash, introspect, created_at) VALUES ($1, $2, $3, $4, $5)`;
    await pool.query(oldInsert, ['old', 'confidential', 'sha256$x', true, 5]);

    const store = await openPostgresStore(PG_URL, { schema, purgeIntervalMs: 0, poolSize: 2 });
    t.after(() => store.close());
    const expected = {
      clientId: 'old',
      clientType: 'confidential',
      secretHash: 'sha256$x',
      introspect: true,
      createdAt: 5,
      ...CLIENT_DEFAULTS,
    };
    assert.deepEqual(await store.getClient('old'), expected);
    // An instance of the previous version, during a rolling upgrade, still registers clients (its statement names its columns).
    await pool.query(oldInsert, ['older', 'public', '', false, 6]);
    assert.deepEqual(
      (await store.listClients()).map((c) => [c.clientId, c.grantTypes, c.firstParty]),
      [
        ['old', ['password', 'refresh_token'], true],
        ['older', ['password', 'refresh_token'], true],
      ],
    );
  });

  test('migration 6 upgrades a version-5 schema: its families are listed (last used when created, no device); version-5 calls still answer and move the last use', async (t) => {
    const { schema, pool } = await schemaAt(t, 'upg6', 5);
    const now = Date.now();
    // The version-5 login (13 arguments), as the previous tessera sends it.
    const v5CreateFamily = `SELECT "${schema}".create_family($1, 0, $2, false, $3, '', $3, $4, 'old', $5, 'read', '', NULL)`;
    await pool.query(v5CreateFamily, [now, 'j1', now + 60_000, 'fam-before', now + 86_400_000]);

    const store = await openPostgresStore(PG_URL, { schema, purgeIntervalMs: 0, poolSize: 2 });
    t.after(() => store.close());
    const list = () => store.listFamilies({ shard: userShard('old'), now: now + 1000, sub: 'old' });
    assert.deepEqual(
      (await list()).map((f) => [f.familyId, f.createdAt, f.lastUsedAt, f.userAgent, f.address]),
      [['fam-before', now, now, '', '']],
    );
    // An instance still on version 5 during a rolling upgrade: its login and its rotation (15 arguments) answer.
    await pool.query(v5CreateFamily, [now, 'k1', now + 60_000, 'fam-during', now + 86_400_000]);
    const v5Rotate = await pool.query(
      `SELECT o_status FROM "${schema}".rotate($1, 0, 'j2', false, $2, '', $2, false, 'fam-before', 'j1', 0, '', '', NULL, NULL)`,
      [now + 500, now + 60_000],
    );
    assert.equal(v5Rotate.rows[0]?.o_status, 'rotated');
    assert.deepEqual((await list()).map((f) => [f.familyId, f.lastUsedAt]).sort(), [
      ['fam-before', now + 500],
      ['fam-during', now],
    ]);
  });

  test('migration 7 upgrades a version-6 schema: its families list grant null and keep their device; version-6 and version-5 logins still answer', async (t) => {
    const { schema, pool } = await schemaAt(t, 'upg7', 6);
    const now = Date.now();
    // The version-6 login (15 arguments: with the device), as the previous tessera sends it.
    const v6CreateFamily = `SELECT "${schema}".create_family($1, 0, $2, false, $3, '', $3, $4, 'old', $5, 'read', '', NULL, 'curl/8', '192.0.2.0')`;
    await pool.query(v6CreateFamily, [now, 'j1', now + 60_000, 'fam-before', now + 86_400_000]);

    const store = await openPostgresStore(PG_URL, { schema, purgeIntervalMs: 0, poolSize: 2 });
    t.after(() => store.close());
    const list = async () =>
      (await store.listFamilies({ shard: userShard('old'), now: now + 1000, sub: 'old' }))
        .map((f) => [f.familyId, f.userAgent, f.address, f.grant])
        .sort();
    assert.deepEqual(await list(), [['fam-before', 'curl/8', '192.0.2.0', null]]);
    // Instances still on versions 6 and 5 during a rolling upgrade: their logins answer, with no grant.
    await pool.query(v6CreateFamily, [now, 'k1', now + 60_000, 'fam-v6', now + 86_400_000]);
    await pool.query(`SELECT "${schema}".create_family($1, 0, 'm1', false, $2, '', $2, 'fam-v5', 'old', $3, 'read', '', NULL)`, [
      now,
      now + 60_000,
      now + 86_400_000,
    ]);
    await store.createFamily({
      shard: userShard('old'),
      now,
      familyId: 'fam-v7',
      sub: 'old',
      absoluteExpiresAt: now + 86_400_000,
      scope: 'read',
      claims: '',
      next: { refreshId: 'n1', refreshOpaque: false, refreshExpiresAt: now + 60_000, accessExpiresAt: now + 60_000 },
      leewayMs: 0,
      grant: 'authorization_code',
    });
    assert.deepEqual(await list(), [
      ['fam-before', 'curl/8', '192.0.2.0', null],
      ['fam-v5', '', '', null],
      ['fam-v6', 'curl/8', '192.0.2.0', null],
      ['fam-v7', '', '', 'authorization_code'],
    ]);
  });

  test('migration 9 upgrades a version-8 schema: its bound families keep their client and key checks through the one-UPDATE rotation; version-8 logins and rotations still answer', async (t) => {
    const { schema, pool } = await schemaAt(t, 'upg9', 8);
    const now = Date.now();
    const claims = JSON.stringify({ client_id: 'web', cnf: { jkt: 'key-a' } });
    // The version-8 login and rotation (16 and 18 arguments), as the previous tessera sends them.
    const v8CreateFamily = `SELECT "${schema}".create_family($1, 0, $2, false, $3, '', $3, $4, 'old', $5, 'read', $6, NULL, 'curl/8', '192.0.2.0', 'password')`;
    const v8Rotate = `SELECT o_status FROM "${schema}".rotate($1, 0, $2, false, $3, '', $3, false, $4, $5, 0, '', $6, NULL, NULL, NULL, NULL, $7)`;
    await pool.query(v8CreateFamily, [now, 'j1', now + 60_000, 'fam-before', now + 86_400_000, claims]);

    const store = await openPostgresStore(PG_URL, { schema, purgeIntervalMs: 0, poolSize: 2 });
    t.after(() => store.close());
    const columns = async (id: string) =>
      (await pool.query(`SELECT client_id, jkt FROM "${schema}".families WHERE id = $1`, [id])).rows[0];
    assert.deepEqual(await columns('fam-before'), { client_id: null, jkt: null });
    const base = {
      shard: userShard('old'),
      now,
      next: { refreshId: 'j2', refreshOpaque: false, refreshExpiresAt: now + 60_000, accessExpiresAt: now + 60_000 },
      graceMs: 0,
      leewayMs: 0,
    };
    const presented = { kind: 'jti' as const, familyId: 'fam-before', sub: 'old', jti: 'j1' };
    assert.deepEqual(await store.rotate({ ...base, presented, clientId: 'mallory', jkt: 'key-a' }), { status: 'wrong_client' });
    assert.deepEqual(await store.rotate({ ...base, presented, clientId: 'web', jkt: 'key-b' }), { status: 'wrong_key' });
    assert.equal((await store.rotate({ ...base, presented, clientId: 'web', jkt: 'key-a' })).status, 'rotated');
    assert.deepEqual(await columns('fam-before'), { client_id: 'web', jkt: 'key-a' });
    // An instance still on version 8: its login writes the columns too, its rotation is checked the same.
    await pool.query(v8CreateFamily, [now, 'k1', now + 60_000, 'fam-v8', now + 86_400_000, claims]);
    assert.deepEqual(await columns('fam-v8'), { client_id: 'web', jkt: 'key-a' });
    const v8 = async (client: string, jkt: string) =>
      (await pool.query(v8Rotate, [now, 'k2', now + 60_000, 'fam-v8', 'k1', client, jkt])).rows[0]?.o_status;
    assert.equal(await v8('mallory', 'key-a'), 'wrong_client');
    assert.equal(await v8('web', 'key-a'), 'rotated');
  });

  test('migration 3 upgrades a version-2 schema: version-2 calls still answer, and their revocations are pushed too', async (t) => {
    const { schema, pool } = await schemaAt(t, 'upg3', 2);
    const now = Date.now();
    const v2CreateFamily = `SELECT "${schema}".create_family($1, 0, $2, false, $3, '', $3, $4, 'old', $3, '', '', NULL)`;
    for (const f of ['fam-1', 'fam-2', 'fam-3']) await pool.query(v2CreateFamily, [now, `${f}-j1`, now + 60_000, f]);

    const store = await openPostgresStore(PG_URL, { schema, purgeIntervalMs: 0, poolSize: 2 });
    t.after(() => store.close());
    const events: string[] = [];
    let up = false;
    t.after(
      store.revocations().subscribe({
        event: (e) => void events.push(e.kind === 'family' ? `family:${e.familyId}` : e.kind),
        status: (st) => {
          up = st === 'up';
        },
      }),
    );
    await waitUntil(() => up);
    // A previous-version instance (rolling upgrade): the same statements it sends, by column name.
    const v2RevokeFamily = await pool.query(`SELECT "${schema}".revoke_family($1, false, 'fam-1') AS revoked`, [now]);
    assert.equal(v2RevokeFamily.rows[0]?.revoked, true);
    const v2Reuse = await pool.query(
      `SELECT o_status FROM "${schema}".rotate($1, 0, 'x', false, $2, '', $2, false, 'fam-2', 'stale', 0, '', '', NULL, NULL)`,
      [now, now + 60_000],
    );
    assert.equal(v2Reuse.rows[0]?.o_status, 'reused');
    await pool.query(`SELECT "${schema}".revoke_user($1, 'old', $2) AS revoked`, [now + 1, now + 60_000]);
    await waitUntil(() => events.includes('user'), 1000);
    assert.deepEqual(events, ['family:fam-1', 'family:fam-2', 'user']);
    // Logout everywhere wrote the epoch alone; fam-3 reads revoked through it, for either version's check.
    const v2Check = await pool.query(`SELECT o_status FROM "${schema}".check_access($1, false, '', 'fam-3')`, [now + 1]);
    assert.equal(v2Check.rows[0]?.o_status, 'revoked');
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM "${schema}".families WHERE revoked`);
    assert.equal(rows[0]?.n, 2, 'no per-family write by logout everywhere');
  });

  test('a schema name of 63 characters: the NOTIFY channel stays within 63 bytes and the push works', async (t) => {
    const schema = `${uniqueSchema('long')}_${'x'.repeat(63)}`.slice(0, 63);
    assert.ok(revocationChannel(schema).length <= 63);
    assert.notEqual(revocationChannel(schema), revocationChannel(`${schema.slice(0, 62)}y`));
    const a = await openPostgresStore(PG_URL, { schema, purgeIntervalMs: 0, poolSize: 1 });
    const b = await openPostgresStore(PG_URL, { schema, purgeIntervalMs: 0, poolSize: 1 });
    t.after(async () => {
      await a.close();
      await b.close();
      await dropSchema(schema);
    });
    const heard: string[] = [];
    let up = false;
    t.after(
      b.revocations().subscribe({
        event: (e) => void heard.push(e.kind === 'jti' ? e.jti : e.kind),
        status: (st) => {
          up = st === 'up';
        },
      }),
    );
    await waitUntil(() => up);
    const now = Date.now();
    await a.revokeAccess({ shard: 's', now, jti: 'long-1', expiresAt: now + 60_000 });
    await waitUntil(() => heard.includes('long-1'), 1000);
  });

  test('many families of one user: concurrent refreshes, reuses and logouts everywhere never deadlock', async (t) => {
    const { store } = await fresh(t, { poolSize: 20 });
    const clock = new FakeClock();
    const tokens = createTokenService({ secret: SECRET, store, clock: clock.now });
    const sessions = await Promise.all(Array.from({ length: 30 }, () => tokens.issue({ sub: 'busy' })));
    const ops: Promise<unknown>[] = [];
    for (const s of sessions) {
      // Each family: a rotation racing two replays of the same token.
      for (let i = 0; i < 3; i++) ops.push(tokens.refresh(s.refreshToken).catch((e: unknown) => e));
    }
    for (let i = 0; i < 5; i++) ops.push(tokens.revokeUser('busy'));
    const results = await Promise.all(ops);
    // A deadlock (40P01) would surface as StoreUnavailableError: none may.
    assert.equal(results.filter((r) => isOutage(r)).length, 0);
    for (const s of sessions) assert.equal(await codeOf(tokens.refresh(s.refreshToken)), 'reused');
  });

  test('purge: expired rows go in bounded batches by the injected clock; live ones stay', async (t) => {
    const clock = new FakeClock();
    const { store, schema } = await fresh(t, { clock: clock.now, purgeBatch: 7 });
    const shard = userShard('p');
    await store.pool.query(
      `INSERT INTO "${schema}".denylist (jti, expires_at) SELECT 'old-' || g, $1 FROM generate_series(1, 50) g`,
      [clock.ms - 1],
    );
    await store.revokeAccess({ shard, now: clock.ms, jti: 'live', expiresAt: clock.ms + 60_000 });
    assert.equal(await store.countStateEntries(), 51);
    assert.equal(await store.purgeExpired(), 50);
    assert.equal(await store.countStateEntries(), 1);
    assert.equal((await store.checkAccess({ shard, now: clock.ms, sub: 'p', jti: 'live' })).status, 'revoked');
  });

  test("the purge timer runs on its own, unref'd, and skips rows a request holds locked", async (t) => {
    const clock = new FakeClock();
    const { store, schema } = await fresh(t, { clock: clock.now, purgeIntervalMs: 50 });
    // Live until the lock on 'a' is held: the timer may run at any moment from the store's start.
    await store.pool.query(`INSERT INTO "${schema}".denylist (jti, expires_at) VALUES ('a', $1), ('b', $1)`, [clock.ms + 1000]);
    const holder = await store.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT 1 FROM "${schema}".denylist WHERE jti = 'a' FOR UPDATE`);
      assert.equal(await store.countStateEntries(), 2);
      clock.advance(2);
      for (let i = 0; i < 100 && (await store.countStateEntries()) > 1; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(await store.countStateEntries(), 1, "the timer purged 'b' without waiting for the lock on 'a'");
      await holder.query('COMMIT');
    } finally {
      holder.release();
    }
    for (let i = 0; i < 100 && (await store.countStateEntries()) > 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await store.countStateEntries(), 0);
  });

  test('a restart keeps revocations: a new store on the same schema still refuses them', async (t) => {
    const schema = uniqueSchema('restart');
    t.after(() => dropSchema(schema));
    const clock = new FakeClock();
    const first = await openPostgresStore(PG_URL, { schema, clock: clock.now, purgeIntervalMs: 0 });
    const tokens = createTokenService({ secret: SECRET, store: first, clock: clock.now, access: { checkRevocation: true } });
    const revoked = await tokens.issue({ sub: 'amy' });
    const kept = await tokens.issue({ sub: 'amy' });
    const denied = await tokens.issue({ sub: 'amy' });
    await tokens.revoke(revoked.refreshToken);
    await tokens.revoke(denied.accessToken);
    await first.close();
    const second = await openPostgresStore(PG_URL, { schema, clock: clock.now, purgeIntervalMs: 0 });
    t.after(() => second.close());
    const again = createTokenService({ secret: SECRET, store: second, clock: clock.now, access: { checkRevocation: true } });
    assert.equal(await codeOf(again.refresh(revoked.refreshToken)), 'revoked');
    assert.equal(await codeOf(again.authenticate(revoked.accessToken)), 'revoked');
    assert.equal(await codeOf(again.authenticate(denied.accessToken)), 'revoked');
    assert.equal(await codeOf(again.refresh(kept.refreshToken)), 'ok');
  });

  test('a closed store is StoreUnavailableError, never a silent accept', async (t) => {
    const { store } = await fresh(t);
    const tokens = createTokenService({ secret: SECRET, store });
    const p = await tokens.issue({ sub: 'x' });
    await store.close();
    await assert.rejects(tokens.refresh(p.refreshToken), (e: unknown) => isOutage(e));
    await assert.rejects(store.ping(), (e: unknown) => isOutage(e));
  });
});
