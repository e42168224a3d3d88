/**
 * `createTokenService`: issue, refresh (rotate), authenticate, revoke, for every
 * combination of access and refresh formats (jwt, sealed, fernet, opaque), on
 * any {@link TokenStore}.
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
 * self-contained access tokens (one with `access.checkRevocation`), one for
 * opaque ones; `issue` is one. Tokens are minted before the store call, so the
 * call carries everything the store has to write.
 *
 * @module
 */
import { ConfigError, isTokenError, TokenError } from '../errors.js';
import { type KeyRing, toKeyRing } from '../keys.js';
import { clientOfClaims, scopeWithin } from '../stores/state.js';
import type { FamilyInfo, NextTokens, PresentedRefresh, TokenStore } from '../stores/types.js';
import type { Claims, TokenType } from '../tokens/claims.js';
import { type Codec, createCodec, newId } from '../tokens/codec.js';
import { ACCESS_TOKEN_TYP } from '../tokens/jwt.js';
import { generateOpaqueToken, hashOpaqueToken, looksOpaque, parseOpaqueToken, userShard } from '../tokens/opaque.js';
import { openReplay, type ReplayPayload, sealReplay } from './replay.js';
import {
  type Introspection,
  type IssueInput,
  type Principal,
  type RefreshOptions,
  SCHEMES,
  type Scheme,
  TOKEN_FORMATS,
  type TokenFormat,
  type TokenPair,
  type TokenService,
  type TokenServiceOptions,
} from './types.js';

/** The options after defaults, as the service runs with them. */
export interface TokenServiceConfig {
  accessFormat: TokenFormat;
  refreshFormat: TokenFormat;
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
  reuseGraceSeconds: number;
  absoluteLifetimeSeconds: number;
  checkRevocation: boolean;
  /** Verified self-contained access tokens remembered (0: none). */
  accessCacheSize: number;
  leewaySeconds: number;
}

export const DEFAULTS = {
  accessTtlSeconds: 900,
  refreshTtlSeconds: 2_592_000,
  /** Off: with it, the exactly-one rule holds; see docs/stores.md for when to turn it on. */
  reuseGraceSeconds: 0,
  absoluteLifetimeSeconds: 7_776_000,
  /**
   * A client sends the same access token until it expires; remembering the last
   * thousand verified ones skips the MAC and the parse on repeat (bench/http.ts:
   * GET /me). About 1 KB each.
   */
  accessCacheSize: 1000,
} as const;

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
]);
const MAX_CLIENT_ID_LENGTH = 256;
const MAX_SUB_LENGTH = 1024;

function seconds(value: number | undefined, fallback: number, name: string, min: number): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new ConfigError(`${name} must be an integer number of seconds >= ${min} (got ${String(value)})`);
  }
  return v;
}

function count(value: number | undefined, fallback: number, name: string): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new ConfigError(`${name} must be a non-negative integer (got ${String(value)})`);
  }
  return v;
}

function format(value: unknown, name: string): TokenFormat {
  if (!TOKEN_FORMATS.includes(value as TokenFormat)) {
    throw new ConfigError(`${name} must be one of ${TOKEN_FORMATS.join(', ')} (got ${String(value)})`);
  }
  return value as TokenFormat;
}

