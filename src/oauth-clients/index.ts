/**
 * Registered OAuth clients (RFC 6749 §2).
 *
 * @module
 */
export {
  type AddClientOptions,
  type AddedClient,
  type CheckedClientOptions,
  type ClientAuthentication,
  ClientInputError,
  type ClientInputErrorCode,
  type ClientRemovalFeed,
  type ClientService,
  type ClientServiceOptions,
  checkClientId,
  checkClientOptions,
  checkClientScope,
  createClientService,
  DEFAULT_CLIENT_ID,
  GRANT_TYPES,
  type GrantType,
  MAX_CLIENT_SCOPE_LENGTH,
  NO_CLIENTS,
  type PresentedClient,
} from './clients.js';
export {
  checkRedirectUri,
  MAX_REDIRECT_URI_LENGTH,
  matchRedirectUri,
  RedirectUriError,
} from './redirect-uris.js';
export { generateClientSecret, hashClientSecret, verifyClientSecret } from './secrets.js';
export {
  CLIENT_DEFAULTS,
  type ClientDirectory,
  type ClientRecord,
  type ClientSettings,
  type ClientType,
  completeClient,
  isClientDirectory,
} from './types.js';
