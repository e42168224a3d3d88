/**
 * The store contracts. {@link TokenStore}: token state (families, the atomic
 * consume, the deny-list, opaque records), all the token service needs.
 * {@link UserDirectory}: the reference server's users (the password grant),
 * which the token service never touches. The built-in stores implement both;
 * a token store need not (`TokenStore` does not extend `UserDirectory`), and
 * whoever needs users takes a `UserDirectory`.
 *
 * @module
 */

/** A user of the reference server's password grant. */
export interface UserRecord {
  /** Stable user id, used as `sub`. */
  id: string;
  username: string;
  /** Encoded password hash (scheme, parameters, salt and hash), e.g. `scrypt$N$r$p$salt$hash`. */
  passwordHash: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
}

/** The users of the password grant. Failures of the backend reject with StoreUnavailableError. */
export interface UserDirectory {
  /** Adds a user; false when the username is taken (atomic). */
  createUser(user: UserRecord): Promise<boolean>;
  getUser(username: string): Promise<UserRecord | null>;
  /** Replaces a user's password hash (rehash at login after the scrypt cost was raised); false for an unknown user. */
  updatePasswordHash?(username: string, passwordHash: string): Promise<boolean>;
}

/** Milliseconds since the epoch. Every time in this contract is one, passed in by the caller (the injected clock). */
export type Millis = number;

/**
 * The opaque access-token record of DESIGN.md's opaque scheme, stored under SHA-256 of the
 * token. Times in seconds, as DESIGN.md gives them. `family` ties it to its login session
 * so that revoking the family (or the user) ends it too.
 */
export interface OpaqueAccessRecord {
  user_id: string;
  /** Seconds since the epoch. */
  issued_at: number;
  /** Seconds. */
  expires_in: number;
  scope: string;
  family: string;
}

/** The opaque refresh-token record of DESIGN.md's opaque scheme, stored under SHA-256 of the token. */
export interface OpaqueRefreshRecord {
  user_id: string;
  /** Seconds since the epoch. */
  issued_at: number;
  /** Seconds (30 days by default; shortened to the family's absolute expiry). */
  refresh_expires_in: number;
  /** Times the token was presented. Consuming it increments this atomically; above 1 means replayed. */
  used_count: number;
  family: string;
}

/**
 * The tokens minted for one issue or rotation, as the store needs to know them.
 * Self-contained tokens are not stored: only their id (the family's current
 * refresh `jti`). Opaque tokens get their record in DESIGN.md's opaque shape, built by the store
 * from the family (so a refresh of an opaque token needs no prior read).
 */
export interface NextTokens {
  /** The new refresh token's id: its `jti`, or SHA-256 of the opaque token. */
  refreshId: string;
  /** True when the refresh token is opaque: an {@link OpaqueRefreshRecord} is written under `refreshId`. */
  refreshOpaque: boolean;
  /** Expiry of the new refresh token (ms). The store caps it at the family's absolute expiry. */
  refreshExpiresAt: Millis;
  /** SHA-256 of an opaque access token (an {@link OpaqueAccessRecord} is written); absent for self-contained access tokens. */
  accessHash?: string;
  /** Expiry of the new access token (ms): the family record outlives it, so a revocation check can still find it. */
  accessExpiresAt: Millis;
  /** Scope of an opaque access token when a refresh narrowed it (RFC 6749 §6); the family's scope otherwise. */
  accessScope?: string;
}

/** Where a user's keys live. `shard` is `userShard(sub)`: the Redis Cluster hash tag. */
export interface ShardRef {
  shard: string;
  now: Millis;
}

export interface CreateFamilyInput extends ShardRef {
  familyId: string;
  sub: string;
  /** The family never outlives this (ms), whatever its refresh tokens say. */
  absoluteExpiresAt: Millis;
  scope: string;
  /** Extra access-token claims as JSON (`''` for none), re-minted on every refresh. */
  claims: string;
  next: NextTokens;
  /** Clock skew the codecs tolerate (ms): records outlive their tokens by this much. */
  leewayMs: number;
  /** The device that signed in: its User-Agent (bounded by the caller), recorded for the session listing. Absent: `''`. */
  userAgent?: string;
  /** The client address as the caller chose to keep it (truncated, full or none). Absent: `''`. */
  address?: string;
  /**
   * The grant that created the family (RFC 6749 §4.5 `grant_type`: `password`, `authorization_code`, ...),
   * recorded once for the session listing; a rotation keeps it. Absent: none recorded (listed as null).
   */
  grant?: string;
}

