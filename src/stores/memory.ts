/**
 * In-process store: Maps with expiry, for tests and throwaway runs. Nothing
 * survives the process; two processes do not share it.
 *
 * Every method runs to completion without awaiting, so on Node's single thread
 * each one is atomic: of 100 concurrent refreshes with one token, exactly one
 * finds it current. Expired entries are swept at most once per
 * `purgeIntervalMs` (by the injected clock) on the next write, and on demand.
 *
 * @module
 */
import { type ClientDirectory, type ClientRecord, completeClient } from '../oauth-clients/types.js';
import { CLIENT_NEWS_MS, RevocationHub } from './feed.js';
import {
  checkAccessIn,
  createFamilyIn,
  type FamilyState,
  inspectRefreshIn,
  isActiveFamily,
  listFamiliesIn,
  revokeAccessIn,
  revokeFamilyIn,
  revokeUserIn,
  rotateIn,
  type StateTx,
  type StoredAccess,
  type StoredRefresh,
} from './state.js';
import type {
  AccessCheckInput,
  AccessCheckResult,
  CreateFamilyInput,
  FamilySummary,
  ListFamiliesInput,
  Millis,
  OnceRef,
  OneTimeRecords,
  PutOnceInput,
  RefreshInspection,
  RefreshRef,
  RevocationEvent,
  RevocationFeed,
  RevokeAccessInput,
  RevokeUserInput,
  RotateInput,
  RotateResult,
  TokenStore,
  UserDirectory,
  UserRecord,
} from './types.js';

export interface MemoryStoreOptions {
  /** Milliseconds since the epoch, for sweeping. Default `Date.now`. */
  clock?: () => number;
  /** Sweep expired entries at most this often (ms, by `clock`). Default 60000. */
  purgeIntervalMs?: number;
}

/** The map key of a one-time record: the kind's length first, so no (kind, id) pair spells another's key. */
function onceKey(kind: string, id: string): string {
  return `${kind.length}:${kind}:${id}`;
}

interface Expiring {
  expiresAt: Millis;
}

export class MemoryStore implements TokenStore, OneTimeRecords, UserDirectory, ClientDirectory {
  readonly kind = 'memory' as const;
  readonly #clock: () => number;
  readonly #purgeIntervalMs: number;
  #lastPurge: Millis;
  readonly #families = new Map<string, FamilyState>();
  /** The user index of the session listing: sub -> ids of the user's families (emptied by the purge). */
  readonly #byUser = new Map<string, Set<string>>();
  readonly #refresh = new Map<string, StoredRefresh>();
  readonly #access = new Map<string, StoredAccess>();
  readonly #deny = new Map<string, Expiring>();
  readonly #epochs = new Map<string, Expiring & { notBefore: Millis }>();
  /** One-time records under `onceKey(kind, id)`. */
  readonly #once = new Map<string, Expiring & { value: string }>();
  readonly #users = new Map<string, UserRecord>();
  readonly #clients = new Map<string, ClientRecord>();
  /** In-process push: every listener hears a revocation when the operation returns. Always up. */
  readonly #feed = new RevocationHub({ snapshot: () => this.#snapshot() });
  #pending: RevocationEvent[] = [];
  #view: (StateTx & { now: Millis }) | undefined;

  constructor(options: MemoryStoreOptions = {}) {
    this.#clock = options.clock ?? Date.now;
    this.#purgeIntervalMs = options.purgeIntervalMs ?? 60_000;
    this.#lastPurge = this.#clock();
    this.#feed.status('up');
  }

  revocations(): RevocationFeed {
    return this.#feed;
  }

  /** Every revocation in force, for a new listener (its 'up' is then complete). */
  #snapshot(): RevocationEvent[] {
    const now = this.#clock();
    const out: RevocationEvent[] = [];
    for (const [jti, d] of this.#deny) if (d.expiresAt > now) out.push({ kind: 'jti', jti, until: d.expiresAt });
    for (const f of this.#families.values()) {
      if (f.revoked && f.expiresAt > now) out.push({ kind: 'family', familyId: f.familyId, until: f.expiresAt });
    }
    for (const [sub, e] of this.#epochs) {
      if (e.expiresAt > now) out.push({ kind: 'user', sub, notBefore: e.notBefore, until: e.expiresAt });
    }
    return out;
  }

  /**
   * The transaction view of the maps at `now`. One object for the store's life, its `now` set per
   * operation: every operation is synchronous (nothing holds it across an await), so a view of
   * some twenty closures need not be built for each.
   */
  #tx(now: Millis): StateTx {
    const tx = (this.#view ??= this.#makeTx());
    tx.now = now;
    return tx;
  }

