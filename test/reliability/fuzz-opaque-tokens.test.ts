/**
 * Opaque-token fuzzing through the token service: random strings,
 * mutations of issued tokens (a character, the shard, the prefix, the length),
 * well-shaped tokens that were never issued, and the store keys themselves
 * (SHA-256 of a token, dressed as a token) go through `authenticate`,
 * `refresh`, `introspect` and `revoke`.
 *
 * Properties: only a TokenError is ever thrown, with a code from the refusal
 * set (never a StoreUnavailableError while the store is up); `authenticate`
 * accepts only an issued access token that was not revoked; `refresh` accepts
 * only an issued refresh token, once, from a family that was not revoked;
 * introspection calls nothing else active.
 *
 * Cases per operation and configuration: FUZZ_RUNS (`npm run fuzz`: 1 000 000 on
 * the memory store), else 50 000; SQLite and Redis get a tenth.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { isTokenError, TOKEN_ERROR_CODES, type TokenErrorCode } from '../../src/errors.js';
import { generateSecret } from '../../src/keys.js';
import { createTokenService } from '../../src/refresh/service.js';
import type { TokenFormat, TokenService } from '../../src/refresh/types.js';
import { openStore } from '../../src/stores/open.js';
import type { TokenStore } from '../../src/stores/types.js';
import { hashOpaqueToken } from '../../src/tokens/opaque.js';
import { deletePrefix, REDIS_URL, redisUnavailable, skipUnlessAvailable, uniquePrefix } from '../stores/harness.js';
import { removeDir, tempDir } from '../support/processes.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 50_000);
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** Every TokenError code is a refusal (a store outage is a StoreUnavailableError, never a TokenError). */
const REFUSALS: ReadonlySet<TokenErrorCode> = new Set(TOKEN_ERROR_CODES);

interface Config {
  name: string;
  access: TokenFormat;
  refresh: TokenFormat;
  store: 'memory' | 'sqlite' | 'redis';
  runs: number;
}

const CONFIGS: Config[] = [
  { name: 'opaque/opaque on memory', access: 'opaque', refresh: 'opaque', store: 'memory', runs: RUNS },
  { name: 'opaque access, jwt refresh on memory', access: 'opaque', refresh: 'jwt', store: 'memory', runs: Math.ceil(RUNS / 2) },
  {
    name: 'sealed access, opaque refresh on memory',
    access: 'sealed',
    refresh: 'opaque',
    store: 'memory',
    runs: Math.ceil(RUNS / 2),
  },
  { name: 'opaque/opaque on SQLite', access: 'opaque', refresh: 'opaque', store: 'sqlite', runs: Math.ceil(RUNS / 10) },
  { name: 'opaque/opaque on Redis', access: 'opaque', refresh: 'opaque', store: 'redis', runs: Math.ceil(RUNS / 10) },
];

const redisReason = await redisUnavailable();

/** What the test knows about every token it issued. */
class Book {
  readonly access = new Set<string>();
  readonly refresh = new Set<string>();
  readonly consumed = new Set<string>();
  readonly revokedAccess = new Set<string>();
  /** family of each token; revoked families. */
  readonly familyOf = new Map<string, string>();
  readonly revokedFamilies = new Set<string>();
  readonly live: { access: string[]; refresh: string[] } = { access: [], refresh: [] };

  add(a: string, r: string, family: string): void {
    this.access.add(a);
    this.refresh.add(r);
    this.familyOf.set(a, family);
    this.familyOf.set(r, family);
    this.live.access.push(a);
    this.live.refresh.push(r);
  }

  accessUsable(t: string): boolean {
    return this.access.has(t) && !this.revokedAccess.has(t) && !this.revokedFamilies.has(this.familyOf.get(t) ?? '');
  }

  refreshUsable(t: string): boolean {
    return this.refresh.has(t) && !this.consumed.has(t) && !this.revokedFamilies.has(this.familyOf.get(t) ?? '');
  }
}

