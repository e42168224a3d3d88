/**
 * JSON Web Keys (RFC 7517) for the asymmetric access-token algorithms: parsing a
 * JWK Set, RFC 7638 thumbprints as key ids, and the signing key set of an issuer
 * (the first key signs, every key verifies: rotation).
 *
 * A key's algorithm comes from the key, never from a token (RFC 8725 §3.1): an
 * Ed25519 key (`kty: OKP`, `crv: Ed25519`) is EdDSA, a P-256 key (`kty: EC`,
 * `crv: P-256`) is ES256; a JWK whose `alg` says otherwise is refused.
 *
 * @module
 */
import { ConfigError } from '../errors.js';
import { sha256 } from '../internal/crypto.js';
import {
  ASYMMETRIC_ALGS,
  type AsymmetricAlg,
  algForKeyType,
  generateSigningKeyMembers,
  type PreparedSigner,
  type PreparedVerifier,
  prepareSigner,
  prepareVerifier,
} from '../internal/signatures.js';

export { ASYMMETRIC_ALGS, type AsymmetricAlg };

/** A public JWK as served at `/.well-known/jwks.json`. */
export interface PublicJwk {
  kty: 'OKP' | 'EC';
  crv: 'Ed25519' | 'P-256';
  x: string;
  y?: string;
  kid: string;
  alg: AsymmetricAlg;
  use: 'sig';
}

/** A private JWK as `tessera keygen --alg` prints it (`d` is the secret). */
export interface PrivateJwk extends PublicJwk {
  d: string;
}

export interface JwkSet<K = PublicJwk> {
  keys: K[];
}

/** One key that verifies: its id, its (pinned) algorithm and the prepared public key. */
export interface VerificationKey {
  readonly kid: string;
  readonly alg: AsymmetricAlg;
  readonly verifier: PreparedVerifier;
  readonly jwk: PublicJwk;
}

/** An issuer's keys: the first signs, all verify. */
export interface SigningKeySet {
  /** The signing key's algorithm (`TESSERA_ACCESS_ALG`). */
  readonly alg: AsymmetricAlg;
  readonly signer: { readonly kid: string; readonly alg: AsymmetricAlg; readonly signer: PreparedSigner };
  /** Every key, signing key first. */
  readonly keys: readonly VerificationKey[];
  /** The public JWK Set (RFC 7517 §5): what `/.well-known/jwks.json` serves. */
  publicJwks(): JwkSet;
}

/** A key id: printable ASCII, no quotes or backslashes (it goes into a JSON header as is), at most 128 characters. */
const KID_PATTERN = /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/;

/**
 * RFC 7638 §3: the SHA-256 thumbprint of the required members, in lexicographic
 * order, without whitespace, base64url (§3.2: `crv`, `kty`, `x` for OKP — RFC 8037
 * §2; `crv`, `kty`, `x`, `y` for EC). The values here are base64url strings, so
 * JSON.stringify writes them exactly as §3.3 requires.
 */
export function jwkThumbprint(jwk: { kty: string; crv: string; x: string; y?: string }): string {
  const json =
    jwk.kty === 'EC'
      ? `{"crv":${JSON.stringify(jwk.crv)},"kty":"EC","x":${JSON.stringify(jwk.x)},"y":${JSON.stringify(jwk.y)}}`
      : `{"crv":${JSON.stringify(jwk.crv)},"kty":${JSON.stringify(jwk.kty)},"x":${JSON.stringify(jwk.x)}}`;
  return sha256(json).toString('base64url');
}

export function isAsymmetricAlg(v: unknown): v is AsymmetricAlg {
  return (ASYMMETRIC_ALGS as readonly unknown[]).includes(v);
}

