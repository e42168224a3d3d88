/**
 * SQLite store (better-sqlite3 12.x): the embedded default. Persistent, so a
 * restart neither logs everyone out nor forgets a revocation.
 *
 * - WAL journal, `synchronous=NORMAL` (durable across process crashes; a power
 *   loss may drop the last transactions, never corrupt), `busy_timeout` so two
 *   processes on one file wait for each other instead of failing.
 * - Each operation is one transaction. Writes use `BEGIN IMMEDIATE`: the write
 *   lock is taken before the first read, so of two processes rotating one token
 *   the second reads the state the first committed (a deferred transaction
 *   would read first and fail to upgrade with SQLITE_BUSY).
 * - Schema versioned with `PRAGMA user_version` and forward-only migrations.
 * - Expired rows are deleted on a timer and opportunistically (at most once per
 *   `purgeIntervalMs` by the injected clock); reads never depend on it.
 * - Revocations are pushed to every process on the file (`revocations()`): each
 *   revoking transaction appends a row to the `revocations` log; subscribers
 *   poll it every `pollIntervalMs` (200 ms), and a poll costs one
 *   `PRAGMA data_version` unless another connection committed since the last.
 *
 * @module
 */
import { createRequire } from 'node:module';
import type { Database as SqliteDatabase, Statement, Transaction } from 'better-sqlite3';
import { ConfigError, StoreUnavailableError } from '../errors.js';
import {
  type ClientDirectory,
  type ClientRecord,
  completeClient,
  decodeClientSettings,
  encodeClientSettings,
} from '../oauth-clients/types.js';
import { RevocationHub } from './feed.js';
import { prepareSqliteFile, tightenSqliteFiles } from './files.js';
import {
  checkAccessIn,
  clientOfClaims,
  createFamilyIn,
  type FamilyState,
  inspectRefreshIn,
  revokeAccessIn,
  revokeFamilyIn,
  revokeUserIn,
  rotateIn,
  type StateTx,
  type StoredAccess,
  type StoredRefresh,
} from './state.js';
import type {
  AccessCheckInput,
  AccessCheckResult,
  CreateFamilyInput,
  FamilySummary,
  ListFamiliesInput,
  Millis,
  OnceRef,
  OneTimeRecords,
  PutOnceInput,
  RefreshInspection,
  RefreshRef,
  RevocationEvent,
  RevocationFeed,
  RevokeAccessInput,
  RevokeUserInput,
  RotateInput,
  RotateResult,
  TokenStore,
  UserDirectory,
  UserRecord,
} from './types.js';

export interface SqliteStoreOptions {
  /** Milliseconds since the epoch, for purging. Default `Date.now`. */
  clock?: () => number;
  /** Purge expired rows at most this often (ms). Default 60000. A real timer also runs at this period (unref'd). */
  purgeIntervalMs?: number;
  /** How long to wait for another process's write lock (ms). Default 5000. */
  busyTimeoutMs?: number;
  /** Close the handle on `close()`. Default true when the store opened it from a path. */
  ownsDatabase?: boolean;
  /** How often subscribers of `revocations()` look for other processes' revocations (ms). Default 200. */
  pollIntervalMs?: number;
}

/**
 * Log rows are kept this long (or until what they guard expires, if sooner): long
 * enough for every poller to read them. A poller that finds a gap (it fell behind
 * further than this) reports the feed down and up, so the service re-checks.
 */
const LOG_RETENTION_MS = 5 * 60_000;

interface LogRow {
  seq: number;
  kind: string;
  key: string;
  not_before: number;
  until: number;
}

function eventOf(r: LogRow): RevocationEvent | undefined {
  if (r.kind === 'jti') return { kind: 'jti', jti: r.key, until: r.until };
  if (r.kind === 'family') return { kind: 'family', familyId: r.key, until: r.until };
  if (r.kind === 'user') return { kind: 'user', sub: r.key, notBefore: r.not_before, until: r.until };
  if (r.kind === 'client') return { kind: 'client', clientId: r.key, until: r.until };
  return undefined;
}

/**
 * A better-sqlite3 `Database` as the public typings describe it: only the
 * methods the store calls, so that a TypeScript project using this store needs
 * better-sqlite3 itself but not `@types/better-sqlite3` (which the package
 * cannot declare as a peer of its own typings).
 */
