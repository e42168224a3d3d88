/**
 * The token-state rules, written once for the synchronous stores (memory and
 * SQLite) over a small transaction interface. The Redis store runs the same
 * rules in Lua (redis-scripts.ts); the shared contract suite (test/stores)
 * holds all three to the same behaviour.
 *
 * A family is a login session (RFC 9700 §4.14.2 calls it the refresh token
 * "family"): its record names the one refresh token that may be used next
 * (`current`). Self-contained refresh tokens are MAC-protected, so any other
 * token id of the family is one we issued and already consumed: presenting it
 * is reuse, and the family is revoked. That needs no per-token "consumed" entry,
 * only the family record, whose lifetime is that of its newest token.
 *
 * @module
 */
import type {
  AccessCheckInput,
  AccessCheckResult,
  CreateFamilyInput,
  FamilyInfo,
  FamilySummary,
  Millis,
  NextTokens,
  OpaqueAccessRecord,
  OpaqueRefreshRecord,
  RefreshInspection,
  RefreshRef,
  RevocationEvent,
  RevokeAccessInput,
  RevokeUserInput,
  RotateInput,
  RotateResult,
} from './types.js';

/** A family as stored. */
export interface FamilyState {
  familyId: string;
  sub: string;
  createdAt: Millis;
  absoluteExpiresAt: Millis;
  /** Id of the refresh token that may be used next (jti, or hash of an opaque token). */
  current: string;
  /** Id of the token consumed by the last rotation (`''` before the first). */
  previous: string;
  /** When `previous` was consumed. */
  rotatedAt: Millis;
  /** The encrypted pair that rotation produced (grace window only), `''` otherwise. */
  replay: string;
  revoked: boolean;
  scope: string;
  claims: string;
  /** The record is deleted after this: the latest expiry of any token of the family (plus leeway). */
  expiresAt: Millis;
  /** The latest rotation (the creation before the first). */
  lastUsedAt: Millis;
  /** The device of the latest sign-in or refresh that named one (`''`: none). */
  userAgent: string;
  address: string;
  /** The grant that created the family, kept through rotations; null: none recorded. */
  grant: string | null;
}

export interface StoredRefresh extends OpaqueRefreshRecord {
  expiresAt: Millis;
}

export interface StoredAccess extends OpaqueAccessRecord {
  expiresAt: Millis;
}

/**
 * What a store gives the rules inside one atomic unit. Getters return entries
 * even when expired but not yet purged: the rules compare expiries with `now`
 * themselves, so purging is only about space, never about correctness.
 */
export interface StateTx {
  readonly now: Millis;
  getFamily(familyId: string): FamilyState | undefined;
  putFamily(family: FamilyState): void;
  getRefresh(hash: string): StoredRefresh | undefined;
  putRefresh(hash: string, record: StoredRefresh): void;
  incrementRefreshUse(hash: string): void;
  getAccess(hash: string): StoredAccess | undefined;
  putAccess(hash: string, record: StoredAccess): void;
  deleteAccess(hash: string): void;
  isDenied(jti: string): boolean;
  deny(jti: string, expiresAt: Millis): void;
  getEpoch(sub: string): Millis | undefined;
  setEpoch(sub: string, notBefore: Millis, expiresAt: Millis): void;
  /**
   * A revocation this unit commits, for the store's push (memory: delivered after the
   * unit; SQLite: a row of the revocations log, in the same transaction).
   */
  emit(event: RevocationEvent): void;
}

function familyInfo(f: FamilyState): FamilyInfo {
  return {
    familyId: f.familyId,
    sub: f.sub,
    scope: f.scope,
    claims: f.claims,
    createdAt: f.createdAt,
    absoluteExpiresAt: f.absoluteExpiresAt,
  };
}

/** The client a family is bound to (`client_id` in its extra claims), `''` for none. */
export function clientOfClaims(claims: string): string {
  if (claims === '') return '';
  try {
    const c = JSON.parse(claims) as { client_id?: unknown };
    return typeof c.client_id === 'string' ? c.client_id : '';
  } catch {
    return '';
  }
}

