/**
 * The cache of verified tokens (src/tokens/verified-cache.ts) and createCodec's
 * `cacheSize`: a hit must answer exactly what a full verification answers.
 * - VerifiedTokenCache on its own: exact-token lookup, size bound, oldest-first
 *   eviction, the Fernet "valid from" time, constructor checks.
 * - Every format with a cache: the same deep-frozen object on a hit, and every
 *   per-call check (exp, nbf, type, issuer, audience, Fernet's skew rule)
 *   still decides; every single-character substitution of a cached token, and
 *   random operation sequences (fast-check), give the outcome of an uncached codec.
 * Runs are CI-sized; FC_RUNS scales the model test.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ConfigError, TokenError } from '../../src/errors.js';
import { generateSecret } from '../../src/keys.js';
import { createTokenService } from '../../src/refresh/service.js';
import { openStore } from '../../src/stores/open.js';
import type { Claims, DecodeOptions, TokenType } from '../../src/tokens/claims.js';
import { type CodecOptions, createCodec, SELF_CONTAINED_FORMATS } from '../../src/tokens/codec.js';
import { deepFreeze, TAIL, VerifiedTokenCache } from '../../src/tokens/verified-cache.js';
import { codeOf } from '../support/codes.js';

const RUNS = Number(process.env.FC_RUNS ?? 200);
const SECRET = Buffer.alloc(32, 0x6b);
const NOW = 1_750_000_000;
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** `s` with the character at `i` replaced by `ch`. */
function replaceAt(s: string, i: number, ch: string): string {
  return s.slice(0, i) + ch + s.slice(i + 1);
}

/** A base64url character other than `ch` (the `k`-th such). */
function otherChar(ch: string, k = 0): string {
  const candidates = B64URL.split('').filter((c) => c !== ch);
  return candidates[(k * 29 + 7) % candidates.length] as string;
}

/** What a decode does: the claims it returns, or the TokenError code it throws. */
function outcome(fn: () => Claims): Claims | string {
  try {
    return fn();
  } catch (e) {
    if (e instanceof TokenError) return e.code;
    throw e;
  }
}

