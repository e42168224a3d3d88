/**
 * JSON Web Keys (RFC 7517) for the asymmetric access-token algorithms: parsing a
 * JWK Set, RFC 7638 thumbprints as key ids, and the signing key set of an issuer
 * (the first key signs, every key verifies: rotation).
 *
 * A key's algorithm comes from the key, never from a token (RFC 8725 §3.1): an
 * Ed25519 key (`kty: OKP`, `crv: Ed25519`) is EdDSA, a P-256 key (`kty: EC`,
 * `crv: P-256`) is ES256, an RSA key (`kty: RSA`, 2048 bits or more) is RS256; a JWK
 * whose `alg` says otherwise is refused.
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
  type PrivateKeyMembers,
  type PublicKeyMembers,
  prepareSigner,
  prepareVerifier,
  publicMembersOf,
  RSA_MIN_MODULUS_BITS,
  RSA_PRIVATE_MEMBERS,
} from '../internal/signatures.js';

export { ASYMMETRIC_ALGS, type AsymmetricAlg, RSA_MIN_MODULUS_BITS };

/**
 * A public JWK as served at `/.well-known/jwks.json`: `crv`, `x` (and `y` for EC) for
 * OKP and EC keys (RFC 8037 §2, RFC 7518 §6.2.1), `n` and `e` for RSA keys (RFC 7518 §6.3.1).
 */
export interface PublicJwk {
  kty: 'OKP' | 'EC' | 'RSA';
  crv?: 'Ed25519' | 'P-256';
  x?: string;
  y?: string;
  n?: string;
  e?: string;
  kid: string;
  alg: AsymmetricAlg;
  use: 'sig';
}

/**
 * A private JWK as `tessera keygen --alg` prints it: `d` is the secret, and for RSA also
 * `p`, `q`, `dp`, `dq`, `qi` (RFC 7518 §6.3.2).
 */
export interface PrivateJwk extends PublicJwk {
  d: string;
  p?: string;
  q?: string;
  dp?: string;
  dq?: string;
  qi?: string;
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
 * §2; `crv`, `kty`, `x`, `y` for EC; `e`, `kty`, `n` for RSA, §3.2's own example).
 * The values here are base64url strings, so JSON.stringify writes them exactly as
 * §3.3 requires.
 */
export function jwkThumbprint(jwk: { kty: string; crv?: string; x?: string; y?: string; n?: string; e?: string }): string {
  const s = JSON.stringify;
  const json =
    jwk.kty === 'RSA'
      ? `{"e":${s(jwk.e)},"kty":"RSA","n":${s(jwk.n)}}`
      : jwk.kty === 'EC'
        ? `{"crv":${s(jwk.crv)},"kty":"EC","x":${s(jwk.x)},"y":${s(jwk.y)}}`
        : `{"crv":${s(jwk.crv)},"kty":${s(jwk.kty)},"x":${s(jwk.x)}}`;
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
  if (m.kty === 'RSA') {
    const { n, e, d, p, q, dp, dq, qi } = m;
    return { kty: 'RSA', n, e, d, p, q, dp, dq, qi, kid, alg, use: 'sig' };
  }
  return m.kty === 'OKP'
    ? { kty: m.kty, crv: m.crv, x: m.x, d: m.d, kid, alg, use: 'sig' }
    : { kty: m.kty, crv: m.crv, x: m.x, y: m.y, d: m.d, kid, alg, use: 'sig' };
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads the common members of a JWK; a string explaining why it is not usable for
 * signature verification, or the pieces.
 */
function readJwk(jwk: unknown): string | { alg: AsymmetricAlg; kid: string | undefined; members: PublicKeyMembers } {
  if (!isObj(jwk)) return 'is not a JSON object';
  const alg = algForKeyType(jwk.kty, jwk.crv);
  if (!alg)
    return `has an unsupported key type (kty ${JSON.stringify(jwk.kty)}, crv ${JSON.stringify(jwk.crv)}); expected OKP/Ed25519, EC/P-256 or RSA`;
  // RFC 7517 §4.4: alg, when present, names the one algorithm the key is for.
  if (jwk.alg !== undefined && jwk.alg !== alg)
    return `says alg ${JSON.stringify(jwk.alg)}, but a${alg === 'RS256' ? 'n RSA' : ` ${String(jwk.crv)}`} key is ${alg}`;
  // RFC 7517 §4.2/§4.3: a key for encryption, or one whose operations exclude verification, is not ours to use.
  if (jwk.use !== undefined && jwk.use !== 'sig') return 'is not a signature key (use is not "sig")';
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.some((o) => o === 'verify' || o === 'sign'))) {
    return 'has key_ops without "verify"';
  }
  if (alg === 'RS256') {
    if (typeof jwk.n !== 'string' || typeof jwk.e !== 'string') return 'lacks its public members (n, e)';
    // RFC 7518 §6.3.2.7: a multi-prime key (oth) is refused, as most implementations do.
    if (jwk.oth !== undefined) return 'has other primes (oth); only two-prime RSA keys are supported';
  } else if (typeof jwk.x !== 'string' || (alg === 'ES256' && typeof jwk.y !== 'string')) {
    return 'lacks its public coordinates';
  }
  if (jwk.kid !== undefined && (typeof jwk.kid !== 'string' || !KID_PATTERN.test(jwk.kid))) {
    return 'has a kid that is not 1-128 printable ASCII characters without quotes or backslashes';
  }
  const members: PublicKeyMembers =
    alg === 'RS256'
      ? { kty: 'RSA', n: jwk.n as string, e: jwk.e as string }
      : alg === 'EdDSA'
        ? { kty: 'OKP', crv: 'Ed25519', x: jwk.x as string }
        : { kty: 'EC', crv: 'P-256', x: jwk.x as string, y: jwk.y as string };
  return { alg, kid: jwk.kid as string | undefined, members };
}

