/**
 * Strict base64url (RFC 4648 §5) as JWS requires it (RFC 7515 §2): URL alphabet,
 * no padding, no whitespace, and a canonical last character (the unused low bits
 * of the final symbol must be zero, RFC 4648 §3.5). Node's own decoder is lenient
 * on all four points, so nothing here returns its output unchecked:
 * {@link decodeBase64url} keeps only input that Node's encoder gives back
 * unchanged, and {@link isBase64url} checks text that is compared rather than
 * decoded (a JWS signature, the parts of an opaque token).
 *
 * @module
 */

import { prefixViews } from './views.js';

const URL_ALPHABET = /^[A-Za-z0-9_-]*$/;
const PADDED_URL_ALPHABET = /^[A-Za-z0-9_-]*={0,2}$/;
/** The 6-bit value of each base64url symbol, by character code (a typed array: no string keys to look up). */
const INDEX = new Uint8Array(128);
[...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'].forEach((c, i) => {
  INDEX[c.charCodeAt(0)] = i;
});

export function encodeBase64url(data: Uint8Array | string): string {
  return (
    typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  ).toString('base64url');
}

/** True when `s` is canonical unpadded base64url. */
export function isBase64url(s: string): boolean {
  const rem = s.length % 4;
  if (rem === 1 || !URL_ALPHABET.test(s)) return false;
  if (rem === 0) return true;
  // rem 2 -> last symbol carries 2 data bits (low 4 must be 0); rem 3 -> 4 bits (low 2 must be 0).
  // The alphabet test passed, so the last character is one of the 64 symbols (code < 128).
  const last = INDEX[s.charCodeAt(s.length - 1)] as number;
  return (last & (rem === 2 ? 0x0f : 0x03)) === 0;
}

/** The 6-bit value of each base64url symbol, 255 for any other character code below 128. */
const DECODE = new Uint8Array(128).fill(255);
INDEX.forEach((v, code) => {
  if (v !== 0 || code === 65 /* 'A' */) DECODE[code] = v;
});

/** Two symbols' 12 bits by their two character codes (`c0 << 7 | c1`), 0xffff when either is not base64url. */
const PAIR = new Uint16Array(1 << 14).fill(0xffff);
for (let c0 = 0; c0 < 128; c0++) {
  for (let c1 = 0; c1 < 128; c1++) {
    const a = DECODE[c0] as number;
    const b = DECODE[c1] as number;
    if (a < 64 && b < 64) PAIR[(c0 << 7) | c1] = (a << 6) | b;
  }
}

/** Whether the last {@link decodeBase64urlInto} wrote only ASCII bytes (all below 0x80). */
let lastAscii = false;

/** The characters of the last string {@link decodeBase64urlInto} read, as bytes (grown on demand). */
let chars = Buffer.allocUnsafe(3 * 4096);
/**
 * That string when it was all ASCII (then `chars` holds it whole), else undefined. A JWS is
 * read twice (signature, then payload): the second read finds the bytes already there.
 */
let charsOf: string | undefined;
/** Views of the first bytes of `chars`, by length (remade when `chars` grows). */
let charsView = prefixViews(chars);

/**
 * The first `n` characters of `s` as bytes, without copying them, when `s` is the string the
 * last {@link decodeBase64urlInto} read and it was all ASCII: a view of the decoder's scratch,
 * valid until the next decode. `undefined` otherwise. A JWS verifier hashes the signing input
 * from here after decoding the signature (the same characters, already copied out once).
 */
export function asciiPrefixOf(s: string, n: number): Buffer | undefined {
  return s === charsOf && n >= 0 && n <= s.length ? charsView(n) : undefined;
}

/**
 * Decodes the canonical unpadded base64url text `s[start, end)` into `out`, in plain
 * JavaScript: the number of bytes written, or -1 when the text is not canonical
 * base64url (another symbol, a dangling one, non-zero unused bits, RFC 4648 §3.5) or
 * does not fit. For the JWS paths: Node's SIMD decoder is faster on its own,
 * but the OpenSSL verification that follows it runs measurably slower after it (about
 * 1.5 µs per RS256 verification on an AVX-512 machine; bench/asymmetric.ts).
 *
 * The characters are first copied out as bytes (one native write): a token arrives as a
 * sliced string (a header value after `Bearer `) or a concatenation, and `charCodeAt` on
 * either costs about half again as much per character as on a flat string, more than the copy.
 */
export function decodeBase64urlInto(s: string, start: number, end: number, out: Uint8Array): number {
  if (s === charsOf) return decodeBase64urlBytes(chars, start, end, out);
  // UTF-8 takes 1 to 3 bytes per UTF-16 code unit: room for all of them, so the count is exact.
  if (3 * s.length > chars.length) {
    chars = Buffer.allocUnsafe(3 * s.length);
    charsView = prefixViews(chars);
  }
  // Exactly one byte per character means every character is ASCII, the only ones base64url has.
  if (chars.write(s, 0, 'utf8') === s.length) {
    charsOf = s;
    return decodeBase64urlBytes(chars, start, end, out);
  }
  charsOf = undefined;
  const len = end - start;
  if (chars.write(s.slice(start, end), 0, 'utf8') !== len) return -1;
  return decodeBase64urlBytes(chars, 0, len, out);
}

/**
 * {@link decodeBase64urlInto} for text already in bytes, one per character: `src[start, end)`.
 * A byte above 127 is never base64url.
 */
