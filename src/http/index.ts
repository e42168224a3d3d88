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
export { parseBearer, type TesseraAuthOptions, tesseraAuth } from './plugin.js';
export { DEFAULT_RATE_LIMIT, type RateLimitSettings, type TesseraRoutesOptions, tesseraRoutes } from './routes.js';
