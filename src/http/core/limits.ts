/**
 * The HTTP layer's constants, each stated once: the plugin, the routes, the
 * app and the schemas import them from here.
 *
 * @module
 */
import { DEFAULT_MAX_TOKEN_LENGTH } from '../../tokens/limits.js';

/** Default realm of the `WWW-Authenticate: Bearer` challenges (RFC 6750 §3). */
export const DEFAULT_REALM = 'tessera';

/**
 * Largest request body, in bytes. Every request of the contract is a handful of
 * short parameters (the longest is a token, {@link MAX_TOKEN_LENGTH}); a bigger
 * body is refused with 413 before it is parsed.
 */
export const BODY_LIMIT_BYTES = 65_536;

/** Longest token a request may carry: the codecs' own limit, so the schema refuses what they would. */
export const MAX_TOKEN_LENGTH = DEFAULT_MAX_TOKEN_LENGTH;
