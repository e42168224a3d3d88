/**
 * DPoP proofs for tests (RFC 9449 §4.2), made with node:crypto directly: a key pair, its public
 * JWK and RFC 7638 thumbprint, and proofs whose every part a test may bend.
 */
import { createHash, generateKeyPairSync, type KeyObject, randomUUID, sign } from 'node:crypto';

export interface ProofKey {
  alg: 'ES256' | 'EdDSA' | 'RS256';
  privateKey: KeyObject;
  /** The public JWK (kty, crv, x[, y]). */
  jwk: Record<string, string>;
  /** RFC 7638 thumbprint. */
  jkt: string;
}

export function proofKey(alg: 'ES256' | 'EdDSA' | 'RS256' = 'ES256'): ProofKey {
  if (alg === 'RS256') {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const j = publicKey.export({ format: 'jwk' }) as Record<string, string>;
    const jwk = { kty: 'RSA', n: j.n as string, e: j.e as string };
    const canonical = `{"e":"${jwk.e}","kty":"RSA","n":"${jwk.n}"}`;
    return { alg, privateKey, jwk, jkt: createHash('sha256').update(canonical).digest('base64url') };
  }
  const { privateKey, publicKey } =
    alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }) : generateKeyPairSync('ed25519');
  const j = publicKey.export({ format: 'jwk' }) as Record<string, string>;
  const jwk: Record<string, string> =
    alg === 'ES256'
      ? { kty: 'EC', crv: 'P-256', x: j.x as string, y: j.y as string }
      : { kty: 'OKP', crv: 'Ed25519', x: j.x as string };
  const canonical =
    alg === 'ES256' ? `{"crv":"P-256","kty":"EC","x":"${jwk.x}","y":"${jwk.y}"}` : `{"crv":"Ed25519","kty":"OKP","x":"${jwk.x}"}`;
  return { alg, privateKey, jwk, jkt: createHash('sha256').update(canonical).digest('base64url') };
}

export interface ProofParts {
  htm: string;
  htu: string;
  /** Seconds; default now (Date.now or `nowMs`). */
  iat?: number;
  nowMs?: number;
  jti?: string;
  /** The access token, for `ath`. */
  accessToken?: string;
  /** Replaces or adds header members (undefined deletes one). */
  header?: Record<string, unknown>;
  /** Replaces or adds claims (undefined deletes one). */
  claims?: Record<string, unknown>;
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

export function ath(accessToken: string): string {
  return createHash('sha256').update(accessToken).digest('base64url');
}

export function proof(key: ProofKey, p: ProofParts): string {
  const header: Record<string, unknown> = { typ: 'dpop+jwt', alg: key.alg, jwk: key.jwk, ...p.header };
  const claims: Record<string, unknown> = {
    jti: p.jti ?? randomUUID(),
    htm: p.htm,
    htu: p.htu,
    iat: p.iat ?? Math.floor((p.nowMs ?? Date.now()) / 1000),
    ...(p.accessToken !== undefined ? { ath: ath(p.accessToken) } : {}),
    ...p.claims,
  };
  for (const o of [header, claims]) for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  const input = `${b64(header)}.${b64(claims)}`;
  const sig =
    key.alg === 'ES256'
      ? sign('sha256', Buffer.from(input), { key: key.privateKey, dsaEncoding: 'ieee-p1363' })
      : key.alg === 'RS256'
        ? sign('sha256', Buffer.from(input), key.privateKey)
        : sign(null, Buffer.from(input), key.privateKey);
  return `${input}.${sig.toString('base64url')}`;
}

/** An unsigned (`alg: none`) proof. */
export function unsignedProof(key: ProofKey, p: ProofParts): string {
  const header = { typ: 'dpop+jwt', alg: 'none', jwk: key.jwk };
  const claims = { jti: randomUUID(), htm: p.htm, htu: p.htu, iat: p.iat ?? Math.floor((p.nowMs ?? Date.now()) / 1000) };
  return `${b64(header)}.${b64(claims)}.`;
}