function decodeBase64urlBytes(src: Uint8Array, start: number, end: number, out: Uint8Array): number {
  const len = end - start;
  const rem = len & 3;
  const size = (len >> 2) * 3 + (rem === 0 ? 0 : rem - 1);
  if (rem === 1 || size > out.length) return -1;
  let o = 0;
  let bad = 0;
  let high = 0;
  /** Every byte OR-ed: above 127 means a byte outside the table's range. */
  let codes = 0;
  let i = start;
  const full = end - rem;
  // Two symbols per table read (PAIR: 12 bits, or 0xffff when either is not base64url), indexes
  // masked to the table (no out-of-bounds read for the JIT to guard); a byte above 127 is caught
  // by `codes` instead. Half the reads of a symbol-by-symbol table: about 30 % less time on a
  // signature's 342 symbols.
  for (; i < full; i += 4) {
    const c0 = src[i] as number;
    const c1 = src[i + 1] as number;
    const c2 = src[i + 2] as number;
    const c3 = src[i + 3] as number;
    codes |= c0 | c1 | c2 | c3;
    const hi = PAIR[((c0 & 127) << 7) | (c1 & 127)] as number;
    const lo = PAIR[((c2 & 127) << 7) | (c3 & 127)] as number;
    bad |= hi | lo;
    const v = (hi << 12) | lo;
    high |= v;
    out[o] = v >> 16;
    out[o + 1] = v >> 8;
    out[o + 2] = v;
    o += 3;
  }
  if (rem !== 0) {
    const c0 = src[i] as number;
    const c1 = src[i + 1] as number;
    const c2 = rem === 3 ? (src[i + 2] as number) : 65; /* 'A': no bits */
    codes |= c0 | c1 | c2;
    const a = DECODE[c0 & 127] as number;
    const b = DECODE[c1 & 127] as number;
    const c = DECODE[c2 & 127] as number;
    // A symbol is at most 63 (63 << 6 = 4032); 255, a byte outside the alphabet, sets bits above 4095.
    bad |= (a | b | c) << 6;
    // The unused low bits of the last symbol must be zero (2 symbols: 4 bits of b; 3 symbols: 2 bits of c).
    if (rem === 2 ? (b & 0x0f) !== 0 : (c & 0x03) !== 0) return -1;
    const v = (a << 18) | (b << 12) | (c << 6);
    high |= v;
    out[o++] = v >> 16;
    if (rem === 3) out[o++] = v >> 8;
  }
  // A byte outside the alphabet sets bits above 4095; one above 127 sets a bit of `codes` above 127.
  if (bad > 4095 || codes > 127) return -1;
  lastAscii = (high & 0x808080) === 0;
  return o;
}

/** Strict UTF-8 (no replacement characters, a BOM kept so that JSON.parse refuses it). */
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
let textScratch = Buffer.allocUnsafe(4096);

/**
 * The canonical unpadded base64url text `s[start, end)` decoded to a string of strict
 * UTF-8 (RFC 8259 §8.1); `null` when it is not canonical base64url or not UTF-8. ASCII,
 * the common case of a JWS payload, is copied as latin1 without a UTF-8 validation.
 */
export function decodeBase64urlText(s: string, start: number, end: number): string | null {
  const max = ((end - start) >> 2) * 3 + 2;
  if (max > textScratch.length) textScratch = Buffer.allocUnsafe(max * 2);
  const n = decodeBase64urlInto(s, start, end, textScratch);
  if (n < 0) return null;
  if (lastAscii) return textScratch.toString('latin1', 0, n);
  try {
    return strictUtf8.decode(textScratch.subarray(0, n));
  } catch {
    return null;
  }
}

/** Decodes canonical unpadded base64url; `null` for anything else. */
export function decodeBase64url(s: string): Buffer | null {
  // Canonical unpadded base64url is exactly what re-encodes to itself: Node's lenient
  // decoder drops or tolerates anything else (other symbols, padding, a dangling
  // symbol, non-zero unused bits), and its encoder writes none of it. One decode, one
  // encode and a compare: cheaper than the alphabet scan of isBase64url on token-sized input.
  const bytes = Buffer.from(s, 'base64url');
  return bytes.toString('base64url') === s ? bytes : null;
}

/** Padded base64url, as the Fernet spec and Python's `urlsafe_b64encode` produce it. */
export function encodeBase64urlPadded(data: Uint8Array): string {
  const s = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64url');
  return s + '='.repeat((4 - (s.length % 4)) % 4);
}

/**
 * Decodes padded base64url (Fernet tokens and keys). Padding must be exactly
 * what the encoder produces; the data part must be canonical.
 */
export function decodeBase64urlPadded(s: string): Buffer | null {
  if (s.length % 4 !== 0 || !PADDED_URL_ALPHABET.test(s)) return null;
  const body = s.replace(/=+$/, '');
  if (s.length - body.length !== (4 - (body.length % 4)) % 4) return null;
  return decodeBase64url(body);
}

/**
 * Key material from configuration: base64url with or without padding (Fernet
 * keys are padded), surrounding whitespace trimmed (a trailing newline from a
 * file or an environment variable). Lenient about nothing else: padded input
 * must be padded exactly, and the alphabet is the URL one.
 */
export function decodeKeyMaterial(s: string): Buffer | null {
  const trimmed = s.trim();
  return trimmed.includes('=') ? decodeBase64urlPadded(trimmed) : decodeBase64url(trimmed);
}