function candidates(seedTokens: () => { access: string[]; refresh: string[] }): fc.Arbitrary<string> {
  // Half the time one of the newest tokens (likely still usable), else any token ever issued.
  const issued = fc.tuple(fc.boolean(), fc.constantFrom('access', 'refresh'), fc.nat()).map(([recent, kind, n]) => {
    const list = seedTokens()[kind as 'access' | 'refresh'];
    const from = recent ? Math.max(0, list.length - 12) : 0;
    return list[from + (n % (list.length - from))] as string;
  });
  const b64 = fc.constantFrom(...B64);
  const edit = fc.record({ at: fc.nat(), ch: fc.oneof(b64, fc.constantFrom('=', '.', '+', '/', ' ', '\u0000', 'é', '%')) });
  return fc.oneof(
    { weight: 3, arbitrary: issued },
    // One or more characters changed anywhere (random part, shard, prefix).
    {
      weight: 6,
      arbitrary: fc
        .tuple(issued, fc.array(edit, { minLength: 1, maxLength: 3 }))
        .map(([t, edits]) => edits.reduce((s, e) => s.slice(0, e.at % s.length) + e.ch + s.slice((e.at % s.length) + 1), t)),
    },
    // The shard of one token on the random part of another.
    { weight: 2, arbitrary: fc.tuple(issued, issued).map(([a, b]) => a.slice(0, 47) + b.slice(47)) },
    // The other prefix (access <-> refresh).
    {
      weight: 2,
      arbitrary: issued.map((t) => (t.startsWith('tsa_') ? `tsr_${t.slice(4)}` : t.startsWith('tsr_') ? `tsa_${t.slice(4)}` : t)),
    },
    // Case changed, one character more or fewer.
    { weight: 1, arbitrary: issued.map((t) => t.slice(0, 4) + t.slice(4).toUpperCase()) },
    { weight: 1, arbitrary: fc.tuple(issued, b64).map(([t, c]) => t + c) },
    { weight: 1, arbitrary: issued.map((t) => t.slice(0, -1)) },
    // What the store keeps (SHA-256 of a token), dressed as a token: must be worthless.
    { weight: 2, arbitrary: issued.map((t) => t.slice(0, 4) + hashOpaqueToken(t) + t.slice(47)) },
    // Well-shaped and never issued.
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.constantFrom('tsa_', 'tsr_'), fc.string({ unit: b64, minLength: 43, maxLength: 43 }), issued)
        .map(([p, r, t]) => p + r + t.slice(47)),
    },
    { weight: 2, arbitrary: fc.string({ unit: fc.oneof(b64, fc.constantFrom('_', '.', '=')), maxLength: 80 }) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }) },
  );
}

