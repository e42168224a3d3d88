/**
 * Self-contained tokens as a format of the token service: the claims travel in
 * the token, signed or sealed by a {@link Codec} (jwt, sealed, fernet; any
 * object with the codec API plugs in, such as an asymmetric JWT signer). They
 * verify without the store; the store only holds what revokes them (the
 * family, the user's epoch, the deny-list of access-token ids).
 *
 * @module
 */
import { TokenError } from '../../errors.js';
import type { Millis, TokenStateStore } from '../../stores/types.js';
import type { Claims, TokenType } from '../../tokens/claims.js';
import { type Codec, newId } from '../../tokens/codec.js';
import { looksOpaque, userShard } from '../../tokens/opaque.js';
import type { RevocationSet } from '../revocations.js';
import type { Introspection, Principal } from '../types.js';
import { describeExtra, extOf, isForeign } from './extra.js';
import type { AccessDraft, AccessFormat, PresentedToken, RefreshDraft, RefreshFormat, Subject } from './types.js';

export interface SelfContainedOptions {
  /** Signs/seals and verifies the claims. */
  codec: Codec;
  store: TokenStateStore;
  /** `iss` of every token minted (and required by `codec` on decode, if it was told so). */
  issuer?: string;
}

export interface SelfContainedAccessOptions extends SelfContainedOptions {
  ttlSeconds: number;
  /** `aud` of every access token minted (refresh tokens are for this service alone). */
  audience?: string | string[];
  /** Ask the store on every `authenticate` whether the token, its family or its user was revoked. */
  checkRevocation: boolean;
  /**
   * The pushed revocations: consulted on every `authenticate` (a few Map lookups), which
   * asks the store only when the set cannot vouch for the token (see ../revocations.ts).
   */
  revocations?: RevocationSet;
  /** Clock skew `codec` accepts (seconds): a deny-list entry outlives its token by this much. */
  leewaySeconds: number;
}

function stringClaim(claims: Claims, name: string): string {
  const v = claims[name];
  if (typeof v !== 'string' || v.length === 0) throw new TokenError('invalid_claims', `The token has no ${name} claim`);
  return v;
}

const optionalString = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * Verifies a token of `type`. An opaque-looking token is `malformed` without a
 * decode attempt (the service then asks the other format whether it is its own).
 */
function verify(codec: Codec, token: string, type: TokenType, now: Millis): Claims {
  if (looksOpaque(token)) throw new TokenError('malformed');
  return codec.decode(token, { type, now });
}

/** Like {@link verify}, with a non-empty `sub`, else `undefined` (introspection and revocation never throw for a bad token). */
function tryVerify(codec: Codec, token: string, type: TokenType, now: Millis): (Claims & { sub: string }) | undefined {
  try {
    const claims = verify(codec, token, type, now);
    return typeof claims.sub === 'string' && claims.sub !== '' ? (claims as Claims & { sub: string }) : undefined;
  } catch {
    return undefined;
  }
}

/** RFC 7662 §2.2 answer for an active token, from its claims. */
function describe(claims: Claims & { sub: string }, tokenType: 'access_token' | 'refresh_token'): Introspection {
  const out: Introspection = { active: true, sub: claims.sub, exp: claims.exp as number, token_type: tokenType };
  if (typeof claims.scope === 'string') out.scope = claims.scope;
  if (typeof claims.iat === 'number') out.iat = claims.iat;
  if (typeof claims.jti === 'string') out.jti = claims.jti;
  if (typeof claims.iss === 'string') out.iss = claims.iss;
  // An access token carries its family's extra claims at the top level, a refresh token under `ext`.
  return describeExtra(out, tokenType === 'access_token' ? claims : extOf(claims));
}