/** The DPoP key a family is bound to: `cnf.jkt` of its extra claims (RFC 9449 §6.1), `''` for none. */
export function jktOfClaims(claims: string): string {
  if (claims === '' || !claims.includes('"cnf"')) return '';
  try {
    const cnf = (JSON.parse(claims) as { cnf?: { jkt?: unknown } }).cnf;
    return typeof cnf === 'object' && cnf !== null && typeof cnf.jkt === 'string' ? cnf.jkt : '';
  } catch {
    return '';
  }
}

/** RFC 9449 §5: whether a rotation may look at the family's tokens for the proof `jkt` (`null`: none; absent: unchecked). */
export function keyFits(claims: string, jkt: string | null | undefined): boolean {
  if (jkt === undefined) return true;
  const bound = jktOfClaims(claims);
  return bound === '' || bound === jkt;
}

/** RFC 6749 §6: every scope-token of `requested` is one of `granted` (RFC 6749 §3.3: space-separated). */
export function scopeWithin(requested: string, granted: string): boolean {
  const have = new Set(granted.split(' ').filter(Boolean));
  return requested.split(' ').every((s) => s === '' || have.has(s));
}

/**
 * Revoked itself, or created at or before the user's "not before" epoch (logout
 * everywhere): a login in the very millisecond of the logout is on the safe side.
 */
function isRevoked(tx: StateTx, f: FamilyState): boolean {
  if (f.revoked) return true;
  const epoch = tx.getEpoch(f.sub);
  return epoch !== undefined && f.createdAt <= epoch;
}

/** Writes the family with `next` as its newest tokens, plus their opaque records and the index entry. */
function writeTokens(tx: StateTx, f: FamilyState, next: NextTokens, leewayMs: Millis): void {
  const refreshExp = Math.min(next.refreshExpiresAt, f.absoluteExpiresAt);
  f.expiresAt = Math.max(f.expiresAt, refreshExp + leewayMs, next.accessExpiresAt + leewayMs);
  tx.putFamily(f);
  const issuedAt = Math.floor(tx.now / 1000);
  // Opaque records keep the shape of DESIGN.md's opaque scheme (seconds); their expiry is derived from it, as Redis does.
  if (next.refreshOpaque) {
    const ttl = Math.floor(refreshExp / 1000) - issuedAt;
    tx.putRefresh(next.refreshId, {
      user_id: f.sub,
      issued_at: issuedAt,
      refresh_expires_in: ttl,
      used_count: 0,
      family: f.familyId,
      expiresAt: (issuedAt + ttl) * 1000,
    });
  }
  if (next.accessHash !== undefined) {
    const ttl = Math.floor(next.accessExpiresAt / 1000) - issuedAt;
    tx.putAccess(next.accessHash, {
      user_id: f.sub,
      issued_at: issuedAt,
      expires_in: ttl,
      scope: next.accessScope ?? f.scope,
      family: f.familyId,
      expiresAt: (issuedAt + ttl) * 1000,
    });
  }
}

export function createFamilyIn(tx: StateTx, input: CreateFamilyInput): void {
  // A login written after a logout everywhere of the very same millisecond is after it: one
  // millisecond later, so that `isRevoked` (created at or before the epoch) lets it live.
  const epoch = tx.getEpoch(input.sub);
  const family: FamilyState = {
    familyId: input.familyId,
    sub: input.sub,
    createdAt: epoch === tx.now ? tx.now + 1 : tx.now,
    absoluteExpiresAt: input.absoluteExpiresAt,
    current: input.next.refreshId,
    previous: '',
    rotatedAt: 0,
    replay: '',
    revoked: false,
    scope: input.scope,
    claims: input.claims,
    expiresAt: 0,
    lastUsedAt: tx.now,
    userAgent: input.userAgent ?? '',
    address: input.address ?? '',
    grant: input.grant ?? null,
  };
  writeTokens(tx, family, input.next, input.leewayMs);
}

/**
 * The atomic consume of a refresh token (RFC 6749 §10.4, RFC 9700 §4.14.2):
 * exactly one caller sees the presented token as current and moves the family
 * on; everyone after it sees a consumed token. That is reuse and revokes the
 * family, unless it is the token consumed last, within the grace window, in
 * which case the pair that rotation produced is handed out again.
 */
