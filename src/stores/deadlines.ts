/**
 * Deadlines of the calls a store has in flight, checked by one sweeping timer instead of a
 * timer per call: on the hot path (every refresh is one call) a call costs a set insert and
 * delete, not a timer's creation and cancellation and a promise race around it. A call that
 * has not settled `timeoutMs` after it started fails with `timeout()` at the first sweep past
 * its deadline: between `timeoutMs` and 1.25 × `timeoutMs` (sweeps every quarter of it). The
 * timer runs only while calls are in flight, and never keeps the process alive.
 *
 * @module
 */

interface Pending {
  readonly at: number;
  readonly reject: (e: unknown) => void;
}

export class Deadlines {
  readonly #timeoutMs: number;
  readonly #timeout: () => unknown;
  readonly #now: () => number;
  readonly #calls = new Set<Pending>();
  #timer: NodeJS.Timeout | undefined;

  /** `now`: a monotonic clock in milliseconds (tests inject one). */
  constructor(timeoutMs: number, timeout: () => unknown, now: () => number = () => performance.now()) {
    this.#timeoutMs = timeoutMs;
    this.#timeout = timeout;
    this.#now = now;
  }

  /** `op()`, or `timeout()` once the deadline has passed (the call is then left to settle unheard). */
  run<T>(op: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const call: Pending = { at: this.#now() + this.#timeoutMs, reject };
      this.#calls.add(call);
      if (this.#timer === undefined) {
        this.#timer = setInterval(() => this.#sweep(), Math.max(1, Math.ceil(this.#timeoutMs / 4)));
        this.#timer.unref();
      }
      let started: Promise<T>;
      try {
        started = op();
      } catch (e) {
        this.#calls.delete(call);
        reject(e);
        return;
      }
      started.then(
        (v) => {
          this.#calls.delete(call);
          resolve(v);
        },
        (e: unknown) => {
          this.#calls.delete(call);
          reject(e);
        },
      );
    });
  }

  /** Calls in flight (for tests and gauges). */
  get pending(): number {
    return this.#calls.size;
  }

  /** Stops the timer; calls still in flight settle as their operations do. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #sweep(): void {
    if (this.#calls.size === 0) {
      this.close();
      return;
    }
    const now = this.#now();
    for (const c of this.#calls) {
      // Insertion order is deadline order (one timeout for every call): stop at the first live one.
      if (c.at > now) break;
      this.#calls.delete(c);
      c.reject(this.#timeout());
    }
  }
}
