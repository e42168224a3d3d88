/**
 * A bounded cache of tokens that passed verification, so a client that sends
 * the same access token with every request pays for the MAC and the JSON parse
 * once (fast-jwt's `cache` option does the same). Measured in bench/http.ts:
 * in a server, verifying an HS256 token costs 12-17 µs of CPU per request
 * (cold caches between requests), a third of a bare Fastify route.
 *
 * What a hit skips and what it does not:
 * - Skipped: base64url decoding, the MAC (and decryption), JSON.parse. They
 *   depend only on the token's bytes and the codec's keys, which never change
 *   for a codec; so their result for the same string is the same.
 * - Not skipped: every time-dependent and per-call check (`exp`, `nbf`, the
 *   expected `type`, issuer, audience) runs on the cached claims on every
 *   call, exactly as on a miss. Fernet's "timestamp too far ahead" check is
 *   kept by remembering from when the entry may be used.
 *
 * Lookup. A token is split into its prefix (all but the last {@link TAIL}
 * characters) and its tail, which holds the whole MAC in every format. The
 * prefix is found and compared in variable time: a Map keyed by a hash of
 * characters sampled along it, then string equality. The tail is compared in
 * constant time. So the variable-time part of a lookup only ever sees the
 * signed header and payload (or the ciphertext), never the MAC, and a guessed
 * MAC is judged in constant time, as on a miss (RFC 7518 §3.2: the MAC
 * comparison "MUST be done in a constant-time manner").
 *
 * Why sampled. A header value is a new string on every request, so a Map keyed
 * by the whole prefix hashes ~330 characters per lookup (V8 hashes a string
 * the first time it is used as a key): about two thirds of a hit's cost. The
 * slot is a hash of every {@link SAMPLE_STEP}th character instead (all of a
 * short prefix), seeded per cache. Real tokens still get a slot each: their
 * random jti, IV or family id spans 20 or more characters, so several samples
 * fall in it (3,000 jwt tokens of one user in one second, in ten layouts: no
 * two share a slot; every 16th character put up to 14 % of them together). Two tokens that do
 * share a slot replace each other: a miss and a full verification, never a
 * wrong answer, since a hit needs the whole prefix to be equal.
 *
 * Bounds. At most `maxEntries` entries; the oldest insertion is dropped first.
 * Only tokens that passed every check are inserted. Claims are deep-frozen, as
 * the same object is handed to every caller that presents the token.
 *
 * @module
 */
import { randomBytes } from '../internal/crypto.js';
import type { Claims } from './claims.js';
import { DEFAULT_MAX_TOKEN_LENGTH } from './limits.js';

/**
 * Characters at the end of a token compared in constant time. Every format's
 * 32-byte MAC lies within its last 46: jwt's signature is its last 43; in
 * sealed's unpadded base64url, 32 trailing bytes span at most 44 characters;
 * Fernet's padded base64url adds at most two '='.
 */
export const TAIL = 48;

interface Entry {
  prefix: string;
  /** The tail's bytes (a verified token is ASCII), compared in constant time. */
  tail: Uint8Array;
  tailText: string;
  claims: Claims;
  /** Seconds since the epoch before which the entry must not be used (Fernet's skew rule). */
  validFromSec: number;
}

/** Freezes a parsed JSON value and everything in it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** A slot's hash reads every this-many characters of a prefix longer than {@link SAMPLE_ALL}. */
export const SAMPLE_STEP = 8;
/** Prefixes up to this length are hashed whole. */
const SAMPLE_ALL = 64;
/** Longer tokens are never cached (codecs refuse tokens over 8192 characters by default). */
const MAX_CACHED_LENGTH = DEFAULT_MAX_TOKEN_LENGTH;

/**
 * The token being looked up, one byte per character (Latin-1: a character above U+00FF
 * keeps only its low byte). Reading bytes here costs half of `charCodeAt` on the sliced
 * string a header value yields; lookups are synchronous, so one buffer serves every cache.
 */
const scratch = Buffer.alloc(MAX_CACHED_LENGTH);

/** FNV-1a (32-bit), seeded, over the sampled bytes of `bytes[0, end)`, from `end - 1` down. */
function sampleHash(bytes: Uint8Array, end: number, seed: number): number {
  const step = end > SAMPLE_ALL ? SAMPLE_STEP : 1;
  let h = (seed ^ end) | 0;
  for (let i = end - 1; i >= 0; i -= step) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return h;
}

export class VerifiedTokenCache {
  readonly maxEntries: number;
  readonly #entries = new Map<number, Entry>();
  // Per cache: which tokens share a slot is not predictable from outside.
  readonly #seed = randomBytes(4).readInt32LE(0);

  constructor(maxEntries: number) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new RangeError('maxEntries must be a positive integer');
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The cached claims of exactly this token, usable at `nowSec`; otherwise undefined. */
  get(token: string, nowSec: number): Claims | undefined {
    const n = token.length;
    if (n <= TAIL || n > MAX_CACHED_LENGTH) return undefined;
    scratch.write(token, 0, n, 'latin1');
    const cut = n - TAIL;
    const entry = this.#entries.get(sampleHash(scratch, cut, this.#seed));
    if (entry === undefined || nowSec < entry.validFromSec) return undefined;
    // Variable time, on the signed part only: the prefix, compared as strings (exactly).
    if (entry.prefix.length !== cut || token.slice(0, cut) !== entry.prefix) return undefined;
    // Constant time over the tail (the MAC): every byte, one accumulator, no early exit.
    const tail = entry.tail;
    let diff = 0;
    for (let i = 0; i < TAIL; i++) diff |= tail[i]! ^ scratch[cut + i]!;
    if (diff !== 0) return undefined;
    // The bytes are the MAC's, so a variable-time check can no longer reveal it. It catches the
    // one way the strings can still differ: a character above U+00FF written as its low byte.
    return token.endsWith(entry.tailText) ? entry.claims : undefined;
  }

  /**
   * Remembers a token that passed every check. `claims` must not change from
   * now on (the caller deep-freezes them). A new token in the slot of a cached
   * one (a different MAC or a different prefix with the same sample) replaces it.
   */
  set(token: string, claims: Claims, validFromSec = Number.NEGATIVE_INFINITY): void {
    const n = token.length;
    if (n <= TAIL || n > MAX_CACHED_LENGTH) return;
    scratch.write(token, 0, n, 'latin1');
    const cut = n - TAIL;
    const key = sampleHash(scratch, cut, this.#seed);
    if (!this.#entries.delete(key) && this.#entries.size >= this.maxEntries) {
      // Map iterates in insertion order: the first key is the oldest entry.
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    const tail = Uint8Array.from(scratch.subarray(cut, n));
    this.#entries.set(key, { prefix: token.slice(0, cut), tail, tailText: token.slice(cut), claims, validFromSec });
  }

  clear(): void {
    this.#entries.clear();
  }
}
