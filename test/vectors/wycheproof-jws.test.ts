/**
 * Every case of the HS256 (kty=oct) groups of Wycheproof's JWS file
 * (wycheproof_jws_hs256_extract.json) through the raw JWS layer,
 * createJwtCodec(ring).verifyJws, with the group's key under the group's kid.
 *
 * The payloads of these vectors are 'foo', 'Test' or prose: valid JWS, not JWT
 * claims sets. They are therefore checked at verifyJws level; one test shows the
 * JWT layer refusing them as 'malformed'.
 *
 * Four upstream labels are wrong, and we follow the curator's `suggested_result`:
 * - tcId 367 and 370 are byte-identical to the valid tcId 357 (their padded
 *   variants were lost upstream: C2SP/wycheproof issue #236, open). The MAC
 *   verifies, so a correct verifier must accept them; expecting 'invalid' would
 *   force a verifier to reject a valid token.
 * - tcId 372 and 373 carry a '?' in the header/payload segment and their MAC
 *   does not verify over the ASCII signing input (recomputed by the curator and by
 *   the test below), yet are labelled 'valid'. No verifier may accept them.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import type { TokenErrorCode } from '../../src/errors.js';
import { createKeyRing } from '../../src/keys.js';
import { createJwtCodec } from '../../src/tokens/jwt.js';
import { codeOf } from '../support/codes.js';
import { loadVectors } from './load.js';

interface JwsTest {
  tcId: number;
  comment: string;
  jws: string;
  result: 'valid' | 'invalid';
  annotation?: string;
  suggested_result?: 'valid' | 'invalid';
}
interface JwsGroup {
  comment: string;
  private: { kid: string; k: string };
  tests: JwsTest[];
}
const file = loadVectors<{ testGroups: JwsGroup[] }>('wycheproof_jws_hs256_extract.json');

const MISLABELLED = [367, 370, 372, 373];

/** The code each invalid case must fail with (the layer that catches it). */
const EXPECTED_CODE: Record<number, TokenErrorCode> = {
  2: 'bad_signature', // modified signature
  3: 'bad_signature', // empty signature: canonical (empty) base64url, MAC mismatch
  4: 'malformed', // two segments
  5: 'bad_signature', // modified payload
  6: 'bad_signature', // empty payload: MAC over 'H.' does not match
  7: 'malformed', // two segments
  8: 'unknown_key', // header changed to kid 'Xid-aes-sign', not in the ring
  9: 'malformed', // empty header
  10: 'malformed',
  11: 'malformed',
  12: 'malformed',
  13: 'malformed', // empty string
  14: 'malformed', // four segments
  15: 'malformed',
  16: 'unsupported', // alg none
  17: 'malformed', // JSON serialization given to a compact verifier
  360: 'malformed', // spaces in the MAC
  361: 'malformed', // '?' in the MAC
  362: 'malformed',
  363: 'malformed',
  364: 'malformed',
  365: 'malformed', // spaces after the header
  366: 'malformed', // '#' in the header
  368: 'malformed', // spaces in the payload: the MAC (over the ASCII as sent) verifies, the payload does not decode
  369: 'malformed',
  371: 'malformed',
  372: 'malformed', // '?' in the header (mislabelled 'valid' upstream)
  373: 'bad_signature', // '?' in the payload and a MAC that does not verify (mislabelled 'valid' upstream)
  374: 'bad_signature', // 'AB' in the payload, MAC over the canonical 'AA'
  375: 'malformed', // 'AB' in the payload, MAC over 'AB' as sent: only the strict decoder catches it
};

describe('Wycheproof JWS HS256 (kty=oct groups)', () => {
  const all = file.testGroups.flatMap((g) => g.tests);

  test('the extract has 40 cases, 4 of them annotated as mislabelled', () => {
    assert.equal(all.length, 40);
    assert.deepEqual(
      all.filter((t) => t.suggested_result !== undefined).map((t) => t.tcId),
      MISLABELLED,
    );
  });

  for (const group of file.testGroups) {
    const codec = createJwtCodec(createKeyRing([{ kid: group.private.kid, secret: group.private.k }]));
    for (const t of group.tests) {
      const expected = t.suggested_result ?? t.result;
      const note = t.suggested_result ? ` [upstream label '${t.result}' is wrong]` : '';
      test(`tcId ${t.tcId} ${t.comment} (${group.comment}): ${expected}${note}`, () => {
        const got = codeOf(() => codec.verifyJws(t.jws));
        if (expected === 'valid') {
          assert.equal(got, 'accepted');
          // The raw JWS layer returns the payload bytes as encoded in the token.
          const payloadB64 = t.jws.split('.')[1] as string;
          assert.equal(codec.verifyJws(t.jws).toString('base64url'), payloadB64);
        } else {
          assert.equal(got, EXPECTED_CODE[t.tcId] ?? 'a code for this tcId in EXPECTED_CODE');
        }
      });
    }
  }

  test('the mislabelled cases, recomputed: 367/370 verify, 372/373 do not', () => {
    const base64Group = file.testGroups.find((g) => g.comment === 'base64')!;
    const key = Buffer.from(base64Group.private.k, 'base64url');
    for (const t of base64Group.tests.filter((x) => MISLABELLED.includes(x.tcId))) {
      const d2 = t.jws.lastIndexOf('.');
      const mac = createHmac('sha256', key).update(t.jws.slice(0, d2)).digest('base64url');
      assert.equal(mac === t.jws.slice(d2 + 1), t.suggested_result === 'valid', `tcId ${t.tcId}`);
    }
    const t357 = base64Group.tests.find((x) => x.tcId === 357)!;
    for (const id of [367, 370]) assert.equal(base64Group.tests.find((x) => x.tcId === id)!.jws, t357.jws);
  });

  test('the valid vectors are JWS, not JWTs: the JWT layer refuses their payloads as malformed', () => {
    for (const group of file.testGroups) {
      const codec = createJwtCodec(createKeyRing([{ kid: group.private.kid, secret: group.private.k }]));
      for (const t of group.tests.filter((x) => (x.suggested_result ?? x.result) === 'valid')) {
        assert.equal(
          codeOf(() => codec.verify(t.jws)),
          'malformed',
          `tcId ${t.tcId}`,
        );
      }
    }
  });

  test('with the right key under another kid, kid-bearing tokens are unknown_key (kid selects, never guesses)', () => {
    const g1 = file.testGroups[0]!;
    const t1 = g1.tests.find((t) => t.tcId === 1)!;
    const otherKid = createJwtCodec(createKeyRing([{ kid: 'other', secret: g1.private.k }]));
    assert.equal(
      codeOf(() => otherKid.verifyJws(t1.jws)),
      'unknown_key',
    );
    // Control: the same key under the right kid accepts it.
    const rightKid = createJwtCodec(createKeyRing([{ kid: g1.private.kid, secret: g1.private.k }]));
    assert.equal(
      codeOf(() => rightKid.verifyJws(t1.jws)),
      'accepted',
    );
  });
});
