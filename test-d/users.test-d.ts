/**
 * `openStore` and the services a store feeds, as an application (Express, Hono
 * or Fastify alike) wires them: whatever a spec opens is a token store, a user
 * directory, a client directory and a keeper of one-time records, and the user directory comes from
 * `tessera-auth/users`, which needs no framework.
 */
import {
  type BuiltInStore,
  type ClientDirectory,
  type ClientService,
  createClientService,
  createTokenService,
  type OneTimeRecords,
  openStore,
  type TokenStore,
  type UserDirectory,
} from 'tessera-auth';
import {
  createUserService,
  scryptWithCost,
  UserInputError,
  type UserInputErrorCode,
  type UserRecord,
  type UserService,
} from 'tessera-auth/users';
import { expectType } from './helpers.js';

declare const secret: string;

const store = await openStore('sqlite:./data/tessera.db');
expectType<BuiltInStore>()(store);
expectType<TokenStore & OneTimeRecords & UserDirectory & ClientDirectory>()(store);

// One store, three services.
const clients = createClientService(await openStore('memory'));
expectType<ClientService>()(clients);
createTokenService({ secret, store });
const users = createUserService(store, { scrypt: scryptWithCost(2 ** 15) });
expectType<UserService>()(users);
expectType<Promise<UserRecord>>()(users.add('alice', 'correct horse battery staple'));
expectType<Promise<UserRecord | null>>()(users.verify('alice', 'correct horse battery staple'));

// A token store alone is no client directory, nor a user directory.
declare const tokenStoreOnly: TokenStore;
// @ts-expect-error a TokenStore need not keep clients
createClientService(tokenStoreOnly);
// @ts-expect-error a TokenStore need not keep users
createUserService(tokenStoreOnly);

try {
  await users.add('alice', 'short');
} catch (e) {
  if (e instanceof UserInputError) expectType<UserInputErrorCode>()(e.code);
}
