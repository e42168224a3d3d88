/**
 * The authorization-code store (RFC 6749 §4.1.2, §4.1.3, §10.5) and PKCE S256 (RFC 7636)
 * on the memory store with an injected clock. The race across instances of every store
 * is test/stores/authorization-codes-race.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { sha256Base64url } from '../../src/internal/crypto.js';
import {
  type CodeGrant,
  createAuthorizationCodes,
  isS256Challenge,
  verifyPkceS256,
} from '../../src/refresh/authorization-codes.js';
import { MemoryStore } from '../../src/stores/memory.js';
import type { OnceRef, OneTimeRecords, PutOnceInput } from '../../src/stores/types.js';
import { FakeClock } from '../stores/harness.js';

/** RFC 7636 Appendix B. */
const RFC_VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
const RFC_CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

const GRANT: CodeGrant = {
  clientId: 'app',
  redirectUri: 'https://app.example/cb',
  codeChallenge: RFC_CHALLENGE,
  scope: 'openid profile',
  sub: 'user-1',
  username: 'alice',
  nonce: 'n-0S6_WzA2Mj',
  authTime: 1_700_000_000,
};

/** A OneTimeRecords that records every call before passing it on to a memory store. */
class SpyStore implements OneTimeRecords {
  readonly puts: PutOnceInput[] = [];
  readonly consumes: OnceRef[] = [];
  readonly inner: MemoryStore;
  constructor(inner: MemoryStore) {
    this.inner = inner;
  }
  putOnce(input: PutOnceInput): Promise<boolean> {
    this.puts.push(input);
    return this.inner.putOnce(input);
  }
  consumeOnce(input: OnceRef): Promise<string | null> {
    this.consumes.push(input);
    return this.inner.consumeOnce(input);
  }
}

function setup(options: { ttlSeconds?: number; replayWindowSeconds?: number } = {}) {
  const clock = new FakeClock();
  const memory = new MemoryStore({ clock: clock.now });
  const store = new SpyStore(memory);
  const codes = createAuthorizationCodes({ store, clock: clock.now, ...options });
  return { clock, memory, store, codes };
}