export interface SqliteHandle {
  pragma(source: string, options?: { simple?: boolean }): unknown;
  exec(source: string): unknown;
  prepare(source: string): SqliteStatementHandle;
  transaction(fn: (...args: never[]) => unknown): unknown;
  close(): unknown;
}

/** A prepared better-sqlite3 statement, structurally (see {@link SqliteHandle}). */
export interface SqliteStatementHandle {
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

/**
 * Forward-only migrations; index i brings the schema from version i to i + 1.
 * Never edit a shipped one: add a new one.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE users (
    username      TEXT PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
  ) STRICT;

  -- A login session. 'current' is the one refresh token id that may be used next.
  CREATE TABLE families (
    id          TEXT PRIMARY KEY,
    sub         TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    absolute_expires_at INTEGER NOT NULL,
    current     TEXT NOT NULL,
    previous    TEXT NOT NULL,
    rotated_at  INTEGER NOT NULL,
    replay      TEXT NOT NULL,
    revoked     INTEGER NOT NULL,
    scope       TEXT NOT NULL,
    claims      TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX families_by_sub ON families (sub);
  CREATE INDEX families_by_expiry ON families (expires_at);

  -- The original design's rt:<token> records, keyed by SHA-256 of the token.
  CREATE TABLE refresh_tokens (
    hash        TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    issued_at   INTEGER NOT NULL,
    refresh_expires_in INTEGER NOT NULL,
    used_count  INTEGER NOT NULL,
    family      TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);

  -- The original design's at:<token> records, keyed by SHA-256 of the token.
  CREATE TABLE access_tokens (
    hash        TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    issued_at   INTEGER NOT NULL,
    expires_in  INTEGER NOT NULL,
    scope       TEXT NOT NULL,
    family      TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX access_tokens_by_expiry ON access_tokens (expires_at);

  -- Revoked self-contained access tokens, until they expire.
  CREATE TABLE denylist (
    jti         TEXT PRIMARY KEY,
    expires_at  INTEGER NOT NULL
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX denylist_by_expiry ON denylist (expires_at);

  -- "Logout everywhere": families created before not_before are revoked.
  CREATE TABLE user_epochs (
    sub         TEXT PRIMARY KEY,
    not_before  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX user_epochs_by_expiry ON user_epochs (expires_at);
  `,
  `
  -- Registered OAuth clients (RFC 6749 §2); secret_hash is a verifier, never the secret.
  CREATE TABLE clients (
    client_id   TEXT PRIMARY KEY,
    client_type TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    introspect  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
  ) STRICT;
  `,
  `
  -- The revocation push between processes sharing the file: one row per revocation, written in
  -- the revoking transaction, read by every subscriber's poll (seq never reused: AUTOINCREMENT).
  -- 'until' is the event's; expires_at (purge) is sooner: the row only has to be read once.
  CREATE TABLE revocations (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    key         TEXT NOT NULL,
    not_before  INTEGER NOT NULL,
    until       INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX revocations_by_expiry ON revocations (expires_at);

  -- The revoked families, for the snapshot a new subscriber starts from.
  CREATE INDEX families_revoked ON families (expires_at) WHERE revoked = 1;

  -- Logout everywhere no longer walks a user's families (the epoch alone revokes them).
  DROP INDEX families_by_sub;
  `,
  `
  -- One-time records (authorization codes, device codes, DPoP proof ids): (kind, id) is the
  -- namespace, consumed by one DELETE ... RETURNING, expired rows purged like token state.
  CREATE TABLE once_records (
    kind        TEXT NOT NULL,
    id          TEXT NOT NULL,
    value       TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (kind, id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX once_records_by_expiry ON once_records (expires_at);
  `,
  `
  -- The client fields beyond the first five (oauth-clients/types.ts ClientSettings) as one JSON
  -- object. '{}' (a row written before them) reads as CLIENT_DEFAULTS: password and refresh grants.
  ALTER TABLE clients ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
  `,
  `
  -- The session listing: each family's last use and the device of its latest sign-in or refresh
  -- (written by the same statement as the rotation), and the per-user index it is read by.
  -- 0 and '' (a family written before them): last used when created, device unknown.
  ALTER TABLE families ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE families ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
  ALTER TABLE families ADD COLUMN address TEXT NOT NULL DEFAULT '';
  CREATE INDEX families_by_sub ON families (sub);
  `,
  `
  -- The grant that created each family (the session listing's grant), written at sign-in and
  -- kept by rotations. NULL (a family written before it): unknown.
  ALTER TABLE families ADD COLUMN grant_type TEXT;
  `,
];

export const SQLITE_SCHEMA_VERSION = MIGRATIONS.length;
const STATE_TABLES = [
  'families',
  'refresh_tokens',
  'access_tokens',
  'denylist',
  'user_epochs',
  'revocations',
  'once_records',
] as const;

interface FamilyRow {
  id: string;
  sub: string;
  created_at: number;
  absolute_expires_at: number;
  current: string;
  previous: string;
  rotated_at: number;
  replay: string;
  revoked: number;
  scope: string;
  claims: string;
  expires_at: number;
  last_used_at: number;
  user_agent: string;
  address: string;
  grant_type: string | null;
}

interface UserRow {
  username: string;
  id: string;
  password_hash: string;
  created_at: number;
}

function toFamily(r: FamilyRow): FamilyState {
  return {
    familyId: r.id,
    sub: r.sub,
    createdAt: r.created_at,
    absoluteExpiresAt: r.absolute_expires_at,
    current: r.current,
    previous: r.previous,
    rotatedAt: r.rotated_at,
    replay: r.replay,
    revoked: r.revoked === 1,
    scope: r.scope,
    claims: r.claims,
    expiresAt: r.expires_at,
    lastUsedAt: r.last_used_at,
    userAgent: r.user_agent,
    address: r.address,
    grant: r.grant_type,
  };
}

/** A path SQLite keeps on disk (`:memory:` and `''`, a private temporary database, are not). */
function isFilePath(path: string): boolean {
  return path !== ':memory:' && path !== '';
}

/**
 * Opens the file; its directory is created 0700 when missing (an existing one is
 * left as it is: it may be shared) and the file is created 0600, before SQLite
 * creates it with the umask's permissions. It holds password hashes and sessions.
 */
function openDatabase(path: string): SqliteDatabase {
  // Loaded on demand: importing tessera does not load the native addon unless SQLite is used.
  const require = createRequire(import.meta.url);
  const Database = require('better-sqlite3') as typeof import('better-sqlite3');
  if (isFilePath(path)) prepareSqliteFile(path, false);
  return new Database(path);
}

/** Runs the migrations the file lacks; refuses a file written by a newer tessera. */
export function migrate(handle: SqliteHandle): number {
  const db = handle as SqliteDatabase;
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw new ConfigError(
      `the SQLite store has schema version ${version}, newer than this tessera (${MIGRATIONS.length}); upgrade tessera`,
    );
  }
  db.transaction(() => {
    // Re-read inside the write transaction: another process may have migrated meanwhile.
    const current = db.pragma('user_version', { simple: true }) as number;
    for (let v = current; v < MIGRATIONS.length; v++) {
      db.exec(MIGRATIONS[v] as string);
      db.pragma(`user_version = ${v + 1}`);
    }
  }).immediate();
  return MIGRATIONS.length;
}

