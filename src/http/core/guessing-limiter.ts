/**
 * Brute-force protection of the credential endpoints, aimed at guessing rather
 * than at traffic (OWASP ASVS V2.2.1; the shape of Auth0's brute-force
 * protection and suspicious-IP throttling):
 *
 * - failed logins are counted per (username, client address) and per client
 *   address; invalid refresh tokens per client address;
 * - a successful login or a refresh with a valid token never counts, so an
 *   office behind one NAT or a harness refreshing many sessions is never limited
 *   for using valid credentials;
 * - once a key reaches its limit it is blocked for one window, and every further
 *   failure after the block doubles it (window × 2^k, at most `maxBackoffSeconds`).
 *   A key forgets its failures one window after its last failure or block ends.
 *   Attempts refused while blocked are not counted and cost no scrypt work.
 *
 * Counters live in memory, or in Redis so every instance shares them (one Lua
 * script per failure: increment, block and expiry in one atomic round trip;
 * one read before a password check; nothing after a successful refresh). Both
 * keys of a request share a Redis Cluster hash slot (`{address}`), so each
 * script touches one slot. A counter outage fails open: the password check and
 * the token store still decide, and a store outage is a 503 of its own.
 *
 * @module
 */

export interface GuessingLimitSettings {
  /** Failed attempts per client address per window before the back-off. */
  max: number;
  /** Failed logins per (username, client address) per window before the back-off. Default 5. */
  perUser?: number;
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

/** What a check found: how long the caller must wait (0: go), and whether the (username, address) key has failures. */
export interface LimitState {
  waitMs: number;
  userFailures: number;
}

export interface GuessingLimiter {
  /** Before a password check: the state of the address and of (username, address). */
  check(address: string, username?: string): Promise<LimitState>;
  /** Before a refresh: a block of the address known to this process, without I/O (0: go). */
  blockedLocally(address: string): number;
  /** Records a failure; resolves to the back-off now in force (0 when still under the limits). */
  fail(address: string, username?: string): Promise<number>;
  /** A successful login: the failures of (username, address) are forgotten. */
  succeed(address: string, username: string): Promise<void>;
}

interface Entry {
  n: number;
  until: number;
  expires: number;
}

/** The back-off after the `n`-th failure against a limit, in ms (0 below it). */
export function backoffMs(n: number, limit: number, windowMs: number, maxMs: number): number {
  if (n < limit) return 0;
  return Math.min(maxMs, windowMs * 2 ** Math.min(n - limit, 30));
}

/** Key material: no hash-tag braces from a forwarded address, bounded usernames. */
function clean(s: string, max: number): string {
  return s.replace(/[{}\s]/g, '_').slice(0, max);
}

export function createGuessingLimiter(settings: GuessingLimitSettings): GuessingLimiter {
  const clock = settings.clock ?? Date.now;
  const windowMs = settings.windowSeconds * 1000;
  const maxMs = (settings.maxBackoffSeconds ?? 3600) * 1000;
  const perUser = settings.perUser ?? 5;
  const ns = settings.nameSpace ?? 'tessera:gl:';
  const keys = (address: string, username?: string) => {
    const base = `${ns}{${clean(address, 64)}}:`;
    return { a: `${base}a`, u: `${base}u:${username === undefined ? '' : clean(username.trim().toLowerCase(), 128)}` };
  };
  return settings.redis
    ? redisLimiter(settings.redis as RedisLike, keys, clock, windowMs, maxMs, settings.max, perUser)
    : memoryLimiter(keys, clock, windowMs, maxMs, settings.max, perUser);
}

type KeyFn = (address: string, username?: string) => { a: string; u: string };

/** Bound on remembered keys: past it, expired entries are swept, then the oldest dropped. */
const MAX_ENTRIES = 100_000;

function memoryLimiter(
  keyOf: KeyFn,
  clock: () => number,
  windowMs: number,
  maxMs: number,
  max: number,
  perUser: number,
): GuessingLimiter {
  const entries = new Map<string, Entry>();
  const live = (key: string, now: number): Entry | undefined => {
    const e = entries.get(key);
    if (e && e.expires <= now) {
      entries.delete(key);
      return undefined;
    }
    return e;
  };
  const bump = (key: string, limit: number, now: number): number => {
    const e = live(key, now) ?? { n: 0, until: 0, expires: 0 };
    e.n += 1;
    const block = backoffMs(e.n, limit, windowMs, maxMs);
    if (block > 0) e.until = now + block;
    e.expires = now + block + windowMs;
    entries.delete(key); // re-insert: the Map's order is then the order of last use
    entries.set(key, e);
    if (entries.size > MAX_ENTRIES) {
      for (const [k, v] of entries) if (v.expires <= now) entries.delete(k);
      for (const k of entries.keys()) {
        if (entries.size <= MAX_ENTRIES) break;
        entries.delete(k);
      }
    }
    return block;
  };
  const wait = (key: string, now: number) => Math.max(0, (live(key, now)?.until ?? 0) - now);
  return {
    async check(address, username) {
      const now = clock();
      const k = keyOf(address, username);
      const user = username === undefined ? undefined : live(k.u, now);
      return { waitMs: Math.max(wait(k.a, now), user ? Math.max(0, user.until - now) : 0), userFailures: user?.n ?? 0 };
    },
    blockedLocally(address) {
      return wait(keyOf(address).a, clock());
    },
    async fail(address, username) {
      const now = clock();
      const k = keyOf(address, username);
      const a = bump(k.a, max, now);
      const u = username === undefined ? 0 : bump(k.u, perUser, now);
      return Math.max(a, u);
    },
    async succeed(address, username) {
      entries.delete(keyOf(address, username).u);
    },
  };
}

/** The part of an ioredis client (or Cluster) the limiter uses. */
interface RedisLike {
  defineCommand(name: string, def: { numberOfKeys: number; lua: string }): void;
  del(key: string): Promise<number>;
}
type Script = (k1: string, k2: string, ...args: (string | number)[]) => Promise<unknown>;

/** KEYS: address, (username, address). ARGV: now. Returns {wait ms, failures of the user key}. */
const CHECK_LUA = `
local now = tonumber(ARGV[1])
local wait = 0
local a = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if a - now > wait then wait = a - now end
local u = redis.call('HMGET', KEYS[2], 'n', 'until')
local un = tonumber(u[1] or '0')
local uu = tonumber(u[2] or '0')
if uu - now > wait then wait = uu - now end
return {wait, un}
`;

/**
 * KEYS: address, (username, address). ARGV: now, window ms, max back-off ms,
 * address limit, user limit (0: no user key). Returns {back-off in force, back-off of the address} (ms).
 */
const FAIL_LUA = `
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local maxb = tonumber(ARGV[3])
local function bump(key, limit)
  local n = redis.call('HINCRBY', key, 'n', 1)
  local block = 0
  if n >= limit then
    local e = n - limit
    if e > 30 then e = 30 end
    block = math.floor(math.min(maxb, window * (2 ^ e)))
    redis.call('HSET', key, 'until', string.format('%d', now + block))
  end
  redis.call('PEXPIRE', key, block + window)
  return block
end
local a = bump(KEYS[1], tonumber(ARGV[4]))
local b = a
local ul = tonumber(ARGV[5])
if ul > 0 then
  local c = bump(KEYS[2], ul)
  if c > b then b = c end
end
return {b, a}
`;

function redisLimiter(
  client: RedisLike,
  keyOf: KeyFn,
  clock: () => number,
  windowMs: number,
  maxMs: number,
  max: number,
  perUser: number,
): GuessingLimiter {
  const target = client as unknown as Record<string, Script>;
  if (typeof target.tesseraGuessCheck !== 'function')
    client.defineCommand('tesseraGuessCheck', { numberOfKeys: 2, lua: CHECK_LUA });
  if (typeof target.tesseraGuessFail !== 'function') client.defineCommand('tesseraGuessFail', { numberOfKeys: 2, lua: FAIL_LUA });
  const checkScript = (target.tesseraGuessCheck as Script).bind(client);
  const failScript = (target.tesseraGuessFail as Script).bind(client);
  // Blocks of addresses this process has seen, so a refresh needs no round trip.
  const known = new Map<string, number>();
  const remember = (key: string, until: number) => {
    if (until <= clock()) return;
    known.set(key, until);
    if (known.size > MAX_ENTRIES) {
      const now = clock();
      for (const [k, v] of known) if (v <= now) known.delete(k);
      for (const k of known.keys()) {
        if (known.size <= MAX_ENTRIES) break;
        known.delete(k);
      }
    }
  };
  return {
    async check(address, username) {
      const now = clock();
      const k = keyOf(address, username);
      try {
        const [wait, n] = (await checkScript(k.a, k.u, now)) as [number, number];
        return { waitMs: Number(wait), userFailures: Number(n) };
      } catch {
        return { waitMs: 0, userFailures: 0 }; // fail open: see the module comment
      }
    },
    blockedLocally(address) {
      const key = keyOf(address).a;
      const until = known.get(key) ?? 0;
      const now = clock();
      if (until > 0 && until <= now) known.delete(key);
      return Math.max(0, until - now);
    },
    async fail(address, username) {
      const now = clock();
      const k = keyOf(address, username);
      try {
        const [block, addressBlock] = (await failScript(
          k.a,
          k.u,
          now,
          windowMs,
          maxMs,
          max,
          username === undefined ? 0 : perUser,
        )) as [number, number];
        if (Number(addressBlock) > 0) remember(k.a, now + Number(addressBlock));
        return Number(block);
      } catch {
        return 0;
      }
    },
    async succeed(address, username) {
      try {
        await client.del(keyOf(address, username).u);
      } catch {
        // An unreachable counter store only keeps the old failures a little longer.
      }
    },
  };
}
