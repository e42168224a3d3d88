/**
 * Public types of the token service (`createTokenService`): the contract the
 * HTTP layer, the CLI and outside code program against.
 *
 * @module
 */
import type { KeyInput } from '../keys.js';
import type { TokenStore } from '../stores/types.js';
import type { Claims } from '../tokens/claims.js';
import type { SelfContainedFormat } from '../tokens/codec.js';
import type { SigningKeySet } from '../tokens/jwk.js';

/** Every token format: the self-contained ones and `opaque` (state in the store). */
export type TokenFormat = SelfContainedFormat | 'opaque';
export const TOKEN_FORMATS: readonly TokenFormat[] = ['jwt', 'sealed', 'fernet', 'opaque'];

/** The three schemes of DESIGN.md (jwt, sealed, opaque), as presets of (access format, refresh format). */
export type Scheme = 'jwt' | 'sealed' | 'opaque';
export const SCHEMES: Record<Scheme, { access: TokenFormat; refresh: TokenFormat }> = {
  jwt: { access: 'jwt', refresh: 'jwt' },
  sealed: { access: 'sealed', refresh: 'sealed' },
  opaque: { access: 'opaque', refresh: 'opaque' },
};

/** Options of `createTokenService`. The defaults named here are `DEFAULTS` (./config.ts; `TOKEN_SERVICE_DEFAULTS` in the package). */
export interface TokenServiceOptions {
  /**
   * The key material: one secret (base64url or bytes, >= 32 bytes), a list `[{ kid?, secret }]`
   * or a key ring (`createKeyRing`): the first key signs, all verify. Not needed when both formats are opaque.
   */
  secret?: KeyInput;
  /** A preset; `access.format` / `refresh.format` override it. Default `jwt`. */
  scheme?: Scheme;
  access?: {
    format?: TokenFormat;
    /** Default 900 (15 minutes). */
    ttlSeconds?: number;
    /**
     * Look up revocation (token, family, user) for self-contained access tokens on
     * every `authenticate` (one store round trip), in addition to the pushed
     * revocations: belt and braces, for a store whose push you do not trust.
     * Default false. Opaque access tokens are always looked up.
     */
    checkRevocation?: boolean;
    /**
     * Keep the store's pushed revocations in memory (`TokenStore.revocations()`), so
     * that after a logout, logout everywhere, RFC 7009 revocation or reuse detection on
     * any instance, every instance refuses the affected jwt/sealed/fernet access tokens
     * within a second, with no store round trip per request (docs/security.md,
     * "Revocation"). Default true. False: self-contained access tokens are accepted
     * until they expire unless `checkRevocation` is on (for a deployment with its own story).
     */
    revocationPush?: boolean;
    /**
     * Pushed revocations held in memory at most (access tokens, families, users). Beyond it a
     * revocation is not held, and every token issued before it is checked against the store
     * once instead: memory stays bounded, and no revocation is forgotten. Default 100000.
     */
    revocationCap?: number;
    /**
     * Remember up to this many verified jwt/sealed/fernet access tokens, so a
     * repeat skips the MAC and the parse (expiry, type, issuer and audience are
     * still checked every time; revocation too, with `checkRevocation`).
     * Default 1000; 0 turns it off. `Principal.claims` is then deep-frozen.
     */
    cacheSize?: number;
    /**
     * Sign `jwt` access tokens with EdDSA, ES256 or RS256 (the first key of this set; all
     * verify) instead of HS256, so resource servers verify with the public keys
     * (`/.well-known/jwks.json`, `createJwksVerifier`). Refresh tokens keep the secret.
     */
    signingKeys?: SigningKeySet;
  };
  refresh?: {
    format?: TokenFormat;
    /** Default 2592000 (30 days). */
    ttlSeconds?: number;
    /**
     * Seconds after a rotation during which the consumed token, presented again,
     * returns the same new pair instead of revoking the family. Default 0.
     */
    reuseGraceSeconds?: number;
    /** A family (login session) never outlives this many seconds. Default 7776000 (90 days). */
    absoluteLifetimeSeconds?: number;
    /**
     * jwt, sealed and fernet refresh tokens are made with keys derived from the secret for
     * refresh tokens alone (`refreshKeyRing`), so no access-token verifier holding the secret
     * accepts one. Underived ones (made with the secret itself) are
     * accepted too while this is true (their `type: "refresh"` claim is still required); none is
     * minted. Default true; false refuses them (docs/keys.md: when).
     */
    acceptLegacyKeys?: boolean;
  };
  store: TokenStore;
  /** Milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number;
  issuer?: string;
  audience?: string | string[];
  leewaySeconds?: number;
  /**
   * What a session records of the client address it was used from (`issue` / `refresh`
   * `address`): `truncated` (the default) keeps the network, /24 of IPv4 and /48 of IPv6, enough
   * for an approximate place; `full` the address; `off` nothing.
   */
  sessionAddress?: SessionAddressMode;
}

