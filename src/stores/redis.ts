/**
 * Redis store (ioredis): for more than one instance, and for Redis Cluster.
 *
 * Every token-state operation is one Lua script (redis-scripts.ts): one round
 * trip, atomic. All keys of a user share the hash tag `{userShard(sub)}`, so a
 * script only ever touches one slot and runs unchanged on a cluster. The client
 * is passed in (a `Redis` or a `Cluster`); `openStore` builds one with options
 * that make an outage fail fast ({@link redisClientOptions}).
 *
 * Failures: any error, or no reply within `timeoutMs` (checked by a sweep every quarter of it,
 * stores/deadlines.ts), rejects with
 * {@link StoreUnavailableError} (never a TokenError). Callers fail closed: a refresh is refused,
 * never granted, while Redis is away. (A timed-out rotation may still have been
 * applied: the client then retries with a consumed token; a grace window makes
 * that retry safe.)
 *
 * Revocation push (`revocations()`): the revoking scripts PUBLISH on
 * `<prefix>revocations`; the store subscribes on a connection of its own (a
 * duplicate of the client, or on a cluster a connection to one node: classic
 * pub/sub reaches every node), created with the first subscriber and closed by
 * `close()` or when the main client ends. The feed is 'up' only once SUBSCRIBE
 * is confirmed, and 'down' from the moment the connection drops.
 *
 * A subscriber hears nothing when nothing is revoked, so silence proves nothing: a middlebox
 * that drops the flow while the TCP connection stays open would leave the feed 'up' and deaf.
 * While 'up', the subscriber is sent PING (valid in subscribed mode; RESP2 answers `pong`)
 * every `feedPingIntervalMs`; no answer within `feedPingTimeoutMs`, or no confirmed SUBSCRIBE
 * within their sum of (re)connecting, and the feed goes 'down' (every request asks the store)
 * and the connection is replaced by a new one (on a cluster, to the next node). TCP keepalive
 * is on as well. The new subscription's 'up' is not complete: the token service then checks
 * every token issued before it against the store once (src/refresh/revocations.ts), which
 * recovers any revocation published while the old connection was deaf.
 *
 * @module
 */
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { ConfigError, StoreUnavailableError } from '../errors.js';
import { sha256Base64url } from '../internal/crypto.js';
import { type ClientDirectory, type ClientRecord, completeClient } from '../oauth-clients/types.js';
import { Deadlines } from './deadlines.js';
import { CLIENT_NEWS_MS, decodeEvent, encodeEvent, RevocationHub } from './feed.js';
import { SCRIPTS, type ScriptName } from './redis-scripts.js';
import type {
  AccessCheckInput,
  AccessCheckResult,
  CreateFamilyInput,
  FamilyInfo,
  FamilySummary,
  ListFamiliesInput,
  NextTokens,
  OnceRef,
  OneTimeRecords,
  PutOnceInput,
  RefreshInspection,
  RefreshRef,
  RevocationFeed,
  RevokeAccessInput,
  RevokeUserInput,
  RotateInput,
  RotateResult,
  TokenStore,
  UserDirectory,
  UserRecord,
} from './types.js';

export type RedisClient = Redis | Cluster;

export interface RedisStoreOptions {
  /** Prefix of every key (no `{` or `}`: the hash tag must be ours). Default `tessera:`. */
  keyPrefix?: string;
  /** Reject with StoreUnavailableError when a reply takes longer (ms). Default 2000. */
  timeoutMs?: number;
  /** Quit the client on `close()`. Default false (the caller owns it); `openStore` sets true. */
  ownsClient?: boolean;
  /** While the revocation feed is 'up', PING its subscriber connection this often (ms; 0: never). Default 2000. */
  feedPingIntervalMs?: number;
  /** A PING unanswered this long (ms) turns the feed 'down' and replaces the connection. Default 1000. */
  feedPingTimeoutMs?: number;
  /**
   * ioredis options of the subscriber connection, merged over those of the client it is
   * duplicated from (on a cluster, of the node it goes to): another endpoint, TLS.
   */
  subscriberOptions?: RedisOptions;
}

