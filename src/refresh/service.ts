/**
 * `createTokenService`: issue, refresh (rotate), authenticate, introspect,
 * revoke, for any access format with any refresh format (jwt, sealed, fernet,
 * opaque: see ./formats/), on any {@link TokenStore}. This module only
 * orchestrates: what a token looks like and how it verifies is the formats'
 * business, what is stored and how atomically is the store's.
 *
 * Model. A login creates a family (RFC 9700 §4.14.2 "refresh token family").
 * Every refresh token belongs to one; the family record names the one that may
 * be used next. A refresh is one atomic store operation (`rotate`): the
 * presented token is consumed and its successor becomes current (RFC 6749
 * §10.4 rotation). Presenting a consumed token again is reuse: the family is
 * revoked, attacker and victim alike lose it (RFC 9700 §4.14.2), except within
 * the optional grace window, where the retry gets the very same pair.
 *
 * Cost. `refresh` is exactly one store round trip; `authenticate` is none for
 * self-contained access tokens (one with `access.checkRevocation`, or for a token
 * the pushed revocations cannot vouch for: see ./revocations.ts), one for
 * opaque ones; `issue` is one.
 *
 * Revocation. With `access.revocationPush` (the default) the service listens to
 * the store's revocation push (`TokenStore.revocations()`) and keeps what is
 * revoked in memory (./revocations.ts): a revocation on any instance reaches
 * every instance within a second, and `authenticate` refuses from memory. Tokens are minted before the store call, so the
 * call carries everything the store has to write.
 *
 * @module
 */
import { ConfigError, InvalidScopeError, isTokenError, TokenError } from '../errors.js';
import { scopeWithin } from '../stores/state.js';
import type { FamilyInfo, NextTokens, TokenStore } from '../stores/types.js';
import type { Claims } from '../tokens/claims.js';
import { newId } from '../tokens/codec.js';
import { boundJkt, DpopError } from '../tokens/dpop.js';
import { userShard } from '../tokens/opaque.js';
import { resolveConfig, type TokenServiceConfig } from './config.js';
import { clientOf, isForeign } from './formats/extra.js';
import { createFormats } from './formats/index.js';
import type { PresentedToken, Subject } from './formats/types.js';
import { openReplay, type ReplayPayload, sealReplay } from './replay.js';
import { RevocationSet } from './revocations.js';
import { sessionDeviceFields, toSessions } from './sessions.js';
import type {
  AccessGrant,
  Introspection,
  IssueInput,
  Principal,
  RefreshOptions,
  Session,
  SessionDevice,
  SyncAuthenticator,
  TokenPair,
  TokenService,
  TokenServiceOptions,
} from './types.js';
import { SESSION_ADDRESS_MODES } from './types.js';

export { DEFAULTS, resolveConfig, type TokenServiceConfig } from './config.js';

/** Claims the service sets itself; extra claims from `issue` cannot override them. */
const RESERVED = new Set([
  'sub',
  'exp',
  'iat',
  'nbf',
  'jti',
  'iss',
  'aud',
  'type',
  'fam',
  'scope',
  'auth_time',
  'ext',
  'client_id',
  'cnf',
]);
const MAX_SUB_LENGTH = 1024;
const MAX_CLIENT_ID_LENGTH = 256;
/** The longest grant a session records: room for an extension grant's absolute URI (RFC 6749 §4.5). */
const MAX_GRANT_LENGTH = 256;
const MAX_SCOPE_LENGTH = 4096;

function requireSub(sub: unknown): string {
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > MAX_SUB_LENGTH) {
    throw new TypeError(`sub must be a non-empty string of at most ${MAX_SUB_LENGTH} characters`);
  }
  return sub;
}

function extraClaims(claims: Claims | undefined): Claims {
  if (claims === undefined) return {};
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) throw new TypeError('claims must be an object');
  const out: Claims = {};
  // `__proto__` would set the object's prototype, not a claim.
  for (const [k, v] of Object.entries(claims)) if (!RESERVED.has(k) && k !== '__proto__') out[k] = v;
  return out;
}

function optionalString(v: unknown, name: string, max: number): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > max) {
    throw new TypeError(`${name} must be a non-empty string of at most ${max} characters`);
  }
  return v;
}

/** RFC 9449 §5: a family bound to a key is refreshed only with a proof by that key. */
function checkKey(bound: string | undefined, presented: string | null | undefined): void {
  if (bound === undefined || bound === presented) return;
  keyMismatch(presented);
}

