/**
 * OpenID Connect on top of the authorization code flow (OpenID Connect Core 1.0,
 * Discovery 1.0, RP-Initiated Logout 1.0): ID tokens for a code exchanged with scope
 * `openid`, the UserInfo endpoint, the discovery document, and the end-session endpoint.
 *
 * OIDC needs an asymmetric key (RS256, ES256 or EdDSA): relying parties verify ID tokens
 * with the issuer's JWK Set, and an HS256 secret is never published. With HS256 the server
 * stays an OAuth 2 authorization server: no discovery document, no `openid` scope.
 *
 * @module
 */
import { isTokenError } from '../../errors.js';
import { sha256, sha512 } from '../../internal/crypto.js';
import type { SigningKeySet } from '../../tokens/jwk.js';
import { createAsymmetricJwtCodec } from '../../tokens/jwt.js';

/** The scopes of OIDC Core §5.4 we answer (`openid` itself, `profile`: `preferred_username`). */
export const OIDC_SCOPES: readonly string[] = ['openid', 'profile'];

export interface OidcOptions {
  /** The signing keys of the ID tokens (the first signs; the server's `TESSERA_SIGNING_KEY_FILE`). */
  signingKeys: SigningKeySet;
  /** ID token lifetime. Default 300 s: it is read once, at sign-in (OIDC Core §2: short). */
  idTokenSeconds?: number;
}

/** What goes into an ID token (OIDC Core §2). */
export interface IdTokenInput {
  issuer: string;
  sub: string;
  /** The client: `aud` and `azp` (§2). */
  clientId: string;
  /** When the user entered the password, seconds (§2 `auth_time`). */
  authTime: number;
  /** The `nonce` of the authorization request, echoed (§3.1.2.1). */
  nonce?: string;
  /** The access token issued with it: `at_hash` (§3.1.3.6). */
  accessToken: string;
  /** With scope `profile` (§5.4). */
  username?: string;
  /** Now, seconds. */
  now: number;
}

export interface IdTokens {
  readonly alg: string;
  mint(input: IdTokenInput): string;
  /**
   * The claims of an ID token this server signed (for `id_token_hint`); expiry is not checked
   * (RP-Initiated Logout 1.0 §2: an expired hint is fine). `unknown_key` when it names a key no
   * longer in the set (removed by a rotation: neither vouched for nor forged), `undefined` for
   * anything else.
   */
  read(token: string): { sub: string; aud: string; sid?: string } | 'unknown_key' | undefined;
}

/**
 * OIDC Core §3.1.3.6 `at_hash`: the left half of the hash of the access token's ASCII octets,
 * with the hash of the ID token's `alg` (SHA-256 for RS256 and ES256; SHA-512 for Ed25519, as the
 * OpenID Foundation's errata for EdDSA state), base64url.
 */
export function atHash(accessToken: string, alg: string): string {
  const digest = alg === 'EdDSA' ? sha512(accessToken) : sha256(accessToken);
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

export function createIdTokens(options: OidcOptions): IdTokens {
  const ttl = options.idTokenSeconds ?? 300;
  if (!Number.isSafeInteger(ttl) || ttl < 30) throw new TypeError('oidc: idTokenSeconds must be an integer >= 30');
  // `typ: JWT` (RFC 7519 §5.1), not `at+jwt`: an ID token can never pass for an access token (RFC 9068 §4).
  const codec = createAsymmetricJwtCodec(options.signingKeys, { typ: 'JWT' });
  return {
    alg: codec.alg,
    mint(i) {
      const claims: Record<string, unknown> = {
        iss: i.issuer,
        sub: i.sub,
        aud: i.clientId,
        azp: i.clientId,
        exp: i.now + ttl,
        iat: i.now,
        auth_time: i.authTime,
        at_hash: atHash(i.accessToken, codec.alg),
      };
      if (i.nonce !== undefined) claims.nonce = i.nonce;
      if (i.username !== undefined) claims.preferred_username = i.username;
      return codec.sign(claims);
    },
    read(token) {
      try {
        const c = codec.verify(token) as Record<string, unknown>;
        if (typeof c.sub !== 'string' || typeof c.aud !== 'string') return undefined;
        return { sub: c.sub, aud: c.aud };
      } catch (e) {
        return isTokenError(e, 'unknown_key') ? 'unknown_key' : undefined;
      }
    },
  };
}
