/** A store wrapper for outage tests: the real store, failing on demand. */
import { TokenError } from '../../src/errors.js';
import type { TokenStore } from '../../src/stores/types.js';

/** `store`, except that every call but `close` fails with store_unavailable while `down.value` is true. */
export function flakyStore(store: TokenStore, down: { value: boolean }): TokenStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function' || prop === 'close') return v;
      return (...args: unknown[]) => {
        if (down.value) return Promise.reject(new TokenError('store_unavailable'));
        return v.apply(target, args);
      };
    },
  });
}