  #makeTx(): StateTx & { now: Millis } {
    const fam = this.#families;
    const byUser = this.#byUser;
    const refresh = this.#refresh;
    const access = this.#access;
    const deny = this.#deny;
    const epochs = this.#epochs;
    return {
      now: 0,
      getFamily: (id) => fam.get(id),
      putFamily: (f) => {
        fam.set(f.familyId, { ...f });
        let ids = byUser.get(f.sub);
        if (ids === undefined) byUser.set(f.sub, (ids = new Set()));
        ids.add(f.familyId);
      },
      getRefresh: (h) => refresh.get(h),
      putRefresh: (h, r) => void refresh.set(h, r),
      incrementRefreshUse: (h) => {
        const r = refresh.get(h);
        if (r) r.used_count++;
      },
      getAccess: (h) => access.get(h),
      putAccess: (h, a) => void access.set(h, a),
      deleteAccess: (h) => void access.delete(h),
      isDenied: (jti) => deny.has(jti),
      deny: (jti, expiresAt) => void deny.set(jti, { expiresAt: Math.max(expiresAt, deny.get(jti)?.expiresAt ?? 0) }),
      getEpoch: (sub) => epochs.get(sub)?.notBefore,
      setEpoch: (sub, notBefore, expiresAt) => void epochs.set(sub, { notBefore, expiresAt }),
      // #run swaps the array after each operation: read it at each push.
      emit: (e) => void this.#pending.push(e),
    };
  }

  /** Runs `fn` atomically (no await inside), pushes the revocations it made, then sweeps if one is due. */
  #run<T>(now: Millis, fn: (tx: StateTx) => T): T {
    const result = fn(this.#tx(now));
    if (this.#pending.length > 0) {
      const events = this.#pending;
      this.#pending = [];
      for (const e of events) this.#feed.emit(e);
    }
    if (this.#clock() - this.#lastPurge >= this.#purgeIntervalMs) this.#purge();
    return result;
  }

  async createFamily(input: CreateFamilyInput): Promise<void> {
    this.#run(input.now, (tx) => createFamilyIn(tx, input));
  }

  async rotate(input: RotateInput): Promise<RotateResult> {
    return this.#run(input.now, (tx) => rotateIn(tx, input));
  }

  async checkAccess(input: AccessCheckInput): Promise<AccessCheckResult> {
    return checkAccessIn(this.#tx(input.now), input);
  }

  async inspectRefresh(input: RefreshRef): Promise<RefreshInspection> {
    return inspectRefreshIn(this.#tx(input.now), input);
  }

  async revokeAccess(input: RevokeAccessInput): Promise<void> {
    this.#run(input.now, (tx) => revokeAccessIn(tx, input));
  }

  async revokeFamily(input: RefreshRef): Promise<boolean> {
    return this.#run(input.now, (tx) => revokeFamilyIn(tx, input));
  }

  async revokeUser(input: RevokeUserInput): Promise<void> {
    return this.#run(input.now, (tx) => revokeUserIn(tx, input));
  }

  async familyOwner(familyId: string): Promise<string | null> {
    return this.#families.get(familyId)?.sub ?? null;
  }

  async listFamilies(input: ListFamiliesInput): Promise<FamilySummary[]> {
    const ids = this.#byUser.get(input.sub) ?? [];
    const families: FamilyState[] = [];
    for (const id of ids) {
      const f = this.#families.get(id);
      if (f !== undefined) families.push(f);
    }
    return listFamiliesIn(this.#tx(input.now), input.sub, families);
  }

  async countActiveFamilies(now: Millis): Promise<number> {
    const tx = this.#tx(now);
    let n = 0;
    for (const f of this.#families.values()) if (isActiveFamily(tx, f)) n++;
    return n;
  }

  async putOnce(input: PutOnceInput): Promise<boolean> {
    return this.#run(input.now, () => {
      const key = onceKey(input.kind, input.id);
      const held = this.#once.get(key);
      if (held && held.expiresAt > input.now) return false;
      this.#once.set(key, { value: input.value, expiresAt: input.expiresAt });
      return true;
    });
  }

  async consumeOnce(input: OnceRef): Promise<string | null> {
    return this.#run(input.now, () => {
      const key = onceKey(input.kind, input.id);
      const held = this.#once.get(key);
      if (!held) return null;
      this.#once.delete(key);
      return held.expiresAt > input.now ? held.value : null;
    });
  }

  async purgeExpired(): Promise<number> {
    return this.#purge();
  }

  #purge(): number {
    const now = this.#clock();
    this.#lastPurge = now;
    let n = 0;
    for (const f of this.#families.values()) {
      if (f.expiresAt > now) continue;
      const ids = this.#byUser.get(f.sub);
      ids?.delete(f.familyId);
      if (ids?.size === 0) this.#byUser.delete(f.sub);
    }
    for (const map of [this.#families, this.#refresh, this.#access, this.#deny, this.#epochs, this.#once] as Map<
      string,
      Expiring
    >[]) {
      for (const [k, v] of map) {
        if (v.expiresAt <= now) {
          map.delete(k);
          n++;
        }
      }
    }
    return n;
  }

  async countStateEntries(): Promise<number> {
    return this.#families.size + this.#refresh.size + this.#access.size + this.#deny.size + this.#epochs.size + this.#once.size;
  }

  async createUser(user: UserRecord): Promise<boolean> {
    if (this.#users.has(user.username)) return false;
    this.#users.set(user.username, { ...user });
    return true;
  }

  async getUser(username: string): Promise<UserRecord | null> {
    const u = this.#users.get(username);
    return u ? { ...u } : null;
  }

  // Registered OAuth clients (src/oauth-clients). Records are copied in and out, arrays included
  // (completeClient copies them): a caller changing what it holds never changes the store.

  async createClient(client: ClientRecord): Promise<boolean> {
    if (this.#clients.has(client.clientId)) return false;
    this.#clients.set(client.clientId, completeClient(client));
    return true;
  }

  async getClient(clientId: string): Promise<ClientRecord | null> {
    const c = this.#clients.get(clientId);
    return c ? completeClient(c) : null;
  }

  async listClients(): Promise<ClientRecord[]> {
    return [...this.#clients.values()].map((c) => completeClient(c)).sort((a, b) => (a.clientId < b.clientId ? -1 : 1));
  }

  /** Pushed (`kind: 'client'`), so client caches on the same store drop the record at once. */
  async removeClient(clientId: string): Promise<boolean> {
    const removed = this.#clients.delete(clientId);
    if (removed) this.#feed.emit({ kind: 'client', clientId, until: this.#clock() + CLIENT_NEWS_MS });
    return removed;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {}

  async updatePasswordHash(username: string, passwordHash: string): Promise<boolean> {
    const u = this.#users.get(username);
    if (!u) return false;
    u.passwordHash = passwordHash;
    return true;
  }
}
