/**
 * The Fastify integration (`tessera/fastify`): the auth plugin, the routes of
 * the reference server, and `buildApp`. Kept out of the main entry point so
 * that importing `tessera` never loads Fastify.
 *
 * @module
 */
export { type AppOptions, buildApp, type LogOptions, REDACT_PATHS } from './app.js';
export { type CookieMode, type CookieModeOptions, createCookieMode } from './cookies.js';
export {
  accessTokenError,
  bearerChallenge,
  HttpError,
  type HttpErrorCode,
  httpErrorHandler,
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
export { DEFAULT_RATE_LIMIT, type RateLimitSettings, type TesseraRoutesOptions, tesseraRoutes } from './routes.js';
