/**
 * A store whose method calls are observed, for the metrics (a duration per call) and the traces
 * (a span per call): one Proxy, shared by both. Members are read from the store itself and bound
 * to it, so a class with private fields works; non-function members pass as they are.
 *
 * @module
 */

/** How a call ended: `ok` false when it threw or its promise rejected; `sync` true when it returned no promise. */
export type CallEnd = (ok: boolean, sync: boolean) => void;

/** `begin(name)` runs before each call of method `name`; the function it returns, once, when the call has ended. */
export function observeStoreCalls<S extends object>(store: S, begin: (name: string) => CallEnd): S {
  const wrapped = new Map<string, unknown>();
  return new Proxy(store, {
    get(target, name) {
      const v: unknown = Reflect.get(target, name, target);
      if (typeof v !== 'function' || typeof name !== 'string') return v;
      const known = wrapped.get(name);
      if (known !== undefined) return known;
      const fn = v as (...a: unknown[]) => unknown;
      const observed = (...args: unknown[]): unknown => {
        const end = begin(name);
        let out: unknown;
        try {
          out = fn.apply(target, args);
        } catch (e) {
          end(false, true);
          throw e;
        }
        if (out === null || typeof out !== 'object' || typeof (out as Promise<unknown>).then !== 'function') {
          end(true, true);
          return out;
        }
        return (out as Promise<unknown>).then(
          (value) => {
            end(true, false);
            return value;
          },
          (e: unknown) => {
            end(false, false);
            throw e;
          },
        );
      };
      wrapped.set(name, observed);
      return observed;
    },
  });
}
