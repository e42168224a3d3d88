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
 * Lookup. Entries are keyed by the token without its last {@link TAIL}
 * characters; the tail, which holds the whole MAC in every format, is compared
 * in constant time. So the variable-time part of a lookup (the Map's hashing
 * and string comparison) only ever sees data a forger already knows (the
 * signed header and payload, or the ciphertext), and a guessed MAC is judged
 * in constant time, as on a miss (RFC 7518 §3.2: the MAC comparison "MUST be
 * done in a constant-time manner").
 *
 * Bounds. At most `maxEntries` entries; the oldest insertion is dropped first.
 * Only tokens that passed every check are inserted. Claims are deep-frozen, as
 * the same object is handed to every caller that presents the token.
 *
 * @module
 */
import { constantTimeEqualShort } from '../internal/crypto.js';
import type { Claims } from './claims.js';

/**
 * Characters at the end of a token compared in constant time. Every format's
 * 32-byte MAC lies within its last 46: jwt's signature is its last 43; in
 * sealed's unpadded base64url, 32 trailing bytes span at most 44 characters;
 * Fernet's padded base64url adds at most two '='.
 */
export const TAIL = 48;

interface Entry {
  tail: string;
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

export class VerifiedTokenCache {
  readonly maxEntries: number;
  readonly #entries = new Map<string, Entry>();

  constructor(maxEntries: number) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new RangeError('maxEntries must be a positive integer');
    this.maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The cached claims of exactly this token, usable at `nowSec`; otherwise undefined. */
  get(token: string, nowSec: number): Claims | undefined {
    if (token.length <= TAIL) return undefined;
    const cut = token.length - TAIL;
    const entry = this.#entries.get(token.slice(0, cut));
    if (entry === undefined || nowSec < entry.validFromSec) return undefined;
    return constantTimeEqualShort(entry.tail, token.slice(cut)) ? entry.claims : undefined;
  }

  /**
   * Remembers a token that passed every check. `claims` must not change from
   * now on (the caller deep-freezes them). A new token with the prefix of a
   * cached one (a different MAC: only a forgery or another key's token) replaces it.
   */
  set(token: string, claims: Claims, validFromSec = Number.NEGATIVE_INFINITY): void {
    if (token.length <= TAIL) return;
    const cut = token.length - TAIL;
    const key = token.slice(0, cut);
    if (!this.#entries.delete(key) && this.#entries.size >= this.maxEntries) {
      // Map iterates in insertion order: the first key is the oldest entry.
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { tail: token.slice(cut), claims, validFromSec });
  }

  clear(): void {
    this.#entries.clear();
  }
}
