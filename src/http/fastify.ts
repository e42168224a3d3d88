/**
 * The Fastify integration (`tessera-auth/fastify`): the auth plugin and the HTTP
 * error helpers. Needs the peers `fastify` and `fastify-plugin` only; the
 * routes of the reference server are `tessera-auth/fastify/routes` (more plugins)
 * and the whole app is `tessera-auth/server`. Kept out of the main entry point so
 * that importing `tessera-auth` never loads Fastify.
 *
 * @module
 */
export { type CookieMode, type CookieModeOptions, createCookieMode } from './cookies.js';
export {
  accessTokenError,
  bearerChallenge,
  ERROR_REASONS,
  type ErrorReason,
  HttpError,
  type HttpErrorCode,
  httpErrorHandler,
  isStoreOutage,
  refreshTokenError,
  sendHttpError,
  toHttpError,
} from './errors.js';
export { JWKS_CACHE_CONTROL, JWKS_PATH, type JwksRouteOptions, jwksRoute, jwksUriFor } from './jwks.js';
export {
  type AccessTokenVerifier,
  parseBearer,
  principalOfClaims,
  type TesseraAuthOptions,
  tesseraAuth,
} from './plugin.js';
