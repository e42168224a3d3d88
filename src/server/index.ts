/**
 * `tessera-auth/server`: the reference server as a library: `buildApp` (a Fastify
 * instance with the plugin, the routes, the API docs and the demo page) and
 * `startServer` (config -> store -> listening app, with graceful shutdown).
 * Needs every Fastify peer (`tessera-auth/fastify/routes`' list plus
 * `@fastify/swagger` and `@fastify/swagger-ui`) and the driver of the store it
 * opens (`better-sqlite3` or `ioredis`).
 *
 * @module
 */
export { type AppOptions, buildApp, type LogOptions, REDACT_PATHS } from './app.js';
export { parseConfig, type ServerConfig } from './config.js';
export {
  openConfiguredStore,
  type RunningServer,
  SHUTDOWN_TIMEOUT_MS,
  type StartOptions,
  startServer,
} from './server.js';
