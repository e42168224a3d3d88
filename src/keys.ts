/**
 * Key ring: the secrets that sign and verify tokens.
 *
 * One key from `TESSERA_SECRET`, or several from `TESSERA_KEYS`
 * (`kid:secret,kid:secret`): the first key signs, every key verifies, so a
 * new key can be put in front while tokens signed by the old one live out
 * their lifetime. Secrets are base64url; fewer than 32 bytes is refused
 * (RFC 7518 §3.2: an HS256 key MUST be at least 256 bits).
 *
 * @module
 */
import { ConfigError } from './errors.js';
import { decodeKeyMaterial, encodeBase64url } from './internal/base64url.js';
import { hkdfSha256, randomBytes, sha256 } from './internal/crypto.js';

export const MIN_SECRET_BYTES = 32;
const KID_PATTERN = /^[A-Za-z0-9._~-]{1,64}$/;

export interface Key {
  /** Key id, carried by tokens (`kid` header, sealed key id) to select the key. */
  readonly kid: string;
  readonly bytes: Buffer;
}

export interface KeyRing {
  /** The signing key (the first one). */
  readonly primary: Key;
  /** All keys, signing key first. */
  readonly keys: readonly Key[];
  byKid(kid: string): Key | undefined;
}

/** A secret as accepted by the library: base64url text or raw bytes. */
export type SecretInput = string | Uint8Array;

export const KEYGEN_HINT = 'generate one with `tessera keygen` (32 random bytes, base64url)';

/** Parses one secret, refusing short or non-base64url input with a message that says how to fix it. */
export function parseSecret(input: SecretInput, label = 'secret'): Buffer {
  let bytes: Buffer | null;
  if (typeof input === 'string') {
    bytes = decodeKeyMaterial(input);
    if (bytes === null) throw new ConfigError(`${label} is not base64url; ${KEYGEN_HINT}`);
  } else {
    bytes = Buffer.from(input);
  }
  if (bytes.length < MIN_SECRET_BYTES) {
    throw new ConfigError(
      `${label} has ${bytes.length} bytes of key material; at least ${MIN_SECRET_BYTES} are required (RFC 7518 §3.2); ${KEYGEN_HINT}`,
    );
  }
  return bytes;
}

/**
 * Why a secret does not look like random bytes, or `null`. A key of 32 random
 * bytes has about 30 distinct byte values and is almost never all printable
 * ASCII ((95/256)^32 < 1e-13); a passphrase encoded as base64url, or a repeated
 * byte (`AAAA…` is 32 zero bytes), is both. Such a key is as strong as the
 * passphrase, not as its length (RFC 7518 §3.2 asks for 256 bits of entropy;
 * NIST SP 800-133 for keys from an approved random generator).
 */
export function weakSecretReason(bytes: Uint8Array): string | null {
  const distinct = new Set(bytes).size;
  if (distinct === 1) return 'it is one byte repeated';
  if (distinct < Math.min(16, bytes.length / 2)) return `it has only ${distinct} distinct byte values`;
  if (bytes.every((b) => b >= 0x20 && b <= 0x7e)) return 'it is printable text (a passphrase), not random bytes';
  return null;
}

/** Refuses a key ring with a low-entropy key (NODE_ENV=production); one-line message pointing to `tessera keygen`. */
export function assertStrongKeys(ring: KeyRing, label = 'secret'): void {
  for (const [i, key] of ring.keys.entries()) {
    const reason = weakSecretReason(key.bytes);
    if (reason) {
      const which = ring.keys.length === 1 ? label : `${label}: key "${key.kid}" (#${i + 1})`;
      throw new ConfigError(`${which} looks low-entropy (${reason}); production needs random key material: ${KEYGEN_HINT}`);
    }
  }
}

/** A stable, non-secret key id derived from the key: lets rotation work without naming keys. */
export function deriveKid(bytes: Uint8Array): string {
  return encodeBase64url(sha256(Buffer.concat([Buffer.from('tessera kid\0'), bytes])).subarray(0, 6));
}

