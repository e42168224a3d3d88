/**
 * Brute-force protection of the password endpoints, aimed at guessing and only at
 * guessing (OWASP ASVS V2.2.1; the shape of Auth0's brute-force protection and
 * suspicious-IP throttling):
 *
 * - a password attempt is **reserved** before its password is checked: it counts
 *   against (username, address), the address and, for IPv6, the address's /48,
 *   in one atomic step (one Lua script on Redis), so a concurrent burst cannot
 *   have more passwords checked than the budget allows. A successful login
 *   forgives its reservation (and clears the (username, address) failures); an
 *   attempt whose password was never checked (a full hash queue, a store outage)
 *   is forgiven too;
 * - at most a few reserved attempts are in flight per (username, address) and per
 *   address; the rest are refused at once, so one client holds a bounded share of
 *   the scrypt work;
 * - an address is its IPv4 address, or its IPv6 /64 (one host commonly owns a
 *   whole /64, RFC 6177 §2, RFC 7934 §6); IPv4-mapped IPv6 (`::ffff:a.b.c.d`,
 *   RFC 4291 §2.5.5.2) is the IPv4 address. The IPv6 /48 (one site) is a wider
 *   tier on a larger budget;
 * - once a tier reaches its limit it is blocked for one window; each further block
 *   doubles (window × 2^k, at most `maxBackoffSeconds`). Attempts refused while
 *   blocked are not counted and cost no scrypt work, so a burst earns one block,
 *   not one doubling per concurrent failure. A tier forgets its failures one window
 *   after its last failure or block ends;
 * - registration attempts count on a budget of their own per address;
 * - refresh tokens are not counted: they carry 256 bits (or a MAC), nobody guesses
 *   them, and an invalid, expired or already-rotated one must never cost a user
 *   behind the same address a login or a refresh.
 *
 * Counters live in memory, or in Redis so every instance shares them. Every key of
 * one address shares a Redis Cluster hash slot (`{IPv4 address}` or `{IPv6 /48}`),
 * so each script touches one slot. In-flight counters in Redis expire by themselves
 * (`inFlightTtlSeconds`), so an instance that dies mid-check frees its slots. A
 * counter outage fails open: the password check and the token store still decide.
 *
 * The global bound on concurrent and queued password hashes is {@link createHashGate}.
 *
 * @module
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface GuessingLimitSettings {
  /** Failed logins per client address (IPv6: per /64) per window before the back-off. Default 20. */
  max: number;
  /** Failed logins per (username, client address) per window before the back-off. Default 5. */
  perUser?: number;
  /** Failed logins per IPv6 /48 per window before the back-off. Default 5 × `max`. */
  perNetwork?: number;
  /** Registration attempts per client address (IPv6: per /64) per window. Default 20. */
  registerLimit?: number;
  /** Password checks in flight per (username, client address). Default 2. */
  inFlightPerUser?: number;
  /** Password checks in flight per client address (IPv6: per /64). Default 8. */
  inFlightPerAddress?: number;
  /** Password hashes running at once on this instance (the libuv pool has 4 threads). Default 4. */
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

/** Eight 16-bit groups of an IPv6 address (RFC 4291 §2.2), or null. */
function ipv6Groups(address: string): number[] | null {
  let text = address;
  let tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const o = (v4[1] as string).split('.').map(Number);
    tail = [((o[0] as number) << 8) | (o[1] as number), ((o[2] as number) << 8) | (o[3] as number)];
    text = text.slice(0, -(v4[1] as string).length);
    if (text.endsWith(':') && !text.endsWith('::')) text = text.slice(0, -1);
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const part = (s: string) => (s === '' ? [] : s.split(':').map((g) => Number.parseInt(g, 16)));
  const head = part(halves[0] as string);
  const rest = halves.length === 2 ? part(halves[1] as string) : [];
  const fill = 8 - head.length - rest.length - tail.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return null;
  const groups = [...head, ...new Array(halves.length === 2 ? fill : 0).fill(0), ...rest, ...tail];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : null;
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
      if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
        const v4 = [(g[6] as number) >> 8, (g[6] as number) & 0xff, (g[7] as number) >> 8, (g[7] as number) & 0xff].join('.');
        return { tag: v4, net: v4 };
      }
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