export function selfContainedAccessFormat(options: SelfContainedAccessOptions): AccessFormat {
  const { codec, store, ttlSeconds, issuer, audience, checkRevocation, revocations } = options;
  const leewayMs = options.leewaySeconds * 1000;
  const registered: Claims = issuer === undefined ? {} : { iss: issuer };

  function principalOf(claims: Claims, sub: string, familyId: string | undefined, jti: string | undefined): Principal {
    const principal: Principal = { sub, exp: claims.exp as number, claims };
    if (typeof claims.scope === 'string') principal.scope = claims.scope;
    if (familyId !== undefined) principal.familyId = familyId;
    if (jti !== undefined) principal.tokenId = jti;
    if (typeof claims.iat === 'number') principal.iat = claims.iat;
    if (typeof claims.client_id === 'string') principal.clientId = claims.client_id;
    return principal;
  }

  return {
    draft(_shard: string, iat: number): AccessDraft {
      return { jti: newId(), iat, exp: iat + ttlSeconds };
    },

    mint(s: Subject, draft: AccessDraft): string {
      // The claims of `{ ...s.extra, ...registered, sub, fam, ... }` in the same order, built by
      // assignment: on Node 20 an object literal that lists properties after a spread takes a slow
      // path for each of them and ends up slow for JSON.stringify too (~10 µs per token, measured
      // in bench/http.ts's refresh profile; ~1.4 µs this way).
      const claims: Claims = Object.assign({}, s.extra, registered);
      claims.sub = s.sub;
      claims.fam = s.familyId;
      // The jti names the family (`<family>.<random>`): every instance's revoked set can then fold
      // a family's revoked tokens into the family (src/refresh/revocations.ts). Unique as before.
      claims.jti = `${s.familyId}.${draft.jti}`;
      claims.type = 'access';
      claims.iat = draft.iat;
      claims.exp = draft.exp;
      if (audience !== undefined) claims.aud = audience;
      if (s.scope !== '') claims.scope = s.scope;
      return codec.encode(claims);
    },

    authenticate(token: string, now: Millis): Principal | Promise<Principal> {
      const claims = verify(codec, token, 'access', now);
      const sub = stringClaim(claims, 'sub');
      const familyId = optionalString(claims.fam);
      const jti = optionalString(claims.jti);
      const { iat, exp } = claims;
      const setVerdict = revocations === undefined ? 'ok' : revocations.check(sub, familyId, jti, iat, exp, now);
      if (setVerdict === 'revoked') throw new TokenError('revoked');
      if (setVerdict === 'ok' && !checkRevocation) return principalOf(claims, sub, familyId, jti);
      // The set cannot vouch for it (feed down, or issued before the feed came up), or checkRevocation
      // asks for the store on every request: the store decides.
      const gen = revocations?.generation ?? 0;
      const input = { shard: userShard(sub), now, sub, familyId, jti, ...(typeof iat === 'number' ? { iat } : {}) };
      return store.checkAccess(input).then((r) => {
        if (r.status !== 'ok') {
          revocations?.learned(jti, exp);
          throw new TokenError('revoked');
        }
        if (revocations !== undefined) {
          // A push that arrived while the store was asked wins.
          if (revocations.check(sub, familyId, jti, iat, exp, now) === 'revoked') throw new TokenError('revoked');
          // Remembered only when the set itself could not vouch: with checkRevocation every request
          // asks the store anyway, and the memo would fill with answers nothing reads.
          if (setVerdict === 'ask') revocations.confirm(jti, gen);
        }
        return principalOf(claims, sub, familyId, jti);
      });
    },

    accepts(token: string, now: Millis): boolean {
      return tryVerify(codec, token, 'access', now) !== undefined;
    },

    introspect(token: string, now: Millis): Promise<Introspection> | undefined {
      const claims = tryVerify(codec, token, 'access', now);
      if (claims === undefined) return undefined;
      const { sub, iat, exp } = claims;
      const familyId = optionalString(claims.fam);
      const jti = optionalString(claims.jti);
      // What authenticate refuses from memory, introspection refuses too (they always agree).
      if (revocations?.check(sub, familyId, jti, iat, exp, now) === 'revoked') return Promise.resolve({ active: false });
      // Introspection is the authoritative answer: always consult revocation state (RFC 7662 §2.2).
      const input = { shard: userShard(sub), now, sub, familyId, jti, ...(typeof iat === 'number' ? { iat } : {}) };
      return store.checkAccess(input).then((r) => {
        if (r.status === 'ok') return describe(claims, 'access_token');
        revocations?.learned(jti, exp);
        return { active: false };
      });
    },

    revoke(token: string, now: Millis, clientId?: string): Promise<void> | undefined {
      const claims = tryVerify(codec, token, 'access', now);
      if (claims === undefined) return undefined;
      // RFC 7009 §2.1: another client's token is not revoked; §2.2 still answers 200 (no probing).
      if (isForeign(claims, clientId)) return Promise.resolve();
      const jti = claims.jti;
      if (typeof jti !== 'string') return Promise.resolve();
      // Deny-listed until it would expire anyway (plus the accepted clock skew): then the entry goes too.
      return store.revokeAccess({ shard: userShard(claims.sub), now, jti, expiresAt: (claims.exp as number) * 1000 + leewayMs });
    },
  };
}

export interface SelfContainedRefreshOptions extends SelfContainedOptions {
  /**
   * Also accepts refresh tokens of this codec (never mints with it): tokens made with the
   * configured keys themselves rather than the refresh keys (keys.ts `refreshKeyRing`), for the
   * rest of their lives. Tessera tells them apart by key (a key id
   * without the `:r` suffix; for Fernet, the key that verifies) and still requires their
   * `type: "refresh"` claim, so no access token passes for one.
   */
  legacyCodec?: Codec;
}

