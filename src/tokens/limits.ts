/**
 * Size limits shared by every token format and by the HTTP schemas, stated
 * once here (the lowest layer that needs them) and imported everywhere else.
 *
 * @module
 */

/**
 * Longest token accepted, in characters, before any decoding: bounds the work
 * and memory an attacker can make a verifier spend. Our own tokens stay far
 * below it (a JWT with the usual claims is ~300 characters).
 */
export const DEFAULT_MAX_TOKEN_LENGTH = 8192;
