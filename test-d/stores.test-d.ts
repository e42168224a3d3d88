/**
 * `tessera-auth/stores`, the store implementer's entry: the contracts, the
 * scheme registry and the backend error, the same types the root re-exports.
 */
import type * as Root from 'tessera-auth';
import { MemoryStore } from 'tessera-auth/stores/memory';
import {
  type BuiltInStore,
  type OnceRef,
  type OneTimeRecords,
  openStore,
  type PutOnceInput,
  registerStoreScheme,
  type StoreScheme,
  StoreUnavailableError,
  type TokenStore,
} from 'tessera-auth/stores';
import { assertType, type Equal, expectType } from './helpers.js';

assertType<Equal<TokenStore, Root.TokenStore>>;
assertType<Equal<BuiltInStore, Root.BuiltInStore>>;
assertType<Equal<OneTimeRecords, Root.OneTimeRecords>>;

// A row: an opener that returns every directory openStore promises.
const row: StoreScheme = {
  schemes: ['toy:'],
  syntax: 'toy:NAME',
  open: async (_spec, options) => new MemoryStore({ clock: options.clock }),
};
const unregister = registerStoreScheme(row);
expectType<() => void>()(unregister);
expectType<Promise<BuiltInStore>>()(openStore('toy:x'));

// One-time records.
declare const store: BuiltInStore;
const put: PutOnceInput = { kind: 'authorization_code', id: 'c', value: '{}', now: 0, expiresAt: 60_000 };
expectType<Promise<boolean>>()(store.putOnce(put));
const ref: OnceRef = { kind: 'authorization_code', id: 'c', now: 0 };
expectType<Promise<string | null>>()(store.consumeOnce(ref));

// Capabilities are optional members: a store need not have them.
expectType<(() => Promise<number>) | undefined>()(store.migrate);
expectType<string>()(store.kind);

// @ts-expect-error: an opener must return a store with every directory (a bare TokenStore is not one)
registerStoreScheme({ schemes: ['bare:'], syntax: 'bare:', open: async () => ({}) as TokenStore });

expectType<StoreUnavailableError>()(new StoreUnavailableError());