/** The presented refresh token: a verified self-contained token (family and jti from its claims) or an opaque one. */
export type PresentedRefresh = { kind: 'jti'; familyId: string; sub: string; jti: string } | { kind: 'opaque'; hash: string };

export interface RotateInput extends ShardRef {
  presented: PresentedRefresh;
  next: NextTokens;
  /** Grace window (ms): the previous token, presented again within it, gets `replay` back. 0 disables. */
  graceMs: number;
  /** The new pair, encrypted under a key derived from the presented token (only with `graceMs > 0`). */
  replay?: string;
  leewayMs: number;
  /**
   * The client presenting the token (RFC 6749 §6: the refresh token must have been issued to it).
   * A family bound to another client (`client_id` in its claims) answers `wrong_client` and nothing
   * is consumed; a family bound to no client accepts any. Absent: not checked.
   */
  clientId?: string;
  /** A narrower scope asked for (RFC 6749 §6): not within the family's scope answers `invalid_scope`, nothing consumed. */
  scope?: string;
  /**
   * RFC 9449 §5: the RFC 7638 thumbprint of the DPoP proof presented with the refresh, `null` for
   * a request without one. A family bound to a key (`cnf.jkt` in its claims) answers any other
   * `wrong_key`, whichever of its tokens is presented, before anything is counted or consumed
   * (as `wrong_client`): no rotation, no grace replay, no reuse detection. A family bound to no
   * key accepts any. Absent: not checked.
   */
  jkt?: string | null;
  /**
   * The device refreshing: a rotation records it as the family's latest (with `now` as its last
   * use), in the same write. Absent: the family keeps what it had; its last use moves all the same.
   */
  userAgent?: string;
  address?: string;
}

/** A user's live sessions: `listFamilies`. */
export interface ListFamiliesInput extends ShardRef {
  sub: string;
}

/** A live family (login session) as the session listing shows it. */
export interface FamilySummary {
  familyId: string;
  /** `client_id` of the family's extra claims, `''` when bound to no client. */
  clientId: string;
  createdAt: Millis;
  /** The latest rotation, or the creation when none yet. */
  lastUsedAt: Millis;
  absoluteExpiresAt: Millis;
  /** When the family record lapses: the expiry of its newest token plus the leeway. */
  recordExpiresAt: Millis;
  userAgent: string;
  address: string;
  /** The grant that created it (`CreateFamilyInput.grant`); null when none was recorded (or before stores kept it). */
  grant: string | null;
}

/** A family (login session) as the engine needs it after a rotation. */
export interface FamilyInfo {
  familyId: string;
  sub: string;
  scope: string;
  claims: string;
  createdAt: Millis;
  absoluteExpiresAt: Millis;
}

export type RotateResult =
  /** The presented token was current: it is consumed and `next` is now current. */
  | { status: 'rotated'; family: FamilyInfo }
  /** The presented token was consumed within the grace window: here is the pair it produced. */
  | { status: 'replayed'; family: FamilyInfo; replay: string }
  /** The presented token was consumed earlier: the family is now revoked (RFC 9700 §4.14.2). */
  | { status: 'reused' }
  /** The family (or the user) was revoked, or the family is gone. */
  | { status: 'revoked' }
  /** The family's absolute lifetime, or the opaque token, has expired. */
  | { status: 'expired' }
  /** No such opaque token. */
  | { status: 'unknown' }
  /** The family is bound to another client than `RotateInput.clientId`: nothing was consumed. */
  | { status: 'wrong_client' }
  /** `RotateInput.scope` is not within the family's scope: nothing was consumed. */
  | { status: 'invalid_scope' }
  /** The family is bound to a DPoP key other than `RotateInput.jkt` (or there was no proof): nothing was consumed. */
  | { status: 'wrong_key' };

/** Revocation check of an access token: a self-contained one (`jti`, family) or an opaque one (`accessHash`). */
export interface AccessCheckInput extends ShardRef {
  sub?: string;
  familyId?: string;
  jti?: string;
  /**
   * A self-contained token's `iat` (seconds), compared with the user's "not before" epoch
   * (needs `sub`): a token issued wholly before the epoch's second is revoked; one issued in
   * that second is judged by its family's creation time (ms), or revoked when it has no family.
   */
  iat?: number;
  accessHash?: string;
}

export type AccessCheckResult =
  /** `claims`: the family's extra claims (client, username), with `record` (opaque access tokens). */
  | { status: 'ok'; record?: OpaqueAccessRecord; claims?: string }
  | { status: 'revoked' }
  | { status: 'expired' }
  | { status: 'unknown' };

/** A refresh token to look at (introspection) or revoke: by family id (self-contained) or opaque hash. */
export type RefreshRef = ShardRef & ({ familyId: string; jti?: string } | { refreshHash: string });

