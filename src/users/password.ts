/**
 * Password hashing for the reference server's password grant: scrypt
 * (RFC 7914) with a per-user random salt and the parameters encoded next to the
 * hash, so they can be raised later without invalidating stored hashes.
 *
 *     scrypt$N$r$p$<salt, base64url>$<hash, base64url>
 *
 * @module
 */
import { decodeBase64url, encodeBase64url } from '../internal/base64url.js';
import { constantTimeEqual, randomBytes, type ScryptParams, scrypt } from '../internal/crypto.js';

/**
 * Default cost: N = 2^17, r = 8, p = 1 (128 MiB, a few hundred milliseconds),
 * the minimum OWASP's Password Storage Cheat Sheet recommends for scrypt.
 * Lower it only for tests (`TESSERA_SCRYPT_N`); stored hashes keep their own
 * parameters, so a change applies to new hashes only.
 */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 17, r: 8, p: 1, keyLength: 32 };

/** The default parameters with another cost `N` (`TESSERA_SCRYPT_N`, `--scrypt-n`): r, p and the key length stay. */
export function scryptWithCost(N: number): ScryptParams {
  return { ...DEFAULT_SCRYPT, N };
}

const SALT_BYTES = 16;
/** Hostile or corrupt stored parameters must not turn a login into a memory bomb. */
export const MAX_SCRYPT_N = 2 ** 20;
const MAX_N = MAX_SCRYPT_N;
const MAX_R = 32;
const MAX_P = 16;
/** Bounds the work a single login can cause; scrypt pre-hashes the password, so this is not about correctness. */
export const MAX_PASSWORD_LENGTH = 1024;

function checkParams(p: ScryptParams): boolean {
  return (
    Number.isInteger(p.N) &&
    p.N >= 2 &&
    p.N <= MAX_N &&
    (p.N & (p.N - 1)) === 0 && // RFC 7914 §2: N must be a power of two
    Number.isInteger(p.r) &&
    p.r >= 1 &&
    p.r <= MAX_R &&
    Number.isInteger(p.p) &&
    p.p >= 1 &&
    p.p <= MAX_P &&
    p.keyLength >= 16 &&
    p.keyLength <= 64
  );
}

/**
 * Unicode passwords are compared after NFC normalisation (RFC 8265 §4.2, the
 * OpaqueString profile), so the same password typed on two systems that
 * compose accents differently still matches.
 */
function normalize(password: string): string {
  return password.normalize('NFC');
}

export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  if (!checkParams(params)) throw new TypeError('scrypt parameters out of range (N a power of two <= 2^20, r <= 32, p <= 16)');
  const salt = randomBytes(SALT_BYTES);
  const hash = await scrypt(normalize(password), salt, params);
  return `scrypt$${params.N}$${params.r}$${params.p}$${encodeBase64url(salt)}$${encodeBase64url(hash)}`;
}

interface ParsedHash {
  params: ScryptParams;
  salt: Buffer;
  hash: Buffer;
}

function parseHash(encoded: string): ParsedHash | null {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [, n, r, p, saltText, hashText] = parts as [string, string, string, string, string, string];
  const salt = decodeBase64url(saltText);
  const hash = decodeBase64url(hashText);
  if (!salt || !hash || salt.length < 8) return null;
  const params: ScryptParams = { N: Number(n), r: Number(r), p: Number(p), keyLength: hash.length };
  return checkParams(params) ? { params, salt, hash } : null;
}

/** True when `password` matches `encoded`. Never throws for a corrupt hash: it does not match. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const parsed = parseHash(encoded);
  if (!parsed) return false;
  const actual = await scrypt(normalize(password), parsed.salt, parsed.params);
  // Constant-time: a byte-by-byte compare would tell an attacker how much of the hash matched.
  return constantTimeEqual(actual, parsed.hash);
}

/** The scrypt parameters of a stored hash; `null` when it is not one we can read. */
export function hashParams(encoded: string): ScryptParams | null {
  return parseHash(encoded)?.params ?? null;
}

/** True when a stored hash uses weaker parameters than `params` (rehash on next login). */
export function needsRehash(encoded: string, params: ScryptParams = DEFAULT_SCRYPT): boolean {
  const parsed = parseHash(encoded);
  return !parsed || parsed.params.N < params.N || parsed.params.r < params.r || parsed.params.p < params.p;
}
