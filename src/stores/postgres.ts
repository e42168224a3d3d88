/**
 * PostgreSQL store (node-postgres, `pg` 8.x): for several instances on the
 * database a team already runs, with its durability, backups and replicas.
 *
 * - Every token-state operation is one statement, a call of one plpgsql function
 *   (postgres-sql.ts): one round trip, one transaction, a named prepared
 *   statement (`prepare`). The rotation compares tokens only under the family
 *   row's lock (its UPDATE's, or `FOR UPDATE`), so of any number of concurrent
 *   refreshes of one token exactly one wins, at READ COMMITTED.
 * - Versioned migrations run at start (`migrate()`, or `tessera migrate`), under
 *   `pg_advisory_xact_lock`: instances starting together migrate once.
 * - Everything lives in one schema (default `tessera`, `?schema=` or the option).
 * - Expired rows are deleted in bounded batches on a timer (`purgeIntervalMs`,
 *   `purgeBatch` rows per table per statement, locked rows skipped): a purge
 *   never holds a lock a request waits for.
 * - Failures: a connection that cannot be had within `connectTimeoutMs`, a
 *   statement slower than `statementTimeoutMs` (server-side `statement_timeout`,
 *   plus a client-side timer for a network that stopped answering), or any
 *   driver error rejects with {@link StoreUnavailableError} (never a TokenError):
 *   callers fail closed, the HTTP layer answers 503 with Retry-After. The pool
 *   replaces broken connections by itself: recovery needs no restart.
 * - Revocation push (`revocations()`): the revoking functions `pg_notify` the
 *   schema's channel in the revoking transaction (delivered at commit); the store
 *   `LISTEN`s on a dedicated connection of its own (not from the pool) while the
 *   feed has listeners: 'up' once `LISTEN` succeeded and the revocations in force
 *   were read (a complete snapshot), 'down' when that connection fails, then
 *   reconnection with back-off.
 *
 * @module
 */