export type RefreshInspection =
  | {
      /** Active: the family is live and this token is its current one. */
      status: 'active';
      family: FamilyInfo;
      record?: OpaqueRefreshRecord;
    }
  | { status: 'inactive' };

export interface RevokeAccessInput extends ShardRef {
  /** A self-contained access token: deny-listed until `expiresAt` (then it expires by itself). */
  jti?: string;
  expiresAt?: Millis;
  /** An opaque access token: its record is deleted. */
  accessHash?: string;
}

export interface RevokeUserInput extends ShardRef {
  sub: string;
  /** Until when the user's "not before" epoch must be kept (ms): the longest any earlier token can live. */
  keepUntil: Millis;
}

/**
 * Token state: families (login sessions), the atomic rotation, the deny-list
 * and the opaque records. Every method is one round trip to the backend (one Lua
 * script on Redis, one transaction on SQLite), and every entry it writes expires
 * with the token it guards. Failures of the backend reject with
 * StoreUnavailableError (src/errors.ts; never a TokenError): callers fail closed.
 */
export interface TokenStateStore {
  /** Login: a new family with its first refresh token (and opaque records). */
  createFamily(input: CreateFamilyInput): Promise<void>;
  /**
   * Refresh: consume the presented refresh token and make `next` current, atomically.
   * Of any number of concurrent calls with one token exactly one gets `rotated`
   * (RFC 6749 §10.4, RFC 9700 §4.14.2); with a grace window the others get `replayed`.
   */
  rotate(input: RotateInput): Promise<RotateResult>;
  /** `authenticate` with a revocation check, or the lookup of an opaque access token. */
  checkAccess(input: AccessCheckInput): Promise<AccessCheckResult>;
  /** Read-only state of a refresh token (RFC 7662 introspection). */
  inspectRefresh(input: RefreshRef): Promise<RefreshInspection>;
  /** RFC 7009 for an access token. */
  revokeAccess(input: RevokeAccessInput): Promise<void>;
  /** RFC 7009 §2.1 for a refresh token: its whole family. True when a live family was found. */
  revokeFamily(input: RefreshRef): Promise<boolean>;
  /**
   * Logout everywhere, in O(1): raises the user's "not before" epoch. Every family created
   * before it (and every self-contained token issued before it, by `iat`) reads as revoked from
   * then on; nothing is written per family, so the cost does not grow with the user's sessions.
   */
  revokeUser(input: RevokeUserInput): Promise<void>;
  /**
   * The user's live families: neither revoked (by flag or by the user's epoch) nor expired, in
   * no particular order. One round trip, in O(sessions of the user): every store keeps an index
   * per user, which the purge (or key expiry) empties along with the families. Optional: a store
   * without it serves no session listing.
   */
  listFamilies?(input: ListFamiliesInput): Promise<FamilySummary[]>;
  /**
   * The user of a family (`sub`), or null when there is no such family: for operators ending a
   * session by its id alone (`tessera session revoke`), never on a request path. Redis finds it
   * with a SCAN (a family's key is under its user's hash tag); the others by primary key.
   */
  familyOwner?(familyId: string): Promise<string | null>;
  /**
   * Sessions in force at `now` (families the session listing would show, over every user), for the
   * `tessera_active_families` gauge, sampled: one statement over the families' expiry index (SQLite,
   * PostgreSQL) or a walk of the map (memory). Optional: Redis keeps no index it could count
   * without a scan, and has none.
   */
  countActiveFamilies?(now: Millis): Promise<number>;
  /** Deletes expired entries now (SQLite and memory also do it on their own); returns how many. */
  purgeExpired(): Promise<number>;
  /** Token-state entries held (families, opaque records, deny-list, user index and epochs), expired or not yet purged. */
  countStateEntries(): Promise<number>;
}

/**
 * A revocation, as the store pushes it to every instance (src/refresh/revocations.ts keeps
 * them in memory so that self-contained access tokens are refused without a store round trip).
 * `until` (ms) is when the entry stops mattering: the latest expiry of what it guards, as far
 * as the store knows (the receiver may keep it for less: see docs/stores.md).
 */
export type RevocationEvent =
  /** RFC 7009 revocation of one self-contained access token. */
  | { kind: 'jti'; jti: string; until: Millis }
  /** A family revoked (logout, RFC 7009 for a refresh token, reuse detection): its access tokens too. */
  | { kind: 'family'; familyId: string; until: Millis }
  /** Logout everywhere: the user's tokens issued before `notBefore` (ms). */
  | { kind: 'user'; sub: string; notBefore: Millis; until: Millis }
  /**
   * A registered client removed (src/oauth-clients): instances that cache client records drop it.
   * Carried by the same push so that a removal reaches every instance as fast as a revocation;
   * a listener that keeps revocations ignores it. `until`: how long the news matters (ms).
   */
  | { kind: 'client'; clientId: string; until: Millis };

