/** What a session keeps of a device: the User-Agent bounded, the address truncated, kept whole or not at all. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  MAX_USER_AGENT_LENGTH,
  sessionAddress,
  sessionDeviceFields,
  sessionUserAgent,
  toSessions,
} from '../../src/refresh/sessions.js';

test('truncated (the default): IPv4 to its /24, IPv6 to its /48, IPv4-mapped IPv6 as IPv4; anything else is not kept', () => {
  const cases: [string, string][] = [
    ['198.51.100.77', '198.51.100.0'],
    ['10.0.0.1', '10.0.0.0'],
    ['2001:db8:aa:bb::1', '2001:db8:aa::'],
    ['2001:DB8:0:1::1', '2001:db8::'],
    ['2001:0:aa::9', '2001:0:aa::'],
    ['::1', '::'],
    ['fe80::1%eth0', 'fe80::'],
    ['::ffff:203.0.113.9', '203.0.113.0'],
    ['not an address', ''],
    ['', ''],
  ];
  for (const [input, kept] of cases) assert.equal(sessionAddress(input, 'truncated'), kept, input);
});

test('full keeps the address (zone dropped, IPv4-mapped as IPv4); off keeps nothing; no address is undefined', () => {
  assert.equal(sessionAddress('198.51.100.77', 'full'), '198.51.100.77');
  assert.equal(sessionAddress('2001:db8::1%eth0', 'full'), '2001:db8::1');
  assert.equal(sessionAddress('::ffff:203.0.113.9', 'full'), '203.0.113.9');
  assert.equal(sessionAddress('junk', 'full'), '');
  assert.equal(sessionAddress('198.51.100.77', 'off'), '', 'nothing, and what was kept is cleared');
  assert.equal(sessionAddress(undefined, 'truncated'), undefined);
});

test('the User-Agent is kept to 256 characters, without control characters', () => {
  assert.equal(MAX_USER_AGENT_LENGTH, 256);
  assert.equal(sessionUserAgent('a'.repeat(300)), 'a'.repeat(256));
  assert.equal(sessionUserAgent('Firefox\r\n/140\u0000'), 'Firefox/140');
  assert.equal(sessionUserAgent(undefined), undefined);
  assert.equal(sessionUserAgent(['a', 'b']), undefined);
});

test('sessionDeviceFields answers what sessionUserAgent and sessionAddress answer, remembered or not, past its bound', () => {
  for (const mode of ['truncated', 'full', 'off'] as const) {
    const fields = sessionDeviceFields(mode);
    const inputs = ['192.0.2.77', '2001:db8:1:2::9', '::ffff:198.51.100.3', 'not-an-ip', ''];
    // Twice each (a miss, then a hit), then 3000 distinct values so the memo fills and forgets.
    for (let round = 0; round < 2; round++) {
      for (const a of inputs) {
        const ua = `agent\u0001 ${a}`;
        assert.deepEqual(fields({ userAgent: ua, address: a }), {
          userAgent: sessionUserAgent(ua),
          address: sessionAddress(a, mode) ?? '',
        });
      }
    }
    for (let i = 0; i < 3000; i++) {
      const a = `10.${(i >> 8) & 255}.${i & 255}.9`;
      assert.equal(fields({ address: a }).address, sessionAddress(a, mode));
    }
    assert.deepEqual(fields({}), {}, 'unknown fields stay unknown (a rotation keeps what was recorded)');
    assert.deepEqual(fields({ userAgent: 7, address: null }), {});
  }
});

test('toSessions: most recently used first, ended ones (the newest refresh token expired) left out, the current one marked', () => {
  const base = { clientId: '', createdAt: 0, absoluteExpiresAt: 10_000, userAgent: '', address: '', grant: null };
  const list = toSessions(
    [
      { ...base, familyId: 'old', lastUsedAt: 1, recordExpiresAt: 9_000, grant: 'password' },
      { ...base, familyId: 'new', lastUsedAt: 5, recordExpiresAt: 12_000 },
      { ...base, familyId: 'lapsed', lastUsedAt: 9, recordExpiresAt: 1_500 },
    ],
    1_000,
    1_000,
    'old',
  );
  assert.deepEqual(
    list.map((s) => [s.id, s.expiresAt, s.current, s.grant]),
    [
      ['new', 10_000, false, null],
      ['old', 8_000, true, 'password'],
    ],
  );
});