function keyMismatch(presented: string | null | undefined): never {
  throw new DpopError(
    'dpop_key_mismatch',
    presented
      ? 'The DPoP proof is by another key than the refresh token is bound to'
      : 'The refresh token is DPoP-bound: a DPoP proof by its key is required',
  );
}

function requireToken(token: unknown): asserts token is string {
  if (typeof token !== 'string' || token.length === 0) throw new TokenError('malformed');
}

/**
 * A token that does not verify as the expected type, but does as the other one,
 * was presented in the wrong place: `wrong_type` says what happened (RFC 8725
 * §3.11: the two must never stand in for each other), where the expected
 * format alone could only say `malformed` or `bad_signature`. Only on the
 * failure path: a valid token costs no second look.
 */
function wrongTypeOr(e: unknown, other: { accepts(token: string, now: number): boolean }, token: string, now: number): unknown {
  if (isTokenError(e) && e.code !== 'expired' && e.code !== 'wrong_type' && other.accepts(token, now)) {
    return new TokenError('wrong_type');
  }
  return e;
}

function subjectOf(f: FamilyInfo): Subject {
  let extra: Claims = {};
  if (f.claims !== '') extra = JSON.parse(f.claims) as Claims;
  return { sub: f.sub, scope: f.scope, extra, familyId: f.familyId };
}

function pairOf(
  accessToken: string,
  refreshToken: string,
  accessExp: number,
  refreshExp: number,
  nowSec: number,
  s: Subject,
): TokenPair {
  const pair: TokenPair = {
    accessToken,
    refreshToken,
    tokenType: boundJkt(s.extra) === undefined ? 'Bearer' : 'DPoP',
    expiresIn: accessExp - nowSec,
    refreshExpiresIn: Math.max(0, refreshExp - nowSec),
    familyId: s.familyId,
  };
  if (s.scope !== '') pair.scope = s.scope;
  return pair;
}

export type ConfiguredTokenService = TokenService &
  SyncAuthenticator & {
    readonly config: TokenServiceConfig;
    /**
     * The `iss` of every token this service mints and requires (RFC 9068 §2.2), as configured;
     * the HTTP routes serve it as the RFC 8414 `issuer`. Undefined when none was configured.
     */
    readonly issuer: string | undefined;
    /** The pushed revocations held in memory; undefined when the access format is opaque or the push is off. */
    readonly revocations: RevocationSet | undefined;
    /** Stops listening to the store's revocation push (the store's own `close()` ends it too). Idempotent. */
    close(): void;
  };

