/**
 * Registered OAuth clients (RFC 6749 §2).
 *
 * @module
 */
export {
  type AddClientOptions,
  type AddedClient,
  type ClientAuthentication,
  ClientInputError,
  type ClientInputErrorCode,
  type ClientRemovalFeed,
  type ClientService,
  type ClientServiceOptions,
  checkClientId,
  createClientService,
  DEFAULT_CLIENT_ID,
  NO_CLIENTS,
  type PresentedClient,
} from './clients.js';
export { generateClientSecret, hashClientSecret, verifyClientSecret } from './secrets.js';
export { type ClientDirectory, type ClientRecord, type ClientType, isClientDirectory } from './types.js';
