/**
 * Behind one address (an office NAT; for IPv6, one /64 whose hosts rotate their
 * addresses): 1,000 accounts log in and refresh, 50 others present expired or
 * already-rotated refresh tokens, and an attacker behind the same address sends
 * garbage refresh tokens and concurrent bursts of wrong passwords at three accounts.
 * Every valid login and refresh succeeds; the attacker's checked guesses stay within
 * the budget per (account, address) and per address, and its checks in flight within
 * the per-address cap. On memory and on Redis.
 *
 * The valid users log in four at a time: the address's in-flight cap (16) leaves room
 * for them beside the attacker's 4 per attacked account (docs/security.md). The
 * timing side (a login from another address during a burst) is bench/guessing.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { Redis } from 'ioredis';
import { DEFAULT_RATE_LIMIT } from '../../src/http/core/handlers.js';
import { encodeBase64url } from '../../src/internal/base64url.js';
import { randomBytes } from '../../src/internal/crypto.js';
import { hashPassword } from '../../src/users/password.js';
import type { UserService } from '../../src/users/users.js';
import { deletePrefix, redisUnavailable, skipUnlessAvailable, uniquePrefix } from '../stores/harness.js';
import { type Harness, PASSWORD, setup, TEST_SCRYPT } from './helpers.js';

const redisReason = await redisUnavailable();

const ACCOUNTS = 1000;
const STALE = 50;
const TARGETS = ['admin', 'root', 'ceo'];
const PER_USER = DEFAULT_RATE_LIMIT.perUser as number;
const PER_ADDRESS = DEFAULT_RATE_LIMIT.max;
const IN_FLIGHT = DEFAULT_RATE_LIMIT.inFlightPerAddress as number;

/** Counts the attacker's checked guesses (per target) and its checks in flight. */
class Watch implements UserService {
  inner!: UserService;
  checked = new Map<string, number>();
  running = 0;
  peak = 0;
  add(username: string, password: string) {
    return this.inner.add(username, password);
  }
  async verify(username: string, password: string) {
    const target = TARGETS.includes(username);
    if (target) {
      this.checked.set(username, (this.checked.get(username) ?? 0) + 1);
      this.peak = Math.max(this.peak, ++this.running);
    }
    try {
      // Held a moment, so the attacker's bursts are truly concurrent.
      if (target) await new Promise((r) => setTimeout(r, 10));
      return await this.inner.verify(username, password);
    } finally {
      if (target) this.running -= 1;
    }
  }
}

const networks = {
  ipv4: () => '203.0.113.7',
  ipv6: () => `2001:db8:77:1:${randomBytes(8).toString('hex').match(/.{4}/g)?.join(':')}`,
};

/** Both backends and both address families, in two runs (each is 1,000 scrypt logins). */
const RUNS = [
  { backend: 'memory', network: 'ipv4' },
  { backend: 'redis', network: 'ipv6' },
] as const;