export function createTokenService(options: TokenServiceOptions): ConfiguredTokenService {
  if (!options || typeof options !== 'object') throw new ConfigError('createTokenService needs options');
  const store: TokenStore = options.store;
  if (!store || typeof store.rotate !== 'function') throw new ConfigError('createTokenService needs a store (see openStore)');
  if ((options as { keys?: unknown }).keys !== undefined) {
    throw new ConfigError('createTokenService takes key material as `secret` (a secret, keys or a key ring), not `keys`');
  }
  const config = resolveConfig(options);
  const clock = options.clock ?? Date.now;
  const leewayMs = config.leewaySeconds * 1000;
  const graceMs = config.reuseGraceSeconds * 1000;
  const addressMode = options.sessionAddress ?? 'truncated';
  if (!SESSION_ADDRESS_MODES.includes(addressMode)) {
    throw new ConfigError(`sessionAddress must be one of ${SESSION_ADDRESS_MODES.join(', ')}`);
  }
  /** The device fields a store write carries: only those known (a rotation keeps the others). */
  const device: (d: SessionDevice) => { userAgent?: string; address?: string } = sessionDeviceFields(addressMode);
  // Opaque access tokens are their record (always looked up): nothing to keep in memory for them.
  const revocations =
    config.revocationPush && config.accessFormat !== 'opaque'
      ? new RevocationSet({
          horizonMs: config.accessTtlSeconds * 1000 + leewayMs,
          leewayMs,
          clock,
          maxEntries: config.revocationCap,
        })
      : undefined;
  // A store without a push leaves the set down: every self-contained token is then looked up (fail closed).
  let unsubscribe = revocations !== undefined && store.revocations ? store.revocations().subscribe(revocations) : () => {};
  const { access, refresh } = createFormats(config, {
    store,
    keys: options.secret,
    issuer: options.issuer,
    audience: options.audience,
    clock,
    signingKeys: options.access?.signingKeys,
    ...(revocations ? { revocations } : {}),
  });

  function parseRefresh(token: string, now: number): PresentedToken {
    requireToken(token);
    try {
      return refresh.parse(token, now);
    } catch (e) {
      throw wrongTypeOr(e, access, token, now);
    }
  }

  /** A new family (login session) and its first pair; the family lives at most `lifetimeSeconds`. */
  async function startFamily(input: IssueInput, lifetimeSeconds: number): Promise<TokenPair> {
    const sub = requireSub(input?.sub);
    if (input.scope !== undefined && typeof input.scope !== 'string') throw new TypeError('scope must be a string');
    const now = clock();
    const nowSec = Math.floor(now / 1000);
    const shard = userShard(sub);
    const extra = extraClaims(input.claims);
    const clientId = optionalString(input.clientId, 'clientId', MAX_CLIENT_ID_LENGTH);
    // The family records its client with the other extra claims: every store keeps them, every access
    // token minted from the family carries them (RFC 9068 §2.2 client_id), and rotate checks them.
    if (clientId !== undefined) extra.client_id = clientId;
    // RFC 9449 §6.1: the family's key, carried by its access tokens as `cnf.jkt` (and checked at refresh, §5).
    const jkt = optionalString(input.jkt, 'jkt', 128);
    if (jkt !== undefined) extra.cnf = { jkt };
    const grant = optionalString(input.grant, 'grant', MAX_GRANT_LENGTH);
    const subject: Subject = { sub, scope: input.scope ?? '', extra, familyId: newId() };
    const absoluteExp = nowSec + lifetimeSeconds;
    const refreshExp = Math.min(nowSec + config.refreshTtlSeconds, absoluteExp);
    const r = refresh.mint(shard, subject, nowSec, refreshExp, nowSec);
    const a = access.draft(shard, nowSec);
    const accessToken = access.mint(subject, a);
    const next: NextTokens = {
      refreshId: r.id,
      refreshOpaque: r.stored,
      refreshExpiresAt: refreshExp * 1000,
      accessExpiresAt: a.exp * 1000,
    };
    if (a.hash !== undefined) next.accessHash = a.hash;
    await store.createFamily({
      shard,
      now,
      familyId: subject.familyId,
      sub,
      absoluteExpiresAt: absoluteExp * 1000,
      scope: subject.scope,
      claims: Object.keys(subject.extra).length > 0 ? JSON.stringify(subject.extra) : '',
      next,
      leewayMs,
      ...device(input),
      ...(grant === undefined ? {} : { grant }),
    });
    return pairOf(accessToken, r.token, a.exp, refreshExp, nowSec, subject);
  }

  const service: ConfiguredTokenService = {
    config,
    issuer: options.issuer,
    revocations,

    close(): void {
      unsubscribe();
      unsubscribe = () => {};
    },

    issue(input: IssueInput): Promise<TokenPair> {
      return startFamily(input, config.absoluteLifetimeSeconds);
    },

    async issueAccess(input: IssueInput): Promise<AccessGrant> {
      // RFC 6749 §4.4.3: no refresh token. The family still exists (it is what revocation and the
      // access-token records hang on) but lives no longer than its one access token.
      const pair = await startFamily(input, config.accessTtlSeconds);
      const grant: AccessGrant = {
        accessToken: pair.accessToken,
        tokenType: pair.tokenType,
        expiresIn: pair.expiresIn,
        familyId: pair.familyId,
      };
      if (pair.scope !== undefined) grant.scope = pair.scope;
      return grant;
    },

    async endFamily(sub: string, familyId: string): Promise<boolean> {
      requireSub(sub);
      if (typeof familyId !== 'string' || familyId === '') throw new TypeError('familyId must be a non-empty string');
      return store.revokeFamily({ shard: userShard(sub), now: clock(), familyId });
    },

    async sessions(sub: string, currentId?: string): Promise<Session[]> {
      requireSub(sub);
      if (!store.listFamilies) throw new ConfigError(`the ${store.kind} store keeps no session listing (listFamilies)`);
      const now = clock();
      const families = await store.listFamilies({ shard: userShard(sub), now, sub });
      return toSessions(families, now, leewayMs, currentId);
    },

    async endSession(sub: string, id: string): Promise<boolean> {
      requireSub(sub);
      if (typeof id !== 'string' || id === '') return false;
      // Only a session listed for this user: revokeFamily alone would end another user's family by id.
      const mine = await service.sessions(sub);
      if (!mine.some((s) => s.id === id)) return false;
      return service.endFamily(sub, id);
    },

    async endOtherSessions(sub: string, keepId: string | undefined): Promise<number> {
      const others = (await service.sessions(sub)).filter((s) => s.id !== keepId);
      // One revocation per family (each pushed to every instance), a few in flight at a time.
      let ended = 0;
      for (let i = 0; i < others.length; i += 16) {
        const batch = others.slice(i, i + 16).map((s) => service.endFamily(sub, s.id));
        for (const ok of await Promise.all(batch)) if (ok) ended++;
      }
      return ended;
    },

    async refresh(refreshToken: string, options: RefreshOptions = {}): Promise<TokenPair> {
      const now = clock();
      const nowSec = Math.floor(now / 1000);
      const clientId = optionalString(options.clientId, 'clientId', MAX_CLIENT_ID_LENGTH);
      const scope = optionalString(options.scope, 'scope', MAX_SCOPE_LENGTH);
      const p = parseRefresh(refreshToken, now);
      if (p.subject) {
        // Self-contained: the claims say whose token it is, so refuse before the store sees it (RFC 6749 §6).
        // Opaque: the store's rotate checks the same, before it consumes anything.
        const owner = clientOf(p.subject.extra);
        if (clientId !== undefined && owner !== '' && owner !== clientId) throw new TokenError('wrong_client');
        if (scope !== undefined && !scopeWithin(scope, p.subject.scope)) throw new InvalidScopeError();
        checkKey(boundJkt(p.subject.extra), options.jkt);
      }
      // RFC 6749 §6: a narrower scope applies to the new access token; the grant (and so the
      // refresh token) keeps the scope it had.
      const narrowed = (s: Subject): Subject => (scope === undefined ? s : { ...s, scope });
      // Known family start: capped by the absolute lifetime here; else the store caps the record.
      const refreshExp =
        p.authTime === undefined
          ? nowSec + config.refreshTtlSeconds
          : Math.min(nowSec + config.refreshTtlSeconds, p.authTime + config.absoluteLifetimeSeconds);
      const r = refresh.mint(p.shard, p.subject, nowSec, refreshExp, p.authTime ?? nowSec);
      const a = access.draft(p.shard, nowSec);
      // Minted now when the format needs no subject or the subject is known, else after the store answers.
      let accessToken = a.token ?? (p.subject ? access.mint(narrowed(p.subject), a) : undefined);
      const next: NextTokens = {
        refreshId: r.id,
        refreshOpaque: r.stored,
        refreshExpiresAt: refreshExp * 1000,
        accessExpiresAt: a.exp * 1000,
      };
      if (a.hash !== undefined) next.accessHash = a.hash;
      if (scope !== undefined) next.accessScope = scope;
      let replay: string | undefined;
      if (graceMs > 0) {
        const payload: ReplayPayload = { r: r.token, aj: a.jti, ai: a.iat, ae: a.exp, re: refreshExp };
        if (accessToken !== undefined) payload.a = accessToken;
        replay = sealReplay(refreshToken, payload);
      }

      const result = await store.rotate({
        shard: p.shard,
        now,
        presented: p.presented,
        next,
        graceMs,
        replay,
        leewayMs,
        ...(clientId === undefined ? {} : { clientId }),
        ...(scope === undefined ? {} : { scope }),
        // RFC 9449 §5 for an opaque token: its family's key is in the store, which checks it in
        // the rotation itself (a self-contained token's claims were checked above).
        ...(!p.subject && options.jkt !== undefined ? { jkt: options.jkt } : {}),
        ...(options.userAgent === undefined && options.address === undefined ? {} : device(options)),
      });

      switch (result.status) {
        case 'rotated': {
          const s = narrowed(p.subject ?? subjectOf(result.family));
          accessToken ??= access.mint(s, a);
          const cappedRefreshExp = Math.min(refreshExp, Math.floor(result.family.absoluteExpiresAt / 1000));
          return pairOf(accessToken, r.token, a.exp, cappedRefreshExp, nowSec, s);
        }
        case 'replayed': {
          const replayed = openReplay(refreshToken, result.replay);
          const s = narrowed(p.subject ?? subjectOf(result.family));
          // An access token minted after the first store call is re-minted with the same jti, iat
          // and exp: the same token for jwt (deterministic), an equivalent one for sealed/fernet.
          const at = replayed.a ?? access.mint(s, { jti: replayed.aj, iat: replayed.ai, exp: replayed.ae });
          const cappedRefreshExp = Math.min(replayed.re, Math.floor(result.family.absoluteExpiresAt / 1000));
          return pairOf(at, replayed.r, replayed.ae, cappedRefreshExp, nowSec, s);
        }
        case 'reused':
          throw new TokenError('reused');
        case 'revoked':
          throw new TokenError('revoked');
        case 'expired':
          throw new TokenError('expired');
        case 'unknown':
          throw new TokenError('unknown_token');
        case 'wrong_client':
          throw new TokenError('wrong_client');
        case 'invalid_scope':
          throw new InvalidScopeError();
        case 'wrong_key':
          return keyMismatch(options.jkt);
      }
    },

    async authenticate(accessToken: string): Promise<Principal> {
      return service.authenticateNow(accessToken);
    },

    authenticateNow(accessToken: string): Principal | Promise<Principal> {
      const now = clock();
      requireToken(accessToken);
      // Only a synchronous failure (the token does not verify) can be a token of the other type;
      // what the store answers stands as it is.
      try {
        return access.authenticate(accessToken, now);
      } catch (e) {
        throw wrongTypeOr(e, refresh, accessToken, now);
      }
    },

    async introspect(token: string, hint?: string): Promise<Introspection> {
      if (typeof token !== 'string' || token.length === 0) return { active: false };
      const now = clock();
      // RFC 7662 §2.1: the hint only orders the search.
      const [first, second] = hint === 'refresh_token' ? [refresh, access] : [access, refresh];
      const out = (await (first.introspect(token, now) ?? second.introspect(token, now))) ?? { active: false };
      // RFC 7662 §2.2 `iss`: opaque tokens do not carry it; the service knows it.
      if (out.active && out.iss === undefined && options.issuer !== undefined) out.iss = options.issuer;
      return out;
    },

    async revoke(token: string, hint?: string, revokeOptions: { clientId?: string } = {}): Promise<void> {
      // RFC 7009 §2.2: an invalid, expired or unknown token is not an error; there is nothing to revoke.
      if (typeof token !== 'string' || token.length === 0) return;
      const now = clock();
      // RFC 7009 §2.1: the hint only orders the search.
      const [first, second] = hint === 'refresh_token' ? [refresh, access] : [access, refresh];
      // §2.1: with a client, only its own tokens (the formats check whose a token is).
      const { clientId } = revokeOptions;
      await (first.revoke(token, now, clientId) ?? second.revoke(token, now, clientId));
    },

    async logout(refreshToken: string, logoutOptions: { clientId?: string } = {}): Promise<boolean> {
      const now = clock();
      const clientId = optionalString(logoutOptions.clientId, 'clientId', MAX_CLIENT_ID_LENGTH);
      const p = parseRefresh(refreshToken, now);
      // RFC 7009 §2.1, as for revocation: a client ends only its own sessions. Self-contained
      // tokens say whose they are; an opaque one's family record does (read below).
      if (p.subject && isForeign(p.subject.extra, clientId)) return false;
      // Only the family's current token ends it: a consumed (rotated) token is no credential any
      // more, so whoever still holds one cannot end the session that moved on. Nor is it reuse
      // (that is for the refresh grant): nothing is revoked, the caller learns nothing.
      const ref = p.presented.kind === 'jti' ? { familyId: p.presented.familyId, jti: p.presented.jti } : p.family;
      const found = await store.inspectRefresh({ shard: p.shard, now, ...ref });
      if (found.status !== 'active' || isForeign(found.family.claims, clientId)) return false;
      return store.revokeFamily({ shard: p.shard, now, ...p.family });
    },

    async revokeUser(sub: string): Promise<void> {
      requireSub(sub);
      const now = clock();
      // The epoch must outlive every token issued before it.
      const longest = Math.max(config.absoluteLifetimeSeconds, config.refreshTtlSeconds, config.accessTtlSeconds);
      await store.revokeUser({ shard: userShard(sub), now, sub, keepUntil: now + longest * 1000 + leewayMs });
    },

    ping(): Promise<void> {
      return store.ping();
    },
  };
  return service;
}