interface Keys {
  /** Counted tiers with their limits: (username, address), address, [IPv6 /48]. */
  tiers: [string, number][];
  /** In-flight counters with their limits: (username, address), address. */
  flights: [string, number][];
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

export function createGuessingLimiter(settings: GuessingLimitSettings): GuessingLimiter {
  const clock = settings.clock ?? Date.now;
  const r: Resolved = {
    windowMs: settings.windowSeconds * 1000,
    maxMs: (settings.maxBackoffSeconds ?? 3600) * 1000,
    max: settings.max,
    perUser: settings.perUser ?? 5,
    perNetwork: settings.perNetwork ?? 5 * settings.max,
    registerLimit: settings.registerLimit ?? 20,
    inFlightPerUser: settings.inFlightPerUser ?? 2,
    inFlightPerAddress: settings.inFlightPerAddress ?? 8,
  };
  const ns = settings.nameSpace ?? 'tessera:gl:';
  const loginKeys = (address: string, username: string): Keys => {
    const a = addressKey(address);
    const base = `${ns}{${a.tag}}:`;
    const user = clean(username.trim().toLowerCase(), 128);
    const tiers: [string, number][] = [
      [`${base}u:${a.net}:${user}`, r.perUser],
      [`${base}a:${a.net}`, r.max],
    ];
    if (a.wide) tiers.push([`${base}w`, r.perNetwork]);
    return {
      tiers,
      flights: [
        [`${base}fu:${a.net}:${user}`, r.inFlightPerUser],
        [`${base}fa:${a.net}`, r.inFlightPerAddress],
      ],
    };
  };
  const registerKeys = (address: string): Keys => {
    const a = addressKey(address);
    return { tiers: [[`${ns}{${a.tag}}:r:${a.net}`, r.registerLimit]], flights: [] };
  };
  const store = settings.redis ? redisCounters(settings.redis as RedisLike, r) : memoryCounters(r);
  return {
    async reserve(address, username) {
      return store.reserve(loginKeys(address, username), clock());
    },
    async register(address) {
      const res = await store.reserve(registerKeys(address), clock());
      return res.ok ? 0 : res.waitMs;
    },
  };
}

interface Counters {
  reserve(keys: Keys, now: number): Promise<Reservation>;
}

interface Entry {
  /** Counted attempts since the last block. */
  n: number;
  /** Blocks so far (the next one lasts window × 2^level). */
  level: number;
  until: number;
  expires: number;
}

/** Bound on remembered keys: past it, expired entries are swept, then the oldest dropped. */
const MAX_ENTRIES = 100_000;

function memoryCounters(r: Resolved): Counters {
  const entries = new Map<string, Entry>();
  const flights = new Map<string, number>();
  const live = (key: string, now: number): Entry | undefined => {
    const e = entries.get(key);
    if (e && e.expires <= now) {
      entries.delete(key);
      return undefined;
    }
    return e;
  };
  /** Counts one attempt; true when this attempt started a block. */
  const count = (key: string, limit: number, now: number): boolean => {
    const e = live(key, now) ?? { n: 0, level: 0, until: 0, expires: 0 };
    e.n += 1;
    let blocked = false;
    if (e.n >= limit) {
      e.until = now + backoffMs(e.level, r.windowMs, r.maxMs);
      e.level += 1;
      e.n = limit - 1; // after the block, the next failure blocks again (for twice as long)
      blocked = true;
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
    return blocked;
  };
  const uncount = (key: string, startedBlock: boolean) => {
    const e = entries.get(key);
    if (!e) return;
    if (startedBlock) {
      e.until = 0;
      e.level = Math.max(0, e.level - 1);
    } else e.n = Math.max(0, e.n - 1);
  };
  return {
    async reserve(keys, now) {
      let wait = 0;
      for (const [key] of keys.tiers) wait = Math.max(wait, (live(key, now)?.until ?? 0) - now);
      if (wait > 0) return { ok: false, reason: 'blocked', waitMs: wait };
      for (const [key, limit] of keys.flights)
        if ((flights.get(key) ?? 0) >= limit) return { ok: false, reason: 'busy', waitMs: BUSY_RETRY_MS };
      for (const [key] of keys.flights) flights.set(key, (flights.get(key) ?? 0) + 1);
      const started = keys.tiers.map(([key, limit]) => count(key, limit, now));
      let settled = false;
      return {
        ok: true,
        async done(outcome) {
          if (settled) return;
          settled = true;
          for (const [key] of keys.flights) {
            const n = (flights.get(key) ?? 1) - 1;
            if (n > 0) flights.set(key, n);
            else flights.delete(key);
          }
          if (outcome === 'failed') return;
          keys.tiers.forEach(([key], i) => {
            // A success clears the failures of (username, address): the first tier.
            if (i === 0 && outcome === 'succeeded') entries.delete(key);
            else uncount(key, started[i] as boolean);
          });
        },
      };
    },
  };
}

/** The part of an ioredis client (or Cluster) the limiter uses. */
interface RedisLike {
  defineCommand(name: string, def: { lua: string }): void;
}
type Script = (numKeys: number, ...args: (string | number)[]) => Promise<unknown>;

/**
 * KEYS: the counted tiers, then the in-flight counters. ARGV: now, window ms, max
 * back-off ms, number of tiers, in-flight ttl ms, then the limit of every key in
 * KEYS order. Returns {1, 0, started} (started: one '0'/'1' per tier: this attempt
 * started a block) or {0, wait ms, 'blocked' | 'busy'}.
 */
const RESERVE_LUA = `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local maxb = tonumber(ARGV[3])
local tiers = tonumber(ARGV[4])
local fttl = tonumber(ARGV[5])
local wait = 0
for i = 1, tiers do
  local u = tonumber(redis.call('HGET', KEYS[i], 'until') or '0')
  if u - now > wait then wait = u - now end
end
if wait > 0 then return {0, wait, 'blocked'} end
for i = tiers + 1, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') >= tonumber(ARGV[5 + i]) then return {0, 0, 'busy'} end
end
for i = tiers + 1, #KEYS do
  redis.call('INCR', KEYS[i])
  redis.call('PEXPIRE', KEYS[i], fttl)
end
local started = ''
for i = 1, tiers do
  local limit = tonumber(ARGV[5 + i])
  local n = redis.call('HINCRBY', KEYS[i], 'n', 1)
  local u = tonumber(redis.call('HGET', KEYS[i], 'until') or '0')
  if n >= limit then
    local level = tonumber(redis.call('HGET', KEYS[i], 'l') or '0')
    if level > 30 then level = 30 end
    u = now + math.floor(math.min(maxb, window * (2 ^ level)))
    redis.call('HSET', KEYS[i], 'until', string.format('%d', u), 'n', limit - 1)
    redis.call('HINCRBY', KEYS[i], 'l', 1)
    started = started .. '1'
  else
    started = started .. '0'
  end
  if u < now then u = now end
  redis.call('PEXPIRE', KEYS[i], math.floor(u - now + window))
end
return {1, 0, started}
`;

/**
 * KEYS: the counted tiers, then the in-flight counters. ARGV: number of tiers,
 * outcome ('failed' | 'unchecked' | 'succeeded'), started (as RESERVE returned it).
 */
const DONE_LUA = `
local tiers = tonumber(ARGV[1])
local outcome = ARGV[2]
local started = ARGV[3]
for i = tiers + 1, #KEYS do
  if redis.call('DECR', KEYS[i]) <= 0 then redis.call('DEL', KEYS[i]) end
end
if outcome == 'failed' then return 0 end
for i = 1, tiers do
  if i == 1 and outcome == 'succeeded' then
    redis.call('DEL', KEYS[i])
  elseif redis.call('EXISTS', KEYS[i]) == 1 then
    if string.sub(started, i, i) == '1' then
      redis.call('HSET', KEYS[i], 'until', '0')
      if tonumber(redis.call('HINCRBY', KEYS[i], 'l', -1)) < 0 then redis.call('HSET', KEYS[i], 'l', '0') end
    elseif tonumber(redis.call('HGET', KEYS[i], 'n') or '0') > 0 then
      redis.call('HINCRBY', KEYS[i], 'n', -1)
    end
  end
end
return 1
`;

/** How long an in-flight counter outlives its last reservation: frees the slots of an instance that died mid-check. */
const IN_FLIGHT_TTL_MS = 60_000;

function redisCounters(client: RedisLike, r: Resolved): Counters {
  const target = client as unknown as Record<string, Script>;
  if (typeof target.tesseraGuessReserve !== 'function') client.defineCommand('tesseraGuessReserve', { lua: RESERVE_LUA });
  if (typeof target.tesseraGuessDone !== 'function') client.defineCommand('tesseraGuessDone', { lua: DONE_LUA });
  const reserveScript = (target.tesseraGuessReserve as Script).bind(client);
  const doneScript = (target.tesseraGuessDone as Script).bind(client);
  return {
    async reserve(keys, now) {
      const all = [...keys.tiers, ...keys.flights];
      let res: [number, number, string];
      try {
        res = (await reserveScript(
          all.length,
          ...all.map(([k]) => k),
          now,
          r.windowMs,
          r.maxMs,
          keys.tiers.length,
          IN_FLIGHT_TTL_MS,
          ...all.map(([, limit]) => limit),
        )) as [number, number, string];
      } catch {
        return { ok: true, done: async () => {} }; // fail open: see the module comment
      }
      if (Number(res[0]) !== 1) {
        return res[2] === 'busy'
          ? { ok: false, reason: 'busy', waitMs: BUSY_RETRY_MS }
          : { ok: false, reason: 'blocked', waitMs: Number(res[1]) };
      }
      const started = String(res[2]);
      let settled = false;
      return {
        ok: true,
        async done(outcome) {
          if (settled) return;
          settled = true;
          try {
            await doneScript(all.length, ...all.map(([k]) => k), keys.tiers.length, outcome, started);
          } catch {
            // An unreachable counter store keeps the count (and the in-flight slot until its ttl).
          }
        },
      };
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
 * At most `concurrency` hashes run at once; up to `queue` more wait, taken in turn
 * from each waiting client address (so a burst from one address delays another
 * address's login by at most one hash per slot); past that {@link HashQueueFull}.
 */
export function createHashGate(options: { concurrency?: number; queue?: number } = {}): HashGate {
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const queue = Math.max(0, options.queue ?? 64);
  let running = 0;
  let waiting = 0;
  const lines = new Map<string, (() => void)[]>();
  const release = () => {
    const first = lines.entries().next();
    if (first.done) {
      running -= 1;
      return;
    }
    const [key, line] = first.value;
    const next = line.shift() as () => void;
    lines.delete(key);
    if (line.length > 0) lines.set(key, line); // to the back: round-robin
    waiting -= 1;
    next(); // the slot passes on: `running` is unchanged
  };
  return {
    get load() {
      return { running, waiting };
    },
    async run(address, fn) {
      if (running < concurrency) running += 1;
      else {
        if (waiting >= queue) throw new HashQueueFull(1000);
        waiting += 1;
        const key = addressKey(address).net;
        await new Promise<void>((resolve) => {
          const line = lines.get(key);
          if (line) line.push(resolve);
          else lines.set(key, [resolve]);
        });
      }
      try {
        return await fn();
      } finally {
        release();
      }
    },
  };
}