/** How much of a client address a session keeps (`TESSERA_SESSION_ADDRESS`). */
export type SessionAddressMode = 'full' | 'truncated' | 'off';
export const SESSION_ADDRESS_MODES: readonly SessionAddressMode[] = ['full', 'truncated', 'off'];

/** The device a sign-in or refresh came from, as the session listing shows it. */
export interface SessionDevice {
  /** The `User-Agent` header; kept to its first 256 characters. */
  userAgent?: string;
  /** The client address, kept as `sessionAddress` says. */
  address?: string;
}

/** A live session (a refresh token family) of a user: `tokens.sessions(sub)`. Times in milliseconds since the epoch. */
export interface Session {
  id: string;
  /** The client it was issued to, `''` when none. */
  clientId: string;
  createdAt: number;
  /** The latest refresh (the sign-in before the first). */
  lastUsedAt: number;
  /** When it ends unless refreshed: its refresh token's expiry, never past the absolute lifetime. */
  expiresAt: number;
  /** `''` when unknown. */
  userAgent: string;
  /** As kept (truncated by default); `''` when unknown or not kept. */
  address: string;
  /** The grant that created it (`IssueInput.grant`: `password`, `authorization_code`, ...); null when none was recorded. */
  grant: string | null;
  /** The session of the access token that asked (`sessions(sub, currentId)`). */
  current: boolean;
}

export interface IssueInput {
  sub: string;
  /** Space-separated scopes (RFC 6749 §3.3). */
  scope?: string;
  /** Extra claims for self-contained access tokens (registered claims are ours). */
  claims?: Claims;
  /**
   * The client the tokens are issued to (RFC 6749 §2.2): recorded in the family (the `client_id`
   * claim), carried by access tokens (RFC 9068 §2.2), and required of every refresh (RFC 6749 §6).
   * Absent: the family is bound to no client (library use).
   */
  clientId?: string;
  /**
   * RFC 9449 §6.1: the RFC 7638 thumbprint of the client's DPoP key. The family records it as
   * `cnf: { jkt }`: every access token minted from it carries the claim (an opaque one's record
   * keeps it, and `authenticate` answers it in `Principal.claims`), and every refresh of the family
   * must come with a proof by that key (`RefreshOptions.jkt`, §5).
   */
  jkt?: string;
  /** The signing-in device's `User-Agent`, for the session listing. */
  userAgent?: string;
  /** The signing-in client's address, for the session listing (kept as `sessionAddress` says). */
  address?: string;
  /**
   * The grant that creates the session, for the session listing: an RFC 6749 §4.5 `grant_type`
   * (`password`, `authorization_code`, ...; the token endpoint names its own). Kept for the
   * family's life: a refresh does not change it. Absent: none recorded (`Session.grant` null).
   */
  grant?: string;
}

/** Who refreshes (RFC 6749 §6). */
export interface RefreshOptions {
  /** The client presenting the token: a token issued to another client is refused (`wrong_client`) and not consumed. */
  clientId?: string;
  /** A narrower scope for the new access token; beyond the grant's scope it is `invalid_scope`, nothing consumed. */
  scope?: string;
  /**
   * RFC 9449 §5: the thumbprint of the DPoP proof presented with the refresh; `null` when the
   * caller looked for one and there was none. A family bound to a key (`IssueInput.jkt`) is
   * refreshed only with a proof by that key: anything else is refused (`DpopError`
   * `dpop_key_mismatch`) and the refresh token is not consumed. With an opaque refresh token the
   * store's rotation checks the family's binding in its one round trip whenever this is not
   * `undefined`; left `undefined` (library use without DPoP) an opaque refresh token is rotated
   * unchecked, and a self-contained one of a bound family is refused.
   */
  jkt?: string | null;
  /** The refreshing device's `User-Agent`: recorded as the session's latest, in the rotation's one store write. */
  userAgent?: string;
  /** The refreshing client's address, likewise. */
  address?: string;
}

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  /** `DPoP` when the family is bound to a key (RFC 9449 §5: the token response's `token_type`). */
  tokenType: 'Bearer' | 'DPoP';
  /** Access token lifetime in seconds. */
  expiresIn: number;
  /** Refresh token lifetime in seconds. */
  refreshExpiresIn: number;
  scope?: string;
  familyId: string;
}

/** Who an access token speaks for. */
export interface Principal {
  sub: string;
  scope?: string;
  familyId?: string;
  /** Token id (jti) for self-contained tokens. */
  tokenId?: string;
  /** Expiry, seconds since the epoch. */
  exp: number;
  iat?: number;
  /** The client the token was issued to (RFC 9068 `client_id`), when bound to one. */
  clientId?: string;
  /**
   * All claims of a self-contained token. Read-only: with the access cache on
   * (the default) the same deep-frozen object serves every request that
   * presents the same token.
   */
  claims?: Readonly<Claims>;
}