export function resolveConfig(options: TokenServiceOptions): TokenServiceConfig {
  const scheme: Scheme = options.scheme ?? 'jwt';
  const preset = SCHEMES[scheme];
  if (!preset) throw new ConfigError(`scheme must be one of ${Object.keys(SCHEMES).join(', ')} (got ${String(scheme)})`);
  const config: TokenServiceConfig = {
    accessFormat: format(options.access?.format ?? preset.access, 'access.format'),
    refreshFormat: format(options.refresh?.format ?? preset.refresh, 'refresh.format'),
    accessTtlSeconds: seconds(options.access?.ttlSeconds, DEFAULTS.accessTtlSeconds, 'access.ttlSeconds', 1),
    refreshTtlSeconds: seconds(options.refresh?.ttlSeconds, DEFAULTS.refreshTtlSeconds, 'refresh.ttlSeconds', 1),
    reuseGraceSeconds: seconds(options.refresh?.reuseGraceSeconds, DEFAULTS.reuseGraceSeconds, 'refresh.reuseGraceSeconds', 0),
    absoluteLifetimeSeconds: seconds(
      options.refresh?.absoluteLifetimeSeconds,
      DEFAULTS.absoluteLifetimeSeconds,
      'refresh.absoluteLifetimeSeconds',
      1,
    ),
    checkRevocation: options.access?.checkRevocation ?? false,
    accessCacheSize: count(options.access?.cacheSize, DEFAULTS.accessCacheSize, 'access.cacheSize'),
    leewaySeconds: seconds(options.leewaySeconds, 0, 'leewaySeconds', 0),
  };
  if (config.reuseGraceSeconds >= config.refreshTtlSeconds) {
    throw new ConfigError('refresh.reuseGraceSeconds must be shorter than refresh.ttlSeconds');
  }
  return config;
}

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
  for (const [k, v] of Object.entries(claims)) if (!RESERVED.has(k)) out[k] = v;
  return out;
}

/** The client a token's extra claims bind it to (`''` for none). */
function clientOf(extra: Claims | undefined): string {
  const c = extra?.client_id;
  return typeof c === 'string' ? c : '';
}

function optionalString(v: unknown, name: string, max: number): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > max) {
    throw new TypeError(`${name} must be a non-empty string of at most ${max} characters`);
  }
  return v;
}

/** A family's extra claims (client, username) as stored: JSON or `''`. */
function parseExtra(json: string | undefined): Claims {
  if (json === undefined || json === '') return {};
  try {
    const c = JSON.parse(json) as unknown;
    return typeof c === 'object' && c !== null && !Array.isArray(c) ? (c as Claims) : {};
  } catch {
    return {};
  }
}

function stringClaim(claims: Claims, name: string): string {
  const v = claims[name];
  if (typeof v !== 'string' || v.length === 0) throw new TokenError('invalid_claims', `The token has no ${name} claim`);
  return v;
}

/** What the service knows of a family when it mints an access token. */
interface Subject {
  sub: string;
  scope: string;
  extra: Claims;
  familyId: string;
}

/** A parsed, verified refresh token. */
interface PresentedToken {
  shard: string;
  presented: PresentedRefresh;
  /** Self-contained tokens carry what the next pair needs; opaque ones learn it from the store. */
  subject?: Subject;
  authTime?: number;
}

/** A verified token of either type (revoke and introspect accept both). */
type Classified =
  | { kind: 'opaque'; type: TokenType; shard: string; hash: string }
  | { kind: 'claims'; type: TokenType; claims: Claims; shard: string; sub: string };

export type ConfiguredTokenService = TokenService & { readonly config: TokenServiceConfig };

