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
