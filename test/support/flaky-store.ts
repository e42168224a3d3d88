/** A store wrapper for outage tests: the real store, failing on demand. */
import { StoreUnavailableError } from '../../src/errors.js';

/** `store`, except that every call but `close` fails with StoreUnavailableError while `down.value` is true. */
export function flakyStore<S extends object>(store: S, down: { value: boolean }): S {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function' || prop === 'close') return v;
      return (...args: unknown[]) => {
        if (down.value) return Promise.reject(new StoreUnavailableError());
        return v.apply(target, args);
      };
    },
  });
}
