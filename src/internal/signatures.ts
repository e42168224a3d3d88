/**
 * Asymmetric JWS signatures on `node:crypto`: EdDSA with Ed25519 (RFC 8037 §3.1),
 * ES256, ECDSA on P-256 with SHA-256 (RFC 7518 §3.4), and RS256, RSASSA-PKCS1-v1_5
 * with SHA-256 (RFC 7518 §3.3, RFC 8017 §8.2). The only module that touches
 * `node:crypto` for them; keys are imported once into KeyObjects and kept private to
 * the closures returned here (nothing outside sees a KeyObject).
 *
 * ES256 signatures are the JOSE form, R || S as two 32-byte big-endian integers
 * (RFC 7518 §3.4), not DER: `dsaEncoding: 'ieee-p1363'`. A signature of any other
 * length is refused before OpenSSL sees it (DER-encoded signatures are 70-72 bytes).
 * OpenSSL refuses r or s outside [1, n-1] (checked with Wycheproof's vectors in
 * test/vectors/wycheproof-signatures.test.ts).
 *
 * RS256 keys have at least 2048 bits (RFC 7518 §3.3: "A key of size 2048 bits or larger
 * MUST be used"), on import as on generation, and at most 16384 (OpenSSL's own limit; a
 * larger key only makes every verification slower). A signature is exactly as long as the
 * modulus (RFC 8017 §8.2.2 step 1), so a truncated, zero-prefixed or otherwise resized one is
 * refused before OpenSSL sees it. The whole encoded message EM is compared with the one built
 * from the hash (RFC 8017 §8.2.2 step 4; {@link rsaPkcs1Sha256Verifier}), so a modified padding
 * or DigestInfo never verifies.
 *
 * @module
 */
import {
  constants,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  publicDecrypt,
  sign,
  verify,
} from 'node:crypto';
import { asciiPrefixOf, decodeBase64urlInto } from './base64url.js';
import { hashText } from './hmac.js';
import { prefixViews } from './views.js';

export type AsymmetricAlg = 'EdDSA' | 'ES256' | 'RS256';
export const ASYMMETRIC_ALGS: readonly AsymmetricAlg[] = ['EdDSA', 'ES256', 'RS256'];

/** RFC 8037 §3.1 and RFC 7518 §3.4: EdDSA and ES256 signatures are 64 bytes. */
export const SIGNATURE_BYTES = 64;
/** RFC 7518 §3.3: the smallest RSA modulus accepted, on import and on generation. */
export const RSA_MIN_MODULUS_BITS = 2048;
/** The largest RSA modulus accepted (OpenSSL's OPENSSL_RSA_MAX_MODULUS_BITS). */
export const RSA_MAX_MODULUS_BITS = 16384;

/** The public members of a JWK of ours (RFC 7517 §4; RFC 8037 §2, RFC 7518 §6.2.1 and §6.3.1). */
export type PublicKeyMembers =
  | { kty: 'OKP'; crv: 'Ed25519'; x: string }
  | { kty: 'EC'; crv: 'P-256'; x: string; y: string }
  | { kty: 'RSA'; n: string; e: string };

/**
 * The members of a private JWK of ours: `d` (RFC 8037 §2, RFC 7518 §6.2.2.1), and for RSA
 * also the CRT members `p`, `q`, `dp`, `dq`, `qi` (RFC 7518 §6.3.2: SHOULD be present; they
 * are required here, as `node:crypto` imports no RSA private JWK without them).
 */
export type PrivateKeyMembers =
  | { kty: 'OKP'; crv: 'Ed25519'; x: string; d: string }
  | { kty: 'EC'; crv: 'P-256'; x: string; y: string; d: string }
  | { kty: 'RSA'; n: string; e: string; d: string; p: string; q: string; dp: string; dq: string; qi: string };

/** RFC 7518 §6.3.2: the private members of an RSA JWK besides `n` and `e`. */
export const RSA_PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const;

export interface PreparedSigner {
  readonly alg: AsymmetricAlg;
  /** The signature of the ASCII signing input, base64url. */
  signBase64url(signingInput: string): string;
}

