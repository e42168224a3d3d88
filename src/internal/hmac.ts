/**
 * HMAC-SHA256 (RFC 2104, FIPS 198-1) with the key schedule done once per key:
 * the MAC of every HS256 JWT (RFC 7518 §3.2), sealed token and Fernet token.
 * Checked against RFC 4231 §4 and Wycheproof in test/internal/hmac.test.ts.
 *
 * @module
 */
import { type BinaryLike, createHmac, hash, timingSafeEqual } from 'node:crypto';
import { prefixViews } from './views.js';

/** SHA-256 block size in bytes (FIPS 180-4 §5.1). */
const SHA256_BLOCK = 64;
/** SHA-256 digest size in bytes, and its unpadded base64url length. */
const SHA256_SIZE = 32;
const SHA256_BASE64URL_LENGTH = 43;

/**
 * `crypto.hash` with a string output. @types/node allows only hex, base64 and
 * base64url there; Node takes any Buffer encoding, and 'latin1' (one byte per
 * character) is how a digest goes into a scratch buffer without a Buffer.
 */
export const hashText = hash as (algorithm: 'sha256', data: BinaryLike, outputEncoding: 'latin1' | 'base64url') => string;

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
   * time. The caller must have checked that `tagBase64url` is canonical
   * base64url: two spellings of one MAC compare unequal here.
   */
  verifyBase64url(data: string, tagBase64url: string): boolean;
}

/**
 * Prepares HMAC-SHA256 for one key (RFC 2104 §2).
 *
 * HMAC(K, m) = H((K0 ^ opad) || H((K0 ^ ipad) || m)). The two padded key blocks
 * are computed once and kept at the start of two scratch buffers; a MAC writes
 * the message after the inner block and makes two `crypto.hash` calls, against
 * three native calls plus object and stream set-up for `createHmac`, which is
 * where most of the time of a MAC over a short token goes on Node 20 with
 * OpenSSL 3. String outputs of `crypto.hash` are used on purpose: on Node 20 its
 * 'buffer' output takes a slower path (about 2.5x the cost of 'latin1' or
 * 'base64url'; see bench/). The output is identical to `createHmac('sha256', key)`.
 * The scratch buffers are private to this closure and every call is synchronous,
 * so reusing them is safe.
 */
export function prepareHmacSha256(key: Uint8Array): PreparedHmac {
  let k0: Buffer = Buffer.from(key);
  // RFC 2104 §2: keys longer than the block are hashed first.
  if (k0.length > SHA256_BLOCK) k0 = hash('sha256', k0, 'buffer');
  // inner = (K0 ^ ipad) || message (grown on demand); outer = (K0 ^ opad) || inner digest.
  let inner: Buffer = Buffer.alloc(SHA256_BLOCK + 1024);
  const outer = Buffer.alloc(SHA256_BLOCK + SHA256_SIZE);
  inner.fill(0x36, 0, SHA256_BLOCK);
  outer.fill(0x5c, 0, SHA256_BLOCK);
  for (let i = 0; i < k0.length; i++) {
    inner[i] = (inner[i] as number) ^ (k0[i] as number);
    outer[i] = (outer[i] as number) ^ (k0[i] as number);
  }
  k0.fill(0);
  /** The computed tag, for the comparison. */
  const computed = Buffer.alloc(SHA256_SIZE);
  /** The computed and the given tag as base64url text, for {@link PreparedHmac.verifyBase64url}. */
  const expectedText = Buffer.alloc(SHA256_BASE64URL_LENGTH);
  const givenText = Buffer.alloc(SHA256_BASE64URL_LENGTH);

  /** Views of `inner` by length (a new view per MAC is about a tenth of the MAC's cost). */
  let innerView = prefixViews(inner);

  /** Hashes (K0 ^ ipad) || data and leaves the digest in `outer` after the opad block. */
  function innerDigest(data: string | Uint8Array): void {
    let n: number;
    if (typeof data === 'string') {
      // UTF-8 takes at most 3 bytes per UTF-16 code unit.
      if (inner.length < SHA256_BLOCK + 3 * data.length) {
        inner = grow(inner, SHA256_BLOCK + 3 * data.length);
        innerView = prefixViews(inner);
      }
      n = inner.write(data, SHA256_BLOCK, 'utf8');
    } else {
      if (inner.length < SHA256_BLOCK + data.length) {
        inner = grow(inner, SHA256_BLOCK + data.length);
        innerView = prefixViews(inner);
      }
      inner.set(data, SHA256_BLOCK);
      n = data.length;
    }
    outer.write(hashText('sha256', innerView(SHA256_BLOCK + n), 'latin1'), SHA256_BLOCK, 'latin1');
  }
  function macInto(data: string | Uint8Array): Buffer {
    innerDigest(data);
    computed.write(hashText('sha256', outer, 'latin1'), 0, 'latin1');
    return computed;
  }
  return {
    mac: (data) => Buffer.from(macInto(data)),
    macBase64url(data) {
      innerDigest(data);
      return hashText('sha256', outer, 'base64url');
    },
    verify: (data, tag) => tag.length === SHA256_SIZE && timingSafeEqual(macInto(data), tag),
    verifyBase64url(data, tagBase64url) {
      if (tagBase64url.length !== SHA256_BASE64URL_LENGTH) return false;
      // Canonical base64url is a bijection with the MAC bytes, so comparing the two
      // 43-character encodings (as bytes, in constant time) is comparing the MACs.
      innerDigest(data);
      expectedText.write(hashText('sha256', outer, 'base64url'), 0, 'latin1');
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

/** One-off HMAC-SHA256 (RFC 2104) with a key used a few times only (no prepared state worth keeping). */
export function hmacSha256(key: Uint8Array, data: string | Uint8Array): Buffer {
  return createHmac('sha256', key).update(data).digest();
}
