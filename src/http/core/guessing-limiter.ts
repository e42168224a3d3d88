/**
 * Brute-force protection of the password endpoints, aimed at guessing and only at
 * guessing (OWASP ASVS V2.2.1; the shape of Auth0's brute-force protection and
 * suspicious-IP throttling):
 *
 * - a password attempt is **reserved** before its password is checked, against
 *   (username, address), the address and, for IPv6, the address's /48, in one
 *   atomic step (one Lua script on Redis): a tier whose failures plus pending
 *   attempts reach its budget refuses further ones, so a concurrent burst cannot
 *   have more passwords checked than the budget allows. A wrong password turns its
 *   reservation into a failure; a right one is forgiven (and clears the (username,
 *   address) failures); an attempt whose password was never checked (a full hash
 *   queue, a store outage) is released;
 * - at most a few reserved attempts are in flight per (username, address) and per
 *   address; the rest are refused at once (429, Retry-After 1 s), so one client
 *   holds a bounded share of the scrypt work;
 * - an address is its IPv4 address, or its IPv6 /64 (one host commonly owns a
 *   whole /64, RFC 6177 §2, RFC 7934 §6); IPv4-mapped IPv6 (`::ffff:a.b.c.d`,
 *   RFC 4291 §2.5.5.2) is the IPv4 address. The IPv6 /48 (one site) is a wider
 *   tier on a larger budget;
 * - once a tier's failures reach its limit it is blocked for one window; each
 *   further block doubles (window × 2^k, at most `maxBackoffSeconds`). Refused
 *   attempts are not counted and cost no scrypt work, so a burst earns one block,
 *   not one doubling per concurrent failure. A tier forgets its failures one window
 *   after its last failure or block ends;
 * - registration attempts count on a budget of their own per address;
 * - refresh tokens are not counted: they carry 256 bits (or a MAC), nobody guesses
 *   them, and an invalid, expired or already-rotated one must never cost a user
 *   behind the same address a login or a refresh.
 *
 * Counters live in memory, or in Redis so every instance shares them. Every key of
 * one address shares a Redis Cluster hash slot (`{IPv4 address}` or `{IPv6 /48}`),
 * so each script touches one slot. A pending reservation in Redis lapses after 60 s,
 * so an instance that dies mid-check frees its slots. A
 * counter outage fails open: the password check and the token store still decide.
 *
 * The global bound on concurrent and queued password hashes is {@link createHashGate}.
 *
 * @module
 */
import { isIPv4, isIPv6 } from 'node:net';
import { availableParallelism } from 'node:os';
import { ipv6Groups, mappedIpv4 } from '../../internal/ip.js';