export interface PreparedVerifier {
  readonly alg: AsymmetricAlg;
  /**
   * Whether a JWS compact serialization whose second dot is at `d2` carries a valid signature:
   * the signing input is `token[0, d2)`, the signature `token[d2 + 1, end)`, decoded here as
   * canonical base64url (anything else is false). Never throws for a bad signature.
   */
  verifyCompact(token: string, d2: number): boolean;
  /** Whether `signature` (raw bytes) is valid over `data` (raw bytes): for test vectors. */
  verifyBytes(data: Uint8Array, signature: Uint8Array): boolean;
}

/** The algorithm a key type implies: one per key type, so a token can never choose another. */
export function algForKeyType(kty: unknown, crv: unknown): AsymmetricAlg | undefined {
  if (kty === 'OKP' && crv === 'Ed25519') return 'EdDSA';
  if (kty === 'EC' && crv === 'P-256') return 'ES256';
  // RFC 7518 §6.3: an RSA key has no crv. Of the RSA algorithms only RS256 is accepted.
  if (kty === 'RSA' && crv === undefined) return 'RS256';
  return undefined;
}

const KTY: Readonly<Record<AsymmetricAlg, PublicKeyMembers['kty']>> = { EdDSA: 'OKP', ES256: 'EC', RS256: 'RSA' };

/** A new key pair, as the members of a private JWK (`d`, and for RSA the CRT members, are the secret). */
export function generateSigningKeyMembers(alg: AsymmetricAlg): PrivateKeyMembers {
  if (alg === 'RS256') {
    // RFC 7518 §3.3: 2048 bits; e = 65537 (F4), what every library expects.
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: RSA_MIN_MODULUS_BITS, publicExponent: 0x10001 });
    const j = privateKey.export({ format: 'jwk' }) as Record<string, string>;
    return { kty: 'RSA', n: j.n, e: j.e, d: j.d, p: j.p, q: j.q, dp: j.dp, dq: j.dq, qi: j.qi } as PrivateKeyMembers;
  }
  const { privateKey } =
    alg === 'EdDSA' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const jwk = privateKey.export({ format: 'jwk' }) as { x: string; y: string; d: string };
  return alg === 'EdDSA'
    ? { kty: 'OKP', crv: 'Ed25519', x: jwk.x, d: jwk.d }
    : { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, d: jwk.d };
}

/** The public members only, in the order the JWK serialization of each key type uses. */
export function publicMembersOf(m: PublicKeyMembers): PublicKeyMembers {
  if (m.kty === 'RSA') return { kty: 'RSA', n: m.n, e: m.e };
  if (m.kty === 'EC') return { kty: 'EC', crv: 'P-256', x: m.x, y: m.y };
  return { kty: 'OKP', crv: 'Ed25519', x: m.x };
}

/** Whether a KeyObject's public JWK export is exactly `m` (Node decodes base64url leniently). */
function sameMembers(key: KeyObject, m: PublicKeyMembers): boolean {
  const back = key.export({ format: 'jwk' }) as Record<string, unknown>;
  if (m.kty === 'RSA') return back.n === m.n && back.e === m.e;
  return back.x === m.x && (m.kty !== 'EC' || back.y === m.y);
}

/**
 * RFC 7518 §3.3 and RFC 8017 §3.1: a usable RSA public key, 2048 to 16384 bits, with an odd
 * exponent e >= 3 (e = 1 would make every message its own signature).
 */
function rsaKeyAcceptable(key: KeyObject): boolean {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType !== 'rsa' || !details) return false;
  const bits = details.modulusLength ?? 0;
  const e = details.publicExponent ?? 0n;
  return bits >= RSA_MIN_MODULUS_BITS && bits <= RSA_MAX_MODULUS_BITS && e >= 3n && (e & 1n) === 1n;
}

/**
 * Imports a public key from its JWK members; `undefined` when they are not a valid
 * key of that type (not on the curve, wrong length, an RSA key under 2048 bits, members
 * that are not the canonical base64url of minimal big-endian integers, RFC 7518 §6.3.1).
 */