describe('VerifiedTokenCache', () => {
  const token = (prefix: string) => `${prefix}.${'t'.repeat(TAIL - 6)}sig012`;
  const claims = (sub: string): Claims => ({ sub, exp: NOW + 60 });

  test('get returns the claims of exactly the cached token', () => {
    const cache = new VerifiedTokenCache(4);
    const t = token('header.payload');
    const c = claims('alice');
    cache.set(t, c);
    assert.equal(cache.get(t, NOW), c);
    assert.equal(cache.get(`${t}`.slice(0), NOW), c, 'an equal string, however built');
    assert.equal(cache.get(token('header.payloae'), NOW), undefined);
    assert.equal(cache.get(`${t}x`, NOW), undefined, 'one character longer');
    assert.equal(cache.get(t.slice(0, -1), NOW), undefined, 'one character shorter');
    assert.equal(cache.get(`x${t}`, NOW), undefined, 'shifted by one');
    assert.equal(cache.get('', NOW), undefined);
    assert.equal(cache.size, 1);
  });

  test('a token differing in any single character of its last TAIL characters misses', () => {
    const cache = new VerifiedTokenCache(4);
    const t = `prefix.${'AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_'.repeat(2)}`;
    assert.ok(t.length > TAIL + 4);
    cache.set(t, claims('alice'));
    for (let i = t.length - TAIL; i < t.length; i++) {
      for (const k of [0, 1, 2]) {
        const changed = replaceAt(t, i, otherChar(t[i] as string, k));
        assert.equal(cache.get(changed, NOW), undefined, `tail position ${i}`);
      }
    }
    assert.ok(cache.get(t, NOW), 'the genuine token still hits');
  });

  test('a character above U+00FF whose low byte is the genuine one misses, in the tail or the prefix', () => {
    const cache = new VerifiedTokenCache(4);
    const t = `eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.${'AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_'.repeat(2)}`;
    cache.set(t, claims('alice'));
    for (let i = 0; i < t.length; i++) {
      for (const high of [0x100, 0xff00]) {
        const twin = replaceAt(t, i, String.fromCharCode(high | t.charCodeAt(i)));
        assert.equal(cache.get(twin, NOW), undefined, `position ${i}, U+${(high | t.charCodeAt(i)).toString(16)}`);
      }
    }
    assert.ok(cache.get(t, NOW));
  });

  test('a token differing in any single character of its prefix misses', () => {
    const cache = new VerifiedTokenCache(4);
    const t = `eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.${'s'.repeat(TAIL)}`;
    cache.set(t, claims('alice'));
    for (let i = 0; i < t.length - TAIL; i++) {
      const changed = replaceAt(t, i, otherChar(t[i] as string));
      assert.equal(cache.get(changed, NOW), undefined, `prefix position ${i}`);
    }
    assert.ok(cache.get(t, NOW));
  });

  test('tokens of TAIL characters or fewer are never cached', () => {
    const cache = new VerifiedTokenCache(4);
    for (const len of [0, 1, TAIL - 1, TAIL]) {
      const t = 'a'.repeat(len);
      cache.set(t, claims('short'));
      assert.equal(cache.get(t, NOW), undefined, `length ${len}`);
    }
    assert.equal(cache.size, 0);
    const shortest = 'a'.repeat(TAIL + 1);
    cache.set(shortest, claims('just long enough'));
    assert.equal(cache.get(shortest, NOW)?.sub, 'just long enough');
    assert.equal(cache.size, 1);
  });

  test('size never exceeds maxEntries; the oldest insertion is evicted first', () => {
    const cache = new VerifiedTokenCache(3);
    const tokens = Array.from({ length: 10 }, (_, i) => token(`token-${i}`));
    tokens.forEach((t, i) => {
      cache.set(t, claims(`u${i}`));
      assert.equal(cache.size, Math.min(i + 1, 3));
      // Exactly the three newest are present.
      tokens.forEach((u, j) => {
        const present = j <= i && j > i - 3;
        assert.equal(cache.get(u, NOW)?.sub, present ? `u${j}` : undefined, `after ${i}, token ${j}`);
      });
    });
  });

  test('size bound and eviction order hold for any sequence of insertions (model)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 60 }), (max, keys) => {
        const cache = new VerifiedTokenCache(max);
        let model: number[] = []; // insertion order, oldest first
        for (const k of keys) {
          cache.set(token(`k${k}`), claims(`u${k}`));
          model = model.filter((m) => m !== k);
          model.push(k);
          if (model.length > max) model.shift();
          assert.ok(cache.size <= max);
          assert.equal(cache.size, model.length);
        }
        for (let k = 0; k < 10; k++) assert.equal(cache.get(token(`k${k}`), NOW)?.sub, model.includes(k) ? `u${k}` : undefined);
      }),
      { numRuns: RUNS },
    );
  });

  test('re-setting a cached token (or one with its prefix) evicts no other entry', () => {
    const cache = new VerifiedTokenCache(2);
    const a = token('a');
    const b = token('b');
    cache.set(a, claims('a'));
    cache.set(b, claims('b'));
    cache.set(a, claims('a2'));
    assert.equal(cache.size, 2);
    assert.equal(cache.get(a, NOW)?.sub, 'a2');
    assert.equal(cache.get(b, NOW)?.sub, 'b');
    // Same prefix, another tail (another MAC): replaces the entry, keeps the other one.
    const a2 = replaceAt(a, a.length - 1, 'X');
    cache.set(a2, claims('a3'));
    assert.equal(cache.size, 2);
    assert.equal(cache.get(a2, NOW)?.sub, 'a3');
    assert.equal(cache.get(a, NOW), undefined, 'the replaced tail no longer hits');
    assert.equal(cache.get(b, NOW)?.sub, 'b');
    // The re-set counts as the newest insertion: b is now the oldest.
    cache.set(token('c'), claims('c'));
    assert.equal(cache.get(b, NOW), undefined);
    assert.equal(cache.get(a2, NOW)?.sub, 'a3');
  });

  test('tokens whose sampled characters agree share a slot: they replace each other, neither answers for the other', () => {
    // A prefix much longer than the sample, so some characters are not sampled.
    const prefix = 'eyJhbGciOiJIUzI1NiJ9.'.padEnd(640, 'x');
    const t = `${prefix}${'s'.repeat(TAIL)}`;
    let shared = 0;
    for (let i = 0; i < prefix.length; i++) {
      const cache = new VerifiedTokenCache(4);
      const u = replaceAt(t, i, otherChar(t[i] as string));
      cache.set(t, claims('t'));
      assert.equal(cache.get(u, NOW), undefined, `position ${i}: the other token is not answered from t's entry`);
      cache.set(u, claims('u'));
      assert.equal(cache.get(u, NOW)?.sub, 'u');
      if (cache.size === 1) {
        shared++;
        assert.equal(cache.get(t, NOW), undefined, `position ${i}: replaced`);
      } else {
        assert.equal(cache.get(t, NOW)?.sub, 't', `position ${i}: both kept`);
      }
    }
    // Sampling is what makes lookups cheap, so some positions are not sampled; most are kept apart by length or the sample.
    assert.ok(shared > 0 && shared < prefix.length, `${shared} positions shared a slot`);
  });

  test('real tokens get a slot each: access tokens of one user issued in one second, in ten layouts', async () => {
    // Same sub, scope, iat and exp: only the random jti and family id tell them apart, which the
    // sample must catch wherever the layout puts them (issuers of ten lengths shift it). Every
    // 16th character instead of every 8th puts hundreds of these together in some layouts.
    for (const format of SELF_CONTAINED_FORMATS) {
      for (let length = 10; length < 40; length += 3) {
        const service = createTokenService({
          secret: generateSecret(),
          store: await openStore('memory'),
          clock: () => NOW * 1000,
          issuer: `https://${'a'.repeat(length)}`,
          access: { format },
          refresh: { format: 'sealed' },
        });
        const cache = new VerifiedTokenCache(1000);
        for (let i = 0; i < 1000; i++) cache.set((await service.issue({ sub: 'alice', scope: 'api' })).accessToken, claims('a'));
        // A shared slot costs a verification, never a wrong answer: one in 1,000 would still be fine.
        assert.ok(cache.size >= 999, `${format}, issuer of ${length}: ${1000 - cache.size} of 1000 tokens shared a slot`);
      }
    }
  });

  test('validFromSec: no hit before it', () => {
    const cache = new VerifiedTokenCache(2);
    const t = token('fernet');
    cache.set(t, claims('f'), NOW);
    assert.equal(cache.get(t, NOW - 1), undefined);
    assert.equal(cache.get(t, NOW - 0.001), undefined);
    assert.equal(cache.get(t, NOW)?.sub, 'f');
    assert.equal(cache.get(t, NOW + 1000)?.sub, 'f');
    const always = token('jwt');
    cache.set(always, claims('j'));
    assert.equal(cache.get(always, 0)?.sub, 'j', 'no validFromSec: usable at any time');
  });

  test('clear empties it', () => {
    const cache = new VerifiedTokenCache(2);
    cache.set(token('a'), claims('a'));
    cache.clear();
    assert.equal(cache.size, 0);
    assert.equal(cache.get(token('a'), NOW), undefined);
  });

  test('the constructor refuses 0, negative and non-integer sizes', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      assert.throws(() => new VerifiedTokenCache(bad), RangeError, String(bad));
    }
    assert.equal(new VerifiedTokenCache(1).maxEntries, 1);
  });

  test('deepFreeze freezes nested objects and arrays', () => {
    const v = deepFreeze(JSON.parse('{"a":[1,{"b":[2]}],"c":{"d":{}}}') as Record<string, unknown>);
    const a = v.a as [number, { b: number[] }];
    for (const o of [v, a, a[1], a[1].b, v.c, (v.c as { d: object }).d]) assert.ok(Object.isFrozen(o));
    assert.throws(() => a[1].b.push(3), TypeError);
  });
});

