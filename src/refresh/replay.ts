/**
 * The grace-window replay record: the pair a rotation produced, kept in the
 * family so that a retry with the just-consumed refresh token gets the same
 * pair back instead of revoking the family (RFC 9700 §4.14.2 allows such a
 * tolerance for lost responses).
 *
 * The record holds live tokens, so it is encrypted (AES-256-GCM) under a key
 * derived (HKDF-SHA256) from the consumed refresh token itself: only someone
 * presenting that token can read it, and a dump of the store reveals nothing.
 * Whoever presents it within the window gets the pair anyway, so nothing is
 * lost by binding the key to it alone.
 *
 * @module
 */
import { StoreUnavailableError } from '../errors.js';
import { decodeBase64url, encodeBase64url } from '../internal/base64url.js';
import { aesGcmOpen, aesGcmSeal, hkdfSha256 } from '../internal/crypto.js';

const SALT = Buffer.from('tessera replay v1', 'utf8');
const AAD = Buffer.from('tessera grace replay', 'utf8');

/** What a replay hands back. Self-contained access tokens minted after the store call are re-minted from `aj/ai/ae`. */
export interface ReplayPayload {
  /** Refresh token. */
  r: string;
  /** Access token, when it was minted before the store call. */
  a?: string;
  /** Access token id, issued-at and expiry (seconds). */
  aj: string;
  ai: number;
  ae: number;
  /** Refresh expiry (seconds, before the family's absolute cap). */
  re: number;
}

function keyFor(presentedToken: string): Buffer {
  return hkdfSha256(Buffer.from(presentedToken, 'utf8'), SALT, 'tessera grace replay aes-256-gcm', 32);
}

export function sealReplay(presentedToken: string, payload: ReplayPayload): string {
  return encodeBase64url(aesGcmSeal(keyFor(presentedToken), Buffer.from(JSON.stringify(payload), 'utf8'), AAD));
}

export function openReplay(presentedToken: string, sealed: string): ReplayPayload {
  const bytes = decodeBase64url(sealed);
  const plain = bytes && aesGcmOpen(keyFor(presentedToken), bytes, AAD);
  // Only a corrupted store gets here (the key comes from the token the store matched): fail closed.
  if (!plain) throw new StoreUnavailableError('The stored replay record cannot be read');
  return JSON.parse(plain.toString('utf8')) as ReplayPayload;
}