export function createTokenService(options: TokenServiceOptions): ConfiguredTokenService {
  if (!options || typeof options !== 'object') throw new ConfigError('createTokenService needs options');
  const store: TokenStore = options.store;
  if (!store || typeof store.rotate !== 'function') throw new ConfigError('createTokenService needs a store (see openStore)');
  const config = resolveConfig(options);
  const clock = options.clock ?? Date.now;
  const leewayMs = config.leewaySeconds * 1000;
  const graceMs = config.reuseGraceSeconds * 1000;

  const keyInput = options.keys ?? options.secret;
  const selfContained = config.accessFormat !== 'opaque' || config.refreshFormat !== 'opaque';
  if (selfContained && keyInput === undefined) {
    throw new ConfigError('createTokenService needs a secret (or keys) for jwt, sealed and fernet tokens');
  }
  const ring: KeyRing | undefined = keyInput === undefined ? undefined : toKeyRing(keyInput);
  const codecFor = (f: TokenFormat, access: boolean): Codec | undefined =>
    f === 'opaque'
      ? undefined
      : createCodec({
          format: f,
          keys: ring,
          leewaySeconds: config.leewaySeconds,
          issuer: options.issuer,
          // Refresh tokens are for this service alone: the audience is an access-token matter.
          audience: access ? options.audience : undefined,
          clock,
          // Refresh tokens are used once each: nothing to gain from remembering them.
          cacheSize: access ? config.accessCacheSize : 0,
          // RFC 9068 §2.1: JWT access tokens are typed `at+jwt`, and verification requires it (§4).
          ...(access && f === 'jwt' ? { typ: ACCESS_TOKEN_TYP } : {}),
        });
  const accessCodec = codecFor(config.accessFormat, true);
  const refreshCodec = codecFor(config.refreshFormat, false);

  const registered = (): Claims => {
    const c: Claims = {};
    if (options.issuer !== undefined) c.iss = options.issuer;
    return c;
  };

  function mintAccess(s: Subject, jti: string, iat: number, exp: number): string {
    const claims: Claims = { ...s.extra, ...registered(), sub: s.sub, fam: s.familyId, jti, type: 'access', iat, exp };
    if (options.audience !== undefined) claims.aud = options.audience;
    if (s.scope !== '') claims.scope = s.scope;
    return (accessCodec as Codec).encode(claims);
  }

  function mintRefresh(s: Subject, jti: string, iat: number, exp: number, authTime: number): string {
    // auth_time (OIDC Core §2): when the family began, so the absolute lifetime caps every later token.
    const claims: Claims = { ...registered(), sub: s.sub, fam: s.familyId, jti, type: 'refresh', iat, exp, auth_time: authTime };
    if (s.scope !== '') claims.scope = s.scope;
    if (Object.keys(s.extra).length > 0) claims.ext = s.extra;
    return (refreshCodec as Codec).encode(claims);
  }

  /**
   * Decodes with `codec` requiring `type`. A token of the other type in another
   * format would only fail as malformed; it is reported as `wrong_type`, which
   * is what happened (RFC 8725 §3.11: the two must never stand in for each other).
   */
  function decodeTyped(codec: Codec, other: Codec | undefined, token: string, type: TokenType, now: number): Claims {
    try {
      return codec.decode(token, { type, now });
    } catch (e) {
      if (other && other.format !== codec.format && isTokenError(e) && e.code !== 'expired' && e.code !== 'wrong_type') {
        let claims: Claims | undefined;
        try {
          claims = other.decode(token, { now });
        } catch {
          // Not the other type either: the first error stands.
        }
        if (claims !== undefined && claims.type !== type) throw new TokenError('wrong_type');
      }
      throw e;
    }
  }

  /** An opaque token where `type` was expected, in a deployment where its prefix means the other type: wrong_type. */
  function opaqueMismatch(token: string, expected: TokenType): TokenError {
    const other: TokenType = expected === 'access' ? 'refresh' : 'access';
    const otherFormat = expected === 'access' ? config.refreshFormat : config.accessFormat;
    if (otherFormat === 'opaque' && looksOpaque(token) && token.startsWith(other === 'access' ? 'tsa_' : 'tsr_')) {
      return new TokenError('wrong_type');
    }
    return new TokenError('malformed');
  }

  function parseRefresh(token: string, nowSec: number): PresentedToken {
    if (typeof token !== 'string' || token.length === 0) throw new TokenError('malformed');
    if (config.refreshFormat === 'opaque') {
      if (!looksOpaque(token)) {
        if (accessCodec) decodeTyped(accessCodec, undefined, token, 'access', nowSec); // throws, or:
        throw accessCodec ? new TokenError('wrong_type') : new TokenError('malformed');
      }
      const parsed = parseOpaqueToken(token);
      if (parsed.type !== 'refresh') throw new TokenError('wrong_type');
      return { shard: parsed.shard, presented: { kind: 'opaque', hash: hashOpaqueToken(token) } };
    }
    if (looksOpaque(token)) throw opaqueMismatch(token, 'refresh');
    const claims = decodeTyped(refreshCodec as Codec, accessCodec, token, 'refresh', nowSec);
    const sub = stringClaim(claims, 'sub');
    const familyId = stringClaim(claims, 'fam');
    const jti = stringClaim(claims, 'jti');
    const authTime = typeof claims.auth_time === 'number' ? claims.auth_time : nowSec;
    const ext = claims.ext;
    return {
      shard: userShard(sub),
      presented: { kind: 'jti', familyId, sub, jti },
      subject: {
        sub,
        familyId,
        scope: typeof claims.scope === 'string' ? claims.scope : '',
        extra: typeof ext === 'object' && ext !== null && !Array.isArray(ext) ? (ext as Claims) : {},
      },
      authTime,
    };
  }

  function subjectOf(f: FamilyInfo): Subject {
    let extra: Claims = {};
    if (f.claims !== '') extra = JSON.parse(f.claims) as Claims;
    return { sub: f.sub, scope: f.scope, extra, familyId: f.familyId };
  }

  /** Verifies a token of either type for revoke/introspect; `undefined` for anything not valid. */
  function classify(token: string, nowSec: number, hint?: string): Classified | undefined {
    if (typeof token !== 'string' || token.length === 0) return undefined;
    if (looksOpaque(token)) {
      let parsed: ReturnType<typeof parseOpaqueToken>;
      try {
        parsed = parseOpaqueToken(token);
      } catch {
        return undefined;
      }
      const f = parsed.type === 'access' ? config.accessFormat : config.refreshFormat;
      if (f !== 'opaque') return undefined;
      return { kind: 'opaque', type: parsed.type, shard: parsed.shard, hash: hashOpaqueToken(token) };
    }
    // RFC 7009 §2.1 / RFC 7662 §2.1: the hint only orders the search.
    const order: TokenType[] = hint === 'refresh_token' ? ['refresh', 'access'] : ['access', 'refresh'];
    for (const type of order) {
      const codec = type === 'access' ? accessCodec : refreshCodec;
      if (!codec) continue;
      try {
        const claims = codec.decode(token, { type, now: nowSec });
        if (typeof claims.sub !== 'string' || claims.sub === '') return undefined;
        return { kind: 'claims', type, claims, shard: userShard(claims.sub), sub: claims.sub };
      } catch {
        // try the other type
      }
    }
    return undefined;
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
      tokenType: 'Bearer',
      expiresIn: accessExp - nowSec,
      refreshExpiresIn: Math.max(0, refreshExp - nowSec),
      familyId: s.familyId,
    };
    if (s.scope !== '') pair.scope = s.scope;
    return pair;
  }

  function newAccessSlot(shard: string, nowSec: number): { jti: string; exp: number; opaque?: string } {
    const exp = nowSec + config.accessTtlSeconds;
    if (config.accessFormat === 'opaque') return { jti: '', exp, opaque: generateOpaqueToken('access', shard) };
    return { jti: newId(), exp };
  }

  function newRefresh(shard: string, s: Subject | undefined, nowSec: number, exp: number, authTime: number) {
    if (config.refreshFormat === 'opaque') {
      const token = generateOpaqueToken('refresh', shard);
      return { token, id: hashOpaqueToken(token) };
    }
    const jti = newId();
    return { token: mintRefresh(s as Subject, jti, nowSec, exp, authTime), id: jti };
  }

  /** RFC 7662 §2.2 members every answer shares: issuer, client, username. */
  function described(out: Introspection, extra: Claims): Introspection {
    if (out.iss === undefined && options.issuer !== undefined) out.iss = options.issuer;
    const client = clientOf(extra);
    if (client !== '') out.client_id = client;
    if (typeof extra.preferred_username === 'string') out.username = extra.preferred_username;
    return out;
  }

  const service: ConfiguredTokenService = {
    store,
    config,

    async issue(input: IssueInput): Promise<TokenPair> {
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
      const subject: Subject = { sub, scope: input.scope ?? '', extra, familyId: newId() };
      const absoluteExp = nowSec + config.absoluteLifetimeSeconds;
      const refreshExp = Math.min(nowSec + config.refreshTtlSeconds, absoluteExp);
      const refresh = newRefresh(shard, subject, nowSec, refreshExp, nowSec);
      const access = newAccessSlot(shard, nowSec);
      const accessToken = access.opaque ?? mintAccess(subject, access.jti, nowSec, access.exp);
      const next: NextTokens = {
        refreshId: refresh.id,
        refreshOpaque: config.refreshFormat === 'opaque',
        refreshExpiresAt: refreshExp * 1000,
        accessExpiresAt: access.exp * 1000,
      };
      if (access.opaque) next.accessHash = hashOpaqueToken(access.opaque);
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
      });
      return pairOf(accessToken, refresh.token, access.exp, refreshExp, nowSec, subject);
    },

    async refresh(refreshToken: string, options: RefreshOptions = {}): Promise<TokenPair> {
      const now = clock();
      const nowSec = Math.floor(now / 1000);
      const clientId = optionalString(options.clientId, 'clientId', MAX_CLIENT_ID_LENGTH);
      const scope = optionalString(options.scope, 'scope', 4096);
      const p = parseRefresh(refreshToken, nowSec);
      if (p.subject) {
        // Self-contained: the claims say whose token it is, so refuse before the store sees it (RFC 6749 §6).
        const owner = clientOf(p.subject.extra);
        if (clientId !== undefined && owner !== '' && owner !== clientId) throw new TokenError('wrong_client');
        if (scope !== undefined && !scopeWithin(scope, p.subject.scope)) throw new TokenError('invalid_scope');
      }
      // RFC 6749 §6: a narrower scope applies to the new access token; the grant (and so the
      // refresh token) keeps the scope it had.
      const narrowed = (s: Subject): Subject => (scope === undefined ? s : { ...s, scope });
      // Self-contained: capped by the family's absolute lifetime here; opaque: the store caps the record.
      const refreshExp =
        p.authTime === undefined
          ? nowSec + config.refreshTtlSeconds
          : Math.min(nowSec + config.refreshTtlSeconds, p.authTime + config.absoluteLifetimeSeconds);
      const refresh = newRefresh(p.shard, p.subject, nowSec, refreshExp, p.authTime ?? nowSec);
      const access = newAccessSlot(p.shard, nowSec);
      // Minted now when the subject is known (self-contained refresh token), else after the store answers.
      let accessToken =
        access.opaque ?? (p.subject ? mintAccess(narrowed(p.subject), access.jti, nowSec, access.exp) : undefined);
      const next: NextTokens = {
        refreshId: refresh.id,
        refreshOpaque: config.refreshFormat === 'opaque',
        refreshExpiresAt: refreshExp * 1000,
        accessExpiresAt: access.exp * 1000,
      };
      if (access.opaque) next.accessHash = hashOpaqueToken(access.opaque);
      if (scope !== undefined) next.accessScope = scope;
      let replay: string | undefined;
      if (graceMs > 0) {
        const payload: ReplayPayload = { r: refresh.token, aj: access.jti, ai: nowSec, ae: access.exp, re: refreshExp };
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
      });

      switch (result.status) {
        case 'rotated': {
          const s = narrowed(p.subject ?? subjectOf(result.family));
          accessToken ??= mintAccess(s, access.jti, nowSec, access.exp);
          const cappedRefreshExp = Math.min(refreshExp, Math.floor(result.family.absoluteExpiresAt / 1000));
          return pairOf(accessToken, refresh.token, access.exp, cappedRefreshExp, nowSec, s);
        }
        case 'replayed': {
          const r = openReplay(refreshToken, result.replay);
          const s = p.subject ?? subjectOf(result.family);
          // A self-contained access token minted after the first store call is re-minted with the same
          // jti, iat and exp: the same token for jwt (deterministic), an equivalent one for sealed/fernet.
          const a = r.a ?? mintAccess(s, r.aj, r.ai, r.ae);
          const cappedRefreshExp = Math.min(r.re, Math.floor(result.family.absoluteExpiresAt / 1000));
          return pairOf(a, r.r, r.ae, cappedRefreshExp, nowSec, s);
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
          throw new TokenError('invalid_scope');
      }
    },

    async authenticate(accessToken: string): Promise<Principal> {
      const now = clock();
      const nowSec = Math.floor(now / 1000);
      if (typeof accessToken !== 'string' || accessToken.length === 0) throw new TokenError('malformed');
      if (config.accessFormat === 'opaque') {
        if (!looksOpaque(accessToken)) {
          if (refreshCodec) decodeTyped(refreshCodec, undefined, accessToken, 'refresh', nowSec);
          throw refreshCodec ? new TokenError('wrong_type') : new TokenError('malformed');
        }
        const parsed = parseOpaqueToken(accessToken);
        if (parsed.type !== 'access') throw new TokenError('wrong_type');
        const r = await store.checkAccess({ shard: parsed.shard, now, accessHash: hashOpaqueToken(accessToken) });
        if (r.status === 'unknown') throw new TokenError('unknown_token');
        if (r.status !== 'ok') throw new TokenError(r.status);
        const rec = r.record as NonNullable<typeof r.record>;
        const principal: Principal = {
          sub: rec.user_id,
          familyId: rec.family,
          exp: rec.issued_at + rec.expires_in,
          iat: rec.issued_at,
        };
        if (rec.scope !== '') principal.scope = rec.scope;
        if (r.claims) {
          // The login's extra claims (client, username): what a self-contained token would carry.
          const extra = parseExtra(r.claims);
          principal.claims = extra;
          if (clientOf(extra) !== '') principal.clientId = clientOf(extra);
        }
        return principal;
      }
      if (looksOpaque(accessToken)) throw opaqueMismatch(accessToken, 'access');
      const claims = decodeTyped(accessCodec as Codec, refreshCodec, accessToken, 'access', nowSec);
      const sub = stringClaim(claims, 'sub');
      const familyId = typeof claims.fam === 'string' ? claims.fam : undefined;
      const jti = typeof claims.jti === 'string' ? claims.jti : undefined;
      if (config.checkRevocation) {
        const r = await store.checkAccess({ shard: userShard(sub), now, sub, familyId, jti });
        if (r.status !== 'ok') throw new TokenError('revoked');
      }
      const principal: Principal = { sub, exp: claims.exp as number, claims };
      if (typeof claims.scope === 'string') principal.scope = claims.scope;
      if (familyId !== undefined) principal.familyId = familyId;
      if (jti !== undefined) principal.tokenId = jti;
      if (typeof claims.iat === 'number') principal.iat = claims.iat;
      if (typeof claims.client_id === 'string') principal.clientId = claims.client_id;
      return principal;
    },

    async introspect(token: string, hint?: string): Promise<Introspection> {
      const now = clock();
      const c = classify(token, Math.floor(now / 1000), hint);
      if (c === undefined) return { active: false };
      if (c.kind === 'opaque') {
        if (c.type === 'access') {
          const r = await store.checkAccess({ shard: c.shard, now, accessHash: c.hash });
          if (r.status !== 'ok' || !r.record) return { active: false };
          const out: Introspection = {
            active: true,
            sub: r.record.user_id,
            exp: r.record.issued_at + r.record.expires_in,
            iat: r.record.issued_at,
            token_type: 'access_token',
          };
          if (r.record.scope !== '') out.scope = r.record.scope;
          return described(out, parseExtra(r.claims));
        }
        const r = await store.inspectRefresh({ shard: c.shard, now, refreshHash: c.hash });
        if (r.status !== 'active' || !r.record) return { active: false };
        const out: Introspection = {
          active: true,
          sub: r.family.sub,
          exp: r.record.issued_at + r.record.refresh_expires_in,
          iat: r.record.issued_at,
          token_type: 'refresh_token',
        };
        if (r.family.scope !== '') out.scope = r.family.scope;
        return described(out, parseExtra(r.family.claims));
      }
      const { claims } = c;
      const familyId = typeof claims.fam === 'string' ? claims.fam : undefined;
      const jti = typeof claims.jti === 'string' ? claims.jti : undefined;
      if (c.type === 'access') {
        // Introspection is the authoritative answer: always consult revocation state (RFC 7662 §2.2).
        const r = await store.checkAccess({ shard: c.shard, now, sub: c.sub, familyId, jti });
        if (r.status !== 'ok') return { active: false };
      } else {
        if (familyId === undefined) return { active: false };
        const r = await store.inspectRefresh({ shard: c.shard, now, familyId, jti });
        if (r.status !== 'active') return { active: false };
      }
      const out: Introspection = {
        active: true,
        sub: c.sub,
        exp: claims.exp as number,
        token_type: c.type === 'access' ? 'access_token' : 'refresh_token',
      };
      if (typeof claims.scope === 'string') out.scope = claims.scope;
      if (typeof claims.iat === 'number') out.iat = claims.iat;
      if (jti !== undefined) out.jti = jti;
      if (typeof claims.iss === 'string') out.iss = claims.iss;
      const ext = c.type === 'access' ? claims : claims.ext;
      return described(out, typeof ext === 'object' && ext !== null && !Array.isArray(ext) ? (ext as Claims) : {});
    },

    async revoke(token: string, hint?: string, options: { clientId?: string } = {}): Promise<void> {
      const now = clock();
      // RFC 7009 §2.2: an invalid, expired or unknown token is not an error; there is nothing to revoke.
      const c = classify(token, Math.floor(now / 1000), hint);
      if (c === undefined) return;
      const { clientId } = options;
      // RFC 7009 §2.1: the server checks "whether the token was issued to the client making the
      // revocation request"; if not, it refuses, and §2.2 answers 200 all the same (no probing).
      const foreign = (extra: Claims | string | undefined): boolean => {
        if (clientId === undefined) return false;
        const owner = typeof extra === 'string' ? clientOfClaims(extra) : clientOf(extra);
        return owner !== '' && owner !== clientId;
      };
      if (c.kind === 'opaque') {
        if (c.type === 'access') {
          if (clientId !== undefined) {
            const r = await store.checkAccess({ shard: c.shard, now, accessHash: c.hash });
            if (r.status !== 'ok' || foreign(r.claims)) return;
          }
          await store.revokeAccess({ shard: c.shard, now, accessHash: c.hash });
        } else {
          if (clientId !== undefined) {
            // Whose it is, read first; a consumed or dead token has nothing left to revoke.
            const r = await store.inspectRefresh({ shard: c.shard, now, refreshHash: c.hash });
            if (r.status !== 'active' || foreign(r.family.claims)) return;
          }
          // RFC 7009 §2.1: revoking a refresh token revokes its grant, here the whole family.
          await store.revokeFamily({ shard: c.shard, now, refreshHash: c.hash });
        }
        return;
      }
      const ext = c.type === 'access' ? c.claims : c.claims.ext;
      if (foreign(typeof ext === 'object' && ext !== null && !Array.isArray(ext) ? (ext as Claims) : {})) return;
      if (c.type === 'access') {
        const jti = c.claims.jti;
        if (typeof jti !== 'string') return;
        // Deny-listed until it would expire anyway (plus the accepted clock skew): then the entry goes too.
        await store.revokeAccess({
          shard: c.shard,
          now,
          jti,
          expiresAt: ((c.claims.exp as number) + config.leewaySeconds) * 1000,
        });
        return;
      }
      if (typeof c.claims.fam === 'string') await store.revokeFamily({ shard: c.shard, now, familyId: c.claims.fam });
    },

    async logout(refreshToken: string): Promise<void> {
      const now = clock();
      const p = parseRefresh(refreshToken, Math.floor(now / 1000));
      const ref =
        p.presented.kind === 'opaque'
          ? { shard: p.shard, now, refreshHash: p.presented.hash }
          : { shard: p.shard, now, familyId: p.presented.familyId };
      await store.revokeFamily(ref);
    },

    async revokeUser(sub: string): Promise<void> {
      requireSub(sub);
      const now = clock();
      // The epoch must outlive every token issued before it.
      const longest = Math.max(config.absoluteLifetimeSeconds, config.refreshTtlSeconds, config.accessTtlSeconds);
      await store.revokeUser({ shard: userShard(sub), now, sub, keepUntil: now + longest * 1000 + leewayMs });
    },
  };
  return service;
}