for (const { backend, network } of RUNS) {
  const address = networks[network];
  describe(
    `behind one ${network === 'ipv4' ? 'IPv4 address' : 'IPv6 /64'} (${backend})`,
    backend === 'redis' ? skipUnlessAvailable(redisReason) : {},
    () => {
      let h: Harness;
      let redis: Redis | undefined;
      const prefix = uniquePrefix('gl-nat');
      const watch = new Watch();
      before(async () => {
        if (backend === 'redis') redis = new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: 1 });
        h = await setup({
          service: { refresh: { ttlSeconds: 3600, reuseGraceSeconds: 0 } },
          app: {
            users: watch,
            rateLimit: { ...DEFAULT_RATE_LIMIT, clock: () => h.clock.now, ...(redis ? { redis, nameSpace: prefix } : {}) },
          },
        });
        h.app.log.level = 'silent';
        watch.inner = h.users;
        const passwordHash = await hashPassword(PASSWORD, TEST_SCRYPT);
        for (const name of [...Array.from({ length: ACCOUNTS + STALE }, (_, i) => `acct${i}`), ...TARGETS])
          await h.store.createUser({
            id: `u_${encodeBase64url(randomBytes(9))}`,
            username: name,
            passwordHash,
            createdAt: h.clock.now,
          });
      });
      after(async () => {
        await h.close();
        if (redis) {
          await deletePrefix(redis, prefix);
          await redis.quit();
        }
      });

      test('every valid login and refresh succeeds; the attacker stays within its budget', async () => {
        const post = (url: string, payload: Record<string, string>) =>
          h.app.inject({ method: 'POST', url, remoteAddress: address(), payload });
        // 25 refresh tokens that have expired, and 25 that were already rotated.
        const stale: string[] = [];
        for (let i = 0; i < STALE / 2; i++)
          stale.push((await h.tokens.issue({ sub: `stale${i}`, clientId: 'tessera' })).refreshToken);
        h.clock.now += 3601_000;
        for (let i = STALE / 2; i < STALE; i++) {
          const t = await h.tokens.issue({ sub: `stale${i}`, clientId: 'tessera' });
          await h.tokens.refresh(t.refreshToken, { clientId: 'tessera' });
          stale.push(t.refreshToken);
        }

        const failures: string[] = [];
        const expect = (what: string, r: LightMyRequestResponse, status: number) => {
          if (r.statusCode !== status) failures.push(`${what}: ${r.statusCode} ${r.body}`);
        };
        let next = 0;
        const user = async () => {
          while (next < ACCOUNTS) {
            const name = `acct${next++}`;
            const r = await post('/auth/token', { grant_type: 'password', username: name, password: PASSWORD });
            expect(`login ${name}`, r, 200);
            if (r.statusCode !== 200) continue;
            const f = await post('/auth/refresh', { refresh_token: r.json().refresh_token });
            expect(`refresh ${name}`, f, 200);
          }
        };
        const attacker: Promise<LightMyRequestResponse>[] = [];
        const attack = async () => {
          for (let round = 0; round < 4; round++) {
            for (const target of TARGETS)
              for (let i = 0; i < 30; i++)
                attacker.push(post('/auth/token', { grant_type: 'password', username: target, password: `guess-${round}-${i}` }));
            for (let i = 0; i < 50; i++)
              attacker.push(post('/auth/refresh', { refresh_token: encodeBase64url(randomBytes(32)) }));
            await new Promise((r) => setTimeout(r, 150));
          }
        };
        const staleUse = async () => {
          for (const [i, token] of stale.entries()) {
            const r = await post('/auth/refresh', { refresh_token: token });
            expect(`stale ${i}`, r, 400);
            if (r.statusCode === 400 && r.json().error !== 'invalid_grant') failures.push(`stale ${i}: ${r.body}`);
          }
        };
        await Promise.all([user(), user(), user(), user(), attack(), staleUse()]);
        const attacks = await Promise.all(attacker);

        assert.deepEqual(failures.slice(0, 10), [], `${failures.length} valid requests refused`);
        // The attacker: every answer a refusal, every guess counted before its check.
        assert.ok(
          attacks.every((r) => r.statusCode === 400 || r.statusCode === 429),
          `attacker codes ${[...new Set(attacks.map((r) => r.statusCode))]}`,
        );
        let total = 0;
        for (const target of TARGETS) {
          const n = watch.checked.get(target) ?? 0;
          total += n;
          assert.ok(n <= PER_USER, `${n} guesses checked at ${target} (budget ${PER_USER})`);
        }
        assert.ok(total <= PER_ADDRESS, `${total} guesses checked from one address (budget ${PER_ADDRESS})`);
        assert.ok(total >= TARGETS.length, 'the attacker did get its first guesses checked');
        assert.ok(watch.peak <= IN_FLIGHT, `the attacker had ${watch.peak} checks in flight (cap ${IN_FLIGHT})`);
      });
    },
  );
}
