/**
 * `tessera-auth/fastify/routes`: the token endpoints of the reference server
 * (`/auth/token`, `/auth/refresh`, `/auth/revoke`, `/auth/introspect`, ...) as a
 * Fastify plugin to mount in your own app. Needs the peers of
 * `tessera-auth/fastify` plus `@fastify/cookie`, `@fastify/formbody`,
 * `@fastify/type-provider-typebox` and `typebox` (and `@zxcvbn-ts/language-common` for registration).
 * `createUserService` builds the `users` option (password grant, registration).
 *
 * @module
 */

export {
  createUserService,
  UserInputError,
  type UserService,
  type UserServiceOptions,
} from '../users/users.js';
export type { Grant, GrantContext, GrantParam } from './core/grants/types.js';
export { DEFAULT_RATE_LIMIT, type RateLimitSettings, type TesseraRoutesOptions, tesseraRoutes } from './routes.js';