/** RFC 7662 §2.2 introspection response. */
export interface Introspection {
  active: boolean;
  sub?: string;
  scope?: string;
  exp?: number;
  iat?: number;
  jti?: string;
  token_type?: 'access_token' | 'refresh_token';
  iss?: string;
  /** The client the token was issued to. */
  client_id?: string;
  /** The resource owner's username (RFC 7662 §2.2), when the login recorded one. */
  username?: string;
  /** RFC 9449 §6.2: the key a DPoP-bound token is bound to. */
  cnf?: { jkt: string };
}

/** An access token without a refresh token (RFC 6749 §4.4.3: the client credentials grant). */
export interface AccessGrant {
  accessToken: string;
  /** `DPoP` when bound to a key (RFC 9449 §5). */
  tokenType: 'Bearer' | 'DPoP';
  /** Lifetime in seconds. */
  expiresIn: number;
  scope?: string;
  familyId: string;
}

export interface TokenService {
  issue(input: IssueInput): Promise<TokenPair>;
  /** An access token alone, for a grant that issues no refresh token (RFC 6749 §4.4.3). */
  issueAccess(input: IssueInput): Promise<AccessGrant>;
  /**
   * Ends a family (login session) by id: its refresh token and, within the revocation push,
   * its access tokens are refused. `sub` is the family's user. Resolves true when a live family was ended.
   */
  endFamily(sub: string, familyId: string): Promise<boolean>;
  /**
   * The user's live sessions, most recently used first; `currentId` (the asking token's family)
   * is marked `current`. Rejects with a ConfigError on a store without a session listing.
   */
  sessions(sub: string, currentId?: string): Promise<Session[]>;
  /**
   * Ends one of the user's sessions: like `endFamily`, but only a live session of `sub` (another
   * user's id, or an unknown one, ends nothing: false).
   */
  endSession(sub: string, id: string): Promise<boolean>;
  /** Ends every session of the user but `keepId` (sign out everywhere else); resolves how many were ended. */
  endOtherSessions(sub: string, keepId: string | undefined): Promise<number>;
  /**
   * Rotates a refresh token. Throws TokenError (expired, revoked, reused, wrong_type,
   * wrong_client, ...) for a token that is no good; rejects with `InvalidScopeError` when
   * `options.scope` is wider than the grant (the token stays valid), and with
   * `StoreUnavailableError` when the store cannot be asked (every method does: an outage is
   * never a TokenError).
   */
  refresh(refreshToken: string, options?: RefreshOptions): Promise<TokenPair>;
  /** Verifies an access token. Throws TokenError. */
  authenticate(accessToken: string): Promise<Principal>;
  /**
   * RFC 7662: never throws for a bad token (answers `{active:false}`); rejects only with
   * `StoreUnavailableError`. `hint` (`access_token` | `refresh_token`) only orders the search (§2.1).
   */
  introspect(token: string, hint?: string): Promise<Introspection>;
  /**
   * RFC 7009: revokes an access or refresh token (a refresh token's whole family). Unknown,
   * invalid and expired tokens are ignored (§2.2); rejects only with `StoreUnavailableError`.
   * With `clientId`, a token issued to another client is ignored too (§2.1: a client revokes its own).
   */
  revoke(token: string, hint?: string, options?: { clientId?: string }): Promise<void>;
  /**
   * Ends the family of a refresh token (logout), when the token is its family's current one
   * and, with `clientId`, was issued to that client (RFC 7009 §2.1); resolves `true` when a live
   * family was ended. A consumed (rotated) token, or another client's, ends nothing and trips
   * no reuse detection (`false`). Throws TokenError for a token that does not verify.
   */
  logout(refreshToken: string, options?: { clientId?: string }): Promise<boolean>;
  /** Revokes every family and every access token of a user (logout everywhere), in O(1). */
  revokeUser(sub: string): Promise<void>;
  /** Resolves when the store answers (readiness); rejects with `StoreUnavailableError`. */
  ping(): Promise<void>;
}

/**
 * What the HTTP guard's fast path uses (a {@link ConfiguredTokenService} has it; not part of
 * the public TokenService): `authenticate` without the promise when the answer needs no store
 * (a self-contained token the revocation set vouches for), so a request pays for no promise
 * and no microtask. Throws TokenError synchronously, or returns a promise for a store lookup.
 * Only strings of RFC 6750's b64token syntax can succeed: every format decodes strictly
 * (canonical base64url, fixed layouts), so the guard may leave the syntax check to failures.
 */
export interface SyncAuthenticator {
  authenticateNow(accessToken: string): Principal | Promise<Principal>;
}