function importPublic(alg: AsymmetricAlg, m: PublicKeyMembers): KeyObject | undefined {
  if (m.kty !== KTY[alg]) return undefined;
  try {
    const key = createPublicKey({ key: publicMembersOf(m) as import('node:crypto').JsonWebKey, format: 'jwk' });
    // Node decodes base64url leniently (padding, '+', a leading zero octet of n): insist the key
    // re-exports to exactly what was given.
    if (!sameMembers(key, m)) return undefined;
    if (alg === 'RS256' && !rsaKeyAcceptable(key)) return undefined;
    return key;
  } catch {
    return undefined;
  }
}

/** What crypto.sign/crypto.verify take for `alg`: the digest and the key argument (one object per key, not per call). */
function cryptoArgs(alg: AsymmetricAlg, key: KeyObject) {
  if (alg === 'ES256') return { digest: 'sha256', keyArg: { key, dsaEncoding: 'ieee-p1363' as const } };
  // RSASSA-PKCS1-v1_5 (RFC 8017 §8.2), not PSS, whatever Node's default for the key would be.
  if (alg === 'RS256') return { digest: 'sha256', keyArg: { key, padding: constants.RSA_PKCS1_PADDING } };
  return { digest: null, keyArg: key };
}

/** RFC 8017 §9.2 note 1: the DER encoding of the DigestInfo of SHA-256, before the 32-byte hash. */
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/**
 * RSASSA-PKCS1-v1_5 verification with SHA-256 (RFC 8017 §8.2.2) done as the RFC writes it:
 * RSAVP1 on the signature (OpenSSL's raw public operation, which refuses s >= n, step 2a), then
 * EM' = EMSA-PKCS1-v1_5-ENCODE(M, k) = 0x00 01 FF..FF 00 || DigestInfo || SHA-256(M) (§9.2), and
 * EM compared with EM' whole (step 4). Nothing of EM is parsed, so no padding or DigestInfo
 * variant can pass (RFC 8017 §8.2.2 note; the Bleichenbacher 2006 forgeries). The same verdicts
 * as `crypto.verify` (Wycheproof's vectors, test/vectors), without its digest context per call.
 * The comparison needs no constant time: every byte of it is public.
 */
function rsaPkcs1Sha256Verifier(key: KeyObject, k: number): (data: Uint8Array, signature: Uint8Array) => boolean {
  const rawArg = { key, padding: constants.RSA_NO_PADDING };
  const tLen = SHA256_DIGEST_INFO.length + 32;
  // §9.2 steps 3-5: k - tLen - 3 octets of 0xff; k >= tLen + 11 holds for any 2048-bit key.
  const expected = Buffer.alloc(k, 0xff);
  expected[0] = 0x00;
  expected[1] = 0x01;
  expected[k - tLen - 1] = 0x00;
  SHA256_DIGEST_INFO.copy(expected, k - tLen);
  return (data, signature) => {
    if (signature.length !== k) return false;
    let em: Buffer;
    try {
      em = publicDecrypt(rawArg, signature);
    } catch {
      return false;
    }
    // The data's hash in place in EM' (synchronous: nothing else runs before the compare). As
    // latin1 text: on Node 20 `crypto.hash`'s 'buffer' output takes a path about twice as slow.
    expected.write(hashText('sha256', data, 'latin1'), k - 32, 'latin1');
    return em.length === k && em.equals(expected);
  };
}

