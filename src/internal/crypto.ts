/**
 * Cryptographic primitives. src/internal/ is the only place in tessera that
 * imports `node:crypto` (this module, and the prepared HMAC in ./hmac.ts), so a
 * move to WebCrypto (or an audit) touches one folder. Every `node:crypto`
 * function used here exists on every Node release `engines` allows (>= 20.19):
 * no feature checks, no fallbacks.
 *
 * @module
 */
import {
  type CipherGCM,
  createCipheriv,
  createDecipheriv,
  createHash,
  type DecipherGCM,
  hash,
  hkdfSync,
  randomBytes as nodeRandomBytes,
  scrypt as nodeScrypt,
  randomFillSync,
  timingSafeEqual,
} from 'node:crypto';

/** Requests up to this size are served from {@link randomPool}. */
const RANDOM_POOL_MAX_REQUEST = 256;
/**
 * CSPRNG output fetched 4 KiB at a time: on Node 20 every `randomBytes(16)` call
 * costs about 2 µs of fixed overhead, which dominated issuing a token (a jti, an
 * IV). Node's `randomUUID` pools the same way. Each byte is handed out once, as
 * a copy, and wiped from the pool.
 */
const randomPool = Buffer.alloc(4096);
let randomPoolOffset = randomPool.length;

/** `n` cryptographically strong random bytes (a new buffer the caller owns). */
export function randomBytes(n: number): Buffer {
  if (n > RANDOM_POOL_MAX_REQUEST) return nodeRandomBytes(n);
  if (randomPoolOffset + n > randomPool.length) {
    randomFillSync(randomPool);
    randomPoolOffset = 0;
  }
  const out = Buffer.from(randomPool.subarray(randomPoolOffset, randomPoolOffset + n));
  randomPool.fill(0, randomPoolOffset, randomPoolOffset + n);
  randomPoolOffset += n;
  return out;
}

/**
 * `n` cryptographically strong random bytes as unpadded base64url (ids, opaque
 * tokens): encoded straight from the pool, without the two Buffers that
 * `encodeBase64url(randomBytes(n))` makes. The bytes are wiped from the pool.
 */
export function randomBase64url(n: number): string {
  if (n > RANDOM_POOL_MAX_REQUEST) return nodeRandomBytes(n).toString('base64url');
  if (randomPoolOffset + n > randomPool.length) {
    randomFillSync(randomPool);
    randomPoolOffset = 0;
  }
  const out = randomPool.toString('base64url', randomPoolOffset, randomPoolOffset + n);
  randomPool.fill(0, randomPoolOffset, randomPoolOffset + n);
  randomPoolOffset += n;
  return out;
}

export function sha256(data: string | Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

/** SHA-512 (FIPS 180-4): the hash of OpenID Connect's `at_hash` for Ed25519-signed ID tokens. */
export function sha512(data: string | Uint8Array): Buffer {
  return createHash('sha512').update(data).digest();
}

/**
 * SHA-256 of a string (UTF-8), base64url without padding, through `crypto.hash`:
 * a one-shot digest without the Hash object and stream set-up of `createHash`.
 * On the path of every refresh (user shards, opaque token hashes).
 */
export function sha256Base64url(data: string): string {
  return hash('sha256', data, 'base64url');
}

/**
 * SHA-256 of a string (UTF-8), standard padded base64 (RFC 4648 §4): the form a
 * Content-Security-Policy hash source takes (`'sha256-…'`, CSP Level 3 §2.3.1).
 */
export function sha256Base64(data: string): string {
  return hash('sha256', data, 'base64');
}

/** HKDF-SHA256 (RFC 5869) with an explicit `info` label per derived key. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: string, length: number): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from(info, 'utf8'), length));
}

/**
 * Constant-time equality of two byte strings. Lengths are compared first:
 * a length is never secret here (MACs have a fixed size).
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

/**
 * Constant-time equality of two strings of one-byte characters: base64url MACs and
 * hashes, and HTTP header values (Node decodes them as Latin-1). Latin-1 maps each
 * character up to U+00FF to its own byte; a character above would be cut to its low
 * byte, which is why callers only pass such strings.
 */
export function constantTimeEqualString(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1'));
}

function cbcCipherName(key: Uint8Array): string {
  switch (key.length) {
    case 16:
      return 'aes-128-cbc';
    case 24:
      return 'aes-192-cbc';
    case 32:
      return 'aes-256-cbc';
    default:
      throw new RangeError(`AES key must be 16, 24 or 32 bytes, got ${key.length}`);
  }
}

/** AES-CBC with PKCS#7 padding (RFC 5652 §6.3). The IV must be fresh and random per message. */
export function aesCbcEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Buffer {
  const c = createCipheriv(cbcCipherName(key), key, iv);
  return Buffer.concat([c.update(plaintext), c.final()]);
}

/**
 * AES-CBC decryption with PKCS#7 unpadding. Returns `null` on any padding or
 * length failure, never a distinguishable error: callers must have checked the
 * MAC first (encrypt-then-MAC), so this never acts as a padding oracle.
 */
export function aesCbcDecrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Buffer | null {
  if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) return null;
  try {
    const d = createDecipheriv(cbcCipherName(key), key, iv);
    return Buffer.concat([d.update(ciphertext), d.final()]);
  } catch {
    return null;
  }
}

const GCM_IV_BYTES = 12;
const GCM_TAG_BYTES = 16;

/**
 * AES-256-GCM (NIST SP 800-38D) with a fresh random 96-bit IV: `iv | ciphertext | tag`.
 * For data at rest in our own stores (the refresh engine's grace-replay record),
 * never for tokens: token formats are fixed by their specs.
 */
export function aesGcmSeal(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array = Buffer.alloc(0)): Buffer {
  if (key.length !== 32) throw new RangeError('AES-256-GCM needs a 32-byte key');
  const iv = nodeRandomBytes(GCM_IV_BYTES);
  const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: GCM_TAG_BYTES }) as CipherGCM;
  c.setAAD(aad);
  const body = Buffer.concat([c.update(plaintext), c.final()]);
  return Buffer.concat([iv, body, c.getAuthTag()]);
}

/** Opens {@link aesGcmSeal} output; `null` when anything (key, tag, AAD, length) is wrong. */
export function aesGcmOpen(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array = Buffer.alloc(0)): Buffer | null {
  if (key.length !== 32 || sealed.length < GCM_IV_BYTES + GCM_TAG_BYTES) return null;
  const iv = sealed.subarray(0, GCM_IV_BYTES);
  const tag = sealed.subarray(sealed.length - GCM_TAG_BYTES);
  try {
    const d = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: GCM_TAG_BYTES }) as DecipherGCM;
    d.setAAD(aad);
    d.setAuthTag(tag);
    return Buffer.concat([d.update(sealed.subarray(GCM_IV_BYTES, sealed.length - GCM_TAG_BYTES)), d.final()]);
  } catch {
    return null;
  }
}

/** scrypt parameters for password hashing (RFC 7914). */
export interface ScryptParams {
  N: number;
  r: number;
  p: number;
  keyLength: number;
}

export function scrypt(password: string | Uint8Array, salt: Uint8Array, params: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    nodeScrypt(
      password,
      salt,
      params.keyLength,
      { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 1024 * 1024 },
      (err, key) => (err ? reject(err) : resolve(key)),
    );
  });
}
