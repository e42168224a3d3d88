/**
 * What is revoked and not yet expired, in memory, fed by the store's push
 * (`TokenStore.revocations()`), so that a self-contained access token is
 * refused on every instance within a second of its revocation anywhere, with
 * no store round trip per request.
 *
 * Three maps: access-token ids (RFC 7009), families (logout, RFC 7009 for a
 * refresh token, reuse detection) and users' "not before" epochs (logout
 * everywhere). An entry is kept for `horizonMs` (the access-token lifetime plus
 * leeway) after it arrived, or until what it guards expires if sooner: every
 * token it could refuse has expired by then (bench/revocation.ts measures it).
 * Entries coalesce per family: a self-contained access token's `jti` names its
 * family (`<family>.<random>`, {@link familyOfJti}), so a family's revocation
 * supersedes (and deletes) its tokens' entries, and past {@link PER_FAMILY}
 * revoked tokens of one live family the rest become one entry for the family,
 * whose tokens are then checked against the store on every request (only that
 * family pays: a refresh + revoke loop grows one entry, not one per loop).
 * And the entries held are capped (`maxEntries`): a revocation that finds the set full
 * is not held, and is not forgotten either: from then on every token issued
 * before it (by `iat`, with the trust margin) is checked against the store once,
 * and a store answer remembered for the revoked token (or, for a family or a user,
 * every remembered answer) is dropped. So a flood of revocations (a refresh and
 * revoke loop) costs one store check per token, never a revoked token accepted,
 * and memory stays bounded.
 *
 * Never accept because a message was missed. The feed says 'up' only when it
 * can promise delivery from then on. A store that can enumerate its revocations
 * (memory, SQLite, PostgreSQL) replays them first and says the 'up' is complete: then
 * nothing needs checking. Otherwise (Redis), tokens issued before the latest 'up' (by
 * their `iat`, with a margin for clock skew between instances) may have been
 * revoked while this instance was not listening: each is checked against the
 * store once (`checkAccess`) per generation, and the answer remembered by its
 * `jti`; from then on pushes keep it current. While the feed is down every
 * request asks the store (a store outage then answers 503, never "accept").
 * A token whose lifetime exceeds the horizon (minted elsewhere, with a longer
 * TTL) always asks: the entries that would refuse it may have been let go.
 *
 * @module
 */
import { iatBeforeEpoch } from '../stores/state.js';
import type { Millis, RevocationEvent, RevocationListener } from '../stores/types.js';
import { DEFAULTS } from './config.js';

/** The answer for one token: refuse it, accept it, or ask the store (then {@link RevocationSet.confirm}). */
export type Verdict = 'ok' | 'revoked' | 'ask';

/** Tolerated clock difference between instances when comparing a token's `iat` with the time the feed came up. */
export const INSTANCE_SKEW_MS = 2000;

export interface RevocationSetOptions {
  /** How long an entry may matter: the longest access-token lifetime, plus leeway (ms). */
  horizonMs: Millis;
  /** Clock skew the codecs accept (ms): added to the trust margin. */
  leewayMs?: Millis;
  clock: () => Millis;
  /** Tokens whose store check is remembered (oldest forgotten first). Default 100000. */
  memoSize?: number;
  /** Revocations held at most (access tokens, families and users together). Default `access.revocationCap`'s. */
  maxEntries?: number;
}

/** Revoked access tokens of one live family held one by one; beyond, the family's further ones are one entry. */
export const PER_FAMILY = 8;

/**
 * The family a self-contained access token's `jti` names: the formats mint `<family>.<random>`
 * (family ids and random parts are base64url, without '.'); undefined for another form.
 */
export function familyOfJti(jti: string): string | undefined {
  const i = jti.indexOf('.');
  return i > 0 ? jti.slice(0, i) : undefined;
}