/** Defaults of the subscriber's liveness check: a deaf subscriber reads 'down' within 3 s. */
export const FEED_PING_INTERVAL_MS = 2000;
export const FEED_PING_TIMEOUT_MS = 1000;

/**
 * ioredis options for a token store: fail fast rather than queue or hang while
 * Redis is unreachable (a queued refresh would be answered late or twice).
 */
export function redisClientOptions(overrides: RedisOptions = {}): RedisOptions {
  return {
    // One retry of a command on a dropped connection, then fail.
    maxRetriesPerRequest: 1,
    // No queueing while disconnected: commands fail at once instead of waiting for a reconnect.
    enableOfflineQueue: false,
    connectTimeout: 2000,
    commandTimeout: 2000,
    // Keep reconnecting in the background (capped backoff) so the store recovers by itself.
    retryStrategy: (times: number) => Math.min(50 * 2 ** times, 2000),
    // Commands issued while a batch is on the wire go out together in one write (ioredis
    // auto-pipelining): still one command per refresh, but far fewer socket writes under load,
    // for the server and for Redis (bench/http.ts: CPU per refresh on both sides).
    enableAutoPipelining: true,
    ...overrides,
  };
}

/** KEYS[1] the clients hash; ARGV: client id, channel, event (feed.ts). Replies 1 when removed (and published). */
const REMOVE_CLIENT = `if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0`;

type ScriptFn = (base: string, ...args: (string | number)[]) => Promise<unknown>;
/** A script's reply as a record: the scripts reply alternating field names and values (redis-scripts.ts). */
type Fields = Record<string, string>;

function fields(reply: unknown): Fields {
  // A packed reply (redis-scripts.ts "Packing") is the same list as one JSON array.
  const r = (typeof reply === 'string' ? JSON.parse(reply) : reply) as (string | null)[];
  const out: Fields = {};
  // A missing hash field comes back as nil: '' here.
  for (let i = 0; i + 1 < r.length; i += 2) out[r[i] as string] = r[i + 1] ?? '';
  return out;
}

/** A string without lone surrogates (ES2024 `toWellFormed`, in Node 20; not yet in the ES2023 lib). */
const wellFormed = (s: string): string => (s as string & { toWellFormed(): string }).toWellFormed();

/**
 * A script's arguments as the one JSON array the scripts decode (redis-scripts.ts "Packing").
 * JSON.stringify writes a lone surrogate as a `\uD8xx` escape, which Redis's cjson refuses (the
 * script would fail); such a string goes as UTF-8 would carry it, the surrogate replaced by U+FFFD,
 * as it did when each argument was its own. (A backslash-u-d in the text itself, such as one
 * inside a claims JSON, only takes the second pass, which changes nothing there.)
 */
export function packScriptArgs(args: readonly (string | number)[]): string {
  const packed = JSON.stringify(args);
  if (!packed.includes('\\ud')) return packed;
  return JSON.stringify(args.map((a) => (typeof a === 'string' ? wellFormed(a) : a)));
}

function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}

function family(f: Fields): FamilyInfo {
  return {
    familyId: f.family as string,
    sub: f.sub as string,
    scope: f.scope ?? '',
    claims: f.claims ?? '',
    createdAt: Number(f.created),
    absoluteExpiresAt: Number(f.absolute_expires),
  };
}

/** ARGV[2..7] of the scripts that write new tokens. */
function nextArgs(leewayMs: number, n: NextTokens): (string | number)[] {
  return [leewayMs, n.refreshId, n.refreshOpaque ? '1' : '0', n.refreshExpiresAt, n.accessHash ?? '', n.accessExpiresAt];
}

