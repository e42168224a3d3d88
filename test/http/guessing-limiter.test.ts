/**
 * The guessing limiter under concurrency, on memory and on Redis: an attempt is
 * reserved before its password is checked, so a burst has no more passwords checked
 * than the budget allows; in-flight caps per (username, address) and per address;
 * IPv6 keyed on its /64 (and /48), IPv4-mapped IPv6 as IPv4; registrations on their
 * own budget; refresh tokens never counted; a bounded hash queue (503 + Retry-After).
 *
 * Password checks go through a counting UserService whose `verify` holds each check
 * for a short real interval, so the requests of a burst are truly in flight together.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { Redis } from 'ioredis';
import { addressKey, createHashGate, type RateLimitSettings } from '../../src/http/core/guessing-limiter.js';
import type { UserService } from '../../src/users/users.js';
import { deletePrefix, redisUnavailable, skipUnlessAvailable, uniquePrefix } from '../stores/harness.js';
import { type Harness, PASSWORD, setup } from './helpers.js';

/** Resolved before any suite is declared: the runner starts on the first suite. */
const redisReason = await redisUnavailable();

/** How long each password check is held in flight (a real interval: concurrency is the thing under test). */
const HOLD_MS = 30;

/** A UserService that counts password checks (total, and the most at once per address tag). */
class CountingUsers implements UserService {
  inner!: UserService;
  calls = 0;
  running = 0;
  maxRunning = 0;
  async add(username: string, password: string) {
    return this.inner.add(username, password);
  }
  async verify(username: string, password: string) {
    this.calls += 1;
    this.running += 1;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      await new Promise((r) => setTimeout(r, HOLD_MS));
      return await this.inner.verify(username, password);
    } finally {
      this.running -= 1;
    }
  }
  reset() {
    this.calls = 0;
    this.maxRunning = 0;
  }
}

const login = (username: string, password: string, remoteAddress: string) => ({
  method: 'POST' as const,
  url: '/auth/token',
  remoteAddress,
  payload: { grant_type: 'password', username, password },
});
const codes = (rs: LightMyRequestResponse[]) => rs.map((r) => r.statusCode);
const count = (rs: LightMyRequestResponse[], status: number) => rs.filter((r) => r.statusCode === status).length;

describe('addressKey: the address a client is counted as', () => {
  test('IPv4 as is; IPv4-mapped IPv6 in either notation is the IPv4 address', () => {
    assert.deepEqual(addressKey('1.2.3.4'), { tag: '1.2.3.4', net: '1.2.3.4' });
    assert.deepEqual(addressKey('::ffff:1.2.3.4'), addressKey('1.2.3.4'));
    assert.deepEqual(addressKey('::FFFF:0102:0304'), addressKey('1.2.3.4'));
  });
  test('IPv6: its /64, with its /48 as the wider tier; spelling, zeros and zones do not matter', () => {
    const k = addressKey('2001:db8:1:2::1');
    assert.equal(k.net, '2001:db8:1:2::/64');
    assert.equal(k.wide, '2001:db8:1::/48');
    assert.deepEqual(addressKey('2001:0DB8:0001:0002:ffff:eeee:dddd:cccc'), k);
    assert.deepEqual(addressKey('fe80::1%eth0').net, 'fe80:0:0:0::/64');
    assert.notEqual(addressKey('2001:db8:1:3::1').net, k.net);
    assert.equal(addressKey('2001:db8:1:3::1').wide, k.wide);
  });
});

describe('hash queue: bounded, and fair between addresses', () => {
  test('past the queue bound it refuses; a waiting address is served before the rest of a burst', async () => {
    const gate = createHashGate({ concurrency: 1, queue: 4 });
    const order: string[] = [];
    let open!: () => void;
    const held = new Promise<void>((r) => {
      open = r;
    });
    const job = (who: string, wait?: Promise<void>) => async () => {
      order.push(who);
      await wait;
    };
    const runs = [gate.run('10.0.0.1', job('a0', held))];
    for (let i = 1; i <= 3; i++) runs.push(gate.run('10.0.0.1', job(`a${i}`)));
    runs.push(gate.run('10.0.0.2', job('b')));
    await assert.rejects(gate.run('10.0.0.3', job('c')), { name: 'HashQueueFull' });
    open();
    await Promise.all(runs);
    assert.deepEqual(order, ['a0', 'a1', 'b', 'a2', 'a3']);
    assert.deepEqual(gate.load, { running: 0, waiting: 0 });
  });

  test('one address runs at most half of the hashes at once: another address starts at once', async () => {
    const gate = createHashGate({ concurrency: 4, queue: 64 });
    let open!: () => void;
    const held = new Promise<void>((r) => {
      open = r;
    });
    const runs = Array.from({ length: 10 }, () => gate.run('10.0.0.1', () => held));
    assert.deepEqual(gate.load, { running: 2, waiting: 8 });
    let started = false;
    const other = gate.run('2001:db8::1', async () => {
      started = true;
    });
    assert.equal(started, true, 'the other address did not wait');
    await other;
    open();
    await Promise.all(runs);
    assert.deepEqual(gate.load, { running: 0, waiting: 0 });
  });
});