/** Codes of a token the refresh keys do not know: only those are tried with the legacy keys. */
const NOT_OUR_KEY = new Set(['unknown_key', 'bad_signature']);

export function selfContainedRefreshFormat(options: SelfContainedRefreshOptions): RefreshFormat {
  const { codec, store, issuer, legacyCodec } = options;
  const registered: Claims = issuer === undefined ? {} : { iss: issuer };

  /** {@link verify} with the refresh keys, then (a token they do not know) with the legacy keys. */
  function verifyRefresh(token: string, now: Millis): Claims {
    try {
      return verify(codec, token, 'refresh', now);
    } catch (e) {
      if (legacyCodec === undefined || !(e instanceof TokenError) || !NOT_OUR_KEY.has(e.code)) throw e;
      try {
        return verify(legacyCodec, token, 'refresh', now);
      } catch (legacy) {
        // A legacy token that verified but is expired (or of the other type) says so.
        throw legacy instanceof TokenError && !NOT_OUR_KEY.has(legacy.code) ? legacy : e;
      }
    }
  }

  function tryVerifyRefresh(token: string, now: Millis): (Claims & { sub: string }) | undefined {
    try {
      const claims = verifyRefresh(token, now);
      return typeof claims.sub === 'string' && claims.sub !== '' ? (claims as Claims & { sub: string }) : undefined;
    } catch {
      return undefined;
    }
  }

  return {
    parse(token: string, now: Millis): PresentedToken {
      const claims = verifyRefresh(token, now);
      const sub = stringClaim(claims, 'sub');
      const familyId = stringClaim(claims, 'fam');
      const jti = stringClaim(claims, 'jti');
      const ext = claims.ext;
      return {
        shard: userShard(sub),
        presented: { kind: 'jti', familyId, sub, jti },
        family: { familyId },
        subject: {
          sub,
          familyId,
          scope: typeof claims.scope === 'string' ? claims.scope : '',
          extra: typeof ext === 'object' && ext !== null && !Array.isArray(ext) ? (ext as Claims) : {},
        },
        authTime: typeof claims.auth_time === 'number' ? claims.auth_time : Math.floor(now / 1000),
      };
    },

    mint(_shard: string, s: Subject | undefined, iat: number, exp: number, authTime: number): RefreshDraft {
      // Login and a self-contained presented token both know the subject: only a bug gets here without it.
      if (s === undefined) throw new TypeError('a self-contained refresh token needs its subject');
      const jti = newId();
      // auth_time (OIDC Core §2): when the family began, so the absolute lifetime caps every later token.
      // By assignment, not `{ ...registered, sub, ... }`: see the access format's mint.
      const claims: Claims = Object.assign({}, registered);
      claims.sub = s.sub;
      claims.fam = s.familyId;
      claims.jti = jti;
      claims.type = 'refresh';
      claims.iat = iat;
      claims.exp = exp;
      claims.auth_time = authTime;
      if (s.scope !== '') claims.scope = s.scope;
      if (Object.keys(s.extra).length > 0) claims.ext = s.extra;
      return { token: codec.encode(claims), id: jti, stored: false };
    },

    accepts(token: string, now: Millis): boolean {
      return tryVerifyRefresh(token, now) !== undefined;
    },

    introspect(token: string, now: Millis): Promise<Introspection> | undefined {
      const claims = tryVerifyRefresh(token, now);
      if (claims === undefined) return undefined;
      const familyId = optionalString(claims.fam);
      if (familyId === undefined) return Promise.resolve({ active: false });
      return store
        .inspectRefresh({ shard: userShard(claims.sub), now, familyId, jti: optionalString(claims.jti) })
        .then((r) => (r.status === 'active' ? describe(claims, 'refresh_token') : { active: false }));
    },

    revoke(token: string, now: Millis, clientId?: string): Promise<void> | undefined {
      const claims = tryVerifyRefresh(token, now);
      if (claims === undefined) return undefined;
      if (isForeign(extOf(claims), clientId)) return Promise.resolve();
      if (typeof claims.fam !== 'string') return Promise.resolve();
      // RFC 7009 §2.1: revoking a refresh token revokes its grant, here the whole family.
      const ref = { shard: userShard(claims.sub), now, familyId: claims.fam };
      const end = () => store.revokeFamily(ref).then(() => undefined);
      if (clientId === undefined) return end();
      // A client's request, as for opaque tokens: a consumed (rotated) token is no longer valid
      // (RFC 7009 §2.2), so it has nothing left to revoke; the session that moved on stays.
      return store
        .inspectRefresh({ ...ref, jti: optionalString(claims.jti) })
        .then((r) => (r.status === 'active' ? end() : undefined));
    },
  };
}