import { createRequire } from 'node:module';
import { ConfigError, StoreUnavailableError } from '../errors.js';
import { sha256Base64url } from '../internal/crypto.js';
import { redactUrl } from '../internal/redact.js';
import {
  type ClientDirectory,
  type ClientRecord,
  completeClient,
  decodeClientSettings,
  encodeClientSettings,
} from '../oauth-clients/types.js';
import { CLIENT_NEWS_MS, decodeEvent, RevocationHub } from './feed.js';
import {
  migrationSql,
  POSTGRES_SCHEMA_VERSION,
  revocationChannel,
  SCHEMA_NAME,
  type StatementName,
  statements,
} from './postgres-sql.js';
import { clientOfClaims } from './state.js';
import type {
  AccessCheckInput,
  AccessCheckResult,
  CreateFamilyInput,
  FamilyInfo,
  FamilySummary,
  ListFamiliesInput,
  Millis,
  NextTokens,
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

export { POSTGRES_SCHEMA_VERSION } from './postgres-sql.js';

/** A row as `pg` returns it. */
// biome-ignore lint/suspicious/noExplicitAny: rows are read by column name, as pg types them
export type PgRow = Record<string, any>;

/** A query result of `pg`, structurally: only what the store reads. */
export interface PgResult {
  rows: PgRow[];
  rowCount: number | null;
}

/** A pooled `pg` client, structurally (see {@link PgPool}). */
export interface PgPoolClient {
  query(config: { text: string; values?: unknown[]; name?: string }): Promise<PgResult>;
  query(text: string, values?: unknown[]): Promise<PgResult>;
  release(destroy?: boolean | Error): void;
  on(event: 'error', listener: (e: Error) => void): unknown;
}

/**
 * A `pg` Pool as the public typings describe it: only the methods the store
 * calls, so that a TypeScript project using this store needs `pg` itself but not
 * `@types/pg` (the same choice as the SQLite store's handle).
 */
export interface PgPool {
  connect(): Promise<PgPoolClient>;
  query(text: string, values?: unknown[]): Promise<PgResult>;
  on(event: 'error', listener: (e: Error) => void): unknown;
  on(event: 'connect', listener: (client: PgPoolClient) => void): unknown;
  end(): Promise<void>;
}

/**
 * A `pg` Client for the LISTEN connection, structurally (see {@link PgPool}): a dedicated
 * connection, never one of the pool's (a pooled connection is shared, and its LISTEN would
 * follow it back into the pool).
 */
export interface PgListenClient {
  connect(): Promise<unknown>;
  query(text: string): Promise<unknown>;
  end(): Promise<void>;
  on(event: 'notification', listener: (m: { channel: string; payload?: string }) => void): unknown;
  on(event: 'error' | 'end', listener: (e?: Error) => void): unknown;
  /** The server process of the connection (pg's BackendKeyData), for `pg_terminate_backend` in tests. */
  readonly processID?: number | null;
}

export interface PostgresStoreOptions {
  /** Schema of every table and function (created if missing). Default `tessera`. */
  schema?: string;
  /** Milliseconds since the epoch, for purging. Default `Date.now`. */
  clock?: () => number;
  /** Purge expired rows this often (ms; 0 turns the timer off). Default 60000. The timer is unref'd. */
  purgeIntervalMs?: number;
  /** Rows per table per purge statement. Default 1000. */
  purgeBatch?: number;
  /** Limit of any statement (ms): `statement_timeout` on the server, and a client-side timer. Default 2000. */
  statementTimeoutMs?: number;
  /** End the pool on `close()`. Default false for a pool passed in; `openPostgresStore` sets true. */
  ownsPool?: boolean;
  /**
   * Opens the revocation push's LISTEN connection (a new, unconnected `pg` Client). Default: a
   * `pg.Client` with the pool's connection options (`pool.options`); `openPostgresStore` passes one.
   */
  listenClient?: () => PgListenClient;
  /**
   * While 'up', the LISTEN connection is asked `SELECT 1` this often (ms; 0: never): a
   * connection that stopped answering without closing (a network partition) reads 'down'
   * within this plus `statementTimeoutMs`, instead of hearing nothing for ever. Default 5000.
   */
  listenHeartbeatMs?: number;
  /**
   * Run the store's statements as named prepared statements (parsed and planned once per
   * connection instead of at every call: about a quarter of the server's CPU per refresh).
   * Default true. `false` (`?prepare=false`) for a pooler that cannot carry them: PgBouncer in
   * transaction mode before 1.21, or with `max_prepared_statements = 0`. A server answer that
   * shows such a pooler (a named statement missing or already there) turns them off by itself.
   */
  prepare?: boolean;
}

/** Options of {@link openPostgresStore}, beside those of the store. */
export interface PostgresConnectOptions extends PostgresStoreOptions {
  /** Connections in the pool. Default 10 (`?pool=N`). */
  poolSize?: number;
  /** How long to wait for a connection (ms), at start and per operation. Default 2000 (`?connect_timeout=`, seconds as libpq). */
  connectTimeoutMs?: number;
  /** Extra `pg` PoolConfig, merged last (typed loosely so these typings need no @types/pg). */
  pg?: object;
}

const FATAL_CLASSES = ['08', '57', '53']; // connection exception, operator intervention (shutdown, cancel), resources

function isConnectionLost(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  // Driver-level errors (socket closed, timeouts) have no SQLSTATE.
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return true;
  return FATAL_CLASSES.includes(code.slice(0, 2));
}

function family(r: PgRow): FamilyInfo {
  return {
    familyId: r.o_family,
    sub: r.o_sub,
    scope: r.o_scope,
    claims: r.o_claims,
    createdAt: Number(r.o_created),
    absoluteExpiresAt: Number(r.o_absolute),
  };
}

function toClient(r: PgRow): ClientRecord {
  return completeClient({
    ...decodeClientSettings(r.settings),
    clientId: r.client_id,
    clientType: r.client_type === 'confidential' ? 'confidential' : 'public',
    secretHash: r.secret_hash,
    introspect: r.introspect === true,
    createdAt: Number(r.created_at),
  });
}

/**
 * Prepared-statement names: `tessera_` and a hash of the statement's text (schema included).
 * A name stands for one text only, so behind a pooler that moves a client between server
 * connections a name can never run another schema's or another version's statement; at worst it
 * is missing or already there, which {@link isPreparedStatementRefusal} recognizes. 63 bytes at most
 * (NAMEDATALEN - 1).
 */
function preparedNames(sql: ReturnType<typeof statements>): Record<StatementName, string> {
  const names = {} as Record<StatementName, string>;
  for (const key of Object.keys(sql) as StatementName[]) names[key] = `tessera_${sha256Base64url(sql[key]).slice(0, 32)}`;
  return names;
}

/**
 * PostgreSQL's refusals of a named statement, all before it runs: 26000 (it does not exist) and
 * 42P05 (it already exists), what a pooler that moves a client between server connections
 * causes; and 0A000 "cached plan must not change result type", when a migration by a newer
 * instance changed the columns a function answers after this connection prepared its call.
 */
function isPreparedStatementRefusal(e: unknown): boolean {
  const error = (e instanceof StoreUnavailableError ? e.cause : e) as { code?: unknown; message?: unknown } | null;
  const code = error?.code;
  if (code === '26000' || code === '42P05') return true;
  return code === '0A000' && typeof error?.message === 'string' && error.message.includes('cached plan must not change');
}

/** $1..$7 of the operations that write new tokens. */
function nextArgs(now: number, leewayMs: number, n: NextTokens): unknown[] {
  return [now, leewayMs, n.refreshId, n.refreshOpaque, n.refreshExpiresAt, n.accessHash ?? '', n.accessExpiresAt];
}

/** Parses the store options a `postgres://` URL may carry; returns the URL without them (for the driver). */
export function parsePostgresUrl(spec: string): {
  connectionString: string;
  schema?: string;
  poolSize?: number;
  connectTimeoutMs?: number;
  statementTimeoutMs?: number;
  prepare?: boolean;
} {
  let url: URL;
  try {
    url = new URL(spec);
  } catch {
    throw new ConfigError(`"${redactUrl(spec)}" is not a postgres:// URL`);
  }
  const take = (name: string): string | undefined => {
    const v = url.searchParams.get(name);
    url.searchParams.delete(name);
    return v ?? undefined;
  };
  const int = (name: string, v: string | undefined, min: number, max: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new ConfigError(`postgres: ?${name} must be ${min}..${max}, got "${v}"`);
    return n;
  };
  const schema = take('schema');
  if (schema !== undefined && !SCHEMA_NAME.test(schema))
    throw new ConfigError(`postgres: ?schema must be a lower-case identifier ([a-z_][a-z0-9_]*), got "${schema}"`);
  const poolSize = int('pool', take('pool'), 1, 1000);
  const connectS = int('connect_timeout', take('connect_timeout'), 1, 3600);
  const statementTimeoutMs = int('statement_timeout', take('statement_timeout'), 1, 3_600_000);
  const prepareText = take('prepare');
  if (prepareText !== undefined && prepareText !== 'true' && prepareText !== 'false')
    throw new ConfigError(`postgres: ?prepare must be true or false, got "${prepareText}"`);
  return {
    connectionString: url.toString(),
    schema,
    poolSize,
    connectTimeoutMs: connectS === undefined ? undefined : connectS * 1000,
    statementTimeoutMs,
    prepare: prepareText === undefined ? undefined : prepareText === 'true',
  };
}

export class PostgresStore implements TokenStore, OneTimeRecords, UserDirectory, ClientDirectory {
  readonly kind = 'postgres' as const;
  readonly pool: PgPool;
  readonly schema: string;
  /** {@link TokenStore.schemaName}: the schema, named in `tessera migrate`'s answer. */
  get schemaName(): string {
    return this.schema;
  }
  readonly #sql: ReturnType<typeof statements>;
  /** The statements' names when prepared ({@link preparedNames}); undefined: unnamed. */
  #names: Record<StatementName, string> | undefined;
  readonly #clock: () => number;
  readonly #timeoutMs: number;
  readonly #purgeBatch: number;
  readonly #ownsPool: boolean;
  #timer: NodeJS.Timeout | undefined;
  #purging = false;
  #closed = false;
  readonly #listenClient: (() => PgListenClient) | undefined;
  readonly #feed = new RevocationHub({
    start: () => this.#startListener(),
    stop: () => this.#stopListener(),
    snapshot: () => this.#snapshot,
  });
  /** The LISTEN connection while the feed has listeners. */
  #listener: PgListenClient | undefined;
  #listenTimer: NodeJS.Timeout | undefined;
  /** Consecutive failed LISTEN attempts (the back-off grows with them). */
  #listenFailures = 0;
  readonly #heartbeatMs: number;
  /** The revocations in force, read after LISTEN, handed to the listeners with that 'up' only. */
  #snapshot: RevocationEvent[] | undefined;

  /**
   * @param pool a `pg` Pool. Give it `statement_timeout` and `connectionTimeoutMillis`
   * ({@link openPostgresStore} does). Call {@link migrate} before the first operation.
   */
  constructor(pool: PgPool, options: PostgresStoreOptions = {}) {
    this.pool = pool;
    this.schema = options.schema ?? 'tessera';
    if (!SCHEMA_NAME.test(this.schema))
      throw new ConfigError(`the PostgreSQL schema must be a lower-case identifier, got "${this.schema}"`);
    this.#sql = statements(this.schema);
    this.#names = options.prepare === false ? undefined : preparedNames(this.#sql);
    this.#clock = options.clock ?? Date.now;
    this.#timeoutMs = options.statementTimeoutMs ?? 2000;
    this.#purgeBatch = options.purgeBatch ?? 1000;
    this.#ownsPool = options.ownsPool ?? false;
    this.#listenClient = options.listenClient ?? defaultListenClient(pool);
    this.#heartbeatMs = options.listenHeartbeatMs ?? 5000;
    // An idle connection that dies (server restart, network) emits 'error' on the pool; the pool
    // drops it and opens a new one on demand. Unhandled, it would crash the process.
    pool.on('error', () => {});
    // A checked-out connection whose socket dies emits 'error' on the client (the pool listens
    // only to idle ones): the query in flight rejects and is reported; the event must not crash.
    pool.on('connect', (client) => {
      client.on('error', () => {});
    });
    const interval = options.purgeIntervalMs ?? 60_000;
    if (interval > 0) {
      this.#timer = setInterval(() => void this.#purgeTick(), interval);
      this.#timer.unref();
    }
  }

  /**
   * Brings the schema to this version's; safe when several instances run it at once
   * (a transaction-scoped advisory lock keyed by the schema name). Refuses a schema
   * written by a newer tessera. Returns the version.
   */
  async migrate(): Promise<number> {
    const client = await this.#connect();
    let ok = false;
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`tessera:migrate:${this.schema}`]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${this.schema}"`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS "${this.schema}".schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      const { rows } = await client.query(`SELECT coalesce(max(version), 0) AS v FROM "${this.schema}".schema_migrations`);
      const current = Number(rows[0]?.v ?? 0);
      if (current > POSTGRES_SCHEMA_VERSION) {
        throw new ConfigError(
          `the PostgreSQL store (schema ${this.schema}) has schema version ${current}, newer than this tessera (${POSTGRES_SCHEMA_VERSION}); upgrade tessera`,
        );
      }
      for (let v = current; v < POSTGRES_SCHEMA_VERSION; v++) {
        await client.query(migrationSql(v, this.schema));
        await client.query(`INSERT INTO "${this.schema}".schema_migrations (version) VALUES ($1)`, [v + 1]);
      }
      await client.query('COMMIT');
      ok = true;
      return POSTGRES_SCHEMA_VERSION;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      if (e instanceof ConfigError || e instanceof StoreUnavailableError) throw e;
      throw new StoreUnavailableError('The PostgreSQL store could not be migrated', { cause: e });
    } finally {
      client.release(ok ? undefined : true);
    }
  }

  async #connect(): Promise<PgPoolClient> {
    if (this.#closed) throw new StoreUnavailableError('The PostgreSQL store is closed');
    try {
      return await this.pool.connect();
    } catch (e) {
      throw new StoreUnavailableError(undefined, { cause: e });
    }
  }

  /**
   * One statement on one pooled connection: one round trip. A statement that outlives the
   * timeout (the server's statement_timeout answers first when the server is alive; this timer
   * when the network is not) rejects, and its connection is destroyed rather than reused.
   */
  async #query(name: StatementName, values: unknown[] = []): Promise<PgRow[]> {
    const names = this.#names;
    try {
      return await this.#queryOnce(name, values, names?.[name]);
    } catch (e) {
      if (names === undefined || !isPreparedStatementRefusal(e)) throw e;
      // Refused before it ran (at Parse or Bind), so running it again unnamed is safe. A pooler
      // that cannot carry prepared statements refuses them again and again: the store stops
      // naming them (a process that saw a migration change a function's columns does too,
      // until it restarts: a little more server CPU, never a wrong answer).
      this.#names = undefined;
      return await this.#queryOnce(name, values, undefined);
    }
  }

  async #queryOnce(name: StatementName, values: unknown[], prepared: string | undefined): Promise<PgRow[]> {
    const client = await this.#connect();
    let timer: NodeJS.Timeout | undefined;
    let broken = false;
    try {
      const text = this.#sql[name];
      const result = await Promise.race([
        client.query(prepared === undefined ? { text, values } : { name: prepared, text, values }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            broken = true;
            reject(new StoreUnavailableError(`PostgreSQL did not answer within ${this.#timeoutMs} ms`));
          }, this.#timeoutMs + 250);
        }),
      ]);
      return result.rows;
    } catch (e) {
      if (isConnectionLost(e)) broken = true;
      if (e instanceof StoreUnavailableError) throw e;
      // A refused named statement: the driver's idea of what this connection has prepared is
      // wrong, so the connection is not reused.
      if (prepared !== undefined && isPreparedStatementRefusal(e)) broken = true;
      throw new StoreUnavailableError(undefined, { cause: e });
    } finally {
      clearTimeout(timer);
      client.release(broken ? true : undefined);
    }
  }

  async createFamily(input: CreateFamilyInput): Promise<void> {
    await this.#query('createFamily', [
      ...nextArgs(input.now, input.leewayMs, input.next),
      input.familyId,
      input.sub,
      input.absoluteExpiresAt,
      input.scope,
      input.claims,
      input.next.accessScope ?? null,
      input.userAgent ?? '',
      input.address ?? '',
      input.grant ?? null,
    ]);
  }

  async rotate(input: RotateInput): Promise<RotateResult> {
    const p = input.presented;
    const n = input.next;
    // A plain rotation of a self-contained token is one UPDATE (statements' rotateFast); anything
    // else, and any rotation it does not make, is answered by rotate_checked (a second round trip,
    // only for reuse, revocation, expiry, another client or key, a scope not within, a replay).
    if (p.kind !== 'opaque' && !n.refreshOpaque && (n.accessHash ?? '') === '') {
      const [done] = await this.#query('rotateFast', [
        input.now,
        input.leewayMs,
        n.refreshId,
        n.refreshExpiresAt,
        n.accessExpiresAt,
        p.familyId,
        p.jti,
        input.graceMs,
        input.replay ?? '',
        input.clientId ?? '',
        input.userAgent ?? null,
        input.address ?? null,
        input.jkt === undefined ? null : (input.jkt ?? ''),
        input.scope ?? null,
      ]);
      if (done) return { status: 'rotated', family: family(done) };
    }
    const [r] = await this.#query('rotateChecked', [
      ...nextArgs(input.now, input.leewayMs, input.next),
      p.kind === 'opaque',
      p.kind === 'opaque' ? p.hash : p.familyId,
      p.kind === 'opaque' ? '' : p.jti,
      input.graceMs,
      input.replay ?? '',
      input.clientId ?? '',
      input.scope ?? null,
      input.next.accessScope ?? null,
      input.userAgent ?? null,
      input.address ?? null,
      input.jkt === undefined ? null : (input.jkt ?? ''),
    ]);
    const status = r?.o_status as RotateResult['status'] | undefined;
    if (status === 'reused') this.#pushed(r?.o_event);
    if (status === 'rotated') return { status, family: family(r as PgRow) };
    if (status === 'replayed') return { status, family: family(r as PgRow), replay: r?.o_replay as string };
    if (
      status === 'reused' ||
      status === 'revoked' ||
      status === 'expired' ||
      status === 'unknown' ||
      status === 'wrong_client' ||
      status === 'invalid_scope' ||
      status === 'wrong_key'
    )
      return { status };
    throw new StoreUnavailableError('The PostgreSQL store answered an unknown rotation status');
  }

  async checkAccess(input: AccessCheckInput): Promise<AccessCheckResult> {
    const opaque = input.accessHash !== undefined;
    const [r] = await this.#query('checkAccess', [
      input.now,
      opaque,
      (opaque ? input.accessHash : input.jti) ?? '',
      input.familyId ?? '',
      input.sub ?? '',
      input.iat ?? null,
    ]);
    const status = r?.o_status as string;
    if (status !== 'ok') return { status: status as 'revoked' | 'expired' | 'unknown' };
    if (!opaque) return { status: 'ok' };
    return {
      status: 'ok',
      record: {
        user_id: r?.o_user_id,
        issued_at: Number(r?.o_issued_at),
        expires_in: Number(r?.o_expires_in),
        scope: r?.o_scope,
        family: r?.o_family,
      },
      claims: r?.o_claims ?? '',
    };
  }

  async inspectRefresh(input: RefreshRef): Promise<RefreshInspection> {
    const opaque = 'refreshHash' in input;
    const [r] = await this.#query('inspectRefresh', [
      input.now,
      opaque,
      opaque ? input.refreshHash : input.familyId,
      opaque ? '' : (input.jti ?? ''),
    ]);
    if (r?.o_status !== 'active') return { status: 'inactive' };
    const fam = family(r);
    if (!opaque) return { status: 'active', family: fam };
    return {
      status: 'active',
      family: fam,
      record: {
        user_id: r.o_user_id,
        issued_at: Number(r.o_issued_at),
        refresh_expires_in: Number(r.o_refresh_expires_in),
        used_count: Number(r.o_used_count),
        family: fam.familyId,
      },
    };
  }

  async revokeAccess(input: RevokeAccessInput): Promise<void> {
    const [r] = await this.#query('revokeAccess', [
      input.now,
      input.accessHash ?? '',
      input.jti ?? '',
      input.jti !== undefined && input.expiresAt !== undefined ? input.expiresAt : 0,
    ]);
    this.#pushed(r?.event);
  }

  async revokeFamily(input: RefreshRef): Promise<boolean> {
    const opaque = 'refreshHash' in input;
    const [r] = await this.#query('revokeFamily', [input.now, opaque, opaque ? input.refreshHash : input.familyId]);
    this.#pushed(r?.event);
    return typeof r?.event === 'string' && r.event !== '';
  }

  async familyOwner(familyId: string): Promise<string | null> {
    const [r] = await this.#query('familyOwner', [familyId]);
    return typeof r?.sub === 'string' ? r.sub : null;
  }

  /** One statement over families_by_sub: O(sessions of the user). */
  async listFamilies(input: ListFamiliesInput): Promise<FamilySummary[]> {
    const rows = await this.#query('listFamilies', [input.sub, input.now]);
    return rows.map((r) => ({
      familyId: r.id,
      clientId: clientOfClaims(r.claims),
      createdAt: Number(r.created_at),
      lastUsedAt: Number(r.last_used_at) || Number(r.created_at),
      absoluteExpiresAt: Number(r.absolute_expires_at),
      recordExpiresAt: Number(r.expires_at),
      userAgent: r.user_agent,
      address: r.address,
      grant: r.grant_type ?? null,
    }));
  }

  /** O(1): the user's epoch alone (one row), whatever the number of sessions. */
  async revokeUser(input: RevokeUserInput): Promise<void> {
    const [r] = await this.#query('revokeUser', [input.now, input.sub, input.keepUntil]);
    this.#pushed(r?.event);
  }

  /** (kind, id) and the value go as UTF-8 bytes (bytea): PostgreSQL text cannot hold NUL, a string may. */
  async putOnce(input: PutOnceInput): Promise<boolean> {
    const key = [Buffer.from(input.kind, 'utf8'), Buffer.from(input.id, 'utf8')];
    const rows = await this.#query('putOnce', [...key, Buffer.from(input.value, 'utf8'), input.expiresAt, input.now]);
    return rows.length === 1;
  }

  async consumeOnce(input: OnceRef): Promise<string | null> {
    const [r] = await this.#query('consumeOnce', [Buffer.from(input.kind, 'utf8'), Buffer.from(input.id, 'utf8')]);
    return r && Number(r.expires_at) > input.now ? (r.value as Buffer).toString('utf8') : null;
  }

  /** Deletes every expired row now, in batches of `purgeBatch` per table (one statement each). */
  async purgeExpired(): Promise<number> {
    const now = this.#clock();
    let total = 0;
    for (;;) {
      const [r] = await this.#query('purgeBatch', [now, this.#purgeBatch]);
      const n = Number(r?.n ?? 0);
      total += n;
      // Fewer than one full batch in all: no table had a full one, nothing is left.
      if (n < this.#purgeBatch) return total;
    }
  }

  async #purgeTick(): Promise<void> {
    if (this.#purging || this.#closed) return;
    this.#purging = true;
    try {
      await this.purgeExpired();
    } catch {
      // Housekeeping: an outage is reported by the requests; the next tick tries again.
    } finally {
      this.#purging = false;
    }
  }

  async countStateEntries(): Promise<number> {
    const [r] = await this.#query('count');
    return Number(r?.n ?? 0);
  }

  async countActiveFamilies(now: Millis): Promise<number> {
    const [r] = await this.#query('countActive', [now]);
    return Number(r?.n ?? 0);
  }

  async createUser(user: UserRecord): Promise<boolean> {
    const client = await this.#connect();
    let broken = false;
    try {
      const r = await client.query(this.#sql.createUser, [user.username, user.id, user.passwordHash, user.createdAt]);
      return r.rowCount === 1;
    } catch (e) {
      broken = isConnectionLost(e);
      throw new StoreUnavailableError(undefined, { cause: e });
    } finally {
      client.release(broken ? true : undefined);
    }
  }

  async getUser(username: string): Promise<UserRecord | null> {
    const [r] = await this.#query('getUser', [username]);
    return r ? { id: r.id, username: r.username, passwordHash: r.password_hash, createdAt: Number(r.created_at) } : null;
  }

  async updatePasswordHash(username: string, passwordHash: string): Promise<boolean> {
    return (await this.#query('updatePasswordHash', [username, passwordHash])).length === 1;
  }

  // Registered OAuth clients (src/oauth-clients): configuration, one plain statement each.

  async createClient(client: ClientRecord): Promise<boolean> {
    const rows = await this.#query('createClient', [
      client.clientId,
      client.clientType,
      client.secretHash,
      client.introspect,
      client.createdAt,
      encodeClientSettings(client),
    ]);
    return rows.length === 1;
  }

  async getClient(clientId: string): Promise<ClientRecord | null> {
    const [r] = await this.#query('getClient', [clientId]);
    return r ? toClient(r) : null;
  }

  async listClients(): Promise<ClientRecord[]> {
    return (await this.#query('listClients')).map(toClient);
  }

  async removeClient(clientId: string): Promise<boolean> {
    const until = this.#clock() + CLIENT_NEWS_MS;
    const removed = (await this.#query('removeClient', [clientId, until])).length === 1;
    if (removed && this.#feed.listening) this.#feed.emit({ kind: 'client', clientId, until });
    return removed;
  }

  async ping(): Promise<void> {
    await this.#query('ping');
  }

  /** The NOTIFY channel of this schema's revocations. */
  get revocationChannel(): string {
    return revocationChannel(this.schema);
  }

  revocations(): RevocationFeed {
    return this.#feed;
  }

  /** The LISTEN connection's server process id while it is connected (tests terminate it). */
  get listenerPid(): number | undefined {
    return this.#listener?.processID ?? undefined;
  }

  /**
   * The event a revoking function answered (and notified), applied to this instance's
   * listeners at once: the caller's next request sees it without waiting for the echo.
   */
  #pushed(event: unknown): void {
    if (typeof event !== 'string' || event === '' || !this.#feed.listening) return;
    const e = decodeEvent(event);
    if (e) this.#feed.emit(e);
  }

  /**
   * Connects the LISTEN connection, LISTENs, then reads the revocations in force (on the pool:
   * a statement that starts after LISTEN returned sees every revocation committed before it,
   * and NOTIFY brings every one committed after, so nothing falls between) and says 'up' with
   * them (complete). Any failure: 'down', the connection is dropped, and a new attempt follows
   * after a back-off (100 ms doubling to 5 s).
   */
  #startListener(): void {
    if (this.#closed || this.#listener || this.#listenClient === undefined) return;
    clearTimeout(this.#listenTimer);
    this.#listenTimer = undefined;
    let client: PgListenClient;
    try {
      client = this.#listenClient();
    } catch {
      this.#retryListener();
      return;
    }
    this.#listener = client;
    const channel = this.revocationChannel;
    let failed = false;
    const fail = () => {
      if (failed) return;
      failed = true;
      if (this.#listener !== client) return;
      this.#listener = undefined;
      this.#feed.status('down');
      client.end().catch(() => {});
      this.#retryListener();
    };
    client.on('error', fail);
    client.on('end', fail);
    client.on('notification', (m) => {
      if (m.channel !== channel || this.#listener !== client) return;
      const e = decodeEvent(m.payload ?? '');
      if (e) this.#feed.emit(e);
    });
    const attempt = async () => {
      await withTimeout(client.connect(), this.#timeoutMs);
      await withTimeout(client.query(`LISTEN "${channel}"`), this.#timeoutMs);
      const rows = await this.#query('snapshot', [this.#clock()]);
      if (failed || this.#listener !== client) return;
      const events: RevocationEvent[] = [];
      for (const r of rows) {
        const e = decodeEvent(String(r.event));
        if (e) events.push(e);
      }
      this.#listenFailures = 0;
      if (this.#heartbeatMs > 0) this.#heartbeat(client, fail);
      // The snapshot goes with this 'up' only: a later listener gets an 'up' without it (not
      // complete), and the token service checks older tokens against the store once.
      this.#snapshot = events;
      try {
        this.#feed.status('up');
      } finally {
        this.#snapshot = undefined;
      }
    };
    attempt().catch(fail);
  }

  /** Asks the LISTEN connection `SELECT 1` every `listenHeartbeatMs` until it fails (then `fail`). */
  #heartbeat(client: PgListenClient, fail: () => void): void {
    this.#listenTimer = setTimeout(() => {
      if (this.#listener !== client) return;
      withTimeout(client.query('SELECT 1'), this.#timeoutMs).then(() => this.#heartbeat(client, fail), fail);
    }, this.#heartbeatMs);
    this.#listenTimer.unref();
  }

  #retryListener(): void {
    if (this.#closed || !this.#feed.listening) return;
    const delay = Math.min(100 * 2 ** this.#listenFailures, 5000);
    this.#listenFailures++;
    this.#listenTimer = setTimeout(() => this.#startListener(), delay);
    this.#listenTimer.unref();
  }

  #stopListener(): void {
    clearTimeout(this.#listenTimer);
    this.#listenTimer = undefined;
    const client = this.#listener;
    this.#listener = undefined;
    this.#feed.status('down');
    client?.end().catch(() => {});
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopListener();
    if (this.#timer) clearInterval(this.#timer);
    if (this.#ownsPool) await this.pool.end().catch(() => {});
  }
}

/** Rejects with StoreUnavailableError when `p` takes longer than `ms` (plus the slack of #query). */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StoreUnavailableError(`PostgreSQL did not answer within ${ms} ms`)), ms + 250);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}

/** A LISTEN client with a `pg` Pool's own connection options, when the pool exposes them. */
function defaultListenClient(pool: PgPool): (() => PgListenClient) | undefined {
  const options = (pool as { options?: object }).options;
  if (options === undefined) return undefined;
  return () => {
    const { Client } = loadPg();
    return new Client({ ...options, application_name: 'tessera-listen' }) as unknown as PgListenClient;
  };
}

/** The `pg` module, loaded on demand (an optional peer dependency). */
function loadPg(): typeof import('pg') {
  const require = createRequire(import.meta.url);
  return require('pg') as typeof import('pg');
}

/**
 * A pool and a migrated store for `postgres://` / `postgresql://` URLs. URL
 * options (removed before the URL reaches the driver): `?schema=`, `?pool=N`,
 * `?connect_timeout=S` (seconds, as libpq), `?statement_timeout=MS`. Explicit
 * options win over the URL. Throws ConfigError when the database cannot be
 * reached or migrated at start.
 */
export async function openPostgresStore(spec: string, options: PostgresConnectOptions = {}): Promise<PostgresStore> {
  const parsed = parsePostgresUrl(spec);
  const statementTimeoutMs = options.statementTimeoutMs ?? parsed.statementTimeoutMs ?? 2000;
  const { Pool } = loadPg();
  const open = (startupTimeouts: boolean): PostgresStore => {
    const pool: PgPool = new Pool({
      connectionString: parsed.connectionString,
      max: options.poolSize ?? parsed.poolSize ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? parsed.connectTimeoutMs ?? 2000,
      // Sent in the startup packet: no extra statement per connection.
      ...(startupTimeouts
        ? { statement_timeout: statementTimeoutMs, idle_in_transaction_session_timeout: statementTimeoutMs * 5 }
        : {}),
      application_name: 'tessera',
      // TCP keep-alive: a connection to a vanished server is noticed even when idle.
      keepAlive: true,
      ...options.pg,
    });
    return new PostgresStore(pool, {
      ...options,
      schema: options.schema ?? parsed.schema,
      statementTimeoutMs,
      prepare: options.prepare ?? parsed.prepare,
      ownsPool: true,
    });
  };
  let store = open(true);
  try {
    try {
      await store.migrate();
    } catch (e) {
      // PgBouncer refuses startup parameters it does not know ("unsupported startup parameter:
      // statement_timeout") unless its ignore_startup_parameters lists them: connect without
      // them. The client-side timer still bounds every statement; the server-side limit is
      // then the role's or the database's (docs/stores.md, PgBouncer).
      if (!/unsupported startup parameter/.test(String((e as { cause?: unknown }).cause))) throw e;
      await store.close();
      store = open(false);
      await store.migrate();
    }
  } catch (e) {
    await store.close();
    if (e instanceof ConfigError) throw e;
    const cause = (e as { cause?: unknown }).cause;
    const why = cause instanceof Error ? `: ${cause.message}` : '';
    throw new ConfigError(`cannot reach or migrate PostgreSQL at ${redactUrl(spec)}${why}`);
  }
  return store;
}
