/**
 * tessera: access and refresh tokens without a JWT library.
 *
 * The root entry loads no framework and no store driver: what needs one lives
 * in its own subpath (`tessera-auth/stores/sqlite`, `tessera-auth/stores/redis`,
 * `tessera-auth/fastify`, `tessera-auth/fastify/routes`, `tessera-auth/server`), and
 * {@link openStore} imports a driver only when a store URL asks for it.
 *
 * @module
 */

export {
  ConfigError,
  DependencyUnavailableError,
  InvalidScopeError,
  isDependencyUnavailable,
  isInvalidScope,
  isStoreUnavailable,
  isTesseraError,
  isTokenError,
  JwksUnavailableError,
  StoreUnavailableError,
  TesseraError,
  TOKEN_ERROR_CODES,
  TokenError,
  type TokenErrorCode,
  type UnavailableDependency,
} from './errors.js';
export {
  createKeyRing,
  generateSecret,
  type Key,
  type KeyInput,
  type KeyRing,
  keyRingFromEnv,
  MIN_SECRET_BYTES,
  parseKeysEnv,
  parseSecret,
  type SecretInput,
} from './keys.js';
export {
  type AddClientOptions,
  type AddedClient,
  type ClientAuthentication,
  type ClientDirectory,
  ClientInputError,
  type ClientInputErrorCode,
  type ClientRecord,
  type ClientService,
  type ClientServiceOptions,
  type ClientType,
  createClientService,
  DEFAULT_CLIENT_ID,
  isClientDirectory,
  NO_CLIENTS,
  type PresentedClient,
} from './oauth-clients/index.js';
export {
  type ConfiguredTokenService,
  createTokenService,
  DEFAULTS as TOKEN_SERVICE_DEFAULTS,
  type TokenServiceConfig,
} from './refresh/service.js';
export {
  type AccessGrant,
  type Introspection,
  type IssueInput,
  type Principal,
  type RefreshOptions,
  SCHEMES,
  type Scheme,
  SESSION_ADDRESS_MODES,
  type Session,
  type SessionAddressMode,
  type SessionDevice,
  TOKEN_FORMATS,
  type TokenFormat,
  type TokenPair,
  type TokenService,
  type TokenServiceOptions,
} from './refresh/types.js';
export { MemoryStore, type MemoryStoreOptions } from './stores/memory.js';
export { type BuiltInStore, type OpenStoreOptions, openStore, registerStoreScheme, type StoreScheme } from './stores/open.js';
export type * from './stores/types.js';
export type { Claims, DecodeOptions, TokenType } from './tokens/claims.js';
export {
  type Codec,
  type CodecOptions,
  createCodec,
  SELF_CONTAINED_FORMATS,
  type SelfContainedFormat,
} from './tokens/codec.js';
export {
  accessTokenHash,
  DPOP_ALGS,
  DpopError,
  type DpopRequest,
  isDpopError,
  type VerifiedDpopProof,
  verifyDpopProof,
} from './tokens/dpop.js';
export {
  ASYMMETRIC_ALGS,
  type AsymmetricAlg,
  generateSigningJwk,
  type JwkSet,
  jwkThumbprint,
  type PrivateJwk,
  type PublicJwk,
  parseSigningKeySet,
  type SigningKeySet,
} from './tokens/jwk.js';
export { generateOpaqueToken, hashOpaqueToken, parseOpaqueToken } from './tokens/opaque.js';
export { createJwksVerifier, type FetchLike, type JwksVerifier, type JwksVerifierOptions } from './verify/jwks.js';