export interface RateLimitSettings {
  /** Failed logins per client address (IPv6: per /64) per window before the back-off. Default 20. */
  max: number;
  /** Failed logins per (username, client address) per window before the back-off. Default 5. */
  perUser?: number;
  /** Failed logins per IPv6 /48 per window before the back-off. Default 5 × `max`. */
  perNetwork?: number;
  /** Registration attempts per client address (IPv6: per /64) per window. Default `max`. */
  registerLimit?: number;
  /** Password checks in flight per (username, client address). Default 4. */
  inFlightPerUser?: number;
  /** Password checks in flight per client address (IPv6: per /64). Default 16. */
  inFlightPerAddress?: number;
  /** Password hashes running at once on this instance. Default: the CPUs, at most 4 (the libuv pool's threads). */
  hashConcurrency?: number;
  /** Password hashes waiting on this instance; beyond it 503 with Retry-After. Default 64. */
  hashQueue?: number;
  /** Window in seconds: how long failures are remembered, and the first back-off. */
  windowSeconds: number;
  /** Longest back-off in seconds. Default 3600. */
  maxBackoffSeconds?: number;
  /** An ioredis client or Cluster: counters shared by every instance. Default: in-process. */
  redis?: unknown;
  /** Key prefix of the Redis counters. Default `tessera:gl:`. */
  nameSpace?: string;
  /** Milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number;
}

/** What happened to a reserved attempt: its password was wrong, was never checked, or was right. */
export type Outcome = 'failed' | 'unchecked' | 'succeeded';

/** A reservation: `done` must be called once with the outcome. A refusal says how long to wait. */
export type Reservation =
  | { ok: true; done(outcome: Outcome): Promise<void> }
  | { ok: false; reason: 'blocked' | 'busy'; waitMs: number };

export interface GuessingLimiter {
  /** Before a password check: reserve one attempt of (username, address), or be refused. */
  reserve(address: string, username: string): Promise<Reservation>;
  /** Before a registration: counts it; resolves to how long to wait (0: go, counted). */
  register(address: string): Promise<number>;
}

/** Wait suggested to a client refused for too many checks in flight. */
export const BUSY_RETRY_MS = 1000;

/** The back-off of the `level`-th block (0-based), in ms. */
export function backoffMs(level: number, windowMs: number, maxMs: number): number {
  return Math.min(maxMs, windowMs * 2 ** Math.min(level, 30));
}

/** The keys an address is counted under: its hash tag, the address (IPv4 or IPv6 /64) and, for IPv6, the /48. */
export interface AddressKey {
  tag: string;
  net: string;
  wide?: string;
}

/**
 * The limiter's keys of a client address: IPv4 as is; IPv4-mapped IPv6 as its IPv4
 * address (RFC 4291 §2.5.5.2); other IPv6 as its /64, with its /48 as the wider tier
 * and the hash tag. A zone (`%eth0`) is dropped. Anything else is used as given.
 */
export function addressKey(address: string): AddressKey {
  const ip = address.trim().toLowerCase().replace(/%.*$/, '');
  if (isIPv4(ip)) return { tag: ip, net: ip };
  if (isIPv6(ip)) {
    const g = ipv6Groups(ip);
    if (g) {
      const v4 = mappedIpv4(g);
      if (v4 !== null) return { tag: v4, net: v4 };
      const hex = g.map((x) => x.toString(16));
      const wide = `${hex.slice(0, 3).join(':')}::/48`;
      return { tag: wide, net: `${hex.slice(0, 4).join(':')}::/64`, wide };
    }
  }
  const other = clean(ip, 64);
  return { tag: other, net: other };
}

/** Key material: no hash-tag braces from a forwarded address, bounded usernames. */
function clean(s: string, max: number): string {
  return s.replace(/[{}\s]/g, '_').slice(0, max);
}

/** One counted tier: its key, its budget of failures per window, and its cap on attempts in flight. */
interface Tier {
  key: string;
  limit: number;
  inFlight: number;
}

interface Resolved {
  windowMs: number;
  maxMs: number;
  max: number;
  perUser: number;
  perNetwork: number;
  registerLimit: number;
  inFlightPerUser: number;
  inFlightPerAddress: number;
}

export function createGuessingLimiter(settings: RateLimitSettings): GuessingLimiter {
  const clock = settings.clock ?? Date.now;
  const r: Resolved = {
    windowMs: settings.windowSeconds * 1000,
    maxMs: (settings.maxBackoffSeconds ?? 3600) * 1000,
    max: settings.max,
    perUser: settings.perUser ?? 5,
    perNetwork: settings.perNetwork ?? 5 * settings.max,
    registerLimit: settings.registerLimit ?? settings.max,
    inFlightPerUser: settings.inFlightPerUser ?? 4,
    inFlightPerAddress: settings.inFlightPerAddress ?? 16,
  };
  const ns = settings.nameSpace ?? 'tessera:gl:';
  // The (username, address) tier comes first: a success clears it.
  const loginTiers = (address: string, username: string): Tier[] => {
    const a = addressKey(address);
    const base = `${ns}{${a.tag}}:`;
    const user = clean(username.trim().toLowerCase(), 128);
    const tiers: Tier[] = [
      { key: `${base}u:${a.net}:${user}`, limit: r.perUser, inFlight: r.inFlightPerUser },
      { key: `${base}a:${a.net}`, limit: r.max, inFlight: r.inFlightPerAddress },
    ];
    if (a.wide) tiers.push({ key: `${base}w`, limit: r.perNetwork, inFlight: r.perNetwork });
    return tiers;
  };
  const registerTiers = (address: string): Tier[] => {
    const a = addressKey(address);
    return [{ key: `${ns}{${a.tag}}:r:${a.net}`, limit: r.registerLimit, inFlight: r.registerLimit }];
  };
  const store = settings.redis ? redisCounters(settings.redis as RedisLike, r, clock) : memoryCounters(r, clock);
  return {
    reserve(address, username) {
      return store.reserve(loginTiers(address, username));
    },
    async register(address) {
      // Every registration attempt counts, whatever its outcome.
      const res = await store.reserve(registerTiers(address));
      if (!res.ok) return res.waitMs;
      await res.done('failed');
      return 0;
    },
  };
}

/**
 * Both variants keep, per tier: `n` failures (since the last block), the pending
 * (reserved, not yet settled) attempts, the block `level` and its end. A reservation
 * is refused while any tier is blocked, or when it would take a tier past its cap in
 * flight or its budget (failures + pending ≥ limit: the pending ones may yet fail).
 * A failure that brings `n` to the limit starts a block of window × 2^level and sets
 * `n` back to limit − 1, so after the block one more attempt is checked and its
 * failure starts the next, twice as long, block. Since failures + pending never pass
 * the limit, nothing is pending when a block starts: a burst earns one block.
 */
interface Counters {
  reserve(tiers: Tier[]): Promise<Reservation>;
}

interface Entry {
  n: number;
  level: number;
  until: number;
  expires: number;
}

/** Bound on remembered keys: past it, expired entries are swept, then the oldest dropped. */
const MAX_ENTRIES = 100_000;

function memoryCounters(r: Resolved, clock: () => number): Counters {
  const entries = new Map<string, Entry>();
  const pending = new Map<string, number>();
  const live = (key: string, now: number): Entry | undefined => {
    const e = entries.get(key);
    if (e && e.expires <= now) {
      entries.delete(key);
      return undefined;
    }
    return e;
  };
  const fail = (key: string, limit: number, now: number) => {
    const e = live(key, now) ?? { n: 0, level: 0, until: 0, expires: 0 };
    if (e.until > now) return; // already blocked: the block stands as it is
    e.n += 1;
    if (e.n >= limit) {
      e.until = now + backoffMs(e.level, r.windowMs, r.maxMs);
      e.level += 1;
      e.n = limit - 1;
    }
    e.expires = Math.max(e.until, now) + r.windowMs;
    entries.delete(key); // re-insert: the Map's order is then the order of last use
    entries.set(key, e);
    if (entries.size > MAX_ENTRIES) {
      for (const [k, v] of entries) if (v.expires <= now) entries.delete(k);
      for (const k of entries.keys()) {
        if (entries.size <= MAX_ENTRIES) break;
        entries.delete(k);
      }
    }
  };
  return {
    async reserve(tiers) {
      const now = clock();
      let wait = 0;
      for (const t of tiers) wait = Math.max(wait, (live(t.key, now)?.until ?? 0) - now);
      if (wait > 0) return { ok: false, reason: 'blocked', waitMs: wait };
      for (const t of tiers) {
        const p = pending.get(t.key) ?? 0;
        if (p >= t.inFlight || (live(t.key, now)?.n ?? 0) + p >= t.limit)
          return { ok: false, reason: 'busy', waitMs: BUSY_RETRY_MS };
      }
      for (const t of tiers) pending.set(t.key, (pending.get(t.key) ?? 0) + 1);
      return reserved(async (outcome) => {
        const at = clock();
        tiers.forEach((t, i) => {
          const p = (pending.get(t.key) ?? 1) - 1;
          if (p > 0) pending.set(t.key, p);
          else pending.delete(t.key);
          if (outcome === 'failed') fail(t.key, t.limit, at);
          else if (outcome === 'succeeded' && i === 0) entries.delete(t.key);
        });
      });
    },
  };
}

/** A granted reservation whose outcome is recorded once, however many times `done` is called. */
function reserved(settle: (outcome: Outcome) => Promise<void>): Reservation {
  let settled = false;
  return {
    ok: true,
    done(outcome) {
      if (settled) return Promise.resolve();
      settled = true;
      return settle(outcome);
    },
  };
}

/** The part of an ioredis client (or Cluster) the limiter uses. */
interface RedisLike {
  defineCommand(name: string, def: { lua: string }): void;
}
type Script = (numKeys: number, ...args: (string | number)[]) => Promise<unknown>;

/**
 * KEYS: per tier, its hash (n, l, until) and its sorted set of pending reservations.
 * ARGV: now, pending ttl ms, reservation id, then per tier its limit and its cap in
 * flight. Returns {1, 0, ''}, or {0, wait ms, 'blocked' | 'busy'}.
 */
const RESERVE_LUA = `
local now = tonumber(ARGV[1])
local pttl = tonumber(ARGV[2])
local tiers = #KEYS / 2
local wait = 0
for i = 1, tiers do
  local u = tonumber(redis.call('HGET', KEYS[2 * i - 1], 'until') or '0')
  if u - now > wait then wait = u - now end
end
if wait > 0 then return {0, wait, 'blocked'} end
for i = 1, tiers do
  redis.call('ZREMRANGEBYSCORE', KEYS[2 * i], '-inf', now - pttl)
  local p = redis.call('ZCARD', KEYS[2 * i])
  local n = tonumber(redis.call('HGET', KEYS[2 * i - 1], 'n') or '0')
  if p >= tonumber(ARGV[3 + 2 * i]) or n + p >= tonumber(ARGV[2 + 2 * i]) then return {0, 0, 'busy'} end
end
for i = 1, tiers do
  redis.call('ZADD', KEYS[2 * i], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[2 * i], pttl)
end
return {1, 0, ''}
`;

/**
 * KEYS: as for RESERVE. ARGV: now, window ms, max back-off ms, reservation id,
 * outcome ('failed' | 'unchecked' | 'succeeded'), then per tier its limit.
 */
const DONE_LUA = `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local maxb = tonumber(ARGV[3])
local outcome = ARGV[5]
local tiers = #KEYS / 2
for i = 1, tiers do
  local h = KEYS[2 * i - 1]
  redis.call('ZREM', KEYS[2 * i], ARGV[4])
  if outcome == 'failed' then
    local u = tonumber(redis.call('HGET', h, 'until') or '0')
    if u <= now then
      local limit = tonumber(ARGV[5 + i])
      local n = redis.call('HINCRBY', h, 'n', 1)
      if n >= limit then
        local level = tonumber(redis.call('HGET', h, 'l') or '0')
        if level > 30 then level = 30 end
        u = now + math.floor(math.min(maxb, window * (2 ^ level)))
        redis.call('HSET', h, 'until', string.format('%d', u), 'n', limit - 1)
        redis.call('HINCRBY', h, 'l', 1)
      end
      if u < now then u = now end
      redis.call('PEXPIRE', h, math.floor(u - now + window))
    end
  elseif outcome == 'succeeded' and i == 1 then
    redis.call('DEL', h)
  end
end
return 1
`;

/** How long a pending reservation counts in Redis: frees the slots of an instance that died mid-check. */
const PENDING_TTL_MS = 60_000;

function redisCounters(client: RedisLike, r: Resolved, clock: () => number): Counters {
  const target = client as unknown as Record<string, Script>;
  if (typeof target.tesseraGuessReserve !== 'function') client.defineCommand('tesseraGuessReserve', { lua: RESERVE_LUA });
  if (typeof target.tesseraGuessDone !== 'function') client.defineCommand('tesseraGuessDone', { lua: DONE_LUA });
  const reserveScript = (target.tesseraGuessReserve as Script).bind(client);
  const doneScript = (target.tesseraGuessDone as Script).bind(client);
  let seq = 0;
  const instance = Math.random().toString(36).slice(2, 10);
  return {
    async reserve(tiers) {
      const keys = tiers.flatMap((t) => [t.key, `${t.key}:p`]);
      const id = `${instance}:${(seq = (seq + 1) % Number.MAX_SAFE_INTEGER)}`;
      let res: [number, number, string];
      try {
        res = (await reserveScript(
          keys.length,
          ...keys,
          clock(),
          PENDING_TTL_MS,
          id,
          ...tiers.flatMap((t) => [t.limit, t.inFlight]),
        )) as [number, number, string];
      } catch {
        return { ok: true, done: async () => {} }; // fail open: see the module comment
      }
      if (Number(res[0]) !== 1) {
        return res[2] === 'busy'
          ? { ok: false, reason: 'busy', waitMs: BUSY_RETRY_MS }
          : { ok: false, reason: 'blocked', waitMs: Number(res[1]) };
      }
      return reserved(async (outcome) => {
        try {
          await doneScript(keys.length, ...keys, clock(), r.windowMs, r.maxMs, id, outcome, ...tiers.map((t) => t.limit));
        } catch {
          // An unreachable counter store loses this outcome; the pending entry expires by itself.
        }
      });
    },
  };
}

/** Thrown by {@link HashGate.run} when the queue is full. */
export class HashQueueFull extends Error {
  override readonly name = 'HashQueueFull';
  readonly retryAfterMs: number;
  constructor(retryAfterMs: number) {
    super('password hash queue is full');
    this.retryAfterMs = retryAfterMs;
  }
}

/** A bound on concurrent and queued password hashes, served round-robin by client address. */
export interface HashGate {
  run<T>(address: string, fn: () => Promise<T>): Promise<T>;
  /** Hashes running and waiting. */
  readonly load: { running: number; waiting: number };
}

/**
 * At most `concurrency` hashes run at once, and at most half of them (at least one) for
 * one client address (IPv6: /64), so a burst from one address never holds every CPU and
 * a login from another address starts at once; up to `queue` more wait, taken in turn
 * from each waiting address; past that {@link HashQueueFull}.
 */
export function createHashGate(options: { concurrency?: number; queue?: number } = {}): HashGate {
  // More hashes at once than CPUs only slows each one down (scrypt is CPU- and memory-bound),
  // and a login waiting behind them with it.
  const concurrency = Math.max(1, options.concurrency ?? Math.min(4, availableParallelism()));
  const perAddress = Math.max(1, Math.floor(concurrency / 2));
  const queue = Math.max(0, options.queue ?? 64);
  let running = 0;
  let waiting = 0;
  const active = new Map<string, number>();
  const lines = new Map<string, (() => void)[]>();
  const start = (key: string) => {
    running += 1;
    active.set(key, (active.get(key) ?? 0) + 1);
  };
  const finish = (key: string) => {
    running -= 1;
    const n = (active.get(key) ?? 1) - 1;
    if (n > 0) active.set(key, n);
    else active.delete(key);
    // The longest-waiting address that may run another hash goes next; it then moves to the back.
    for (const [k, line] of lines) {
      if (running >= concurrency) break;
      if ((active.get(k) ?? 0) >= perAddress) continue;
      const next = line.shift() as () => void;
      lines.delete(k);
      if (line.length > 0) lines.set(k, line);
      waiting -= 1;
      start(k);
      next();
    }
  };
  return {
    get load() {
      return { running, waiting };
    },
    async run(address, fn) {
      const key = addressKey(address).net;
      if (running < concurrency && (active.get(key) ?? 0) < perAddress) start(key);
      else {
        if (waiting >= queue) throw new HashQueueFull(1000);
        waiting += 1;
        await new Promise<void>((resolve) => {
          const line = lines.get(key);
          if (line) line.push(resolve);
          else lines.set(key, [resolve]);
        });
      }
      try {
        return await fn();
      } finally {
        finish(key);
      }
    },
  };
}