for (const cfg of CONFIGS) {
  const opts = cfg.store === 'redis' ? skipUnlessAvailable(redisReason) : {};
  describe(`opaque token fuzz: ${cfg.name}`, opts, () => {
    let store: TokenStore;
    let tokens: TokenService;
    let dir: string | undefined;
    const prefix = uniquePrefix('fuzz-opaque');
    const book = new Book();

    before(async () => {
      if (cfg.store === 'sqlite') dir = tempDir();
      store =
        cfg.store === 'memory'
          ? await openStore('memory')
          : cfg.store === 'sqlite'
            ? await openStore(`sqlite:${dir}/t.db`)
            : await openStore(REDIS_URL, { keyPrefix: prefix });
      tokens = createTokenService({
        secret: generateSecret(),
        access: { format: cfg.access, checkRevocation: true },
        refresh: { format: cfg.refresh },
        store,
      });
      for (let i = 0; i < 40; i++) {
        const p = await tokens.issue({ sub: `user-${i % 8}`, scope: 'api' });
        book.add(p.accessToken, p.refreshToken, p.familyId);
      }
      // Revocations the fuzzer must respect: one access token, one family by logout, all of user-7.
      const [a0] = book.live.access;
      await tokens.revoke(a0 as string);
      book.revokedAccess.add(a0 as string);
      const r1 = book.live.refresh[1] as string;
      await tokens.logout(r1);
      book.revokedFamilies.add(book.familyOf.get(r1) as string);
      await tokens.revokeUser('user-7');
      for (let i = 7; i < 40; i += 8) book.revokedFamilies.add(book.familyOf.get(book.live.refresh[i] as string) as string);
    });
    after(async () => {
      if (cfg.store === 'redis' && store && 'client' in store)
        await deletePrefix((store as never as { client: never }).client, prefix);
      await store?.close();
      if (dir) removeDir(dir);
    });

    const arb = candidates(() => book.live);
    const refused = (e: unknown, what: string) => {
      if (!isTokenError(e)) throw new Error(`${what} threw a non-TokenError: ${(e as Error)?.name}: ${(e as Error)?.message}`);
      assert.ok(REFUSALS.has(e.code), `${what} refused with ${e.code}`);
    };

    test(`authenticate: ${cfg.runs} candidates, only issued and unrevoked access tokens pass`, async () => {
      let accepted = 0;
      await fc.assert(
        fc.asyncProperty(arb, async (t) => {
          try {
            const p = await tokens.authenticate(t);
            assert.ok(book.accessUsable(t), `authenticate accepted ${book.access.has(t) ? 'a revoked' : 'a never issued'} token`);
            assert.match(p.sub, /^user-\d$/);
            accepted++;
          } catch (e) {
            refused(e, 'authenticate');
            assert.ok(!book.accessUsable(t), `a usable access token was refused (${(e as { code?: string }).code})`);
          }
        }),
        { numRuns: cfg.runs },
      );
      process.stdout.write(`# ${cfg.name}: ${accepted} of ${cfg.runs} access candidates accepted\n`);
      assert.ok(accepted > 0, 'nothing was ever accepted: the fuzzer never presented a real token');
    });

    test(`introspect and revoke: ${Math.ceil(cfg.runs / 4)} candidates, never active for a foreign token, never throw`, async () => {
      await fc.assert(
        fc.asyncProperty(arb, async (t) => {
          const r = await tokens.introspect(t);
          if (r.active)
            assert.ok(book.accessUsable(t) || book.refreshUsable(t), 'introspection vouched for a dead or foreign token');
          // Revoking garbage is a no-op (RFC 7009 §2.2); revoking a real token is tested below. Only junk here.
          if (!book.access.has(t) && !book.refresh.has(t)) await tokens.revoke(t);
        }),
        { numRuns: Math.ceil(cfg.runs / 4) },
      );
    });

    test(`refresh: ${cfg.runs} candidates, each issued refresh token rotates once`, async () => {
      let rotated = 0;
      await fc.assert(
        fc.asyncProperty(arb, async (t) => {
          try {
            const p = await tokens.refresh(t);
            assert.ok(book.refresh.has(t), 'refresh accepted a token that was never issued');
            assert.ok(!book.consumed.has(t), 'refresh accepted a consumed token');
            assert.ok(book.refreshUsable(t), 'refresh accepted a token of a revoked family');
            book.consumed.add(t);
            book.add(p.accessToken, p.refreshToken, book.familyOf.get(t) as string);
            rotated++;
          } catch (e) {
            refused(e, 'refresh');
            if (isTokenError(e, 'reused')) {
              assert.ok(book.consumed.has(t), 'reuse reported for a token never consumed');
              book.revokedFamilies.add(book.familyOf.get(t) as string);
            }
            assert.ok(!book.refreshUsable(t), `a usable refresh token was refused (${(e as { code?: string }).code})`);
          }
          // Keep some sessions alive: reuse detection revokes families quickly.
          if (book.live.refresh.slice(-12).filter((r) => book.refreshUsable(r)).length < 3) {
            const p = await tokens.issue({ sub: `user-${rotated % 7}`, scope: 'api' });
            book.add(p.accessToken, p.refreshToken, p.familyId);
          }
        }),
        { numRuns: cfg.runs },
      );
      process.stdout.write(`# ${cfg.name}: ${rotated} rotations, ${book.revokedFamilies.size} families revoked\n`);
      assert.ok(rotated > 0, 'no refresh ever succeeded');
      // Reuse detection happened and held: every family the book calls revoked refuses its newest token.
      for (const r of book.live.refresh.slice(-50)) {
        if (book.refreshUsable(r)) continue;
        await assert.rejects(tokens.refresh(r), (e: unknown) => isTokenError(e) && REFUSALS.has(e.code));
      }
    });
  });
}