for (const format of SELF_CONTAINED_FORMATS) {
  describe(`${format} codec with cacheSize`, () => {
    /** A cached and an uncached codec on the same keys and rules. */
    function pair(extra: Partial<CodecOptions> = {}) {
      const clock = { ms: NOW * 1000 };
      const base: CodecOptions = { format, secret: SECRET, clock: () => clock.ms, ...extra };
      return { clock, cached: createCodec({ ...base, cacheSize: 8 }), plain: createCodec(base) };
    }

    test('a second decode returns the identical, deep-frozen object, equal to an uncached decode', () => {
      const { cached, plain } = pair();
      const token = cached.encode({ sub: 'alice', type: 'access', roles: ['a', 'b'], org: { team: { ids: [1, 2] } } });
      const first = cached.decode(token, { now: NOW * 1000 });
      const second = cached.decode(token, { now: (NOW + 1) * 1000, type: 'access' });
      assert.equal(second, first);
      assert.deepEqual(first, plain.decode(token, { now: NOW * 1000 }));
      const org = first.org as { team: { ids: number[] } };
      for (const o of [first, first.roles, org, org.team, org.team.ids]) assert.ok(Object.isFrozen(o));
      assert.throws(() => {
        first.sub = 'mallory';
      }, TypeError);
      assert.throws(() => (first.roles as string[]).push('admin'), TypeError);
      assert.throws(() => {
        org.team.ids[0] = 99;
      }, TypeError);
      assert.throws(() => {
        delete first.exp;
      }, TypeError);
      assert.equal(cached.decode(token, { now: NOW * 1000 }).sub, 'alice');
      // An uncached decode returns a fresh, mutable object each time.
      const p = plain.decode(token, { now: NOW * 1000 });
      assert.notEqual(plain.decode(token, { now: NOW * 1000 }), p);
      assert.ok(!Object.isFrozen(p));
    });

    test('expiry is enforced on a hit: mutable clock and the now option', () => {
      const { cached, plain, clock } = pair({ ttlSeconds: 60 });
      const token = cached.encode({ sub: 'alice' });
      const first = cached.decode(token);
      clock.ms = (NOW + 59) * 1000 + 999;
      assert.equal(cached.decode(token), first);
      clock.ms = (NOW + 60) * 1000;
      assert.equal(
        codeOf(() => cached.decode(token)),
        'expired',
      );
      assert.equal(
        codeOf(() => plain.decode(token)),
        'expired',
      );
      clock.ms = NOW * 1000;
      assert.equal(cached.decode(token), first, 'still cached');
      assert.equal(
        codeOf(() => cached.decode(token, { now: (NOW + 60) * 1000 })),
        'expired',
      );
      assert.equal(
        codeOf(() => cached.decode(token, { now: (NOW + 3600) * 1000 })),
        'expired',
        'now in milliseconds',
      );
      assert.equal(cached.decode(token, { now: (NOW + 59) * 1000 }), first);
    });

    test('leeway and nbf are applied on a hit', () => {
      const { cached, plain } = pair({ ttlSeconds: 60, leewaySeconds: 5 });
      const token = cached.encode({ sub: 'alice', nbf: NOW + 10 });
      assert.equal(
        codeOf(() => cached.decode(token, { now: (NOW + 4) * 1000 })),
        'not_yet_valid',
      );
      const first = cached.decode(token, { now: (NOW + 5) * 1000 });
      assert.equal(cached.decode(token, { now: (NOW + 64) * 1000 }), first);
      for (const now of [NOW + 4, NOW + 65, NOW - 30].map((sec) => sec * 1000)) {
        const expected = codeOf(() => plain.decode(token, { now }));
        assert.notEqual(expected, 'accepted');
        assert.equal(
          codeOf(() => cached.decode(token, { now })),
          expected,
          String(now / 1000 - NOW),
        );
      }
    });

    test('the expected type is checked on a hit', () => {
      const { cached } = pair();
      const access = cached.encode({ sub: 'alice', type: 'access' });
      const first = cached.decode(access, { now: NOW * 1000, type: 'access' });
      assert.equal(cached.decode(access, { now: NOW * 1000 }), first);
      assert.equal(
        codeOf(() => cached.decode(access, { now: NOW * 1000, type: 'refresh' })),
        'wrong_type',
      );
      assert.equal(cached.decode(access, { now: NOW * 1000, type: 'access' }), first);
      const untyped = cached.encode({ sub: 'bob' });
      cached.decode(untyped, { now: NOW * 1000 });
      for (const type of ['access', 'refresh'] as const) {
        assert.equal(
          codeOf(() => cached.decode(untyped, { now: NOW * 1000, type })),
          'wrong_type',
        );
      }
    });

    test('issuer and audience rules decide on every decode, hit or miss', () => {
      const { cached, plain } = pair({ issuer: ['https://a.example', 'https://b.example'], audience: 'api' });
      const minter = createCodec({ format, secret: SECRET, clock: () => NOW * 1000 });
      const tokens = {
        good: minter.encode({ sub: 'alice', iss: 'https://a.example', aud: ['web', 'api'] }),
        otherIssuer: minter.encode({ sub: 'alice', iss: 'https://c.example', aud: 'api' }),
        noIssuer: minter.encode({ sub: 'alice', aud: 'api' }),
        otherAudience: minter.encode({ sub: 'alice', iss: 'https://b.example', aud: ['web'] }),
        noAudience: minter.encode({ sub: 'alice', iss: 'https://b.example' }),
      };
      for (let round = 0; round < 3; round++) {
        for (const [name, token] of Object.entries(tokens)) {
          const expected = outcome(() => plain.decode(token, { now: NOW * 1000 }));
          assert.equal(typeof expected === 'string', name !== 'good', name);
          if (typeof expected === 'string') assert.equal(expected, 'invalid_claims', name);
          assert.deepEqual(
            outcome(() => cached.decode(token, { now: NOW * 1000 })),
            expected,
            `${name}, round ${round}`,
          );
        }
      }
      // A codec without the rules, on the same keys, has its own cache and accepts them all.
      const lax = createCodec({ format, secret: SECRET, cacheSize: 8, clock: () => NOW * 1000 });
      for (const token of Object.values(tokens))
        assert.equal(lax.decode(token, { now: NOW * 1000 }), lax.decode(token, { now: NOW * 1000 }));
      assert.equal(
        codeOf(() => cached.decode(tokens.otherIssuer, { now: NOW * 1000 })),
        'invalid_claims',
      );
    });

    test('every single-character substitution of a cached token: same outcome as an uncached codec', () => {
      const { cached, plain } = pair();
      const token = cached.encode({ sub: 'alice', type: 'access', scope: 'read write', n: [1, 2, 3] });
      const genuine = cached.decode(token, { now: NOW * 1000, type: 'access' });
      const codes = new Map<string, number>();
      let tried = 0;
      for (let i = 0; i < token.length; i++) {
        for (const k of [0, 1]) {
          const changed = replaceAt(token, i, otherChar(token[i] as string, k));
          const expected = codeOf(() => plain.decode(changed, { now: NOW * 1000, type: 'access' }));
          const actual = codeOf(() => cached.decode(changed, { now: NOW * 1000, type: 'access' }));
          assert.equal(actual, expected, `position ${i} (${i >= token.length - TAIL ? 'tail' : 'prefix'}) -> ${changed[i]}`);
          codes.set(actual, (codes.get(actual) ?? 0) + 1);
          tried++;
          // The genuine token is still served from the cache, the forgery replaced nothing.
          assert.equal(cached.decode(token, { now: NOW * 1000, type: 'access' }), genuine);
        }
      }
      assert.equal(tried, token.length * 2);
      assert.equal(codes.get('accepted'), undefined, `no substitution is accepted: ${JSON.stringify([...codes])}`);
    });

    test('random operation sequences: the cached codec always agrees with an uncached one (model)', () => {
      const rules: Partial<CodecOptions> = { issuer: 'tessera', audience: 'api', leewaySeconds: 2 };
      const minter = createCodec({ format, secret: SECRET, clock: () => NOW * 1000 });
      const other = createCodec({ format, secret: Buffer.alloc(32, 0x11), clock: () => NOW * 1000 });
      const std = { iss: 'tessera', aud: 'api' };
      const tokens = [
        minter.encode({ ...std, sub: 'a', type: 'access', iat: NOW, exp: NOW + 60 }),
        minter.encode({ ...std, sub: 'b', type: 'refresh', iat: NOW, exp: NOW + 60 }),
        minter.encode({ ...std, sub: 'c', type: 'access', iat: NOW, nbf: NOW + 30, exp: NOW + 120 }),
        // Issued in the future (for Fernet, a timestamp ahead of the clock).
        minter.encode({ ...std, sub: 'd', type: 'access', iat: NOW + 90, exp: NOW + 200 }),
        minter.encode({ ...std, sub: 'e', iat: NOW - 100, exp: NOW + 10, extra: { deep: [1, { x: 'y' }] } }),
        minter.encode({ iss: 'elsewhere', aud: 'api', sub: 'f', type: 'access', exp: NOW + 60 }),
        minter.encode({ iss: 'tessera', aud: ['web'], sub: 'g', type: 'access', exp: NOW + 60 }),
        other.encode({ ...std, sub: 'h', type: 'access', exp: NOW + 60 }),
      ];
      const opArb = fc.record({
        // Mostly the first three, so that tokens come back while still cached.
        token: fc.oneof(
          { arbitrary: fc.integer({ min: 0, max: 2 }), weight: 3 },
          { arbitrary: fc.integer({ min: 0, max: tokens.length - 1 }), weight: 1 },
        ),
        // Mostly genuine tokens, so that hits happen; a quarter tampered.
        change: fc.oneof(
          { arbitrary: fc.constant(null), weight: 3 },
          { arbitrary: fc.record({ at: fc.nat(), ch: fc.constantFrom(...B64URL, '=', '.') }), weight: 1 },
        ),
        // Mostly inside the validity windows, sometimes anywhere around them (Fernet's skew included).
        offset: fc.oneof(
          { arbitrary: fc.integer({ min: -3, max: 62 }), weight: 3 },
          { arbitrary: fc.integer({ min: -200, max: 220 }), weight: 1 },
        ),
        viaClock: fc.boolean(),
        type: fc.oneof(
          { arbitrary: fc.constant<TokenType | undefined>(undefined), weight: 2 },
          { arbitrary: fc.constantFrom<TokenType | undefined>('access', 'refresh'), weight: 2 },
        ),
      });
      let hits = 0;
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 4 }), fc.array(opArb, { minLength: 5, maxLength: 40 }), (size, ops) => {
          const clock = { ms: NOW * 1000 };
          const base: CodecOptions = { format, secret: SECRET, clock: () => clock.ms, ...rules };
          const cached = createCodec({ ...base, cacheSize: size });
          const plain = createCodec(base);
          const seen = new Map<string, Claims>();
          for (const op of ops) {
            const original = tokens[op.token] as string;
            const token = op.change === null ? original : replaceAt(original, op.change.at % original.length, op.change.ch);
            const now = NOW + op.offset;
            const opts: DecodeOptions = {};
            if (op.type !== undefined) opts.type = op.type;
            if (op.viaClock) clock.ms = now * 1000;
            else opts.now = now * 1000;
            const expected = outcome(() => plain.decode(token, opts));
            const actual = outcome(() => cached.decode(token, opts));
            assert.deepEqual(actual, expected, `${token} at ${op.offset} as ${op.type}`);
            if (typeof actual !== 'string') {
              assert.ok(Object.isFrozen(actual));
              if (seen.get(token) === actual) hits++;
              seen.set(token, actual);
            }
          }
        }),
        { numRuns: RUNS },
      );
      assert.ok(hits > RUNS / 2, `the cache was hit (${hits} times)`);
    });

    test('non-string and empty tokens: the same refusal as without a cache', () => {
      const { cached, plain } = pair();
      for (const bad of [undefined, null, 42, {}, ['a'], '', 'x', 'x'.repeat(TAIL + 1)]) {
        const expected = codeOf(() => plain.decode(bad as unknown as string, { now: NOW * 1000 }));
        assert.notEqual(expected, 'accepted');
        assert.equal(
          codeOf(() => cached.decode(bad as unknown as string, { now: NOW * 1000 })),
          expected,
          JSON.stringify(bad),
        );
      }
    });

    test('the cache is bounded: with cacheSize 1 a second token evicts the first', () => {
      const one = createCodec({ format, secret: SECRET, cacheSize: 1, clock: () => NOW * 1000 });
      const two = createCodec({ format, secret: SECRET, cacheSize: 2, clock: () => NOW * 1000 });
      const a = one.encode({ sub: 'a' });
      const b = one.encode({ sub: 'b' });
      const a1 = one.decode(a);
      assert.equal(one.decode(a), a1);
      one.decode(b);
      const a2 = one.decode(a);
      assert.notEqual(a2, a1, 'evicted, verified again');
      assert.deepEqual(a2, a1);
      const t1 = two.decode(a);
      two.decode(b);
      assert.equal(two.decode(a), t1);
    });

    test('cacheSize: -1, 1.5, NaN, Infinity are ConfigErrors; 0 (and the default) mean no cache', () => {
      for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
        assert.throws(() => createCodec({ format, secret: SECRET, cacheSize: bad }), ConfigError, String(bad));
      }
      for (const cacheSize of [0, undefined]) {
        const codec = createCodec({ format, secret: SECRET, cacheSize, clock: () => NOW * 1000 });
        const token = codec.encode({ sub: 'alice', roles: ['a'] });
        const first = codec.decode(token);
        const second = codec.decode(token);
        assert.notEqual(second, first, String(cacheSize));
        assert.deepEqual(second, first);
        assert.ok(!Object.isFrozen(first));
        first.sub = 'changed';
        (first.roles as string[]).push('b');
        assert.equal(codec.decode(token).sub, 'alice');
      }
    });
  });
}

