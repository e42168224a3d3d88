/**
 * `tessera-auth/users`: the user directory (the password grant's users and
 * registration) on any store that is a `UserDirectory`, every built-in one
 * included. Needs no framework: Express, Hono and Fastify apps use it alike.
 * `add` checks new passwords against a common-password list, which needs the
 * optional peer `@zxcvbn-ts/language-common` (a missing one is a one-line
 * `ConfigError` that says what to install); `verify` needs no peer.
 *
 *     import { openStore } from 'tessera-auth';
 *     import { createUserService } from 'tessera-auth/users';
 *     const users = createUserService(await openStore('sqlite:./data/tessera.db'));
 *
 * @module
 */
export type { ScryptParams } from '../internal/crypto.js';
export type { UserDirectory, UserRecord } from '../stores/types.js';
export { DEFAULT_SCRYPT, MAX_PASSWORD_LENGTH, MAX_SCRYPT_N, scryptWithCost } from './password.js';
export {
  createUserService,
  MIN_PASSWORD_LENGTH,
  UserInputError,
  type UserInputErrorCode,
  type UserService,
  type UserServiceOptions,
} from './users.js';
