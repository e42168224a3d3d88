/**
 * A store whose method calls are observed, for the metrics (a duration per call) and the traces
 * (a span per call): one Proxy, shared by both. Members are read from the store itself and bound
 * to it, so a class with private fields works; non-function members pass as they are.
 *
 * @module
 */

/**
 * The observer of one method: `start()` runs before each call and `end` once the call has ended,
 * with what `start` returned; `ok` false when it threw or its promise rejected, `sync` true when it
 * returned no promise.
 */
export interface CallObserver<T> {
  start(): T;
  end(started: T, ok: boolean, sync: boolean): void;
}

/**
 * `observe(name)` runs once per method name, on its first call; its observer sees every call of
 * that method. The caller gets the method's own promise back: observing adds no turn of the
 * event loop to its wait.
 */
export function observeStoreCalls<S extends object>(store: S, observe: (name: string) => CallObserver<unknown>): S {
  const wrapped = new Map<string | symbol, unknown>();
  return new Proxy(store, {
    get(target, name) {
      const known = wrapped.get(name);
      if (known !== undefined) return known;
      const v: unknown = Reflect.get(target, name, target);
      if (typeof v !== 'function' || typeof name !== 'string') return v;
      const fn = v as (...a: unknown[]) => unknown;
      let observer: CallObserver<unknown> | undefined;
      const observed = (...args: unknown[]): unknown => {
        observer ??= observe(name);
        const o = observer;
        const started = o.start();
        let out: unknown;
        try {
          out = fn.apply(target, args);
        } catch (e) {
          o.end(started, false, true);
          throw e;
        }
        if (out === null || typeof out !== 'object' || typeof (out as Promise<unknown>).then !== 'function') {
          o.end(started, true, true);
          return out;
        }
        // A reaction beside the caller's: it sees the outcome and handles nothing for the caller.
        (out as Promise<unknown>).then(
          () => o.end(started, true, false),
          () => o.end(started, false, false),
        );
        return out;
      };
      wrapped.set(name, observed);
      return observed;
    },
  });
}
