/**
 * The only module of tessera that imports `node:crypto`. Everything else asks
 * for primitives here, so a move to WebCrypto (or an audit) touches one file.
 *
 * @module
 */
import * as nodeCrypto from 'node:crypto';
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
  randomFillSync,
  timingSafeEqual,
} from 'node:crypto';

/** SHA-256 block size in bytes (FIPS 180-4 §5.1). */
const SHA256_BLOCK = 64;

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

/** A keyed HMAC-SHA256 function with the key schedule done once. */
export interface PreparedHmac {
  /** The MAC of `data` (32 bytes). Strings are hashed as UTF-8. */
  mac(data: string | Uint8Array): Buffer;
  /** The MAC of `data`, base64url without padding (43 characters). */
  macBase64url(data: string): string;
  /** Whether `tag` is the MAC of `data`, compared in constant time. */
  verify(data: string | Uint8Array, tag: Uint8Array): boolean;
  /**
   * Whether `tagBase64url` is the base64url MAC of `data`, compared in constant
   * time on the decoded bytes. The caller must have checked that `tagBase64url`
   * is canonical base64url (the decoder here is Node's, which is lenient).
   */
  verifyBase64url(data: string, tagBase64url: string): boolean;
}

/** How many message lengths a prepared HMAC keeps a view of its scratch buffer for. */
const MAX_CACHED_VIEWS = 64;

/** SHA-256 digest size in bytes, and its unpadded base64url length. */
const SHA256_SIZE = 32;
const SHA256_BASE64URL_LENGTH = 43;

type OneShotHash = (algorithm: string, data: string | Uint8Array, outputEncoding: 'latin1' | 'base64url') => string;
/**
 * `crypto.hash` (Node >= 20.12): a one-shot digest without the per-call object
 * and stream set-up of `createHash`, `createHmac` or `Hash.copy`, which is where
 * most of the time of a MAC over a short token goes on Node 20 with OpenSSL 3.
 * String outputs are used on purpose: on Node 20 the 'buffer' output takes a
 * slower path (about 2.5x the cost of 'latin1' or 'base64url'; see bench/).
 * Looked up dynamically so that older Node 20 releases still load this module;
 * they take the `Hash.copy` path.
 */
const oneShotHash = (nodeCrypto as { hash?: unknown }).hash as OneShotHash | undefined;

/**
 * SHA-256 of a string (UTF-8), base64url without padding: the one-shot digest
 * where there is one (no Hash object, no Buffer; see {@link oneShotHash}). On
 * the path of every refresh (user shards, opaque token hashes).
 */
export function sha256Base64url(data: string): string {
  if (oneShotHash) return oneShotHash('sha256', data, 'base64url');
  return createHash('sha256').update(data).digest('base64url');
}

