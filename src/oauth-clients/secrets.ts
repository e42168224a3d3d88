/**
 * Client secrets: generated here, stored only as a verifier, checked in
 * constant time.
 *
 * Why SHA-256 and not scrypt (which user passwords get, src/users/password.ts):
 * a slow, salted hash exists to make guessing a low-entropy password expensive
 * after the store leaks. A client secret is not chosen by a person: it is 32
 * bytes from the CSPRNG (256 bits), so there is nothing to guess and no
 * dictionary to precompute; one SHA-256 preimage search over 2^256 is the
 * attack, and no work factor changes that. A fast hash also keeps client
 * authentication off the token endpoint's latency budget and out of reach of a
 * CPU-exhaustion attack with wrong secrets (RFC 6749 §10.10 asks for
 * high-entropy credentials; RFC 6819 §5.1.4.1.3 for storing hashes of them).
 *
 * @module
 */
import { constantTimeEqualString, randomBase64url, sha256Base64url } from '../internal/crypto.js';

const SCHEME = 'sha256$';
/** Longest secret looked at: ours are 43 characters; anything far longer is refused unhashed. */
export const MAX_SECRET_LENGTH = 512;

/** A new client secret: 32 random bytes, base64url (43 characters). */
export function generateClientSecret(): string {
  return randomBase64url(32);
}

/** The stored verifier of a secret: `sha256$<base64url SHA-256>`. */
export function hashClientSecret(secret: string): string {
  return SCHEME + sha256Base64url(`tessera client secret\0${secret}`);
}

/**
 * True when `secret` matches the stored verifier. The digests are compared in
 * constant time (they have a fixed length), so the comparison reveals nothing
 * about how much of a guess was right.
 */
export function verifyClientSecret(secret: string, stored: string): boolean {
  if (typeof secret !== 'string' || secret.length === 0 || secret.length > MAX_SECRET_LENGTH) return false;
  if (typeof stored !== 'string' || !stored.startsWith(SCHEME)) return false;
  return constantTimeEqualString(hashClientSecret(secret), stored);
}
