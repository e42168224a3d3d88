/**
 * The listener side of a store's revocation push ({@link RevocationFeed}),
 * shared by the built-in stores: a set of listeners, the feed's status, and
 * hooks that start the transport with the first subscriber and stop it with the
 * last (a SQLite poll timer, a Redis subscriber connection).
 *
 * @module
 */
import type { RevocationEvent, RevocationFeed, RevocationListener } from './types.js';

export class RevocationHub implements RevocationFeed {
  readonly #listeners = new Set<RevocationListener>();
  #up = false;
  readonly #start: () => void;
  readonly #stop: () => void;

  readonly #snapshot: (() => RevocationEvent[] | undefined) | undefined;

  /**
   * `start` runs when the first listener subscribes, `stop` when the last one leaves.
   * `snapshot` (a store that can enumerate its revocations in force): replayed to each
   * new listener before its 'up', which is then `complete`; undefined when it has none at
   * that moment (PostgreSQL reads it asynchronously, for the 'up' after LISTEN only).
   */
  constructor(hooks: { start?: () => void; stop?: () => void; snapshot?: () => RevocationEvent[] | undefined } = {}) {
    this.#start = hooks.start ?? (() => {});
    this.#stop = hooks.stop ?? (() => {});
    this.#snapshot = hooks.snapshot;
  }

  get up(): boolean {
    return this.#up;
  }

  get listening(): boolean {
    return this.#listeners.size > 0;
  }

  subscribe(listener: RevocationListener): () => void {
    if (this.#listeners.size === 0) this.#start();
    this.#listeners.add(listener);
    // A listener starts down: it hears 'up' only from a feed that can promise delivery now.
    if (this.#up) this.#welcome(listener);
    return () => {
      if (this.#listeners.delete(listener) && this.#listeners.size === 0) this.#stop();
    };
  }

  /** 'up' for one listener, after the snapshot when there is one (then `complete`). */
  #welcome(listener: RevocationListener): void {
    let events: RevocationEvent[] | undefined;
    try {
      events = this.#snapshot?.();
    } catch {
      events = undefined;
    }
    if (events) for (const e of events) listener.event(e);
    listener.status('up', events !== undefined);
  }

  /** Delivers one event to every listener (a throwing listener does not stop the others). */
  emit(event: RevocationEvent): void {
    for (const l of this.#listeners) {
      try {
        l.event(event);
      } catch {
        // A listener's bug must not break the store operation that emitted.
      }
    }
  }

  /** Sets the feed's status; listeners hear changes only (an 'up' with the snapshot, when there is one). */
  status(s: 'up' | 'down'): void {
    const up = s === 'up';
    if (up === this.#up) return;
    this.#up = up;
    for (const l of this.#listeners) {
      try {
        if (up) this.#welcome(l);
        else l.status(s);
      } catch {
        // as in emit
      }
    }
  }
}

/** The `until` of a client-removal event: a cache that was down longer rebuilt itself anyway. */
export const CLIENT_NEWS_MS = 60_000;

/**
 * The wire form of an event (Redis PUBLISH payload): `kind|until|notBefore|key`,
 * the key last so that it may contain `|`. Kinds: `j` access token, `f` family, `u` user,
 * `c` client removed. A decoder that does not know a kind ignores the event, so only a kind
 * no earlier instance needs to act on may be added (an older instance caches no clients).
 */
export function encodeEvent(e: RevocationEvent): string {
  if (e.kind === 'jti') return `j|${e.until}|0|${e.jti}`;
  if (e.kind === 'family') return `f|${e.until}|0|${e.familyId}`;
  if (e.kind === 'client') return `c|${e.until}|0|${e.clientId}`;
  return `u|${e.until}|${e.notBefore}|${e.sub}`;
}

/** The event of {@link encodeEvent}'s form; undefined for anything else. */
export function decodeEvent(s: string): RevocationEvent | undefined {
  const a = s.indexOf('|');
  const b = s.indexOf('|', a + 1);
  const c = s.indexOf('|', b + 1);
  if (a !== 1 || b < 0 || c < 0) return undefined;
  const until = Number(s.slice(a + 1, b));
  const notBefore = Number(s.slice(b + 1, c));
  const key = s.slice(c + 1);
  if (!Number.isFinite(until) || !Number.isFinite(notBefore) || key === '') return undefined;
  switch (s[0]) {
    case 'j':
      return { kind: 'jti', jti: key, until };
    case 'f':
      return { kind: 'family', familyId: key, until };
    case 'u':
      return { kind: 'user', sub: key, notBefore, until };
    case 'c':
      return { kind: 'client', clientId: key, until };
    default:
      return undefined;
  }
}