describe('authorization codes', () => {
  test('a code is 43 base64url characters (32 random bytes) and redeems to the grant once', async () => {
    const { codes } = setup();
    const code = await codes.issue(GRANT);
    assert.match(code, /^[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(await codes.redeem(code), GRANT);
    assert.equal(await codes.redeem(code), null, 'a second redeem gets nothing');
  });

  test('codes differ from issue to issue', async () => {
    const { codes } = setup();
    const seen = new Set(await Promise.all(Array.from({ length: 50 }, () => codes.issue(GRANT))));
    assert.equal(seen.size, 50);
  });

  test('optional fields absent at issue are absent at redeem', async () => {
    const { codes } = setup();
    const { username: _u, nonce: _n, ...bare } = GRANT;
    assert.deepEqual(await codes.redeem(await codes.issue(bare)), bare);
  });

  test('a code lives 60 s by default: redeemable at 59 s, gone at 60 s', async () => {
    const { codes, clock } = setup();
    const a = await codes.issue(GRANT);
    const b = await codes.issue(GRANT);
    clock.advance(59);
    assert.deepEqual(await codes.redeem(a), GRANT);
    clock.advance(1);
    assert.equal(await codes.redeem(b), null);
  });

  test('ttlSeconds sets the lifetime; bad lifetimes are ConfigErrors', async () => {
    const { codes, clock } = setup({ ttlSeconds: 10 });
    const code = await codes.issue(GRANT);
    clock.advance(10);
    assert.equal(await codes.redeem(code), null);
    const store = new MemoryStore();
    for (const ttlSeconds of [0, -1, 1.5, 601, Number.NaN]) {
      assert.throws(() => createAuthorizationCodes({ store, ttlSeconds }), ConfigError, String(ttlSeconds));
    }
    assert.throws(() => createAuthorizationCodes({ store, replayWindowSeconds: 0 }), ConfigError);
  });

  test('the store holds SHA-256 of the code under kind authorization_code, never the code', async () => {
    const { codes, store, clock } = setup();
    const code = await codes.issue(GRANT);
    assert.equal(store.puts.length, 1);
    const put = store.puts[0] as PutOnceInput;
    assert.equal(put.kind, 'authorization_code');
    assert.equal(put.id, sha256Base64url(code));
    assert.notEqual(put.id, code);
    assert.ok(!put.id.includes(code) && !put.value.includes(code), 'the code appears nowhere in the record');
    assert.deepEqual(JSON.parse(put.value), GRANT);
    assert.equal(put.expiresAt - put.now, 60_000);
    assert.equal(put.now, clock.ms);
    await codes.redeem(code);
    assert.deepEqual(store.consumes, [{ kind: 'authorization_code', id: sha256Base64url(code), now: clock.ms }]);
  });

  test('malformed codes are refused without a store call', async () => {
    const { codes, store } = setup();
    const good = await codes.issue(GRANT);
    const calls = () => store.puts.length + store.consumes.length;
    const before = calls();
    const malformed = [
      '',
      good.slice(0, 42),
      `${good}A`,
      `${good.slice(0, 42)}=`,
      `${good.slice(0, 42)}+`,
      `${good.slice(0, 42)}/`,
      `${good.slice(0, 41)} A`,
      'x'.repeat(257),
      'A'.repeat(100_000),
      // 43 symbols whose last one carries non-zero unused bits: not what the encoder makes.
      `${'A'.repeat(42)}B`,
    ];
    for (const code of malformed) {
      assert.equal(await codes.redeem(code), null, JSON.stringify(code.slice(0, 50)));
      assert.equal(await codes.takeRedeemed(code), null);
      await codes.markRedeemed(code, 'fam-x');
    }
    for (const notAString of [undefined, null, 42, {}]) {
      assert.equal(await codes.redeem(notAString as unknown as string), null);
    }
    assert.equal(calls(), before, 'no store call for a malformed code');
    assert.deepEqual(await codes.redeem(good), GRANT, 'the real code is untouched');
  });

  test('an unknown well-formed code is null', async () => {
    const { codes } = setup();
    assert.equal(await codes.redeem('A'.repeat(43)), null);
  });

  test('a record that does not read back as a grant is null', async () => {
    const { codes, memory, clock } = setup();
    const corrupt = [
      'not json',
      'null',
      '[]',
      '"x"',
      JSON.stringify({ ...GRANT, clientId: 7 }),
      JSON.stringify({ ...GRANT, sub: '' }),
      JSON.stringify({ ...GRANT, codeChallenge: 'plain-challenge' }),
      JSON.stringify({ ...GRANT, authTime: '1700000000' }),
      JSON.stringify({ ...GRANT, username: 1 }),
      JSON.stringify({ ...GRANT, nonce: false }),
      JSON.stringify({ ...GRANT, redirectUri: undefined }),
    ];
    for (const [i, value] of corrupt.entries()) {
      const code = `${'A'.repeat(41)}${String.fromCharCode(65 + i)}A`;
      await memory.putOnce({
        kind: 'authorization_code',
        id: sha256Base64url(code),
        value,
        now: clock.ms,
        expiresAt: clock.ms + 60_000,
      });
      assert.equal(await codes.redeem(code), null, value);
    }
  });

  test('extra fields in a stored record are dropped', async () => {
    const { codes, memory, clock } = setup();
    const code = `${'B'.repeat(42)}A`;
    const value = JSON.stringify({ ...GRANT, admin: true });
    await memory.putOnce({
      kind: 'authorization_code',
      id: sha256Base64url(code),
      value,
      now: clock.ms,
      expiresAt: clock.ms + 60_000,
    });
    assert.deepEqual(await codes.redeem(code), GRANT);
  });

  test('issue refuses a grant that is not well-formed (a non-S256 challenge, a missing sub)', async () => {
    const { codes, store } = setup();
    await assert.rejects(codes.issue({ ...GRANT, codeChallenge: 'short' }), TypeError);
    await assert.rejects(codes.issue({ ...GRANT, sub: '' }), TypeError);
    await assert.rejects(codes.issue({ ...GRANT, authTime: Number.NaN }), TypeError);
    assert.equal(store.puts.length, 0);
  });

  test('of 20 concurrent redeems of one code exactly one gets the grant', async () => {
    const { codes } = setup();
    const code = await codes.issue(GRANT);
    const got = await Promise.all(Array.from({ length: 20 }, () => codes.redeem(code)));
    assert.deepEqual(
      got.filter((g) => g !== null),
      [GRANT],
    );
  });
});

describe('replay of a redeemed code (RFC 6749 §4.1.2)', () => {
  test('markRedeemed stores the family under SHA-256 of the code, kind authorization_code_used, for 3600 s', async () => {
    const { codes, store } = setup();
    const code = await codes.issue(GRANT);
    await codes.redeem(code);
    await codes.markRedeemed(code, 'fam-1');
    const put = store.puts.at(-1) as PutOnceInput;
    assert.equal(put.kind, 'authorization_code_used');
    assert.equal(put.id, sha256Base64url(code));
    assert.equal(put.value, 'fam-1');
    assert.equal(put.expiresAt - put.now, 3_600_000);
  });

  test('takeRedeemed gives the family once; the replayed code still redeems nothing', async () => {
    const { codes } = setup();
    const code = await codes.issue(GRANT);
    assert.deepEqual(await codes.redeem(code), GRANT);
    await codes.markRedeemed(code, 'fam-1');
    assert.equal(await codes.redeem(code), null);
    assert.equal(await codes.takeRedeemed(code), 'fam-1');
    assert.equal(await codes.takeRedeemed(code), null, 'one replay revokes once');
    assert.equal(await codes.redeem(code), null);
  });

  test('a second markRedeemed keeps the first family', async () => {
    const { codes } = setup();
    const code = await codes.issue(GRANT);
    await codes.redeem(code);
    await codes.markRedeemed(code, 'fam-1');
    await codes.markRedeemed(code, 'fam-2');
    assert.equal(await codes.takeRedeemed(code), 'fam-1');
  });

  test('the family is forgotten after replayWindowSeconds', async () => {
    const { codes, clock } = setup({ replayWindowSeconds: 120 });
    const code = await codes.issue(GRANT);
    await codes.redeem(code);
    await codes.markRedeemed(code, 'fam-1');
    clock.advance(119);
    const other = await codes.issue(GRANT);
    await codes.redeem(other);
    await codes.markRedeemed(other, 'fam-2');
    assert.equal(await codes.takeRedeemed(code), 'fam-1');
    clock.advance(120);
    assert.equal(await codes.takeRedeemed(other), null);
  });

  test('takeRedeemed of a code never marked is null', async () => {
    const { codes } = setup();
    const code = await codes.issue(GRANT);
    assert.equal(await codes.takeRedeemed(code), null);
    assert.deepEqual(await codes.redeem(code), GRANT, 'and leaves the code itself alone');
  });

  test('markRedeemed refuses an empty family id', async () => {
    const { codes } = setup();
    const code = await codes.issue(GRANT);
    await assert.rejects(codes.markRedeemed(code, ''), TypeError);
  });
});

describe('PKCE S256 (RFC 7636)', () => {
  test('the Appendix B vector verifies', () => {
    assert.equal(sha256Base64url(RFC_VERIFIER), RFC_CHALLENGE);
    assert.equal(verifyPkceS256(RFC_VERIFIER, RFC_CHALLENGE), true);
  });

  test('a wrong verifier does not verify', () => {
    assert.equal(verifyPkceS256(`${RFC_VERIFIER.slice(0, -1)}l`, RFC_CHALLENGE), false);
    assert.equal(verifyPkceS256('a'.repeat(43), RFC_CHALLENGE), false);
    assert.equal(verifyPkceS256(RFC_VERIFIER, `${RFC_CHALLENGE.slice(0, -1)}A`), false);
  });

  test('the challenge itself is not a verifier for itself (plain is not accepted)', () => {
    assert.equal(verifyPkceS256(RFC_CHALLENGE, RFC_CHALLENGE), false);
  });

  test('verifiers outside §4.1 syntax are refused: 42 or 129 chars, illegal characters', () => {
    const short = 'a'.repeat(42);
    const long = 'a'.repeat(129);
    for (const v of [short, long]) assert.equal(verifyPkceS256(v, sha256Base64url(v)), false, `${v.length} chars`);
    for (const ch of ['+', '/', '=', ' ', '%', '!', 'é', '\0', '\n']) {
      const v = `${'a'.repeat(42)}${ch}`;
      assert.equal(verifyPkceS256(v, sha256Base64url(v)), false, JSON.stringify(ch));
    }
    assert.equal(verifyPkceS256(undefined as unknown as string, RFC_CHALLENGE), false);
  });

  test('verifiers of 43 and 128 unreserved characters verify', () => {
    const unreserved = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~';
    for (const v of [unreserved.slice(0, 43), unreserved.repeat(2).slice(0, 128)]) {
      assert.equal(verifyPkceS256(v, sha256Base64url(v)), true, `${v.length} chars`);
    }
  });

  test('isS256Challenge: exactly 43 canonical base64url characters', () => {
    assert.equal(isS256Challenge(RFC_CHALLENGE), true);
    assert.equal(isS256Challenge(sha256Base64url('x')), true);
    for (const bad of [
      '',
      RFC_CHALLENGE.slice(0, 42),
      `${RFC_CHALLENGE}A`,
      `${RFC_CHALLENGE.slice(0, 42)}=`,
      `${RFC_CHALLENGE.slice(0, 42)}+`,
      `${'A'.repeat(42)}B`,
      RFC_VERIFIER.replace('-', '.'),
    ]) {
      assert.equal(isS256Challenge(bad), false, bad);
    }
  });
});
