/**
 * Opaque tokens as a format of the token service: 256 random bits
 * (src/tokens/opaque.ts), meaningless without the store, which keeps a record
 * under SHA-256 of each token (the original three-scheme design's scheme 3).
 * Verifying one needs the store; revoking one deletes or marks its record.
 *
 * @module
 */
import { StoreUnavailableError, TokenError } from '../../errors.js';
import type { Millis, TokenStateStore } from '../../stores/types.js';
import type { TokenType } from '../../tokens/claims.js';
import { generateOpaqueToken, hashOpaqueToken, looksOpaque, parseOpaqueToken } from '../../tokens/opaque.js';
import type { Introspection, Principal } from '../types.js';
import { clientOf, describeExtra, isForeign, parseExtra } from './extra.js';
import type { AccessDraft, AccessFormat, PresentedToken, RefreshFormat } from './types.js';

export interface OpaqueFormatOptions {
  store: TokenStateStore;
}

export interface OpaqueAccessOptions extends OpaqueFormatOptions {
  ttlSeconds: number;
}

/** The shard and store key of an opaque token of `type`; TokenError otherwise. */
function parse(token: string, type: TokenType): { shard: string; hash: string } {
  const parsed = parseOpaqueToken(token);
  if (parsed.type !== type) throw new TokenError('wrong_type');
  return { shard: parsed.shard, hash: hashOpaqueToken(token) };
}

/** Like {@link parse}, but `undefined` for anything else (introspection and revocation never throw for a bad token). */
function tryParse(token: string, type: TokenType): { shard: string; hash: string } | undefined {
  if (!looksOpaque(token)) return undefined;
  try {
    return parse(token, type);
  } catch {
    return undefined;
  }
}

export function opaqueAccessFormat(options: OpaqueAccessOptions): AccessFormat {
  const { store, ttlSeconds } = options;
  return {
    draft(shard: string, iat: number): AccessDraft {
      const token = generateOpaqueToken('access', shard);
      return { jti: '', iat, exp: iat + ttlSeconds, token, hash: hashOpaqueToken(token) };
    },

    mint(_subject, draft): string {
      // The token exists from the draft on; only a replay record without it could get here.
      if (draft.token === undefined) throw new StoreUnavailableError('The stored replay record has no access token');
      return draft.token;
    },

    authenticate(token: string, now: Millis): Promise<Principal> {
      const { shard, hash } = parse(token, 'access');
      return store.checkAccess({ shard, now, accessHash: hash }).then((r) => {
        if (r.status !== 'ok') throw new TokenError(r.status === 'unknown' ? 'unknown_token' : r.status);
        const rec = r.record;
        if (rec === undefined) throw new TokenError('unknown_token');
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
          const client = clientOf(extra);
          if (client !== '') principal.clientId = client;
        }
        return principal;
      });
    },

    accepts(token: string): boolean {
      return tryParse(token, 'access') !== undefined;
    },

    introspect(token: string, now: Millis): Promise<Introspection> | undefined {
      const t = tryParse(token, 'access');
      if (t === undefined) return undefined;
      return store.checkAccess({ shard: t.shard, now, accessHash: t.hash }).then((r) => {
        if (r.status !== 'ok' || !r.record) return { active: false };
        const out: Introspection = {
          active: true,
          sub: r.record.user_id,
          exp: r.record.issued_at + r.record.expires_in,
          iat: r.record.issued_at,
          token_type: 'access_token',
        };
        if (r.record.scope !== '') out.scope = r.record.scope;
        return describeExtra(out, parseExtra(r.claims));
      });
    },

    revoke(token: string, now: Millis, clientId?: string): Promise<void> | undefined {
      const t = tryParse(token, 'access');
      if (t === undefined) return undefined;
      if (clientId === undefined) return store.revokeAccess({ shard: t.shard, now, accessHash: t.hash });
      // RFC 7009 §2.1: whose it is, read first; another client's token (or a dead one) is left alone.
      return store.checkAccess({ shard: t.shard, now, accessHash: t.hash }).then((r) => {
        if (r.status !== 'ok' || isForeign(r.claims, clientId)) return;
        return store.revokeAccess({ shard: t.shard, now, accessHash: t.hash });
      });
    },
  };
}

export function opaqueRefreshFormat(options: OpaqueFormatOptions): RefreshFormat {
  const { store } = options;
  return {
    parse(token: string): PresentedToken {
      const { shard, hash } = parse(token, 'refresh');
      return { shard, presented: { kind: 'opaque', hash }, family: { refreshHash: hash } };
    },

    mint(shard: string) {
      const token = generateOpaqueToken('refresh', shard);
      return { token, id: hashOpaqueToken(token), stored: true };
    },

    accepts(token: string): boolean {
      return tryParse(token, 'refresh') !== undefined;
    },

    introspect(token: string, now: Millis): Promise<Introspection> | undefined {
      const t = tryParse(token, 'refresh');
      if (t === undefined) return undefined;
      return store.inspectRefresh({ shard: t.shard, now, refreshHash: t.hash }).then((r) => {
        if (r.status !== 'active' || !r.record) return { active: false };
        const out: Introspection = {
          active: true,
          sub: r.family.sub,
          exp: r.record.issued_at + r.record.refresh_expires_in,
          iat: r.record.issued_at,
          token_type: 'refresh_token',
        };
        if (r.family.scope !== '') out.scope = r.family.scope;
        return describeExtra(out, parseExtra(r.family.claims));
      });
    },

    revoke(token: string, now: Millis, clientId?: string): Promise<void> | undefined {
      const t = tryParse(token, 'refresh');
      if (t === undefined) return undefined;
      // RFC 7009 §2.1: revoking a refresh token revokes its grant, here the whole family.
      const end = () => store.revokeFamily({ shard: t.shard, now, refreshHash: t.hash }).then(() => undefined);
      if (clientId === undefined) return end();
      // Whose it is, read first; a consumed or dead token has nothing left to revoke.
      return store.inspectRefresh({ shard: t.shard, now, refreshHash: t.hash }).then((r) => {
        if (r.status !== 'active' || isForeign(r.family.claims, clientId)) return;
        return end();
      });
    },
  };
}