export function rotateIn(tx: StateTx, input: RotateInput): RotateResult {
  const { presented } = input;
  const { now } = tx;
  let familyId: string;
  let presentedId: string;
  let record: StoredRefresh | undefined;
  if (presented.kind === 'opaque') {
    record = tx.getRefresh(presented.hash);
    if (record === undefined) return { status: 'unknown' };
    familyId = record.family;
    presentedId = presented.hash;
  } else {
    familyId = presented.familyId;
    presentedId = presented.jti;
  }
  const f = tx.getFamily(familyId);
  // RFC 6749 §6: a token issued to another client is refused before anything is counted or consumed,
  // so the other client can neither use it nor burn it (nor trip reuse detection with it).
  if (f !== undefined && input.clientId !== undefined) {
    const owner = clientOfClaims(f.claims);
    if (owner !== '' && owner !== input.clientId) return { status: 'wrong_client' };
  }
  // RFC 9449 §5: likewise a request without a proof by the family's key, whichever of its tokens
  // it presents: nothing consumed, no reuse detected (a thief without the key cannot end the session).
  if (f !== undefined && !keyFits(f.claims, input.jkt)) return { status: 'wrong_key' };
  if (record !== undefined) {
    // used_count (DESIGN.md, opaque scheme): every presentation counts, the first one consumes.
    tx.incrementRefreshUse(presentedId);
    if (now >= record.expiresAt) return { status: 'expired' };
  }
  // A valid token whose family is gone: the store lost it or it was purged early. Fail closed.
  if (f === undefined) return { status: 'revoked' };
  // In a revoked family a consumed token still says what it is (the losers of a race all read
  // 'reused'); only the family's current token reads 'revoked'.
  if (isRevoked(tx, f)) return { status: presentedId === f.current ? 'revoked' : 'reused' };
  if (now >= f.absoluteExpiresAt) return { status: 'expired' };
  if (presentedId === f.current) {
    if (input.scope !== undefined && !scopeWithin(input.scope, f.scope)) return { status: 'invalid_scope' };
    // By assignment, not `{ ...f, previous, ... }`: on Node 20 properties listed after a spread
    // take a slow path each (see the token formats' mint).
    const rotated: FamilyState = Object.assign({}, f);
    rotated.previous = presentedId;
    rotated.rotatedAt = now;
    rotated.current = input.next.refreshId;
    rotated.replay = input.graceMs > 0 ? (input.replay ?? '') : '';
    rotated.lastUsedAt = now;
    if (input.userAgent !== undefined) rotated.userAgent = input.userAgent;
    if (input.address !== undefined) rotated.address = input.address;
    writeTokens(tx, rotated, input.next, input.leewayMs);
    return { status: 'rotated', family: familyInfo(rotated) };
  }
  if (input.graceMs > 0 && presentedId === f.previous && f.replay !== '' && now - f.rotatedAt < input.graceMs) {
    return { status: 'replayed', family: familyInfo(f), replay: f.replay };
  }
  tx.putFamily({ ...f, revoked: true });
  tx.emit({ kind: 'family', familyId: f.familyId, until: f.expiresAt });
  return { status: 'reused' };
}

/**
 * The user's epoch against a token's `iat` (seconds). A token
 * without a family, such as one minted by `tessera token issue`, must not survive logout
 * everywhere. A token whose whole second precedes the epoch was issued before it. One
 * issued in the epoch's own second may be either side: its family's creation time (ms)
 * decides when it has one (a login right after logout everywhere keeps working); without a
 * family it is refused (the safe side).
 */
export function iatBeforeEpoch(iatSec: number, epoch: Millis, hasFamily: boolean): boolean {
  if ((iatSec + 1) * 1000 <= epoch) return true;
  return !hasFamily && iatSec * 1000 <= epoch;
}

export function checkAccessIn(tx: StateTx, input: AccessCheckInput): AccessCheckResult {
  let familyId = input.familyId;
  let record: OpaqueAccessRecord | undefined;
  if (input.accessHash !== undefined) {
    const stored = tx.getAccess(input.accessHash);
    if (stored === undefined) return { status: 'unknown' };
    if (tx.now >= stored.expiresAt) return { status: 'expired' };
    const { expiresAt: _, ...rest } = stored;
    record = rest;
    familyId = stored.family;
  }
  if (input.jti !== undefined && tx.isDenied(input.jti)) return { status: 'revoked' };
  if (input.iat !== undefined && input.sub !== undefined) {
    const epoch = tx.getEpoch(input.sub);
    if (epoch !== undefined && iatBeforeEpoch(input.iat, epoch, familyId !== undefined)) return { status: 'revoked' };
  }
  if (familyId !== undefined) {
    const f = tx.getFamily(familyId);
    if (f === undefined || isRevoked(tx, f)) return { status: 'revoked' };
    if (record !== undefined) return { status: 'ok', record, claims: f.claims };
  }
  return record === undefined ? { status: 'ok' } : { status: 'ok', record };
}

