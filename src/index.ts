/**
 * tessera: access and refresh tokens without a JWT library.
 *
 * @module
 */
export { ConfigError, isTokenError, TOKEN_ERROR_CODES, TokenError, type TokenErrorCode } from './errors.js';
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
export type { Claims, DecodeOptions, TokenType } from './tokens/claims.js';
export {
  type Codec,
  type CodecOptions,
  createCodec,
  SELF_CONTAINED_FORMATS,
  type SelfContainedFormat,
} from './tokens/codec.js';
export { fernetDecrypt, fernetEncrypt, prepareFernetKey } from './tokens/fernet.js';
export { createJwtCodec } from './tokens/jwt.js';
export { generateOpaqueToken, hashOpaqueToken, parseOpaqueToken } from './tokens/opaque.js';
export { createSealedCodec } from './tokens/sealed.js';
