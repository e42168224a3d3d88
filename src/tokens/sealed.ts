/**
 * `sealed`: encrypted, authenticated tokens (scheme 2 of the original three-scheme
 * design, with its two flaws fixed).
 *
 * Layout, base64url without padding:
 *
 *     version (1) | kid length (1) | kid | IV (16) | AES-256-CBC(PKCS#7) ciphertext | HMAC-SHA256 tag (32)
 *
 * - The IV is fresh and random for every token (CBC needs an unpredictable IV,
 *   NIST SP 800-38A Appendix C: a fixed one gives equal ciphertext prefixes for equal claims prefixes).
 * - Encrypt-then-MAC: the tag covers version, key id, IV and ciphertext, so none of
 *   them can be altered (a MAC over the ciphertext alone would leave the IV free to
 *   flip bits of the first plaintext block).
 * - Encryption and MAC keys are separate, derived with HKDF-SHA256 (RFC 5869) from
 *   the configured secret; no key serves both purposes.
 * - The tag is checked, in constant time, before anything is decrypted; every
 *   failure after the structure check is the same `bad_signature` error, so there
 *   is no padding oracle.
 *
 * @module
 */
import { TokenError } from '../errors.js';
import { decodeBase64url } from '../internal/base64url.js';
import { aesCbcDecrypt, aesCbcEncrypt, hkdfSha256, randomBytes } from '../internal/crypto.js';
import { type PreparedHmac, prepareHmacSha256 } from '../internal/hmac.js';
import type { KeyRing } from '../keys.js';
import { type Claims, parseClaims } from './claims.js';
import { DEFAULT_MAX_TOKEN_LENGTH } from './limits.js';

export const SEALED_VERSION = 0x01;
const IV_BYTES = 16;
const TAG_BYTES = 32;
const HKDF_SALT = Buffer.from('tessera sealed v1', 'utf8');

interface SealedKey {
  kid: Buffer;
  encKey: Buffer;
  mac: PreparedHmac;
}

export interface SealedCodec {
  seal(plaintext: Uint8Array): string;
  open(token: string): Buffer;
  encode(claims: Claims): string;
  decode(token: string): Claims;
}

export function createSealedCodec(ring: KeyRing, maxTokenLength = DEFAULT_MAX_TOKEN_LENGTH): SealedCodec {
  const keys: SealedKey[] = ring.keys.map((k) => ({
    kid: Buffer.from(k.kid, 'utf8'),
    encKey: hkdfSha256(k.bytes, HKDF_SALT, 'tessera sealed v1 aes-256-cbc', 32),
    mac: prepareHmacSha256(hkdfSha256(k.bytes, HKDF_SALT, 'tessera sealed v1 hmac-sha256', 32)),
  }));
  const byKid = new Map(keys.map((k) => [k.kid.toString('utf8'), k]));
  const signer = keys[0] as SealedKey;
  const head = Buffer.concat([Buffer.from([SEALED_VERSION, signer.kid.length]), signer.kid]);

  function seal(plaintext: Uint8Array): string {
    const iv = randomBytes(IV_BYTES);
    const body = Buffer.concat([head, iv, aesCbcEncrypt(signer.encKey, iv, plaintext)]);
    return Buffer.concat([body, signer.mac.mac(body)]).toString('base64url');
  }

  function open(token: string): Buffer {
    if (typeof token !== 'string' || token.length > maxTokenLength) throw new TokenError('malformed');
    const raw = decodeBase64url(token);
    if (raw === null) throw new TokenError('malformed', 'The token is not base64url');
    if (raw.length < 2 || raw[0] !== SEALED_VERSION) throw new TokenError('malformed', 'Not a sealed token');
    const kidEnd = 2 + (raw[1] as number);
    if (raw.length < kidEnd + IV_BYTES + 16 + TAG_BYTES) throw new TokenError('malformed', 'The token is too short');
    const key = byKid.get(raw.subarray(2, kidEnd).toString('utf8'));
    if (!key) throw new TokenError('unknown_key');
    const tagAt = raw.length - TAG_BYTES;
    if (!key.mac.verify(raw.subarray(0, tagAt), raw.subarray(tagAt))) {
      throw new TokenError('bad_signature');
    }
    const plaintext = aesCbcDecrypt(key.encKey, raw.subarray(kidEnd, kidEnd + IV_BYTES), raw.subarray(kidEnd + IV_BYTES, tagAt));
    if (plaintext === null) throw new TokenError('bad_signature');
    return plaintext;
  }

  return {
    seal,
    open,
    encode: (claims) => seal(Buffer.from(JSON.stringify(claims), 'utf8')),
    decode: (token) => parseClaims(open(token)),
  };
}