/** True when `jti` is of the form `<familyId>.<random>`: no allocation on the hot path. */
function jtiOf(jti: string, familyId: string): boolean {
  return jti.length > familyId.length && jti.charCodeAt(familyId.length) === 46 && jti.startsWith(familyId);
}

interface UserEntry {
  notBefore: Millis;
  until: Millis;
}

export class RevocationSet implements RevocationListener {
  readonly horizonMs: Millis;
  readonly #marginMs: Millis;
  readonly #leewayMs: Millis;
  readonly #clock: () => Millis;
  readonly #memoSize: number;
  readonly #maxEntries: number;
  readonly #jtis = new Map<string, Millis>();
  readonly #families = new Map<string, Millis>();
  readonly #users = new Map<string, UserEntry>();
  /** family → the jtis of its tokens held in #jtis (at most PER_FAMILY). */
  readonly #byFamily = new Map<string, string[]>();
  /** family → until: more of its tokens were revoked than are held; each of its tokens asks the store. */
  readonly #coalesced = new Map<string, Millis>();
  /** Tokens (jti) the store said were not revoked, in this feed generation, after the last revocation let go. */
  readonly #memo = new Set<string>();
  #live = false;
  /** Changes with the feed's status and with every revocation let go: a store answer asked for in an older one is not remembered. */
  #gen = 0;
  /** Tokens issued (iat, ms) before this may have a revocation the set let go (full): one store check each. */
  #overflowFrom: Millis = Number.NEGATIVE_INFINITY;
  #droppedCount = 0;
  #nextForcedSweep: Millis = 0;
  /** Tokens issued (iat, ms) before this were issued before the feed was last up: one store check each. */
  #trustedFrom: Millis = Number.POSITIVE_INFINITY;
  #nextSweep: Millis = 0;
  /** When the feed last went up or down (ms; the set's creation before the first status). */
  #statusSince: Millis;
  #received = 0;

  constructor(options: RevocationSetOptions) {
    this.horizonMs = options.horizonMs;
    // Another instance's clock may run a little ahead: its iat can read later than the real issue time.
    this.#leewayMs = options.leewayMs ?? 0;
    this.#marginMs = this.#leewayMs + INSTANCE_SKEW_MS;
    this.#clock = options.clock;
    this.#memoSize = options.memoSize ?? 100_000;
    this.#maxEntries = options.maxEntries ?? DEFAULTS.revocationCap;
    this.#statusSince = options.clock();
  }

  /** How long the feed has been down (ms) at `now`: 0 while it promises delivery; since the set was made if it never did. */
  downFor(now: Millis): Millis {
    return this.#live ? 0 : Math.max(0, now - this.#statusSince);
  }

  /** Revocations the feed delivered to this set (snapshot replays included; client removals not). */
  get received(): number {
    return this.#received;
  }

  /** True while the feed promises delivery. */
  get live(): boolean {
    return this.#live;
  }

  /** Changes whenever the feed goes up or down or a revocation is let go: a store answer is remembered only within one generation. */
  get generation(): number {
    return this.#gen;
  }

  /** Tokens the store vouched for in the current generation (the memo; at most `memoSize`). */
  get vouched(): number {
    return this.#memo.size;
  }

  /** Entries held (jti, family, user), expired ones not yet swept included; at most `maxEntries`. */
  get size(): number {
    return this.#jtis.size + this.#families.size + this.#users.size + this.#coalesced.size;
  }

  /** Revocations let go because the set was full (each made older tokens ask the store). */
  get dropped(): number {
    return this.#droppedCount;
  }

  event(e: RevocationEvent): void {
    // A client's removal concerns the client cache (src/oauth-clients), not a token.
    if (e.kind === 'client') return;
    this.#received++;
    this.#add(e, false);
  }