describe('fernet codec with cacheSize: the 60-second skew rule', () => {
  test('stamped at T, cached at T, decoded at T - 61: not_yet_valid, as without a cache', () => {
    const T = NOW;
    const cached = createCodec({ format: 'fernet', secret: SECRET, cacheSize: 8, clock: () => T * 1000 });
    const plain = createCodec({ format: 'fernet', secret: SECRET, clock: () => T * 1000 });
    const token = cached.encode({ sub: 'alice', exp: T + 600 });
    const first = cached.decode(token, { now: T * 1000 });
    assert.equal(
      codeOf(() => plain.decode(token, { now: (T - 61) * 1000 })),
      'not_yet_valid',
    );
    assert.equal(
      codeOf(() => cached.decode(token, { now: (T - 61) * 1000 })),
      'not_yet_valid',
    );
    assert.equal(
      codeOf(() => cached.decode(token, { now: (T - 60.5) * 1000 })),
      codeOf(() => plain.decode(token, { now: (T - 60.5) * 1000 })),
    );
    // 60 s ahead is still accepted, by both, and from the cache.
    assert.equal(
      codeOf(() => plain.decode(token, { now: (T - 60) * 1000 })),
      'accepted',
    );
    assert.equal(cached.decode(token, { now: (T - 60) * 1000 }), first);
    // A token first seen while its timestamp is far ahead is refused, not cached as valid.
    const ahead = cached.encode({ sub: 'bob', iat: T + 100, exp: T + 600 });
    assert.equal(
      codeOf(() => cached.decode(ahead, { now: T * 1000 })),
      'not_yet_valid',
    );
    const later = cached.decode(ahead, { now: (T + 40) * 1000 });
    assert.equal(cached.decode(ahead, { now: (T + 41) * 1000 }), later);
    assert.equal(
      codeOf(() => cached.decode(ahead, { now: (T + 39) * 1000 })),
      'not_yet_valid',
    );
  });
});