export class RedisStore implements TokenStore, OneTimeRecords, UserDirectory, ClientDirectory {
  readonly kind = 'redis' as const;
  readonly client: RedisClient;
  readonly keyPrefix: string;
  readonly #deadlines: Deadlines;
  readonly #ownsClient: boolean;
  readonly #scripts: Record<ScriptName, ScriptFn>;
  readonly #feed = new RevocationHub({ start: () => this.#startSubscriber(), stop: () => this.#stopSubscriber() });
  /** The subscriber connection while the feed has listeners. */
  #subscriber: Redis | undefined;
  #subscriberTimer: NodeJS.Timeout | undefined;
  /** The liveness check of the current subscriber. */
  #watchTimer: NodeJS.Timeout | undefined;
  readonly #pingIntervalMs: number;
  readonly #pingTimeoutMs: number;
  readonly #subscriberOptions: RedisOptions;
  /** Which cluster node the next subscriber connects to (round robin over reconnects). */
  #nodeTurn = 0;
  #closed = false;
  #watchingClient = false;

  constructor(client: RedisClient, options: RedisStoreOptions = {}) {
    this.client = client;
    this.keyPrefix = options.keyPrefix ?? 'tessera:';
    if (/[{}]/.test(this.keyPrefix))
      throw new ConfigError('the Redis key prefix must not contain { or } (the hash tag is the user shard)');
    const timeoutMs = options.timeoutMs ?? 2000;
    this.#deadlines = new Deadlines(timeoutMs, () => new StoreUnavailableError(`Redis did not answer within ${timeoutMs} ms`));
    this.#ownsClient = options.ownsClient ?? false;
    this.#pingIntervalMs = options.feedPingIntervalMs ?? FEED_PING_INTERVAL_MS;
    this.#pingTimeoutMs = options.feedPingTimeoutMs ?? FEED_PING_TIMEOUT_MS;
    for (const [name, v] of [
      ['feedPingIntervalMs', this.#pingIntervalMs],
      ['feedPingTimeoutMs', this.#pingTimeoutMs],
    ] as const) {
      if (!Number.isFinite(v) || v < 0) throw new ConfigError(`${name} must be a number of milliseconds >= 0`);
    }
    this.#subscriberOptions = options.subscriberOptions ?? {};
    const target = client as unknown as Record<string, ScriptFn>;
    for (const [name, lua] of Object.entries(SCRIPTS)) {
      // Idempotent: several stores (prefixes) may share one client.
      if (typeof target[name] !== 'function') client.defineCommand(name, { numberOfKeys: 1, lua });
    }
    this.#scripts = Object.fromEntries(
      Object.keys(SCRIPTS).map((name) => [name, (target[name] as ScriptFn).bind(client)]),
    ) as Record<ScriptName, ScriptFn>;
  }

  /** {@link TokenStore.sharedCounters}: this store's client, for counters every instance shares. */
  sharedCounters(): RedisClient {
    return this.client;
  }

  /** The pub/sub channel of this prefix's revocations. */
  get revocationChannel(): string {
    return `${this.keyPrefix}revocations`;
  }

  revocations(): RevocationFeed {
    return this.#feed;
  }

  /** The client's pub/sub connection, for tests that kill it (CLIENT KILL) or count it. */
  get subscriberConnection(): Redis | undefined {
    return this.#subscriber;
  }

  #newSubscriber(): Redis | undefined {
    const c = this.client as RedisClient & { isCluster: boolean };
    // Reconnects are ours (subscribe again, then report 'up'): no silent auto-resubscribe.
    const own: RedisOptions = {
      autoResubscribe: false,
      enableOfflineQueue: true,
      lazyConnect: false,
      enableAutoPipelining: false,
      // Commands cut off by a reconnect are not resent: the PING of a dead connection has been judged already.
      autoResendUnfulfilledCommands: false,
      // TCP keepalive: a peer that vanished is noticed by the kernel too (the PING is what catches a deaf flow).
      keepAlive: Math.max(1000, this.#pingIntervalMs),
      ...this.#subscriberOptions,
    };
    if (!c.isCluster) {
      return (c as Redis).duplicate({ retryStrategy: (times: number) => Math.min(50 * 2 ** times, 1000), ...own });
    }
    // Any node will do: a PUBLISH on one node reaches every node (the cluster bus). On a node
    // that stays away, give up after a few attempts and take the next one.
    const nodes = (c as Cluster).nodes('all');
    if (nodes.length === 0) return undefined;
    const node = nodes[this.#nodeTurn++ % nodes.length] as Redis;
    return node.duplicate({ retryStrategy: (times: number) => (times > 3 ? null : 100 * times), ...own });
  }

  #startSubscriber(): void {
    if (this.#closed || this.#subscriber) return;
    if (!this.#watchingClient) {
      // A caller-owned client that quits takes the subscriber along (else it would hold the process).
      this.#watchingClient = true;
      this.client.once('end', () => this.#stopSubscriber());
    }
    const sub = this.#newSubscriber();
    if (sub === undefined) {
      this.#subscriberTimer = setTimeout(() => this.#startSubscriber(), 200);
      this.#subscriberTimer.unref();
      return;
    }
    this.#subscriber = sub;
    const channel = this.revocationChannel;
    /** Whether this connection's SUBSCRIBE is confirmed, and since when (performance.now()) it has not been. */
    const state = { subscribed: false, pendingSince: performance.now() };
    sub.on('message', (ch: string, msg: string) => {
      if (ch !== channel) return;
      const e = decodeEvent(msg);
      if (e) this.#feed.emit(e);
    });
    sub.on('ready', () => {
      sub.subscribe(channel).then(
        () => {
          if (this.#subscriber !== sub || sub.status !== 'ready') return;
          state.subscribed = true;
          this.#feed.status('up');
        },
        () => sub.disconnect(true),
      );
    });
    sub.on('close', () => {
      state.subscribed = false;
      state.pendingSince = performance.now();
      // A replaced connection closing late must not take its successor's feed down.
      if (this.#subscriber === sub) this.#feed.status('down');
    });
    // Errors are reported as 'down' (close); the event must have a listener or ioredis logs it.
    sub.on('error', () => {});
    sub.on('end', () => {
      if (this.#subscriber !== sub) return;
      this.#feed.status('down');
      this.#subscriber = undefined;
      // Reconnecting gave up (a cluster node that stays away): another node, shortly.
      if (!this.#closed && this.#feed.listening) {
        this.#subscriberTimer = setTimeout(() => this.#startSubscriber(), 200);
        this.#subscriberTimer.unref();
      }
    });
    if (this.#pingIntervalMs > 0) this.#watch(sub, state);
  }

  /**
   * The subscriber's liveness check: every `feedPingIntervalMs`, a PING while subscribed (an
   * answer within `feedPingTimeoutMs` or the connection is replaced), or, while not subscribed,
   * a replacement once (re)subscribing has taken longer than interval + timeout (a connection
   * whose replies are lost never gets there by itself).
   */
  #watch(sub: Redis, state: { subscribed: boolean; pendingSince: number }): void {
    const next = () => {
      this.#watchTimer = setTimeout(tick, this.#pingIntervalMs);
      this.#watchTimer.unref();
    };
    const tick = () => {
      if (this.#subscriber !== sub) return;
      if (!state.subscribed) {
        if (performance.now() - state.pendingSince > this.#pingIntervalMs + this.#pingTimeoutMs) this.#replaceSubscriber(sub);
        else next();
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      Promise.race([
        sub.ping(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('no PONG')), this.#pingTimeoutMs);
          timer.unref();
        }),
      ]).then(
        () => {
          clearTimeout(timer);
          if (this.#subscriber === sub) next();
        },
        () => {
          clearTimeout(timer);
          this.#replaceSubscriber(sub);
        },
      );
    };
    next();
  }

  /** The feed goes 'down' and `sub` is dropped for a new connection (on a cluster, to the next node). */
  #replaceSubscriber(sub: Redis): void {
    if (this.#subscriber !== sub) return;
    this.#subscriber = undefined;
    this.#feed.status('down');
    sub.disconnect(false);
    // The socket may never hear our FIN answered (that is why it is being replaced): drop it.
    sub.stream?.destroy();
    if (!this.#closed && this.#feed.listening) this.#startSubscriber();
  }

  #stopSubscriber(): void {
    clearTimeout(this.#subscriberTimer);
    clearTimeout(this.#watchTimer);
    const sub = this.#subscriber;
    this.#subscriber = undefined;
    this.#feed.status('down');
    sub?.disconnect(false);
  }

  /** Applies the event a revoking script replied (and published) to this instance at once. */
  #pushed(r: Record<string, string>): void {
    if (r.event === undefined || r.event === '' || !this.#feed.listening) return;
    const e = decodeEvent(r.event);
    if (e) this.#feed.emit(e);
  }

  /** `<prefix>{<shard>}:`: the base of every key of one user. */
  base(shard: string): string {
    return `${this.keyPrefix}{${shard}}:`;
  }

  /** Runs one command with the timeout; any failure becomes a StoreUnavailableError. */
  #call<T>(op: () => Promise<T>): Promise<T> {
    return this.#deadlines.run(op).then(undefined, (e: unknown) => {
      if (e instanceof StoreUnavailableError) throw e;
      throw new StoreUnavailableError(undefined, { cause: e });
    });
  }

  #script(name: ScriptName, shard: string, args: (string | number)[]): Promise<unknown> {
    const fn = this.#scripts[name];
    const base = this.base(shard);
    // One argument, the JSON array the script decodes (redis-scripts.ts "Packing").
    return this.#call(() => fn(base, packScriptArgs(args)));
  }

  async createFamily(input: CreateFamilyInput): Promise<void> {
    await this.#script('tesseraV2CreateFamily', input.shard, [
      input.now,
      ...nextArgs(input.leewayMs, input.next),
      input.familyId,
      input.sub,
      input.absoluteExpiresAt,
      input.scope,
      input.claims,
      input.userAgent ?? '',
      input.address ?? '',
      input.grant ?? '',
    ]);
  }

  async rotate(input: RotateInput): Promise<RotateResult> {
    const p = input.presented;
    const r = fields(
      await this.#script('tesseraV2Rotate', input.shard, [
        input.now,
        ...nextArgs(input.leewayMs, input.next),
        p.kind === 'opaque' ? 'o' : 'j',
        p.kind === 'opaque' ? p.hash : p.familyId,
        p.kind === 'opaque' ? '' : p.jti,
        input.graceMs,
        input.replay ?? '',
        input.clientId ?? '',
        input.scope === undefined ? '0' : '1',
        input.scope ?? '',
        `${input.userAgent === undefined ? '0' : '1'}${input.address === undefined ? '0' : '1'}`,
        input.userAgent ?? '',
        input.address ?? '',
        input.jkt === undefined ? '0' : '1',
        input.jkt ?? '',
      ]),
    );
    const status = r.status;
    if (status === 'reused') this.#pushed(r);
    if (status === 'rotated') return { status, family: family(r) };
    if (status === 'replayed') return { status, family: family(r), replay: r.replay as string };
    return { status: status as 'reused' | 'revoked' | 'expired' | 'unknown' | 'wrong_client' | 'invalid_scope' | 'wrong_key' };
  }

  async checkAccess(input: AccessCheckInput): Promise<AccessCheckResult> {
    const opaque = input.accessHash !== undefined;
    const r = fields(
      await this.#script('tesseraV2CheckAccess', input.shard, [
        input.now,
        opaque ? 'o' : 'j',
        (opaque ? input.accessHash : input.jti) ?? '',
        input.familyId ?? '',
        input.sub ?? '',
        input.iat ?? '',
      ]),
    );
    if (r.status !== 'ok') return { status: r.status as 'revoked' | 'expired' | 'unknown' };
    if (!opaque) return { status: 'ok' };
    return {
      status: 'ok',
      record: {
        user_id: r.user_id as string,
        issued_at: Number(r.issued_at),
        expires_in: Number(r.expires_in),
        scope: r.scope ?? '',
        family: r.family as string,
      },
      claims: r.claims ?? '',
    };
  }