function publicJwk(alg: AsymmetricAlg, kid: string, m: PublicKeyMembers): PublicJwk {
  // Only public members: d (and anything else of the private JWK) never leaves.
  return { ...publicMembersOf(m), kid, alg, use: 'sig' };
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
    throw new ConfigError(
      `${label} must be a JWK Set {"keys":[...]} with at least one key (tessera keygen --alg ${ASYMMETRIC_ALGS.join('|')})`,
    );
  }
  const seen = new Set<string>();
  let first: SigningKeySet['signer'] | undefined;
  const keys: VerificationKey[] = set.keys.map((jwk: unknown, i: number) => {
    const where = `${label}: key #${i + 1}`;
    const r = readJwk(jwk);
    if (typeof r === 'string') throw new ConfigError(`${where} ${r}`);
    const d = (jwk as Obj).d;
    if (typeof d !== 'string') throw new ConfigError(`${where} has no private part (d); the signing key file holds private keys`);
    let members: PrivateKeyMembers;
    if (r.members.kty === 'RSA') {
      const missing = RSA_PRIVATE_MEMBERS.filter((name) => typeof (jwk as Obj)[name] !== 'string');
      if (missing.length > 0)
        throw new ConfigError(`${where} lacks the RSA private members ${missing.join(', ')} (RFC 7518 §6.3.2)`);
      const o = jwk as Record<string, string>;
      members = { ...r.members, d, p: o.p, q: o.q, dp: o.dp, dq: o.dq, qi: o.qi } as PrivateKeyMembers;
    } else {
      members = { ...r.members, d } as PrivateKeyMembers;
    }
    const prepared = prepareSigner(r.alg, members);
    if (!prepared)
      throw new ConfigError(
        r.alg === 'RS256'
          ? `${where} is not a valid RS256 key (its public part does not match d, its private members do not belong together, or it has fewer than ${RSA_MIN_MODULUS_BITS} bits)`
          : `${where} is not a valid ${r.alg} key (its public part does not match d, or it is not on the curve)`,
      );
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
