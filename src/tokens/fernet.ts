/**
 * Fernet (https://github.com/fernet/spec, Spec.md), so Python services read our
 * tokens with `cryptography.fernet` and we read theirs.
 *
 *     0x80 | timestamp (uint64 BE, seconds) | IV (16) | AES-128-CBC ciphertext | HMAC-SHA256 (32)
 *
 * encoded as base64url *with* padding. The 32-byte key is split as the spec says:
 * the first 16 bytes sign, the last 16 encrypt. Verification follows Spec.md's
 * order: version, timestamp (TTL and clock skew), HMAC in constant time, then
 * decryption.
 *
 * @module
 */
import { ConfigError, TokenError } from '../errors.js';
import { decodeBase64urlPadded, encodeBase64urlPadded } from '../internal/base64url.js';
import { aesCbcDecrypt, aesCbcEncrypt, randomBytes } from '../internal/crypto.js';
import { type PreparedHmac, prepareHmacSha256 } from '../internal/hmac.js';
import type { KeyRing } from '../keys.js';
import { DEFAULT_MAX_TOKEN_LENGTH } from './limits.js';

export const FERNET_VERSION = 0x80;
/** Python's `cryptography` refuses tokens stamped more than 60 s ahead. */
export const FERNET_MAX_CLOCK_SKEW = 60;
const MIN_TOKEN_BYTES = 1 + 8 + 16 + 16 + 32;

export interface FernetKey {
  mac: PreparedHmac;
  encKey: Buffer;
}

export function prepareFernetKey(key: Uint8Array): FernetKey {
  if (key.length !== 32) {
    throw new ConfigError(
      `a Fernet key is exactly 32 bytes (16 to sign, 16 to encrypt); this one has ${key.length}. Use a secret from \`tessera keygen\``,
    );
  }
  return { mac: prepareHmacSha256(key.subarray(0, 16)), encKey: Buffer.from(key.subarray(16, 32)) };
}

export function fernetEncrypt(key: FernetKey, plaintext: Uint8Array, nowSec: number, iv: Uint8Array = randomBytes(16)): string {
  const head = Buffer.alloc(9);
  head[0] = FERNET_VERSION;
  head.writeBigUInt64BE(BigInt(Math.floor(nowSec)), 1);
  const body = Buffer.concat([head, iv, aesCbcEncrypt(key.encKey, iv, plaintext)]);
  return encodeBase64urlPadded(Buffer.concat([body, key.mac.mac(body)]));
}

export interface FernetDecryptOptions {
  nowSec: number;
  /** Maximum age in seconds (Spec.md "TTL"); none by default. */
  ttlSeconds?: number;
  maxClockSkewSeconds?: number;
  /** Longest token accepted, in characters (default 8192). */
  maxTokenLength?: number;
}

export interface FernetPlaintext {
  plaintext: Buffer;
  /** The token's timestamp, seconds since the epoch. */
  timestamp: number;
}

/** The timestamp field of decoded token bytes, seconds (capped where a double would lose precision). */
function timestampOf(raw: Buffer): number {
  const ts = raw.readBigUInt64BE(1);
  return ts > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(ts);
}

/**
 * The timestamp of a token that already passed {@link fernetDecrypt}: its first
 * 12 characters are exactly the version byte and the 8 timestamp bytes.
 */
export function fernetTimestamp(token: string): number {
  return timestampOf(Buffer.from(token.slice(0, 12), 'base64url'));
}

/** Verifies and decrypts with any of `keys` (the first whose HMAC matches, like MultiFernet). */
export function fernetDecrypt(keys: readonly FernetKey[], token: string, opts: FernetDecryptOptions): FernetPlaintext {
  if (typeof token !== 'string' || token.length > (opts.maxTokenLength ?? DEFAULT_MAX_TOKEN_LENGTH))
    throw new TokenError('malformed');
  const raw = decodeBase64urlPadded(token);
  if (raw === null) throw new TokenError('malformed', 'The token is not base64url');
  if (raw.length < MIN_TOKEN_BYTES) throw new TokenError('malformed', 'The token is too short');
  if (raw[0] !== FERNET_VERSION) throw new TokenError('malformed', 'Not a Fernet token');
  const timestamp = timestampOf(raw);
  if (opts.ttlSeconds !== undefined && timestamp + opts.ttlSeconds < opts.nowSec) throw new TokenError('expired');
  if (timestamp > opts.nowSec + (opts.maxClockSkewSeconds ?? FERNET_MAX_CLOCK_SKEW)) {
    throw new TokenError('not_yet_valid');
  }
  const tagAt = raw.length - 32;
  const signed = raw.subarray(0, tagAt);
  const tag = raw.subarray(tagAt);
  const key = keys.find((k) => k.mac.verify(signed, tag));
  if (!key) throw new TokenError('bad_signature');
  const plaintext = aesCbcDecrypt(key.encKey, raw.subarray(9, 25), raw.subarray(25, tagAt));
  if (plaintext === null) throw new TokenError('bad_signature');
  return { plaintext, timestamp };
}

/** The Fernet keys of a ring: every key must be exactly 32 bytes. */
export function fernetKeysOf(ring: KeyRing): FernetKey[] {
  return ring.keys.map((k) => prepareFernetKey(k.bytes));
}
