/**
 * Asymmetric JWS signatures on `node:crypto`: EdDSA with Ed25519 (RFC 8037 §3.1)
 * and ES256, ECDSA on P-256 with SHA-256 (RFC 7518 §3.4). The only module that
 * touches `node:crypto` for them; keys are imported once into KeyObjects and kept
 * private to the closures returned here (nothing outside sees a KeyObject).
 *
 * ES256 signatures are the JOSE form, R || S as two 32-byte big-endian integers
 * (RFC 7518 §3.4), not DER: `dsaEncoding: 'ieee-p1363'`. A signature of any other
 * length is refused before OpenSSL sees it (DER-encoded signatures are 70-72 bytes).
 * OpenSSL refuses r or s outside [1, n-1] (checked with Wycheproof's vectors in
 * test/vectors/wycheproof-signatures.test.ts).
 *
 * @module
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto';

export type AsymmetricAlg = 'EdDSA' | 'ES256';
export const ASYMMETRIC_ALGS: readonly AsymmetricAlg[] = ['EdDSA', 'ES256'];

/** RFC 8037 §3.1 and RFC 7518 §3.4: both signatures are 64 bytes. */
export const SIGNATURE_BYTES = 64;
/** The base64url length of a 64-byte signature (unpadded). */
const SIGNATURE_BASE64URL_LENGTH = 86;

/** The public members of a JWK of ours (RFC 7517 §4, RFC 8037 §2, RFC 7518 §6.2.1). */
export interface PublicKeyMembers {
  kty: 'OKP' | 'EC';
  crv: 'Ed25519' | 'P-256';
  x: string;
  y?: string;
}

export interface PreparedSigner {
  readonly alg: AsymmetricAlg;
  /** The signature of the ASCII signing input, base64url (86 characters). */
  signBase64url(signingInput: string): string;
}

export interface PreparedVerifier {
  readonly alg: AsymmetricAlg;
  /**
   * Whether `signatureBase64url` is a valid signature of `signingInput`. The caller
   * must have checked that it is canonical base64url. Never throws for a bad signature.
   */
  verifyBase64url(signingInput: string, signatureBase64url: string): boolean;
  /** Whether `signature` (raw bytes) is valid over `data` (raw bytes): for test vectors. */
  verifyBytes(data: Uint8Array, signature: Uint8Array): boolean;
}

function keyType(alg: AsymmetricAlg): { kty: 'OKP' | 'EC'; crv: 'Ed25519' | 'P-256' } {
  return alg === 'EdDSA' ? { kty: 'OKP', crv: 'Ed25519' } : { kty: 'EC', crv: 'P-256' };
}

/** The algorithm a key type implies: one per key type, so a token can never choose another. */
export function algForKeyType(kty: unknown, crv: unknown): AsymmetricAlg | undefined {
  if (kty === 'OKP' && crv === 'Ed25519') return 'EdDSA';
  if (kty === 'EC' && crv === 'P-256') return 'ES256';
  return undefined;
}

/** A new key pair, as the members of a private JWK (`d` is the secret). */
export function generateSigningKeyMembers(alg: AsymmetricAlg): PublicKeyMembers & { d: string } {
  const { privateKey } =
    alg === 'EdDSA' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const jwk = privateKey.export({ format: 'jwk' }) as { x: string; y?: string; d: string };
  const { kty, crv } = keyType(alg);
  return alg === 'EdDSA' ? { kty, crv, x: jwk.x, d: jwk.d } : { kty, crv, x: jwk.x, y: jwk.y as string, d: jwk.d };
}

function publicJwkOf(key: KeyObject): { x?: string; y?: string } {
  return key.export({ format: 'jwk' }) as { x?: string; y?: string };
}

/**
 * Imports a public key from its JWK members; `undefined` when they are not a valid
 * key of that type (not on the curve, wrong length).
 */
function importPublic(alg: AsymmetricAlg, m: PublicKeyMembers): KeyObject | undefined {
  const { kty, crv } = keyType(alg);
  if (m.kty !== kty || m.crv !== crv) return undefined;
  try {
    const key = createPublicKey({
      key: alg === 'EdDSA' ? { kty, crv, x: m.x } : { kty, crv, x: m.x, y: m.y as string },
      format: 'jwk',
    });
    // Node decodes base64url leniently: insist the key re-exports to exactly what was given.
    const back = publicJwkOf(key);
    if (back.x !== m.x || (alg === 'ES256' && back.y !== m.y)) return undefined;
    return key;
  } catch {
    return undefined;
  }
}

export function prepareVerifier(alg: AsymmetricAlg, members: PublicKeyMembers): PreparedVerifier | undefined {
  const key = importPublic(alg, members);
  if (!key) return undefined;
  // Passed to crypto.verify as is: one object per key, not one per call.
  const keyArg = alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' as const } : key;
  const digest = alg === 'ES256' ? 'sha256' : null;
  const sig = Buffer.alloc(SIGNATURE_BYTES + 3);
  const sigView = sig.subarray(0, SIGNATURE_BYTES);
  const verifyBytes = (data: Uint8Array, signature: Uint8Array): boolean => {
    if (signature.length !== SIGNATURE_BYTES) return false;
    try {
      return verify(digest, data, keyArg, signature);
    } catch {
      return false;
    }
  };
  return {
    alg,
    verifyBytes,
    verifyBase64url(signingInput, signatureBase64url) {
      if (signatureBase64url.length !== SIGNATURE_BASE64URL_LENGTH) return false;
      if (sig.write(signatureBase64url, 0, 'base64url') !== SIGNATURE_BYTES) return false;
      // The signing input is base64url '.' base64url: ASCII, so latin1 is its exact byte string.
      return verifyBytes(Buffer.from(signingInput, 'latin1'), sigView);
    },
  };
}

/**
 * Imports a private key and checks that its public members match it (a JWK whose
 * `x`/`y` belong to another key would publish a key that verifies nothing).
 */
export function prepareSigner(
  alg: AsymmetricAlg,
  members: PublicKeyMembers & { d: string },
): { signer: PreparedSigner; verifier: PreparedVerifier } | undefined {
  const { kty, crv } = keyType(alg);
  if (members.kty !== kty || members.crv !== crv || typeof members.d !== 'string') return undefined;
  let key: KeyObject;
  try {
    key = createPrivateKey({
      key:
        alg === 'EdDSA'
          ? { kty, crv, x: members.x, d: members.d }
          : { kty, crv, x: members.x, y: members.y as string, d: members.d },
      format: 'jwk',
    });
  } catch {
    return undefined;
  }
  const derived = publicJwkOf(createPublicKey(key));
  if (derived.x !== members.x || (alg === 'ES256' && derived.y !== members.y)) return undefined;
  const verifier = prepareVerifier(alg, members);
  if (!verifier) return undefined;
  const keyArg = alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' as const } : key;
  const digest = alg === 'ES256' ? 'sha256' : null;
  return {
    verifier,
    signer: {
      alg,
      signBase64url: (signingInput) => sign(digest, Buffer.from(signingInput, 'latin1'), keyArg).toString('base64url'),
    },
  };
}