export function createKeyRing(keys: readonly { kid?: string; secret: SecretInput }[]): KeyRing {
  if (keys.length === 0) throw new ConfigError(`no key configured; set TESSERA_SECRET (${KEYGEN_HINT})`);
  const seen = new Map<string, Key>();
  const list: Key[] = keys.map((k, i) => {
    const bytes = parseSecret(k.secret, k.kid ? `key "${k.kid}"` : i === 0 ? 'secret' : `key #${i + 1}`);
    const kid = k.kid ?? deriveKid(bytes);
    if (!KID_PATTERN.test(kid)) throw new ConfigError(`key id "${kid}" must be 1-64 characters of [A-Za-z0-9._~-]`);
    if (seen.has(kid)) throw new ConfigError(`key id "${kid}" appears twice in the key ring`);
    const key = { kid, bytes };
    seen.set(kid, key);
    return key;
  });
  return { primary: list[0] as Key, keys: list, byKid: (kid) => seen.get(kid) };
}

/** Anything that names keys: a single secret, a list, or a ready ring. */
export type KeyInput = SecretInput | readonly { kid?: string; secret: SecretInput }[] | KeyRing;

export function toKeyRing(input: KeyInput): KeyRing {
  if (typeof input === 'string' || input instanceof Uint8Array) return createKeyRing([{ secret: input }]);
  if (Array.isArray(input)) return createKeyRing(input);
  return input as KeyRing;
}

/**
 * Parses `TESSERA_KEYS`: `kid:secret,kid:secret` (first signs). An entry may be a
 * bare secret (base64url has no `:`): it then keeps the key id derived from its
 * bytes, which is the id `TESSERA_SECRET` gives it, so moving from
 * `TESSERA_SECRET=old` to `TESSERA_KEYS=new:NEW,old` keeps old tokens verifying.
 */
export function parseKeysEnv(value: string): { kid?: string; secret: string }[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry) => {
      const i = entry.indexOf(':');
      if (i === 0) throw new ConfigError('a TESSERA_KEYS entry has an empty key id before ":"');
      return i < 0 ? { secret: entry } : { kid: entry.slice(0, i), secret: entry.slice(i + 1) };
    });
}

/** The key ring from the environment: `TESSERA_KEYS` wins over `TESSERA_SECRET`. */
export function keyRingFromEnv(env: NodeJS.ProcessEnv = process.env): KeyRing | undefined {
  if (env.TESSERA_KEYS) return createKeyRing(parseKeysEnv(env.TESSERA_KEYS));
  if (env.TESSERA_SECRET) return createKeyRing([{ secret: env.TESSERA_SECRET }]);
  return undefined;
}

/** A new secret: 32 random bytes, base64url. */
export function generateSecret(): string {
  return encodeBase64url(randomBytes(MIN_SECRET_BYTES));
}

/**
 * The HKDF-SHA256 info label of refresh-token keys (RFC 5869 §3.2: one label per use, so
 * keys derived for one purpose say nothing about those of another).
 */
const REFRESH_KEY_INFO = 'tessera refresh-token key v1';

/**
 * What a refresh key's id adds to the id of the key it is derived from. A configured key id
 * never holds a `:` ({@link createKeyRing}; `TESSERA_KEYS` uses it as the separator), so a
 * refresh key id can never be taken for a configured key's, nor the other way round.
 */
export const REFRESH_KID_SUFFIX = ':r';

/**
 * The keys of self-contained refresh tokens (jwt, sealed, fernet): one per key of `ring`,
 * in the same order (the first signs, every one verifies, so rotation works as for access
 * tokens), each `HKDF-SHA256(key, salt = "", info = "tessera refresh-token key v1", 32)`,
 * with the key id `<kid>:r`.
 *
 * Access tokens are verified outside tessera with the configured secret (any HS256 verifier,
 * Python's Fernet). A refresh token made with that same key would verify there too, and pass
 * for an access token with a verifier that does not check the `type` claim (RFC 8725 §2.8,
 * §3.11). Refresh tokens are read by tessera alone, so they take keys nothing else holds:
 * without the derivation no outside verifier can accept one.
 */
export function refreshKeyRing(ring: KeyRing): KeyRing {
  const keys: Key[] = ring.keys.map((k) => ({
    kid: `${k.kid}${REFRESH_KID_SUFFIX}`,
    bytes: hkdfSha256(k.bytes, Buffer.alloc(0), REFRESH_KEY_INFO, MIN_SECRET_BYTES),
  }));
  const byKid = new Map(keys.map((k) => [k.kid, k]));
  return { primary: keys[0] as Key, keys, byKid: (kid) => byKid.get(kid) };
}