  /** Holds `e`, or, when it is new and the set is full, lets it go (see the module comment); `learned`: the store holds it anyway. */
  #add(e: Exclude<RevocationEvent, { kind: 'client' }>, learned: boolean): void {
    const now = this.#clock();
    const until = Math.min(e.until, now + this.horizonMs);
    if (until <= now) return;
    // Where the revocation goes: a jti of a family with PER_FAMILY held already joins the family's one entry.
    let family: string | undefined;
    let coalesce = false;
    if (e.kind === 'jti' && !this.#jtis.has(e.jti)) {
      family = familyOfJti(e.jti);
      if (family !== undefined) {
        // Superseded: the family's own revocation refuses this token for at least as long.
        if ((this.#families.get(family) ?? 0) >= until) return;
        coalesce = this.#coalesced.has(family) || (this.#byFamily.get(family)?.length ?? 0) >= PER_FAMILY;
      }
    }
    const known =
      e.kind === 'jti'
        ? coalesce
          ? this.#coalesced.has(family as string)
          : this.#jtis.has(e.jti)
        : e.kind === 'family'
          ? this.#families.has(e.familyId)
          : this.#users.has(e.sub);
    if (!known && this.size >= this.#maxEntries) {
      if (now >= this.#nextForcedSweep) {
        this.#nextForcedSweep = now + 1000;
        this.#sweep(now);
      }
      if (this.size >= this.#maxEntries) {
        // A revocation the store answered is asked again next time (that token's check could not vouch).
        if (!learned) this.#letGo(e, now);
        return;
      }
    }
    if (e.kind === 'jti' && coalesce) {
      const f = family as string;
      this.#coalesced.set(f, Math.max(until, this.#coalesced.get(f) ?? 0));
      // `check` asks the store for every token of the family from now on, before any remembered answer.
      this.#memo.delete(e.jti);
    } else if (e.kind === 'jti') {
      if (family !== undefined) {
        const held = this.#byFamily.get(family);
        if (held === undefined) this.#byFamily.set(family, [e.jti]);
        else held.push(e.jti);
      }
      this.#jtis.set(e.jti, Math.max(until, this.#jtis.get(e.jti) ?? 0));
    } else if (e.kind === 'family') {
      // The family's entry refuses all its tokens: their own entries go (kept no longer than it).
      let u = Math.max(until, this.#families.get(e.familyId) ?? 0, this.#coalesced.get(e.familyId) ?? 0);
      this.#coalesced.delete(e.familyId);
      const held = this.#byFamily.get(e.familyId);
      if (held !== undefined) {
        for (const j of held) {
          u = Math.max(u, this.#jtis.get(j) ?? 0);
          this.#jtis.delete(j);
        }
        this.#byFamily.delete(e.familyId);
      }
      this.#families.set(e.familyId, u);
    } else {
      // A store answer remembered before this epoch no longer vouches for a token issued in
      // the epoch's own second (the one case where `check` consults the memo despite an entry).
      this.#memo.clear();
      this.#gen++;
      const prior = this.#users.get(e.sub);
      this.#users.set(e.sub, {
        notBefore: Math.max(e.notBefore, prior?.notBefore ?? 0),
        until: Math.max(until, prior?.until ?? 0),
      });
    }
    if (now >= this.#nextSweep) this.#sweep(now);
  }

  /**
   * A revocation not held: tokens issued before it (plus the margin) are checked against the store
   * once, and no store answer given before it vouches any more for a token it could concern.
   */
  #letGo(e: Exclude<RevocationEvent, { kind: 'client' }>, now: Millis): void {
    this.#droppedCount++;
    this.#gen++;
    this.#overflowFrom = Math.max(this.#overflowFrom, now + this.#marginMs);
    if (e.kind === 'jti') this.#memo.delete(e.jti);
    else this.#memo.clear();
  }

  status(s: 'up' | 'down', complete = false): void {
    this.#gen++;
    this.#memo.clear();
    const live = s === 'up';
    if (live !== this.#live) this.#statusSince = this.#clock();
    this.#live = live;
    // A complete 'up' came with every revocation in force: nothing issued before it needs a check.
    if (!this.#live) this.#trustedFrom = Number.POSITIVE_INFINITY;
    else this.#trustedFrom = complete ? Number.NEGATIVE_INFINITY : this.#clock() + this.#marginMs;
  }

  /**
   * The verdict for a verified self-contained access token (`iat`, `exp` in
   * seconds, `now` in ms). A few Map lookups: this runs on every request.
   */
  check(sub: string, familyId: string | undefined, jti: string | undefined, iat: unknown, exp: unknown, now: Millis): Verdict {
    if (jti !== undefined && this.#jtis.size > 0 && (this.#jtis.get(jti) ?? 0) > now) return 'revoked';
    if (familyId !== undefined && this.#families.size > 0 && (this.#families.get(familyId) ?? 0) > now) return 'revoked';
    // The family the jti names, when it is not the `fam` claim (never, for tokens minted here): judged too.
    let named: string | undefined;
    if (
      jti !== undefined &&
      (this.#families.size > 0 || this.#coalesced.size > 0) &&
      (familyId === undefined || !jtiOf(jti, familyId))
    ) {
      named = familyOfJti(jti);
      if (named !== undefined && (this.#families.get(named) ?? 0) > now) return 'revoked';
    }
    const hasIat = typeof iat === 'number';
    let ambiguous = false;
    if (this.#users.size > 0) {
      const u = this.#users.get(sub);
      if (u !== undefined && u.until > now) {
        if (!hasIat || iatBeforeEpoch(iat, u.notBefore, familyId !== undefined)) return 'revoked';
        // Issued in the epoch's own second: only the family's creation time (in the store) can tell.
        ambiguous = iat * 1000 <= u.notBefore;
      }
    }
    if (!this.#live || !hasIat || typeof exp !== 'number' || (exp - iat) * 1000 > this.horizonMs) return 'ask';
    if (
      this.#coalesced.size > 0 &&
      ((familyId !== undefined && (this.#coalesced.get(familyId) ?? 0) > now) ||
        (named !== undefined && (this.#coalesced.get(named) ?? 0) > now))
    ) {
      return 'ask';
    }
    if (ambiguous || iat * 1000 < this.#trustedFrom || iat * 1000 < this.#overflowFrom) {
      return jti !== undefined && this.#memo.has(jti) ? 'ok' : 'ask';
    }
    return 'ok';
  }

  /** The store said the token is not revoked, asked in generation `gen`: remember it for this generation. */
  confirm(jti: string | undefined, gen: number): void {
    if (jti === undefined || gen !== this.#gen || !this.#live) return;
    if (this.#memo.size >= this.#memoSize && !this.#memo.has(jti)) {
      const oldest = this.#memo.keys().next();
      if (!oldest.done) this.#memo.delete(oldest.value);
    }
    this.#memo.add(jti);
  }

  /** The store said the token is revoked: refuse it from memory from now on (until it expires). */
  learned(jti: string | undefined, expSec: unknown): void {
    if (jti === undefined || typeof expSec !== 'number') return;
    this.#add({ kind: 'jti', jti, until: expSec * 1000 + this.#leewayMs }, true);
  }

  /** Deletes entries whose tokens have all expired; runs at most every tenth of the horizon (and at least every minute). */
  #sweep(now: Millis): void {
    this.#nextSweep = now + Math.min(60_000, Math.max(1000, this.horizonMs / 10));
    for (const m of [this.#jtis, this.#families, this.#coalesced]) for (const [k, until] of m) if (until <= now) m.delete(k);
    for (const [f, held] of this.#byFamily) {
      const live = held.filter((j) => this.#jtis.has(j));
      if (live.length === 0) this.#byFamily.delete(f);
      else if (live.length < held.length) this.#byFamily.set(f, live);
    }
    for (const [k, u] of this.#users) if (u.until <= now) this.#users.delete(k);
  }
}