export function prepareVerifier(alg: AsymmetricAlg, members: PublicKeyMembers): PreparedVerifier | undefined {
  const key = importPublic(alg, members);
  if (!key) return undefined;
  const { digest, keyArg } = cryptoArgs(alg, key);
  // RFC 8017 §8.2.2 step 1: an RSA signature has exactly as many octets as the modulus.
  const bytes = alg === 'RS256' ? Math.ceil((key.asymmetricKeyDetails?.modulusLength as number) / 8) : SIGNATURE_BYTES;
  const base64urlLength = Math.ceil((bytes * 4) / 3);
  const sig = Buffer.alloc(bytes);
  const verifyBytes =
    alg === 'RS256'
      ? rsaPkcs1Sha256Verifier(key, bytes)
      : (data: Uint8Array, signature: Uint8Array): boolean => {
          if (signature.length !== bytes) return false;
          try {
            return verify(digest, data, keyArg, signature);
          } catch {
            return false;
          }
        };
  /** The signing input's bytes, reused (grown when a longer token comes), and its views by length. */
  let input = Buffer.allocUnsafe(1024);
  let inputView = prefixViews(input);
  return {
    alg,
    verifyBytes,
    verifyCompact(token, d2) {
      if (token.length - d2 - 1 !== base64urlLength) return false;
      if (decodeBase64urlInto(token, d2 + 1, token.length, sig) !== bytes) return false;
      // The decoder copied the token's characters out to read the signature: the signing input
      // is their first d2 bytes (verification is synchronous: nothing decodes in between).
      const copied = asciiPrefixOf(token, d2);
      if (copied !== undefined) return verifyBytes(copied, sig);
      if (d2 > input.length) {
        input = Buffer.allocUnsafe(d2 * 2);
        inputView = prefixViews(input);
      }
      // latin1: one byte per character of the ASCII signing input, the first d2 characters only.
      return verifyBytes(inputView(input.write(token, 0, d2, 'latin1')), sig);
    },
  };
}

/**
 * RFC 8017 §3.2: the members of an RSA private key belong together: n = p q,
 * d e = 1 mod (p - 1) and mod (q - 1), dp = d mod (p - 1), dq = d mod (q - 1),
 * q qi = 1 mod p. `node:crypto` checks none of it, and signs with the CRT members
 * alone: a file whose `d` belongs to another key would load and sign, and fail
 * wherever `d` is used.
 */
function rsaPrivateConsistent(m: Extract<PrivateKeyMembers, { kty: 'RSA' }>): boolean {
  const int = (v: string): bigint => {
    const b = Buffer.from(v, 'base64url');
    return b.length === 0 ? 0n : BigInt(`0x${b.toString('hex')}`);
  };
  const n = int(m.n);
  const e = int(m.e);
  const d = int(m.d);
  const p = int(m.p);
  const q = int(m.q);
  if (p < 3n || q < 3n || p * q !== n) return false;
  const p1 = p - 1n;
  const q1 = q - 1n;
  return (d * e) % p1 === 1n && (d * e) % q1 === 1n && d % p1 === int(m.dp) && d % q1 === int(m.dq) && (q * int(m.qi)) % p === 1n;
}

/**
 * Imports a private key and checks that its public members match it (a JWK whose
 * `x`/`y`/`n`/`e` belong to another key would publish a key that verifies nothing).
 * An RSA key's private members are checked against each other ({@link rsaPrivateConsistent}),
 * and it signs a test message that its public key must verify.
 */
export function prepareSigner(
  alg: AsymmetricAlg,
  members: PrivateKeyMembers,
): { signer: PreparedSigner; verifier: PreparedVerifier } | undefined {
  if (members.kty !== KTY[alg] || typeof members.d !== 'string') return undefined;
  if (members.kty === 'RSA') {
    if (!RSA_PRIVATE_MEMBERS.every((name) => typeof members[name] === 'string')) return undefined;
    // Every member canonical base64url, as n and e are (checked on import): Node decodes leniently.
    if (!RSA_PRIVATE_MEMBERS.every((name) => Buffer.from(members[name], 'base64url').toString('base64url') === members[name]))
      return undefined;
    if (!rsaPrivateConsistent(members)) return undefined;
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: members as import('node:crypto').JsonWebKey, format: 'jwk' });
    if (!sameMembers(createPublicKey(key), members)) return undefined;
  } catch {
    return undefined;
  }
  const verifier = prepareVerifier(alg, members);
  if (!verifier) return undefined;
  const { digest, keyArg } = cryptoArgs(alg, key);
  const signBytes = (data: Buffer): Buffer => sign(digest, data, keyArg);
  if (alg === 'RS256') {
    const probe = Buffer.from('tessera RS256 key check', 'latin1');
    try {
      if (!verifier.verifyBytes(probe, signBytes(probe))) return undefined;
    } catch {
      return undefined;
    }
  }
  return {
    verifier,
    signer: {
      alg,
      signBase64url: (signingInput) => signBytes(Buffer.from(signingInput, 'latin1')).toString('base64url'),
    },
  };
}