for (const backend of ['memory', 'redis'] as const) {
  describe(`guessing limiter under concurrency (${backend})`, backend === 'redis' ? skipUnlessAvailable(redisReason) : {}, () => {
    let redis: Redis | undefined;
    const prefix = uniquePrefix('gl');
    const harnesses: Harness[] = [];
    before(() => {
      if (backend === 'redis') redis = new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: 1 });
    });
    after(async () => {
      for (const h of harnesses) await h.close();
      if (redis) {
        await deletePrefix(redis, prefix);
        await redis.quit();
      }
    });

    /** A server whose limiter has `limits` (on this backend) and whose password checks are counted. */
    async function server(limits: Partial<RateLimitSettings>, extra: { allowRegister?: boolean } = {}) {
      const users = new CountingUsers();
      let h!: Harness;
      h = await setup({
        app: {
          users,
          ...extra,
          rateLimit: {
            max: 20,
            windowSeconds: 60,
            ...limits,
            clock: () => h.clock.now,
            ...(redis ? { redis, nameSpace: `${prefix}${harnesses.length}:` } : {}),
          },
        },
      });
      h.app.log.level = 'silent';
      users.inner = h.users;
      harnesses.push(h);
      return { h, users };
    }
    const wide = { inFlightPerUser: 1000, inFlightPerAddress: 1000 };

    test('a concurrent burst of 60 wrong passwords with a limit of 5 has at most 5 passwords checked', async () => {
      const { h, users } = await server({ perUser: 5, ...wide });
      const rs = await Promise.all(Array.from({ length: 60 }, () => h.app.inject(login('alice', 'wrong-guess', '10.1.0.1'))));
      assert.equal(users.calls, 5, `checked ${users.calls}`);
      assert.equal(count(rs, 400), 5);
      assert.equal(count(rs, 429), 55);
      assert.ok(rs.filter((r) => r.statusCode === 429).every((r) => Number(r.headers['retry-after']) >= 1));
    });

    test('a burst holding the right password cannot log in beyond the budget', async () => {
      const { h, users } = await server({ perUser: 5, ...wide });
      const burst = Array.from({ length: 59 }, () => login('alice', 'wrong-guess', '10.1.1.1'));
      burst.push(login('alice', PASSWORD, '10.1.1.1'));
      const rs = await Promise.all(burst.map((r) => h.app.inject(r)));
      assert.equal(count(rs, 200), 0, `codes ${codes(rs).join(',')}`);
      assert.equal(rs[59]?.statusCode, 429);
      assert.ok(users.calls <= 5, `checked ${users.calls}`);
    });

    test('one burst earns one block of one window, not a doubling per concurrent failure', async () => {
      const { h } = await server({ perUser: 3, ...wide });
      await Promise.all(Array.from({ length: 40 }, () => h.app.inject(login('alice', 'wrong-guess', '10.1.2.1'))));
      const next = await h.app.inject(login('alice', 'wrong-guess', '10.1.2.1'));
      assert.equal(next.headers['retry-after'], '60');
      h.clock.now += 60_000;
      assert.equal((await h.app.inject(login('alice', PASSWORD, '10.1.2.1'))).statusCode, 200);
    });

    test('in flight: at most 4 checks per (username, address) and 16 per address; the rest 429 with Retry-After 1', async () => {
      const { h, users } = await server({ perUser: 1000, max: 1000 });
      const one = await Promise.all(Array.from({ length: 10 }, () => h.app.inject(login('alice', 'wrong-guess', '10.1.3.1'))));
      assert.ok(users.maxRunning <= 4, `ran ${users.maxRunning} at once for one user`);
      assert.equal(count(one, 400) + count(one, 429), 10);
      const busy = one.find((r) => r.statusCode === 429);
      assert.equal(busy?.headers['retry-after'], '1');
      assert.match(busy?.json().error_description, /in progress/);
      users.reset();
      const spread = await Promise.all(
        Array.from({ length: 60 }, (_, i) => h.app.inject(login(`user${i % 20}`, 'wrong-guess', '10.1.3.2'))),
      );
      assert.ok(users.maxRunning <= 16, `ran ${users.maxRunning} at once for one address`);
      assert.ok(count(spread, 429) >= 44, `codes ${codes(spread).join(',')}`);
    });

    test('a burst occupies at most 16 hash slots; a login from another address during it succeeds', async () => {
      const { h, users } = await server({ perUser: 1000, max: 1000 });
      let attackerPeak = 0;
      let attackerRunning = 0;
      const inner = users.verify.bind(users);
      users.verify = async (u, p) => {
        const mine = u.startsWith('victim');
        if (mine) attackerPeak = Math.max(attackerPeak, ++attackerRunning);
        try {
          return await inner(u, p);
        } finally {
          if (mine) attackerRunning -= 1;
        }
      };
      const burst = Array.from({ length: 200 }, (_, i) => h.app.inject(login(`victim${i % 50}`, 'wrong-guess', '10.1.4.1')));
      const other = await h.app.inject(login('bob', PASSWORD, '10.1.4.2'));
      await Promise.all(burst);
      assert.equal(other.statusCode, 200);
      assert.ok(attackerPeak <= 16, `the burst held ${attackerPeak} checks at once`);
    });

    test('20 garbage refresh tokens from one address block neither a login nor a valid refresh from it', async () => {
      const { h } = await server({ perUser: 5, max: 5 });
      const addr = '10.1.5.1';
      const t = await h.tokens.issue({ sub: 'nat-user' });
      const junk = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          h.app.inject({ method: 'POST', url: '/auth/refresh', remoteAddress: addr, payload: { refresh_token: `junk-${i}` } }),
        ),
      );
      assert.ok(junk.every((r) => r.statusCode === 400));
      const refresh = await h.app.inject({
        method: 'POST',
        url: '/auth/refresh',
        remoteAddress: addr,
        payload: { refresh_token: t.refreshToken },
      });
      assert.equal(refresh.statusCode, 200);
      assert.equal((await h.app.inject(login('alice', PASSWORD, addr))).statusCode, 200);
    });

    test('IPv6 addresses of one /64 share a bucket; other /64s of one /48 share the wider one', async () => {
      const { h, users } = await server({ perUser: 5, max: 10, perNetwork: 15 });
      const rs = [];
      for (let i = 0; i < 120; i++) rs.push(await h.app.inject(login('alice', 'wrong-guess', `2001:db8:1:2::${(i % 30) + 1}`)));
      assert.equal(users.calls, 5, `checked ${users.calls} guesses from one /64`);
      assert.equal((await h.app.inject(login('alice', PASSWORD, '2001:db8:1:2:aaaa::1'))).statusCode, 429);
      users.reset();
      for (let i = 0; i < 40; i++) await h.app.inject(login(`user${i}`, 'wrong-guess', `2001:db8:1:${i + 3}::1`));
      assert.equal(users.calls, 10, `checked ${users.calls} guesses from other /64s of the /48 (15 in all)`);
      assert.equal((await h.app.inject(login('bob', PASSWORD, '2001:db8:2::1'))).statusCode, 200, 'another /48 is free');
    });

    test('::ffff:1.2.3.4 and 1.2.3.4 are one client', async () => {
      const { h } = await server({ perUser: 3 });
      for (let i = 0; i < 3; i++)
        assert.equal((await h.app.inject(login('alice', 'wrong-guess', '::ffff:1.2.3.4'))).statusCode, 400);
      assert.equal((await h.app.inject(login('alice', PASSWORD, '1.2.3.4'))).statusCode, 429);
    });

    test('registrations do not consume the login budget, and have one of their own', async () => {
      const { h } = await server({ perUser: 5, max: 5, registerLimit: 10 }, { allowRegister: true });
      const addr = '10.1.6.1';
      const reg = [];
      for (let i = 0; i < 12; i++)
        reg.push(
          await h.app.inject({
            method: 'POST',
            url: '/auth/register',
            remoteAddress: addr,
            payload: { username: `new${i}`, password: PASSWORD },
          }),
        );
      assert.deepEqual(codes(reg), [...new Array(10).fill(201), 429, 429]);
      assert.match(reg[10]?.json().error_description, /registrations/);
      assert.equal((await h.app.inject(login('new0', PASSWORD, addr))).statusCode, 200);
      for (let i = 0; i < 4; i++) assert.equal((await h.app.inject(login('alice', 'wrong-guess', addr))).statusCode, 400);
      assert.equal((await h.app.inject(login('alice', PASSWORD, addr))).statusCode, 200, 'the 5th login is still checked');
    });

    test('past the hash queue bound: 503 temporarily_unavailable with Retry-After, and the attempt is not counted', async () => {
      const { h } = await server({ perUser: 2, hashConcurrency: 1, hashQueue: 2 });
      const rs = await Promise.all(
        Array.from({ length: 6 }, (_, i) => h.app.inject(login('alice', 'wrong-guess', `10.1.7.${i + 1}`))),
      );
      assert.equal(count(rs, 400), 3, `codes ${codes(rs).join(',')}`);
      const full = rs.filter((r) => r.statusCode === 503);
      assert.equal(full.length, 3);
      for (const r of full) {
        assert.equal(r.json().error, 'temporarily_unavailable');
        assert.equal(r.headers['retry-after'], '1');
      }
      // A refused check was forgiven: the address that got a 503 still has its whole budget (2).
      const refusedAt = rs.findIndex((r) => r.statusCode === 503);
      const addr = `10.1.7.${refusedAt + 1}`;
      assert.equal((await h.app.inject(login('alice', 'wrong-guess', addr))).statusCode, 400);
      assert.equal((await h.app.inject(login('alice', PASSWORD, addr))).statusCode, 200);
    });
  });
}