/** A new private JWK for `alg`, with `kid` (its RFC 7638 thumbprint), `alg` and `use: "sig"`. */
export function generateSigningJwk(alg: AsymmetricAlg): PrivateJwk {
  if (!isAsymmetricAlg(alg)) throw new ConfigError(`alg must be one of ${ASYMMETRIC_ALGS.join(', ')}`);
  const m = generateSigningKeyMembers(alg);
  const kid = jwkThumbprint(m);
  return alg === 'EdDSA'
    ? { kty: m.kty, crv: m.crv, x: m.x, d: m.d, kid, alg, use: 'sig' }
    : { kty: m.kty, crv: m.crv, x: m.x, y: m.y as string, d: m.d, kid, alg, use: 'sig' };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads the common members of a JWK; a string explaining why it is not usable for
 * signature verification, or the pieces.
 */
function readJwk(jwk: unknown):
  | string
  | {
      alg: AsymmetricAlg;
      kid: string | undefined;
      members: { kty: 'OKP' | 'EC'; crv: 'Ed25519' | 'P-256'; x: string; y?: string };
    } {
  if (!isObj(jwk)) return 'is not a JSON object';
  const alg = algForKeyType(jwk.kty, jwk.crv);
  if (!alg)
    return `has an unsupported key type (kty ${JSON.stringify(jwk.kty)}, crv ${JSON.stringify(jwk.crv)}); expected OKP/Ed25519 or EC/P-256`;
  // RFC 7517 §4.4: alg, when present, names the one algorithm the key is for.
  if (jwk.alg !== undefined && jwk.alg !== alg)
    return `says alg ${JSON.stringify(jwk.alg)}, but a ${String(jwk.crv)} key is ${alg}`;
  // RFC 7517 §4.2/§4.3: a key for encryption, or one whose operations exclude verification, is not ours to use.
  if (jwk.use !== undefined && jwk.use !== 'sig') return 'is not a signature key (use is not "sig")';
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.some((o) => o === 'verify' || o === 'sign'))) {
    return 'has key_ops without "verify"';
  }
  if (typeof jwk.x !== 'string' || (alg === 'ES256' && typeof jwk.y !== 'string')) return 'lacks its public coordinates';
  if (jwk.kid !== undefined && (typeof jwk.kid !== 'string' || !KID_PATTERN.test(jwk.kid))) {
    return 'has a kid that is not 1-128 printable ASCII characters without quotes or backslashes';
  }
  const members =
    alg === 'EdDSA'
      ? { kty: 'OKP' as const, crv: 'Ed25519' as const, x: jwk.x }
      : { kty: 'EC' as const, crv: 'P-256' as const, x: jwk.x, y: jwk.y as string };
  return { alg, kid: jwk.kid as string | undefined, members };
}

function publicJwk(
  alg: AsymmetricAlg,
  kid: string,
  m: { kty: 'OKP' | 'EC'; crv: 'Ed25519' | 'P-256'; x: string; y?: string },
): PublicJwk {
  // Only public members: d (and anything else of the private JWK) never leaves.
  return m.kty === 'EC'
    ? { kty: m.kty, crv: m.crv, x: m.x, y: m.y as string, kid, alg, use: 'sig' }
    : { kty: m.kty, crv: m.crv, x: m.x, kid, alg, use: 'sig' };
}

/**
 * One public JWK of a fetched set, for a resource server; `undefined` for a key we
 * cannot use (RFC 7517 §5: "implementations SHOULD ignore JWKs within a JWK Set that
 * use kty values that are not understood"). A key without `kid` gets its thumbprint.
 */
export function parseVerificationJwk(jwk: unknown): VerificationKey | undefined {
  const r = readJwk(jwk);
  if (typeof r === 'string') return undefined;
  const verifier = prepareVerifier(r.alg, r.members);
  if (!verifier) return undefined;
  const kid = r.kid ?? jwkThumbprint(r.members);
  return { kid, alg: r.alg, verifier, jwk: publicJwk(r.alg, kid, r.members) };
}

/** Parses a JWK Set of private keys (text or object): the first key signs, all verify. Refuses anything doubtful. */
export function parseSigningKeySet(input: string | unknown, label = 'the signing key set'): SigningKeySet {
  let set: unknown = input;
  if (typeof input === 'string') {
    try {
      set = JSON.parse(input);
    } catch {
      throw new ConfigError(`${label} is not JSON; generate one with \`tessera keygen --alg EdDSA\``);
    }
  }
  if (!isObj(set) || !Array.isArray(set.keys) || set.keys.length === 0) {
    throw new ConfigError(`${label} must be a JWK Set {"keys":[...]} with at least one key (tessera keygen --alg EdDSA|ES256)`);
  }
  const seen = new Set<string>();
  let first: SigningKeySet['signer'] | undefined;
  const keys: VerificationKey[] = set.keys.map((jwk: unknown, i: number) => {
    const where = `${label}: key #${i + 1}`;
    const r = readJwk(jwk);
    if (typeof r === 'string') throw new ConfigError(`${where} ${r}`);
    const d = (jwk as Obj).d;
    if (typeof d !== 'string') throw new ConfigError(`${where} has no private part (d); the signing key file holds private keys`);
    const prepared = prepareSigner(r.alg, { ...r.members, d });
    if (!prepared)
      throw new ConfigError(`${where} is not a valid ${r.alg} key (its public part does not match d, or it is not on the curve)`);
    const kid = r.kid ?? jwkThumbprint(r.members);
    if (seen.has(kid)) throw new ConfigError(`${where}: kid "${kid}" appears twice`);
    seen.add(kid);
    if (i === 0) first = { kid, alg: r.alg, signer: prepared.signer };
    return { kid, alg: r.alg, verifier: prepared.verifier, jwk: publicJwk(r.alg, kid, r.members) };
  });
  const signer = first as SigningKeySet['signer'];
  const jwks = keys.map((k) => k.jwk);
  return {
    alg: signer.alg,
    signer,
    keys,
    publicJwks: () => ({ keys: jwks.map((k) => ({ ...k })) }),
  };
}
