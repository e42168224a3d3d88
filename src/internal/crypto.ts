/**
 * The only module of tessera that imports `node:crypto`. Everything else asks
 * for primitives here, so a move to WebCrypto (or an audit) touches one file.
 *
 * @module
 */
import {
  type CipherGCM,
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  type DecipherGCM,
  type Hash,
  hkdfSync,
  randomBytes as nodeRandomBytes,
  scrypt as nodeScrypt,
  timingSafeEqual,
} from 'node:crypto';

/** SHA-256 block size in bytes (FIPS 180-4 §5.1). */
const SHA256_BLOCK = 64;

export function randomBytes(n: number): Buffer {
  return nodeRandomBytes(n);
}

export function sha256(data: string | Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

/** A keyed HMAC-SHA256 function with the key schedule done once. */
export interface PreparedHmac {
  /** The MAC of `data` (32 bytes). */
  mac(data: string | Uint8Array): Buffer;
  /** The MAC of `data`, base64url without padding (43 characters). */
  macBase64url(data: string): string;
}

/**
 * Prepares HMAC-SHA256 for one key (RFC 2104 §2).
 *
 * HMAC(K, m) = H((K0 ^ opad) || H((K0 ^ ipad) || m)). The two 64-byte key blocks
 * are hashed once here; each MAC then copies the two hash states instead of
 * re-deriving them, which is what `createHmac` does on every call. That makes a
 * MAC cheaper than `createHmac` itself (see bench/). The output is identical to
 * `createHmac('sha256', key)`, checked against the Wycheproof and RFC vectors.
 */
export function prepareHmacSha256(key: Uint8Array): PreparedHmac {
  let k0: Buffer = Buffer.from(key);
  if (k0.length > SHA256_BLOCK) k0 = sha256(k0); // RFC 2104 §2: long keys are hashed first
  const ipad = Buffer.alloc(SHA256_BLOCK, 0x36);
  const opad = Buffer.alloc(SHA256_BLOCK, 0x5c);
  for (let i = 0; i < k0.length; i++) {
    ipad[i] = (ipad[i] as number) ^ (k0[i] as number);
    opad[i] = (opad[i] as number) ^ (k0[i] as number);
  }
  const inner: Hash = createHash('sha256').update(ipad);
  const outer: Hash = createHash('sha256').update(opad);
  ipad.fill(0);
  opad.fill(0);
  k0.fill(0);
  const mac = (data: string | Uint8Array): Buffer => outer.copy().update(inner.copy().update(data).digest()).digest();
  return {
    mac,
    macBase64url: (data: string): string => outer.copy().update(inner.copy().update(data).digest()).digest('base64url'),
  };
}

/** Plain one-shot HMAC-SHA256 (for cold paths and as a reference in tests). */
export function hmacSha256(key: Uint8Array, data: string | Uint8Array): Buffer {
  return createHmac('sha256', key).update(data).digest();
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
 * Constant-time equality of two ASCII strings (base64url MACs, hashes).
 * Latin-1 maps each UTF-16 unit to one byte, so unequal strings stay unequal.
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