/**
 * Prepares HMAC-SHA256 for one key (RFC 2104 §2).
 *
 * HMAC(K, m) = H((K0 ^ opad) || H((K0 ^ ipad) || m)). The two padded key blocks
 * are computed once and kept at the start of two scratch buffers; a MAC writes
 * the message after the inner block and makes two one-shot hash calls, against
 * three native calls plus object set-up for `createHmac`. The output is identical
 * to `createHmac('sha256', key)`: checked against the Wycheproof and RFC vectors
 * in test/vectors. The scratch buffers are private to this closure and every call
 * is synchronous, so reusing them is safe.
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
  k0.fill(0);
  /** Holds a candidate tag decoded from base64url, for the comparison. */
  const candidate = Buffer.alloc(SHA256_SIZE + 3);

  const hash = oneShotHash;
  if (!hash) {
    // Node < 20.12: hash the key blocks once and copy the hash states per MAC.
    const innerState: Hash = createHash('sha256').update(ipad);
    const outerState: Hash = createHash('sha256').update(opad);
    ipad.fill(0);
    opad.fill(0);
    const macCopy = (data: string | Uint8Array): Buffer =>
      outerState.copy().update(innerState.copy().update(data).digest()).digest();
    return {
      mac: macCopy,
      macBase64url: (data) => macCopy(data).toString('base64url'),
      verify: (data, tag) => constantTimeEqual(macCopy(data), tag),
      verifyBase64url(data, tagBase64url) {
        if (tagBase64url.length !== SHA256_BASE64URL_LENGTH) return false;
        const n = candidate.write(tagBase64url, 0, 'base64url');
        return n === SHA256_SIZE && timingSafeEqual(macCopy(data), candidate.subarray(0, SHA256_SIZE));
      },
    };
  }

  // inner = ipad block || message (grown on demand); outer = opad block || inner digest.
  let inner: Buffer = Buffer.alloc(SHA256_BLOCK + 1024);
  ipad.copy(inner);
  const outer = Buffer.alloc(SHA256_BLOCK + SHA256_SIZE);
  opad.copy(outer);
  ipad.fill(0);
  opad.fill(0);
  /** The computed tag, for the comparison. */
  const computed = Buffer.alloc(SHA256_SIZE);
  /** The computed and the given tag as base64url text, for {@link PreparedHmac.verifyBase64url}. */
  const expectedText = Buffer.alloc(SHA256_BASE64URL_LENGTH);
  const givenText = Buffer.alloc(SHA256_BASE64URL_LENGTH);

  /**
   * Views of `inner` by message length. `crypto.hash` takes no offset or length,
   * and a new view per MAC is about a tenth of the MAC's cost; tokens of one
   * deployment come in a handful of lengths. Bounded, and dropped when `inner` grows.
   */
  let views = new Map<number, Buffer>();
  function innerView(n: number): Buffer {
    let v = views.get(n);
    if (v === undefined) {
      if (views.size >= MAX_CACHED_VIEWS) views.clear();
      v = inner.subarray(0, SHA256_BLOCK + n);
      views.set(n, v);
    }
    return v;
  }

  /** Hashes ipad || data and leaves the digest in `outer` after the opad block. */
  function innerDigest(data: string | Uint8Array): void {
    let n: number;
    if (typeof data === 'string') {
      // UTF-8 takes at most 3 bytes per UTF-16 code unit.
      if (inner.length < SHA256_BLOCK + 3 * data.length) {
        inner = grow(inner, SHA256_BLOCK + 3 * data.length);
        views = new Map();
      }
      n = inner.write(data, SHA256_BLOCK, 'utf8');
    } else {
      if (inner.length < SHA256_BLOCK + data.length) {
        inner = grow(inner, SHA256_BLOCK + data.length);
        views = new Map();
      }
      inner.set(data, SHA256_BLOCK);
      n = data.length;
    }
    outer.write((hash as OneShotHash)('sha256', innerView(n), 'latin1'), SHA256_BLOCK, 'latin1');
  }
  function macInto(data: string | Uint8Array): Buffer {
    innerDigest(data);
    computed.write((hash as OneShotHash)('sha256', outer, 'latin1'), 0, 'latin1');
    return computed;
  }
  return {
    mac: (data) => Buffer.from(macInto(data)),
    macBase64url(data) {
      innerDigest(data);
      return (hash as OneShotHash)('sha256', outer, 'base64url');
    },
    verify: (data, tag) => tag.length === SHA256_SIZE && timingSafeEqual(macInto(data), tag),
    verifyBase64url(data, tagBase64url) {
      if (tagBase64url.length !== SHA256_BASE64URL_LENGTH) return false;
      // Canonical base64url is a bijection with the MAC bytes, so comparing the two
      // 43-character encodings (as bytes, in constant time) is comparing the MACs.
      innerDigest(data);
      expectedText.write((hash as OneShotHash)('sha256', outer, 'base64url'), 0, 'latin1');
      givenText.write(tagBase64url, 0, 'latin1');
      return timingSafeEqual(expectedText, givenText);
    },
  };
}

/** A larger scratch buffer with the same first (key) block; the old one is wiped. */
function grow(buf: Buffer, size: number): Buffer {
  const next = Buffer.alloc(Math.max(size, buf.length * 2));
  buf.copy(next, 0, 0, SHA256_BLOCK);
  buf.fill(0);
  return next;
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

/**
 * Constant-time equality of two short strings (a cached token's MAC-bearing
 * tail), without the two Buffers of {@link constantTimeEqualString}: the loop
 * looks at every character whatever the first difference, and only the
 * lengths, which are public, end it early.
 */
export function constantTimeEqualShort(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
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
