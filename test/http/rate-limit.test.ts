/**
 * Brute-force protection of the credential endpoints (issue 12, findings 1 and 2):
 * failures counted per (username, client address) and per client address with a
 * growing back-off; successes never count; 429 `temporarily_unavailable` with
 * Retry-After; the client address is the right-most untrusted X-Forwarded-For hop.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { createGuessingLimiter } from '../../src/http/core/guessing-limiter.js';
import { redisUnavailable, skipUnlessAvailable } from '../stores/harness.js';
import { bearer, type Harness, PASSWORD, setup } from './helpers.js';

const json = (payload: Record<string, string>, remoteAddress = '127.0.0.1', headers: Record<string, string> = {}) => ({
  method: 'POST' as const,
  url: '/auth/token',
  remoteAddress,
  headers,
  payload,
});
const guess = (username: string, remoteAddress?: string, headers?: Record<string, string>) =>
  json({ grant_type: 'password', username, password: 'wrong-guess' }, remoteAddress, headers);
const good = (remoteAddress?: string, headers?: Record<string, string>) =>
  json({ grant_type: 'password', username: 'alice', password: PASSWORD }, remoteAddress, headers);

describe('guessing limiter over HTTP', () => {
  let h: Harness;
  before(async () => {
    // The limiter reads the harness's injected clock (h is set before any request).
    h = await setup({ app: { rateLimit: { max: 6, perUser: 3, windowSeconds: 60, clock: () => h.clock.now } } });
    h.app.log.level = 'silent';
  });
  after(() => h.close());

  test('failed logins per (username, address): the 4th attempt is a 429 temporarily_unavailable with Retry-After, even with the right password', async () => {
    const addr = '10.0.0.1';
    for (let i = 0; i < 3; i++) assert.equal((await h.app.inject(guess('alice', addr))).statusCode, 400);
    const res = await h.app.inject(good(addr));
    assert.equal(res.statusCode, 429);
    assert.equal(res.json().error, 'temporarily_unavailable');
    assert.match(res.json().error_description, /retry after 60 seconds/);
    assert.equal(res.headers['retry-after'], '60');
    assert.equal(res.headers['cache-control'], 'no-store');
    // Another user from the same address, and the same user from another address, are not blocked.
    assert.equal(
      (await h.app.inject(json({ grant_type: 'password', username: 'bob', password: PASSWORD }, addr))).statusCode,
      200,
    );
    assert.equal((await h.app.inject(good('10.0.0.2'))).statusCode, 200);
  });

  test('the back-off grows: one window, then two, then four after each further failure', async () => {
    const addr = '10.0.1.1';
    for (let i = 0; i < 3; i++) await h.app.inject(guess('alice', addr));
    assert.equal((await h.app.inject(guess('alice', addr))).headers['retry-after'], '60');
    h.clock.now += 60_000;
    assert.equal((await h.app.inject(guess('alice', addr))).statusCode, 400, 'the block ended: one more try');
    assert.equal((await h.app.inject(guess('alice', addr))).headers['retry-after'], '120');
    h.clock.now += 120_000;
    await h.app.inject(guess('alice', addr));
    assert.equal((await h.app.inject(good(addr))).headers['retry-after'], '240');
    // Once the back-off and a quiet window pass, everything is forgotten.
    h.clock.now += 240_000 + 60_000;
    assert.equal((await h.app.inject(good(addr))).statusCode, 200);
  });

  test('successful logins never count; a success after failures clears the (username, address) count', async () => {
    const addr = '10.0.2.1';
    for (let i = 0; i < 20; i++) assert.equal((await h.app.inject(good(addr))).statusCode, 200);
    for (let i = 0; i < 2; i++) await h.app.inject(guess('alice', addr));
    assert.equal((await h.app.inject(good(addr))).statusCode, 200);
    for (let i = 0; i < 2; i++) assert.equal((await h.app.inject(guess('alice', addr))).statusCode, 400);
    assert.equal((await h.app.inject(good(addr))).statusCode, 200);
  });

  test('a password spray over many usernames is stopped per address', async () => {
    const addr = '10.0.3.1';
    const codes: number[] = [];
    for (let i = 0; i < 8; i++) codes.push((await h.app.inject(guess(`user${i}`, addr))).statusCode);
    assert.deepEqual(codes, [400, 400, 400, 400, 400, 400, 429, 429]);
    assert.equal((await h.app.inject(good(addr))).statusCode, 429);
  });

  test('refreshes with valid tokens never count; invalid refresh tokens count per address', async () => {
    const addr = '10.0.4.1';
    let t = await h.tokens.issue({ sub: 'nat-user' });
    for (let i = 0; i < 30; i++) {
      const res = await h.app.inject({
        method: 'POST',
        url: '/auth/refresh',
        remoteAddress: addr,
        payload: { refresh_token: t.refreshToken },
      });
      assert.equal(res.statusCode, 200);
      t = { ...t, refreshToken: res.json().refresh_token };
    }
    const codes: number[] = [];
    for (let i = 0; i < 7; i++) {
      codes.push(
        (
          await h.app.inject({
            method: 'POST',
            url: '/auth/refresh',
            remoteAddress: addr,
            payload: { refresh_token: `junk${i}` },
          })
        ).statusCode,
      );
    }
    assert.deepEqual(codes, [400, 400, 400, 400, 400, 400, 429]);
    const grant = await h.app.inject(json({ grant_type: 'refresh_token', refresh_token: t.refreshToken }, addr));
    assert.equal(grant.statusCode, 429);
    assert.equal(grant.json().error, 'temporarily_unavailable');
    // Protected routes are never limited.
    for (let i = 0; i < 10; i++)
      assert.equal((await h.app.inject({ url: '/me', remoteAddress: addr, headers: bearer(t.accessToken) })).statusCode, 200);
  });
});

describe('TESSERA_RATE_LIMIT=0 (rateLimit: false) turns the limiter off', () => {
  test('many failures, never a 429', async () => {
    const h = await setup({ app: { rateLimit: false } });
    try {
      for (let i = 0; i < 30; i++) assert.equal((await h.app.inject(guess('alice'))).statusCode, 400);
    } finally {
      await h.close();
    }
  });
});

describe('client address behind proxies (right-most untrusted X-Forwarded-For hop)', () => {
  const limit = { max: 100, perUser: 3, windowSeconds: 60 };

  async function spoofed(trustProxy: false | number | string[], socket: string, xff: (i: number) => string) {
    const h = await setup({ app: { rateLimit: limit, trustProxy } });
    try {
      const codes: number[] = [];
      for (let i = 0; i < 5; i++)
        codes.push((await h.app.inject(guess('alice', socket, { 'x-forwarded-for': xff(i) }))).statusCode);
      return codes;
    } finally {
      await h.close();
    }
  }
  const blocked = [400, 400, 400, 429, 429];

  test('one proxy (TESSERA_TRUST_PROXY=1): a changing left-most entry does not escape the limit', async () => {
    // nginx's $proxy_add_x_forwarded_for appends the real peer to what the client sent.
    assert.deepEqual(await spoofed(1, '10.9.0.1', (i) => `203.0.113.${i}, 198.51.100.7`), blocked);
  });

  test('one proxy: clients behind it are told apart by the entry the proxy added', async () => {
    const h = await setup({ app: { rateLimit: limit, trustProxy: 1 } });
    try {
      for (let i = 0; i < 3; i++) await h.app.inject(guess('alice', '10.9.0.1', { 'x-forwarded-for': '198.51.100.7' }));
      assert.equal((await h.app.inject(good('10.9.0.1', { 'x-forwarded-for': '198.51.100.7' }))).statusCode, 429);
      assert.equal((await h.app.inject(good('10.9.0.1', { 'x-forwarded-for': '198.51.100.8' }))).statusCode, 200);
    } finally {
      await h.close();
    }
  });

  test('two proxies: the client is the second entry from the right', async () => {
    assert.deepEqual(await spoofed(2, '10.9.0.1', (i) => `203.0.113.${i}, 198.51.100.7, 10.9.0.2`), blocked);
  });

  test('a list of proxy addresses/CIDRs: untrusted hops stop the walk; a client off the list is its own address', async () => {
    assert.deepEqual(await spoofed(['10.9.0.0/16'], '10.9.0.1', (i) => `203.0.113.${i}, 198.51.100.7, 10.9.3.3`), blocked);
    // A direct client (not a listed proxy) cannot choose its address with the header.
    assert.deepEqual(await spoofed(['10.9.0.0/16'], '198.51.100.9', (i) => `203.0.113.${i}`), blocked);
  });

  test('off (default): the header is ignored, the socket peer is the client', async () => {
    assert.deepEqual(await spoofed(false, '198.51.100.9', (i) => `203.0.113.${i}`), blocked);
  });
});

describe('guessing limiter on Redis: counters shared by every instance', skipUnlessAvailable(await redisUnavailable()), () => {
  let redis: Redis;
  const ns = `tessera:test:gl:${process.pid}:${Date.now()}:`;
  before(() => {
    redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: false, maxRetriesPerRequest: 1 });
  });
  after(async () => {
    const keys = await redis.keys(`${ns}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });

  test('two limiters on one Redis see each other failures; the back-off grows; a success clears the user count', async () => {
    const clock = { now: Date.now() };
    const settings = { max: 10, perUser: 3, windowSeconds: 60, redis, nameSpace: ns, clock: () => clock.now };
    const a = createGuessingLimiter(settings);
    const b = createGuessingLimiter(settings);
    assert.equal(await a.fail('192.0.2.1', 'alice'), 0);
    assert.equal(await b.fail('192.0.2.1', 'alice'), 0);
    assert.equal((await a.check('192.0.2.1', 'alice')).userFailures, 2);
    assert.equal(await a.fail('192.0.2.1', 'Alice '), 60_000, 'the username is normalised');
    assert.equal((await b.check('192.0.2.1', 'alice')).waitMs, 60_000);
    assert.equal((await b.check('192.0.2.2', 'alice')).waitMs, 0);
    clock.now += 60_000;
    assert.equal((await b.check('192.0.2.1', 'alice')).waitMs, 0);
    assert.equal(await b.fail('192.0.2.1', 'alice'), 120_000);
    await a.succeed('192.0.2.1', 'alice');
    assert.deepEqual(await b.check('192.0.2.1', 'alice'), { waitMs: 0, userFailures: 0 });
    // Keys expire by themselves: block + window.
    const ttl = await redis.pttl(`${ns}{192.0.2.1}:a`);
    assert.ok(ttl > 0 && ttl <= 60_000, `address key ttl ${ttl}`);
  });

  test('an address blocked by refresh failures is known to the instance that saw it without a round trip', async () => {
    const clock = { now: Date.now() };
    const limiter = createGuessingLimiter({ max: 2, windowSeconds: 30, redis, nameSpace: ns, clock: () => clock.now });
    assert.equal(limiter.blockedLocally('192.0.2.9'), 0);
    await limiter.fail('192.0.2.9');
    assert.equal(await limiter.fail('192.0.2.9'), 30_000);
    assert.equal(limiter.blockedLocally('192.0.2.9'), 30_000);
    clock.now += 30_000;
    assert.equal(limiter.blockedLocally('192.0.2.9'), 0);
  });
});