export class SqliteStore implements TokenStore, OneTimeRecords, UserDirectory, ClientDirectory {
  readonly kind = 'sqlite' as const;
  /** The open better-sqlite3 handle. */
  readonly db: SqliteHandle;
  readonly #db: SqliteDatabase;
  readonly #clock: () => number;
  readonly #purgeIntervalMs: number;
  readonly #ownsDb: boolean;
  readonly #timer: NodeJS.Timeout | undefined;
  #lastPurge: Millis;
  #closed = false;
  readonly #tx: (now: Millis) => StateTx;
  readonly #s: ReturnType<typeof prepare>;
  /** One transaction wrapper, built once: `.immediate(fn)` for writes, `.deferred(fn)` for reads. */
  readonly #txn: Transaction<(run: () => unknown) => unknown>;
  readonly #feed: RevocationHub;
  readonly #pollIntervalMs: number;
  #pollTimer: NodeJS.Timeout | undefined;
  /** The last log row delivered, and `PRAGMA data_version` when the log was last read. */
  #cursor = 0;
  #dataVersion = -1;
  /** Set by a transaction that appended to the log: read it right after the commit. */
  #logged = false;

  /** @param database a file path (`:memory:` works too) or an open better-sqlite3 handle. */
  constructor(database: string | SqliteHandle, options: SqliteStoreOptions = {}) {
    this.#db = typeof database === 'string' ? openDatabase(database) : (database as SqliteDatabase);
    this.db = this.#db;
    this.#ownsDb = options.ownsDatabase ?? typeof database === 'string';
    this.#clock = options.clock ?? Date.now;
    this.#purgeIntervalMs = options.purgeIntervalMs ?? 60_000;
    this.#pollIntervalMs = options.pollIntervalMs ?? 200;
    this.#feed = new RevocationHub({
      start: () => this.#startPolling(),
      stop: () => this.#stopPolling(),
      snapshot: () => this.#snapshot(),
    });
    this.#db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = NORMAL');
    migrate(this.#db);
    // SQLite gives `-wal` and `-shm` the database file's permissions; an older file keeps
    // whatever it had, so every file of the database is checked once open.
    if (typeof database === 'string' && isFilePath(database)) tightenSqliteFiles(database);
    this.#s = prepare(this.#db);
    this.#txn = this.#db.transaction((run: () => unknown) => run());
    const s = this.#s;
    this.#tx = (now) => ({
      now,
      getFamily: (id) => {
        const r = s.getFamily.get(id) as FamilyRow | undefined;
        return r && toFamily(r);
      },
      putFamily: (f) =>
        void s.putFamily.run({
          id: f.familyId,
          sub: f.sub,
          created_at: f.createdAt,
          absolute_expires_at: f.absoluteExpiresAt,
          current: f.current,
          previous: f.previous,
          rotated_at: f.rotatedAt,
          replay: f.replay,
          revoked: f.revoked ? 1 : 0,
          scope: f.scope,
          claims: f.claims,
          expires_at: f.expiresAt,
          last_used_at: f.lastUsedAt,
          user_agent: f.userAgent,
          address: f.address,
          grant_type: f.grant,
        }),
      getRefresh: (h) => {
        const r = s.getRefresh.get(h) as (StoredRefresh & { expires_at: number }) | undefined;
        if (!r) return undefined;
        const { expires_at, ...rest } = r;
        return { ...rest, expiresAt: expires_at };
      },
      putRefresh: (h, r) => void s.putRefresh.run({ ...r, hash: h, expires_at: r.expiresAt }),
      incrementRefreshUse: (h) => void s.incrementRefreshUse.run(h),
      getAccess: (h) => {
        const r = s.getAccess.get(h) as (StoredAccess & { expires_at: number }) | undefined;
        if (!r) return undefined;
        const { expires_at, ...rest } = r;
        return { ...rest, expiresAt: expires_at };
      },
      putAccess: (h, a) => void s.putAccess.run({ ...a, hash: h, expires_at: a.expiresAt }),
      deleteAccess: (h) => void s.deleteAccess.run(h),
      isDenied: (jti) => s.isDenied.get(jti) !== undefined,
      deny: (jti, expiresAt) => void s.deny.run(jti, expiresAt),
      getEpoch: (sub) => (s.getEpoch.get(sub) as { not_before: number } | undefined)?.not_before,
      setEpoch: (sub, notBefore, expiresAt) => void s.setEpoch.run(sub, notBefore, expiresAt),
      emit: (e) => {
        const key = e.kind === 'jti' ? e.jti : e.kind === 'family' ? e.familyId : e.kind === 'user' ? e.sub : e.clientId;
        const notBefore = e.kind === 'user' ? e.notBefore : 0;
        s.logRevocation.run(e.kind, key, notBefore, e.until, Math.min(e.until, now + LOG_RETENTION_MS));
        this.#logged = true;
      },
    });
    this.#lastPurge = this.#clock();
    if (this.#purgeIntervalMs > 0) {
      this.#timer = setInterval(() => {
        try {
          this.#purge();
        } catch {
          // A locked or closed database: the next write or tick tries again.
        }
      }, this.#purgeIntervalMs);
      this.#timer.unref();
    }
  }

  /** One write transaction (BEGIN IMMEDIATE); SQLite failures become a StoreUnavailableError. */
  #write<T>(now: Millis, fn: (tx: StateTx) => T): T {
    this.#logged = false;
    const result = this.#guard(() => this.#txn.immediate(() => fn(this.#tx(now))) as T);
    // Our own revocations reach our subscribers now, not at the next tick (data_version
    // only moves for other connections' commits).
    if (this.#logged && this.#feed.listening) this.#poll(true);
    if (this.#clock() - this.#lastPurge >= this.#purgeIntervalMs) {
      try {
        this.#purge();
      } catch {
        // Purging is housekeeping: never fail the operation that triggered it.
      }
    }
    return result;
  }

  /** One read transaction (a consistent snapshot under WAL). */
  #read<T>(now: Millis, fn: (tx: StateTx) => T): T {
    return this.#guard(() => this.#txn.deferred(() => fn(this.#tx(now))) as T);
  }

  #guard<T>(fn: () => T): T {
    if (this.#closed) throw new StoreUnavailableError('The SQLite store is closed');
    try {
      return fn();
    } catch (e) {
      if (e instanceof StoreUnavailableError) throw e;
      throw new StoreUnavailableError(undefined, { cause: e });
    }
  }

  async createFamily(input: CreateFamilyInput): Promise<void> {
    this.#write(input.now, (tx) => createFamilyIn(tx, input));
  }

  async rotate(input: RotateInput): Promise<RotateResult> {
    return this.#write(input.now, (tx) => rotateIn(tx, input));
  }

  async checkAccess(input: AccessCheckInput): Promise<AccessCheckResult> {
    return this.#read(input.now, (tx) => checkAccessIn(tx, input));
  }

  async inspectRefresh(input: RefreshRef): Promise<RefreshInspection> {
    return this.#read(input.now, (tx) => inspectRefreshIn(tx, input));
  }

  async revokeAccess(input: RevokeAccessInput): Promise<void> {
    this.#write(input.now, (tx) => revokeAccessIn(tx, input));
  }

  async revokeFamily(input: RefreshRef): Promise<boolean> {
    return this.#write(input.now, (tx) => revokeFamilyIn(tx, input));
  }

  async revokeUser(input: RevokeUserInput): Promise<void> {
    return this.#write(input.now, (tx) => revokeUserIn(tx, input));
  }

  async familyOwner(familyId: string): Promise<string | null> {
    return this.#guard(() => (this.#s.getFamily.get(familyId) as FamilyRow | undefined)?.sub ?? null);
  }

  /** One statement over the user's index entries (families_by_sub), the rules of state.ts in SQL. */
  async listFamilies(input: ListFamiliesInput): Promise<FamilySummary[]> {
    const rows = this.#guard(() => this.#s.familiesOf.all({ sub: input.sub, now: input.now }) as FamilyRow[]);
    return rows.map((r) => ({
      familyId: r.id,
      clientId: clientOfClaims(r.claims),
      createdAt: r.created_at,
      lastUsedAt: r.last_used_at || r.created_at,
      absoluteExpiresAt: r.absolute_expires_at,
      recordExpiresAt: r.expires_at,
      userAgent: r.user_agent,
      address: r.address,
      grant: r.grant_type,
    }));
  }

  /** The file is migrated when opened; this runs any migration another process left pending and answers the version. */
  async migrate(): Promise<number> {
    return this.#guard(() => migrate(this.#db));
  }

  /** One transaction: an expired holder of (kind, id) is replaced, a live one refuses. */
  async putOnce(input: PutOnceInput): Promise<boolean> {
    const s = this.#s;
    return this.#write(input.now, () => {
      s.dropExpiredOnce.run(input.kind, input.id, input.now);
      return s.putOnce.run(input.kind, input.id, input.value, input.expiresAt).changes === 1;
    });
  }

  /** One statement (DELETE ... RETURNING): of concurrent consumers on any connection, one gets the row. */
  async consumeOnce(input: OnceRef): Promise<string | null> {
    const s = this.#s;
    return this.#write(input.now, () => {
      const row = s.consumeOnce.get(input.kind, input.id) as { value: string; expires_at: number } | undefined;
      return row && row.expires_at > input.now ? row.value : null;
    });
  }

  async purgeExpired(): Promise<number> {
    return this.#guard(() => this.#purge());
  }

  #purge(): number {
    if (this.#closed) return 0;
    const now = this.#clock();
    this.#lastPurge = now;
    return this.#db.transaction(() => this.#s.purge.reduce((n, stmt) => n + stmt.run(now).changes, 0)).immediate();
  }

  async countStateEntries(): Promise<number> {
    return this.#guard(() => (this.#s.count.get() as { n: number }).n);
  }

  async countActiveFamilies(now: Millis): Promise<number> {
    return this.#guard(() => (this.#s.countActive.get({ now }) as { n: number }).n);
  }

  async createUser(user: UserRecord): Promise<boolean> {
    return this.#guard(
      () =>
        this.#s.createUser.run({
          username: user.username,
          id: user.id,
          password_hash: user.passwordHash,
          created_at: user.createdAt,
        }).changes === 1,
    );
  }

  async getUser(username: string): Promise<UserRecord | null> {
    const r = this.#guard(() => this.#s.getUser.get(username) as UserRow | undefined);
    return r ? { id: r.id, username: r.username, passwordHash: r.password_hash, createdAt: r.created_at } : null;
  }

  // Registered OAuth clients (src/oauth-clients). Prepared on first use: the hot statements above stay as they are.

  #clientStmts?: ReturnType<typeof prepareClients>;

  #clientSql(): ReturnType<typeof prepareClients> {
    this.#clientStmts ??= prepareClients(this.#db);
    return this.#clientStmts;
  }

  async createClient(client: ClientRecord): Promise<boolean> {
    return this.#guard(
      () =>
        this.#clientSql().create.run({
          client_id: client.clientId,
          client_type: client.clientType,
          secret_hash: client.secretHash,
          introspect: client.introspect ? 1 : 0,
          created_at: client.createdAt,
          settings: encodeClientSettings(client),
        }).changes === 1,
    );
  }

  async getClient(clientId: string): Promise<ClientRecord | null> {
    const r = this.#guard(() => this.#clientSql().get.get(clientId) as ClientRow | undefined);
    return r ? toClient(r) : null;
  }

  async listClients(): Promise<ClientRecord[]> {
    return this.#guard(() => (this.#clientSql().list.all() as ClientRow[]).map(toClient));
  }

  /** The removal is logged in its transaction: every process's client cache hears it with the next poll. */
  async removeClient(clientId: string): Promise<boolean> {
    const now = this.#clock();
    const until = now + LOG_RETENTION_MS;
    const removed = this.#guard(
      () =>
        this.#txn.immediate(() => {
          const gone = this.#clientSql().remove.run(clientId).changes === 1;
          if (gone) this.#s.logRevocation.run('client', clientId, 0, until, until);
          return gone;
        }) as boolean,
    );
    if (removed && this.#feed.listening) this.#poll(true);
    return removed;
  }

  async ping(): Promise<void> {
    this.#guard(() => this.#s.ping.get());
  }

  revocations(): RevocationFeed {
    return this.#feed;
  }

  /**
   * Every revocation in force (the state tables are enumerable), for a new listener, so
   * that its 'up' is complete: a restarted instance refuses from memory at once. Rows the
   * next poll delivers again are harmless (events are idempotent).
   */
  #snapshot(): RevocationEvent[] {
    const now = this.#clock();
    const s = this.#s;
    return this.#txn.deferred(() => {
      const out: RevocationEvent[] = [];
      for (const r of s.snapDeny.all(now) as { jti: string; expires_at: number }[]) {
        out.push({ kind: 'jti', jti: r.jti, until: r.expires_at });
      }
      for (const r of s.snapFamilies.all(now) as { id: string; expires_at: number }[]) {
        out.push({ kind: 'family', familyId: r.id, until: r.expires_at });
      }
      for (const r of s.snapEpochs.all(now) as { sub: string; not_before: number; expires_at: number }[]) {
        out.push({ kind: 'user', sub: r.sub, notBefore: r.not_before, until: r.expires_at });
      }
      return out;
    }) as RevocationEvent[];
  }

  #startPolling(): void {
    try {
      this.#cursor = (this.#s.logHead.get() as { seq: number }).seq;
      this.#dataVersion = this.#db.pragma('data_version', { simple: true }) as number;
      this.#feed.status('up');
    } catch {
      this.#feed.status('down');
    }
    this.#pollTimer = setInterval(() => this.#poll(false), this.#pollIntervalMs);
    this.#pollTimer.unref();
  }

  #stopPolling(): void {
    if (this.#pollTimer) clearInterval(this.#pollTimer);
    this.#pollTimer = undefined;
    this.#feed.status('down');
  }

  /**
   * Reads the log rows after the cursor and pushes them. On the timer, first asks
   * `PRAGMA data_version` (no I/O beyond the WAL index): unchanged means no other
   * connection committed, so there is nothing to read.
   */
  #poll(own: boolean): void {
    if (this.#closed) return;
    try {
      if (!own) {
        const v = this.#db.pragma('data_version', { simple: true }) as number;
        if (v === this.#dataVersion && this.#feed.up) return;
        this.#dataVersion = v;
      }
      const rows = this.#s.logAfter.all(this.#cursor) as LogRow[];
      const first = rows[0];
      if (first !== undefined && first.seq !== this.#cursor + 1 && this.#cursor > 0) {
        // Rows we never read were purged (this process stalled for minutes): what they said is
        // lost, so the feed was down meanwhile; the service re-checks older tokens.
        this.#feed.status('down');
      }
      for (const r of rows) {
        this.#cursor = r.seq;
        const e = eventOf(r);
        if (e) this.#feed.emit(e);
      }
      this.#feed.status('up');
    } catch {
      // A closed or unreadable file: down until a poll succeeds.
      this.#feed.status('down');
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopPolling();
    if (this.#timer) clearInterval(this.#timer);
    if (this.#ownsDb) this.#db.close();
  }

  #updateHash: SqliteStatementHandle | undefined;

  async updatePasswordHash(username: string, passwordHash: string): Promise<boolean> {
    return this.#guard(() => {
      this.#updateHash ??= this.#db.prepare('UPDATE users SET password_hash = ? WHERE username = ?');
      return this.#updateHash.run(passwordHash, username).changes === 1;
    });
  }
}

function prepare(db: SqliteDatabase) {
  const purge: Statement[] = STATE_TABLES.map((t) => db.prepare(`DELETE FROM ${t} WHERE expires_at <= ?`));
  return {
    getFamily: db.prepare('SELECT * FROM families WHERE id = ?'),
    putFamily: db.prepare(
      `INSERT OR REPLACE INTO families (id, sub, created_at, absolute_expires_at, current, previous, rotated_at, replay, revoked, scope, claims, expires_at, last_used_at, user_agent, address, grant_type)
       VALUES (@id, @sub, @created_at, @absolute_expires_at, @current, @previous, @rotated_at, @replay, @revoked, @scope, @claims, @expires_at, @last_used_at, @user_agent, @address, @grant_type)`,
    ),
    // The session listing, by families_by_sub: live families only (state.ts isRevoked with the
    // epoch read once; neither past the absolute expiry nor the record's).
    familiesOf: db.prepare(
      `SELECT id, created_at, last_used_at, absolute_expires_at, expires_at, claims, user_agent, address, grant_type FROM families
       WHERE sub = @sub AND revoked = 0 AND absolute_expires_at > @now AND expires_at > @now
       AND created_at > coalesce((SELECT not_before FROM user_epochs WHERE sub = @sub), -1)`,
    ),
    // Every user's live families, by families_by_expiry: familiesOf's rule without the user.
    countActive: db.prepare(
      `SELECT count(*) AS n FROM families f
       WHERE f.expires_at > @now AND f.revoked = 0 AND f.absolute_expires_at > @now
       AND f.created_at > coalesce((SELECT not_before FROM user_epochs WHERE sub = f.sub), -1)`,
    ),
    getRefresh: db.prepare(
      'SELECT user_id, issued_at, refresh_expires_in, used_count, family, expires_at FROM refresh_tokens WHERE hash = ?',
    ),
    putRefresh: db.prepare(
      `INSERT OR REPLACE INTO refresh_tokens (hash, user_id, issued_at, refresh_expires_in, used_count, family, expires_at)
       VALUES (@hash, @user_id, @issued_at, @refresh_expires_in, @used_count, @family, @expires_at)`,
    ),
    incrementRefreshUse: db.prepare('UPDATE refresh_tokens SET used_count = used_count + 1 WHERE hash = ?'),
    getAccess: db.prepare('SELECT user_id, issued_at, expires_in, scope, family, expires_at FROM access_tokens WHERE hash = ?'),
    putAccess: db.prepare(
      `INSERT OR REPLACE INTO access_tokens (hash, user_id, issued_at, expires_in, scope, family, expires_at)
       VALUES (@hash, @user_id, @issued_at, @expires_in, @scope, @family, @expires_at)`,
    ),
    deleteAccess: db.prepare('DELETE FROM access_tokens WHERE hash = ?'),
    isDenied: db.prepare('SELECT 1 FROM denylist WHERE jti = ?'),
    deny: db.prepare(
      'INSERT INTO denylist (jti, expires_at) VALUES (?, ?) ON CONFLICT (jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)',
    ),
    getEpoch: db.prepare('SELECT not_before FROM user_epochs WHERE sub = ?'),
    setEpoch: db.prepare('INSERT OR REPLACE INTO user_epochs (sub, not_before, expires_at) VALUES (?, ?, ?)'),
    logRevocation: db.prepare('INSERT INTO revocations (kind, key, not_before, until, expires_at) VALUES (?, ?, ?, ?, ?)'),
    logHead: db.prepare('SELECT coalesce(max(seq), 0) AS seq FROM revocations'),
    snapDeny: db.prepare('SELECT jti, expires_at FROM denylist WHERE expires_at > ?'),
    snapFamilies: db.prepare('SELECT id, expires_at FROM families WHERE revoked = 1 AND expires_at > ?'),
    snapEpochs: db.prepare('SELECT sub, not_before, expires_at FROM user_epochs WHERE expires_at > ?'),
    logAfter: db.prepare('SELECT seq, kind, key, not_before, until FROM revocations WHERE seq > ? ORDER BY seq'),
    purge,
    count: db.prepare(`SELECT ${STATE_TABLES.map((t) => `(SELECT count(*) FROM ${t})`).join(' + ')} AS n`),
    createUser: db.prepare(
      'INSERT OR IGNORE INTO users (username, id, password_hash, created_at) VALUES (@username, @id, @password_hash, @created_at)',
    ),
    getUser: db.prepare('SELECT username, id, password_hash, created_at FROM users WHERE username = ?'),
    ping: db.prepare('SELECT 1'),
    dropExpiredOnce: db.prepare('DELETE FROM once_records WHERE kind = ? AND id = ? AND expires_at <= ?'),
    putOnce: db.prepare('INSERT OR IGNORE INTO once_records (kind, id, value, expires_at) VALUES (?, ?, ?, ?)'),
    consumeOnce: db.prepare('DELETE FROM once_records WHERE kind = ? AND id = ? RETURNING value, expires_at'),
  };
}

interface ClientRow {
  client_id: string;
  client_type: string;
  secret_hash: string;
  introspect: number;
  created_at: number;
  settings: string;
}

function toClient(r: ClientRow): ClientRecord {
  return completeClient({
    ...decodeClientSettings(r.settings),
    clientId: r.client_id,
    clientType: r.client_type === 'confidential' ? 'confidential' : 'public',
    secretHash: r.secret_hash,
    introspect: r.introspect === 1,
    createdAt: r.created_at,
  });
}

function prepareClients(db: SqliteDatabase) {
  return {
    create: db.prepare(
      `INSERT OR IGNORE INTO clients (client_id, client_type, secret_hash, introspect, created_at, settings)
       VALUES (@client_id, @client_type, @secret_hash, @introspect, @created_at, @settings)`,
    ),
    get: db.prepare('SELECT * FROM clients WHERE client_id = ?'),
    list: db.prepare('SELECT * FROM clients ORDER BY client_id'),
    remove: db.prepare('DELETE FROM clients WHERE client_id = ?'),
  };
}