function resolveFamily(tx: StateTx, ref: RefreshRef): { familyId: string; tokenId?: string; record?: StoredRefresh } | undefined {
  if ('refreshHash' in ref) {
    const record = tx.getRefresh(ref.refreshHash);
    return record === undefined ? undefined : { familyId: record.family, tokenId: ref.refreshHash, record };
  }
  return { familyId: ref.familyId, tokenId: ref.jti };
}

export function inspectRefreshIn(tx: StateTx, ref: RefreshRef): RefreshInspection {
  const found = resolveFamily(tx, ref);
  if (found === undefined || (found.record !== undefined && tx.now >= found.record.expiresAt)) return { status: 'inactive' };
  const f = tx.getFamily(found.familyId);
  if (f === undefined || isRevoked(tx, f) || tx.now >= f.absoluteExpiresAt) return { status: 'inactive' };
  // A consumed token is no longer active (RFC 7662 §2.2: "currently active").
  if (found.tokenId !== undefined && found.tokenId !== f.current) return { status: 'inactive' };
  if (found.record === undefined) return { status: 'active', family: familyInfo(f) };
  const { expiresAt: _, ...record } = found.record;
  return { status: 'active', family: familyInfo(f), record };
}

export function revokeAccessIn(tx: StateTx, input: RevokeAccessInput): void {
  if (input.accessHash !== undefined) tx.deleteAccess(input.accessHash);
  // An entry for a token that already expired would guard nothing.
  if (input.jti !== undefined && input.expiresAt !== undefined && input.expiresAt > tx.now) {
    tx.deny(input.jti, input.expiresAt);
    tx.emit({ kind: 'jti', jti: input.jti, until: input.expiresAt });
  }
}

export function revokeFamilyIn(tx: StateTx, ref: RefreshRef): boolean {
  const found = resolveFamily(tx, ref);
  if (found === undefined) return false;
  const f = tx.getFamily(found.familyId);
  // Revoked already, by its flag or by the user's epoch: nothing live was found.
  if (f === undefined || isRevoked(tx, f)) return false;
  tx.putFamily({ ...f, revoked: true });
  tx.emit({ kind: 'family', familyId: f.familyId, until: f.expiresAt });
  return true;
}

/**
 * Logout everywhere in O(1): only the epoch is written. Families
 * created before it read as revoked from then on (`isRevoked`), whenever they are next
 * touched; nothing loops over the user's sessions, here or on the request path.
 */
export function revokeUserIn(tx: StateTx, input: RevokeUserInput): void {
  const prior = tx.getEpoch(input.sub);
  const notBefore = Math.max(prior ?? 0, tx.now);
  tx.setEpoch(input.sub, notBefore, input.keepUntil);
  tx.emit({ kind: 'user', sub: input.sub, notBefore, until: input.keepUntil });
}

/**
 * A user's session listing: of the families the user index names, those neither revoked (flag
 * or epoch) nor expired (absolute lifetime, or the record's own expiry) at `now`.
 */
/** A session in force: not revoked (by itself or its user's epoch), past neither its absolute expiry nor its record's. */
export function isActiveFamily(tx: StateTx, f: FamilyState): boolean {
  return !isRevoked(tx, f) && tx.now < f.absoluteExpiresAt && tx.now < f.expiresAt;
}

export function listFamiliesIn(tx: StateTx, sub: string, families: Iterable<FamilyState>): FamilySummary[] {
  const out: FamilySummary[] = [];
  for (const f of families) {
    if (f.sub !== sub || !isActiveFamily(tx, f)) continue;
    out.push({
      familyId: f.familyId,
      clientId: clientOfClaims(f.claims),
      createdAt: f.createdAt,
      lastUsedAt: f.lastUsedAt || f.createdAt,
      absoluteExpiresAt: f.absoluteExpiresAt,
      recordExpiresAt: f.expiresAt,
      userAgent: f.userAgent,
      address: f.address,
      grant: f.grant,
    });
  }
  return out;
}