export interface RevocationListener {
  /** One revocation (may arrive more than once: applying it is idempotent). */
  event(e: RevocationEvent): void;
  /**
   * 'up': from now on every revocation committed to the store reaches `event` (the push is
   * subscribed and confirmed). 'down': some may be missed (connection lost) until the next
   * 'up'. Starts down; the feed says 'up' once it can promise delivery.
   *
   * `complete` (with 'up'): the events delivered before it were every revocation still in
   * force (a snapshot: memory, SQLite and PostgreSQL can enumerate theirs; PostgreSQL with
   * the first 'up' after each LISTEN only), so nothing issued earlier needs a store check.
   * Without it (Redis, a later PostgreSQL listener), the service checks each
   * token issued before this 'up' against the store once.
   */
  status(s: 'up' | 'down', complete?: boolean): void;
}

/**
 * The push of revocations (memory: in-process; SQLite: a log table polled on a
 * short timer; Redis: PUBLISH inside the revoking script; PostgreSQL: NOTIFY in
 * the revoking transaction). Delivery is at-least-once while 'up'; nothing is
 * promised about revocations committed while 'down' or before the first 'up'
 * (unless the 'up' is `complete`): the token service checks tokens issued before
 * the latest 'up' against the store once each (`checkAccess`), so a missed
 * message never becomes an accept.
 */
export interface RevocationFeed {
  /**
   * Starts delivering to `listener`: `status('up')` once delivery is promised (at once, or
   * later), optionally preceded by a snapshot and flagged `complete`. Returns the unsubscribe function.
   */
  subscribe(listener: RevocationListener): () => void;
}

/** A one-time record's address: `kind` names the family of records (e.g. `authorization_code`), `id` the record in it. */
export interface OnceRef {
  kind: string;
  id: string;
  /** The caller's clock (ms): a record whose `expiresAt` is at or before it is gone. */
  now: Millis;
}

export interface PutOnceInput extends OnceRef {
  /** Opaque to the store (e.g. JSON); returned as it was put. */
  value: string;
  /** When the record stops existing (ms, on the caller's clock); after it, `consumeOnce` answers null and the purge removes it. */
  expiresAt: Millis;
}

/**
 * One-time records: a value put under (kind, id) with an expiry, and consumed
 * at most once (authorization codes, RFC 6749 §4.1.2 and §10.5; device codes,
 * RFC 8628 §3.5; DPoP proof ids, RFC 9449 §11.1). The pair (kind, id) is its own
 * namespace: no kind or id collides with another record or with token state.
 * Each call is one atomic step on the backend.
 */
export interface OneTimeRecords {
  /** Stores the record; false (and nothing written) when a live record already holds (kind, id). An expired one is replaced. */
  putOnce(input: PutOnceInput): Promise<boolean>;
  /**
   * Removes the record and returns its value; null when there is none or it has expired.
   * Of any number of concurrent calls for one record exactly one gets the value.
   */
  consumeOnce(input: OnceRef): Promise<string | null>;
}

/**
 * A token store. What a store can do beyond the contract is an optional capability
 * ({@link TokenStore.migrate}, {@link TokenStore.sharedCounters}, {@link TokenStore.revocations}):
 * callers test for the capability, never for a store's name, so a new store needs no edits elsewhere.
 */
export interface TokenStore extends TokenStateStore {
  /** The store's name (`memory`, `sqlite`, `redis`, `postgres`, or a store's own), for messages only: nothing branches on it. */
  readonly kind: string;
  /**
   * Brings the backend's schema to this version and answers it (`tessera migrate`). Absent: the
   * store has no schema. Stores with one also migrate when they are opened; calling it again is a no-op.
   */
  migrate?(): Promise<number>;
  /** Where the schema lives when the backend has several (PostgreSQL's `?schema=`), for messages. */
  readonly schemaName?: string;
  /**
   * A client for counters shared by every instance on this backend (an ioredis client or Cluster),
   * which the reference server's guessing limiter reuses. Absent: counters stay in-process.
   */
  sharedCounters?(): unknown;
  /**
   * The revocation push. Optional: without it the token service looks revocation
   * up in the store on every request for self-contained access tokens (correct, one
   * round trip per request).
   */
  revocations?(): RevocationFeed;
  /** Resolves when the backend answers (readiness); rejects with StoreUnavailableError. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
