/**
 * `tessera-auth/stores`: what a store implementer needs. The contracts a store
 * keeps (`TokenStore`, `OneTimeRecords`, `UserDirectory`, `ClientDirectory` and
 * every input and result they name), the scheme registry that makes it openable
 * by URL (`registerStoreScheme`, then `openStore`), and the error a backend
 * failure becomes (`StoreUnavailableError`). The root entry re-exports them too.
 *
 *     import { registerStoreScheme, type BuiltInStore } from 'tessera-auth/stores';
 *     registerStoreScheme({ schemes: ['toy:'], syntax: 'toy:NAME', open: async (spec) => new ToyStore(spec) });
 *
 * @module
 */

export { StoreUnavailableError } from '../errors.js';
export type { ClientDirectory, ClientRecord } from '../oauth-clients/types.js';
export {
  type BuiltInStore,
  findStoreScheme,
  type OpenStoreOptions,
  openStore,
  registerStoreScheme,
  type StoreScheme,
  storeSchemes,
} from './open.js';
export type * from './types.js';
