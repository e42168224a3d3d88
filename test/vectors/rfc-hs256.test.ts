/**
 * RFC vectors for HS256: RFC 7515 App. A.1 (= RFC 7519 §3.1), RFC 7520 §4.4 and
 * §4.5 (detached), RFC 7519 §6.1 (alg none), from rfc7515_rfc7520_hs256.json and
 * the ietf-jose cookbook file for RFC 7520 §4.4.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { prepareHmacSha256 } from '../../src/internal/hmac.js';
import { createKeyRing } from '../../src/keys.js';
import { createCodec } from '../../src/tokens/codec.js';
import { createJwtCodec } from '../../src/tokens/jwt.js';
import { codeOf } from '../support/codes.js';
import { loadVectors } from './load.js';

interface RfcVector {
  name: string;
  key_b64url: string;
  jwk?: { kid?: string };
  token: string;
  header_json: string;
  payload_json: string | null;
  payload_text?: string;
  detached_payload_b64url?: string;
  expected_valid: boolean;
}
const { vectors } = loadVectors<{ vectors: RfcVector[] }>('rfc7515_rfc7520_hs256.json');
const cookbook = loadVectors<{
  input: { payload: string; key: { kid: string; k: string } };
  signing: { protected_b64u: string; 'sig-input': string; sig: string };
  output: { compact: string; json: unknown; json_flat: unknown };
}>('rfc7520_cookbook_jws_4_4_hmac-sha2_integrity_protection.json');

function byName(prefix: string): RfcVector {
  const v = vectors.find((x) => x.name.startsWith(prefix));
  assert.ok(v, `vector ${prefix}`);
  return v;
}

const A1_EXP = 1300819380;

describe('RFC 7515 App. A.1 / RFC 7519 §3.1 (HS256 JWT, 64-byte key, no kid)', () => {
  for (const name of ['rfc7515-appendix-A.1', 'rfc7519-section-3.1']) {
    const v = byName(name);
    const codec = createCodec({ format: 'jwt', secret: v.key_b64url });

    test(`${name}: verifies through createCodec with the clock before exp`, () => {
      assert.equal(v.expected_valid, true);
      const claims = codec.decode(v.token, { now: (A1_EXP - 1) * 1000 });
      assert.deepEqual(claims, JSON.parse(v.payload_json as string));
      assert.equal(claims.iss, 'joe');
      assert.equal(claims['http://example.com/is_root'], true);
    });

    test(`${name}: 'expired' at and after exp (RFC 7519 §4.1.4), and with the real clock`, () => {
      assert.equal(
        codeOf(() => codec.decode(v.token, { now: A1_EXP * 1000 })),
        'expired',
      );
      assert.equal(
        codeOf(() => codec.decode(v.token, { now: (A1_EXP + 3600) * 1000 })),
        'expired',
      );
      assert.equal(
        codeOf(() => codec.decode(v.token)),
        'expired',
      );
      // `now` is milliseconds, as Date.now() gives them; a seconds value is refused, never
      // misread as 1970 (when every token would look unexpired).
      assert.equal(
        codeOf(() => codec.decode(v.token, { now: (A1_EXP - 1) * 1000 })),
        'accepted',
      );
      assert.throws(() => codec.decode(v.token, { now: A1_EXP - 1 }), {
        name: 'TypeError',
        message: /milliseconds since the epoch, like Date\.now\(\)/,
      });
    });

    test(`${name}: the exact header and payload octets (CRLF and spaces) are what is signed`, () => {
      const [h, p, s] = v.token.split('.') as [string, string, string];
      assert.equal(Buffer.from(h, 'base64url').toString('utf8'), v.header_json);
      assert.equal(Buffer.from(p, 'base64url').toString('utf8'), v.payload_json);
      assert.equal(prepareHmacSha256(Buffer.from(v.key_b64url, 'base64url')).macBase64url(`${h}.${p}`), s);
    });
  }

  test('a leeway accepts a token a little past exp, and no more', () => {
    const v = byName('rfc7515-appendix-A.1');
    const codec = createCodec({ format: 'jwt', secret: v.key_b64url, leewaySeconds: 30 });
    assert.equal(
      codeOf(() => codec.decode(v.token, { now: (A1_EXP + 29) * 1000 })),
      'accepted',
    );
    assert.equal(
      codeOf(() => codec.decode(v.token, { now: (A1_EXP + 30) * 1000 })),
      'expired',
    );
  });

  test('another key of a ring that also holds the A.1 key verifies it (no kid: every key is tried)', () => {
    const v = byName('rfc7515-appendix-A.1');
    const ring = createKeyRing([
      { kid: 'new', secret: Buffer.alloc(32, 9) },
      { kid: 'old', secret: v.key_b64url },
    ]);
    assert.equal(
      codeOf(() => createCodec({ format: 'jwt', secret: ring }).decode(v.token, { now: (A1_EXP - 1) * 1000 })),
      'accepted',
    );
    const without = createKeyRing([{ kid: 'new', secret: Buffer.alloc(32, 9) }]);
    assert.equal(
      codeOf(() => createCodec({ format: 'jwt', secret: without }).decode(v.token, { now: (A1_EXP - 1) * 1000 })),
      'bad_signature',
    );
  });
});

describe('RFC 7520 §4.4 (HS256 with kid, plain-text payload)', () => {
  const v = byName('rfc7520-section-4.4');
  const kid = v.jwk?.kid as string;
  const ring = createKeyRing([{ kid, secret: v.key_b64url }]);
  const jws = createJwtCodec(ring);

  test('verifies at the JWS layer and returns the text payload', () => {
    assert.equal(v.expected_valid, true);
    assert.equal(jws.verifyJws(v.token).toString('utf8'), v.payload_text);
  });

  test('is refused as a JWT: the payload is not a JSON object (malformed)', () => {
    assert.equal(
      codeOf(() => jws.verify(v.token)),
      'malformed',
    );
    const codec = createCodec({ format: 'jwt', secret: [{ kid, secret: v.key_b64url }] });
    assert.equal(
      codeOf(() => codec.decode(v.token, { now: 1_300_000_000_000 })),
      'malformed',
    );
  });

  test('the cookbook file agrees: same compact token, payload, signing input and signature', () => {
    assert.equal(cookbook.output.compact, v.token);
    assert.equal(cookbook.input.key.kid, kid);
    assert.equal(cookbook.input.key.k, v.key_b64url);
    assert.equal(jws.verifyJws(cookbook.output.compact).toString('utf8'), cookbook.input.payload);
    const mac = prepareHmacSha256(Buffer.from(cookbook.input.key.k, 'base64url')).macBase64url(cookbook.signing['sig-input']);
    assert.equal(mac, cookbook.signing.sig);
    assert.ok(cookbook.output.compact.startsWith(`${cookbook.signing.protected_b64u}.`));
  });

  test('its JSON serializations are refused by the compact verifier (malformed)', () => {
    assert.equal(
      codeOf(() => jws.verifyJws(JSON.stringify(cookbook.output.json))),
      'malformed',
    );
    assert.equal(
      codeOf(() => jws.verifyJws(JSON.stringify(cookbook.output.json_flat))),
      'malformed',
    );
  });

  test('the key under a derived kid (not the token kid) gives unknown_key', () => {
    const codec = createCodec({ format: 'jwt', secret: v.key_b64url });
    assert.equal(
      codeOf(() => codec.decode(v.token, { now: 1_300_000_000_000 })),
      'unknown_key',
    );
  });
});

describe('entries that must be refused', () => {
  test('RFC 7520 §4.5 detached content: the empty payload does not match the MAC (bad_signature)', () => {
    const v = byName('rfc7520-section-4.5');
    assert.equal(v.expected_valid, false);
    const jws = createJwtCodec(createKeyRing([{ kid: '018c0ae5-4d9b-471b-bfd6-eef314bc7037', secret: v.key_b64url }]));
    assert.equal(
      codeOf(() => jws.verifyJws(v.token)),
      'bad_signature',
    );
    // Control: with the detached payload put back, it is the §4.4 token and verifies.
    const [h, , s] = v.token.split('.');
    assert.equal(
      codeOf(() => jws.verifyJws(`${h}.${v.detached_payload_b64url}.${s}`)),
      'accepted',
    );
  });

  test('RFC 7519 §6.1 unsecured JWT (alg none) given to a verifier with a key: unsupported', () => {
    const v = byName('rfc7519-section-6.1');
    assert.equal(v.expected_valid, false);
    assert.ok(v.token.endsWith('.'));
    const codec = createCodec({ format: 'jwt', secret: v.key_b64url });
    assert.equal(
      codeOf(() => codec.decode(v.token, { now: (A1_EXP - 1) * 1000 })),
      'unsupported',
    );
    assert.equal(
      codeOf(() => createJwtCodec(createKeyRing([{ secret: v.key_b64url }])).verifyJws(v.token)),
      'unsupported',
    );
  });

  test('every entry has an expectation here', () => {
    assert.equal(vectors.length, 5);
    assert.deepEqual(
      vectors.map((v) => v.expected_valid),
      [true, true, true, false, false],
    );
  });
});