  async inspectRefresh(input: RefreshRef): Promise<RefreshInspection> {
    const opaque = 'refreshHash' in input;
    const r = fields(
      await this.#script('tesseraV2InspectRefresh', input.shard, [
        input.now,
        opaque ? 'o' : 'j',
        opaque ? input.refreshHash : input.familyId,
        opaque ? '' : (input.jti ?? ''),
      ]),
    );
    if (r.status !== 'active') return { status: 'inactive' };
    const fam = family(r);
    if (!opaque) return { status: 'active', family: fam };
    return {
      status: 'active',
      family: fam,
      record: {
        user_id: r.user_id as string,
        issued_at: Number(r.issued_at),
        refresh_expires_in: Number(r.refresh_expires_in),
        used_count: Number(r.used_count),
        family: fam.familyId,
      },
    };
  }

  /** One script: the opaque record goes, the jti is deny-listed (never for less time than it already is). */
  async revokeAccess(input: RevokeAccessInput): Promise<void> {
    const r = await this.#script('tesseraV2RevokeAccess', input.shard, [
      input.now,
      input.accessHash ?? '',
      input.jti ?? '',
      input.jti !== undefined && input.expiresAt !== undefined ? input.expiresAt : 0,
    ]);
    this.#pushed(fields(r));
  }

  async revokeFamily(input: RefreshRef): Promise<boolean> {
    const opaque = 'refreshHash' in input;
    const r = fields(
      await this.#script('tesseraV2RevokeFamily', input.shard, [
        input.now,
        opaque ? 'o' : 'j',
        opaque ? input.refreshHash : input.familyId,
      ]),
    );
    this.#pushed(r);
    return r.revoked === '1';
  }

  async revokeUser(input: RevokeUserInput): Promise<void> {
    this.#pushed(fields(await this.#script('tesseraV2RevokeUser', input.shard, [input.now, input.sub, input.keepUntil])));
  }

  /** One script over the user's index (`s:<sub>`, `ss:<sub>`): O(sessions of the user), never a SCAN. */
  async listFamilies(input: ListFamiliesInput): Promise<FamilySummary[]> {
    const [epochText, flat] = (await this.#script('tesseraV2ListFamilies', input.shard, [input.now, input.sub])) as [
      string,
      string[],
    ];
    // state.ts isRevoked: created at or before the user's epoch. Revoked families left the index.
    const epoch = epochText === '' ? Number.NEGATIVE_INFINITY : Number(epochText);
    const out: FamilySummary[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      // A summary written by a tessera before the grant was kept has no eighth member.
      const [ct, lu, ax, ex, ua, ad, client, grant] = JSON.parse(flat[i + 1] as string) as string[];
      const createdAt = Number(ct);
      const absoluteExpiresAt = Number(ax);
      const recordExpiresAt = Number(ex);
      if (createdAt <= epoch || input.now >= absoluteExpiresAt || input.now >= recordExpiresAt) continue;
      out.push({
        familyId: flat[i] as string,
        clientId: client ?? '',
        createdAt,
        lastUsedAt: Number(lu),
        absoluteExpiresAt,
        recordExpiresAt,
        userAgent: ua ?? '',
        address: ad ?? '',
        grant: grant || null,
      });
    }
    return out;
  }

  /**
   * `<prefix>{o:<digest>}`: the digest of the kind's length, the kind and the id, so no
   * (kind, id) spells another's key; one key per record, one script per call (Cluster-safe).
   */
  onceKey(kind: string, id: string): string {
    return `${this.keyPrefix}{o:${sha256Base64url(`tessera once\0${kind.length}:${kind}\0${id}`)}}`;
  }

  async putOnce(input: PutOnceInput): Promise<boolean> {
    const key = this.onceKey(input.kind, input.id);
    const r = await this.#call(() => this.#scripts.tesseraV2PutOnce(key, input.now, input.value, input.expiresAt));
    return Number(r) === 1;
  }

  async consumeOnce(input: OnceRef): Promise<string | null> {
    const key = this.onceKey(input.kind, input.id);
    const r = await this.#call(() => this.#scripts.tesseraV2ConsumeOnce(key, input.now));
    return typeof r === 'string' ? r : null;
  }

  /** Redis expires keys itself; user indexes are pruned at login. Nothing to do. */
  async purgeExpired(): Promise<number> {
    return 0;
  }

  /** The master nodes to scan (one for a single Redis). */
  #masters(): Redis[] {
    const c = this.client as RedisClient & { isCluster: boolean };
    return c.isCluster ? (c as Cluster).nodes('master') : [c as Redis];
  }

  /** SCANs every master for the family's key (`<prefix>{<shard>}:f:<id>`): an operator's look-up, not a request's. */
  async familyOwner(familyId: string): Promise<string | null> {
    const pattern = `${escapeGlob(this.keyPrefix)}{*}:f:${escapeGlob(familyId)}`;
    for (const node of this.#masters()) {
      let cursor = '0';
      do {
        const [next, keys] = await this.#call(() => node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000));
        cursor = next;
        for (const key of keys) {
          // The shard has no '}' (base64url): the key is exactly the prefix, one hash tag and the family.
          if (!/^\{[A-Za-z0-9_-]+\}:f:/.test(key.slice(this.keyPrefix.length))) continue;
          const sub = await this.#call(() => this.client.hget(key, 'sub'));
          if (sub !== null) return sub;
        }
      } while (cursor !== '0');
    }
    return null;
  }

  /** SCANs every master for this prefix's token-state keys (the ones with a hash tag). For tests and operators, not hot paths. */
  async countStateEntries(): Promise<number> {
    const pattern = `${escapeGlob(this.keyPrefix)}{*`;
    let n = 0;
    for (const node of this.#masters()) {
      let cursor = '0';
      do {
        const [next, keys] = await this.#call(() => node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000));
        cursor = next;
        n += keys.length;
      } while (cursor !== '0');
    }
    return n;
  }

  #userKey(username: string): string {
    return `${this.keyPrefix}users:${username}`;
  }

  async createUser(user: UserRecord): Promise<boolean> {
    const key = this.#userKey(user.username);
    const r = await this.#call(() => this.client.set(key, JSON.stringify(user), 'NX'));
    return r === 'OK';
  }

  async getUser(username: string): Promise<UserRecord | null> {
    const key = this.#userKey(username);
    const raw = await this.#call(() => this.client.get(key));
    return raw === null ? null : (JSON.parse(raw) as UserRecord);
  }

  // Registered OAuth clients (src/oauth-clients): one hash, `<prefix>clients`, field = client id, value = the
  // record as JSON. One key, so one slot: the same commands work on Redis Cluster, and HSETNX is atomic.

  #clientsKey(): string {
    return `${this.keyPrefix}clients`;
  }

  async createClient(client: ClientRecord): Promise<boolean> {
    const key = this.#clientsKey();
    return (await this.#call(() => this.client.hsetnx(key, client.clientId, JSON.stringify(client)))) === 1;
  }

  async getClient(clientId: string): Promise<ClientRecord | null> {
    const key = this.#clientsKey();
    const raw = await this.#call(() => this.client.hget(key, clientId));
    return raw === null ? null : completeClient(JSON.parse(raw) as ClientRecord);
  }

  async listClients(): Promise<ClientRecord[]> {
    const key = this.#clientsKey();
    const all = await this.#call(() => this.client.hvals(key));
    return all.map((raw) => completeClient(JSON.parse(raw) as ClientRecord)).sort((a, b) => (a.clientId < b.clientId ? -1 : 1));
  }

  /** HDEL and, when it removed one, PUBLISH of the removal, in one script: client caches drop the record. */
  async removeClient(clientId: string): Promise<boolean> {
    const key = this.#clientsKey();
    const event = encodeEvent({ kind: 'client', clientId, until: Date.now() + CLIENT_NEWS_MS });
    const removed =
      (await this.#call(() => this.client.eval(REMOVE_CLIENT, 1, key, clientId, this.revocationChannel, event))) === 1;
    if (removed) this.#pushed({ event });
    return removed;
  }

  async ping(): Promise<void> {
    await this.#call(() => this.client.ping());
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#stopSubscriber();
    this.#deadlines.close();
    if (!this.#ownsClient) return;
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  async updatePasswordHash(username: string, passwordHash: string): Promise<boolean> {
    const user = await this.getUser(username);
    if (!user) return false;
    const key = this.#userKey(username);
    // XX: never re-create a user deleted meanwhile.
    const r = await this.#call(() => this.client.set(key, JSON.stringify({ ...user, passwordHash }), 'XX'));
    return r === 'OK';
  }
}
