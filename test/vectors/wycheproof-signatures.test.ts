/**
 * Wycheproof's ECDSA P-256/SHA-256 IEEE P1363 (ES256's r||s form, RFC 7518 §3.4),
 * Ed25519 (RFC 8032, EdDSA of RFC 8037) and RSASSA-PKCS1-v1_5 2048-bit SHA-256 (RS256,
 * RFC 7518 §3.3) vectors, every one of them, through src/internal/signatures.ts: valid
 * ones verify, invalid ones (r or s out of range, r+n, s+n, zero, wrong sizes, malleated
 * Ed25519 S, truncated or padded signatures; RSA paddings that are modified, BER-encoded,
 * short, of another hash or of PSS) are refused, on the bytes path and the base64url path.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type AsymmetricAlg, type PublicKeyMembers, prepareVerifier } from '../../src/internal/signatures.js';
import { hex, loadVectors } from './load.js';

interface Vector {
  tcId: number;
  comment: string;
  flags: string[];
  msg: string;
  sig: string;
  result: 'valid' | 'invalid' | 'acceptable';
}
interface Group {
  publicKey: { wx?: string; wy?: string; pk?: string; modulus?: string; publicExponent?: string };
  publicKeyJwk?: { x: string; y?: string };
  /** RSA groups: the JWK of the same key. */
  keyJwk?: { kty: string; n: string; e: string; alg?: string };
  keySize?: number;
  tests: Vector[];
}
interface VectorFile {
  numberOfTests: number;
  testGroups: Group[];
}

/** A coordinate of Wycheproof's hex (it may carry a leading 00 byte) as 32 bytes, base64url. */
function coordinate(h: string): string {
  let b = hex(h);
  while (b.length > 32 && b[0] === 0) b = b.subarray(1);
  return Buffer.concat([Buffer.alloc(32 - b.length), b]).toString('base64url');
}

/**
 * `expectAcceptable`: the verdict required of `acceptable` vectors (Wycheproof leaves it to
 * the implementation); by default they must be refused.
 */
function run(file: string, alg: AsymmetricAlg, keyOf: (g: Group) => PublicKeyMembers, expectAcceptable = false) {
  const data = loadVectors<VectorFile>(file);
  let valid = 0;
  let invalid = 0;
  const failures: string[] = [];
  for (const group of data.testGroups) {
    const verifier = prepareVerifier(alg, keyOf(group));
    assert.ok(verifier, `the public key of a group imports (${JSON.stringify(group.publicKey).slice(0, 80)})`);
    for (const t of group.tests) {
      const ok = verifier.verifyBytes(hex(t.msg), hex(t.sig));
      const msg = hex(t.msg);
      if (t.result === 'valid' || (t.result === 'acceptable' && expectAcceptable)) {
        valid++;
        if (!ok) failures.push(`tcId ${t.tcId} (${t.result}, ${t.flags.join(',')}) refused`);
      } else {
        invalid++;
        if (ok) failures.push(`tcId ${t.tcId} (${t.result}, ${t.flags.join(',')}: ${t.comment}) accepted`);
      }
      // The JWS path: the message as latin1 text (one character per byte), '.', the signature.
      const text = msg.toString('latin1');
      const viaText = verifier.verifyCompact(`${text}.${hex(t.sig).toString('base64url')}`, text.length);
      if (viaText !== ok) failures.push(`tcId ${t.tcId}: the compact path disagrees with the bytes path`);
    }
  }
  assert.deepEqual(failures, []);
  assert.equal(valid + invalid, data.numberOfTests, 'every vector ran');
  return { valid, invalid };
}

describe('Wycheproof signature vectors', () => {
  test('ECDSA P-256 SHA-256 P1363 (ES256): 173 valid verify, 89 invalid refused', () => {
    const counts = run('wycheproof_ecdsa_secp256r1_sha256_p1363_test.json', 'ES256', (g) => ({
      kty: 'EC',
      crv: 'P-256',
      x: coordinate(g.publicKey.wx as string),
      y: coordinate(g.publicKey.wy as string),
    }));
    assert.deepEqual(counts, { valid: 173, invalid: 89 });
  });

  test('Ed25519 (EdDSA): 88 valid verify, 63 invalid refused', () => {
    const counts = run('wycheproof_ed25519_test.json', 'EdDSA', (g) => ({
      kty: 'OKP',
      crv: 'Ed25519',
      x: (g.publicKeyJwk as { x: string }).x,
    }));
    assert.deepEqual(counts, { valid: 88, invalid: 63 });
  });

  test('RSASSA-PKCS1-v1_5 2048-bit SHA-256 (RS256): 9 valid verify, 249 invalid and the acceptable MissingNull refused', () => {
    const counts = run('wycheproof_rsa_signature_2048_sha256_test.json', 'RS256', (g) => ({
      kty: 'RSA',
      n: (g.keyJwk as { n: string }).n,
      e: (g.keyJwk as { e: string }).e,
    }));
    // tcId 8 (acceptable): a DigestInfo without its NULL parameters. RFC 8017 §8.2.2 step 4
    // compares the whole encoding with the one built from the hash (with NULL, §9.2 note 1),
    // and OpenSSL does: refused, as jose and PyJWT refuse it.
    assert.deepEqual(counts, { valid: 9, invalid: 250 });
  });

  test('the JWK of each RSA group is its modulus and exponent (minimal, base64url), 2048 bits', () => {
    const data = loadVectors<VectorFile>('wycheproof_rsa_signature_2048_sha256_test.json');
    for (const g of data.testGroups) {
      const jwk = g.keyJwk as { kty: string; n: string; e: string; alg?: string };
      assert.equal(jwk.kty, 'RSA');
      assert.equal(jwk.alg, 'RS256');
      const minimal = (h: string) => hex(h.replace(/^(00)+/, '')).toString('base64url');
      assert.equal(jwk.n, minimal(g.publicKey.modulus as string));
      assert.equal(jwk.e, minimal(g.publicKey.publicExponent as string));
      assert.equal(hex((g.publicKey.modulus as string).replace(/^(00)+/, '')).length * 8, g.keySize);
    }
  });

  test('an RSA key under 2048 bits, with e = 1 or an even e, or n not minimal, does not import', () => {
    const data = loadVectors<VectorFile>('wycheproof_rsa_signature_2048_sha256_test.json');
    const g = data.testGroups[0] as Group;
    const { n, e } = g.keyJwk as { n: string; e: string };
    const nBytes = Buffer.from(n, 'base64url');
    assert.ok(prepareVerifier('RS256', { kty: 'RSA', n, e }));
    // The top octet dropped: 2040 bits.
    assert.equal(prepareVerifier('RS256', { kty: 'RSA', n: nBytes.subarray(1).toString('base64url'), e }), undefined);
    assert.equal(prepareVerifier('RS256', { kty: 'RSA', n, e: 'AQ' }), undefined);
    assert.equal(prepareVerifier('RS256', { kty: 'RSA', n, e: 'AQAC' }), undefined);
    assert.equal(
      prepareVerifier('RS256', { kty: 'RSA', n: Buffer.concat([Buffer.from([0]), nBytes]).toString('base64url'), e }),
      undefined,
    );
    assert.equal(prepareVerifier('RS256', { kty: 'RSA', n: `${n}=`, e }), undefined);
    assert.equal(prepareVerifier('RS256', { kty: 'RSA', n: n.replace(/-/g, '+').replace(/_/g, '/'), e }), undefined);
    // And an RSA key is never an EdDSA or ES256 key, nor the reverse.
    assert.equal(prepareVerifier('ES256', { kty: 'RSA', n, e }), undefined);
  });

  test('the JWK coordinates of each ECDSA group agree with wx/wy where both are given', () => {
    const data = loadVectors<VectorFile>('wycheproof_ecdsa_secp256r1_sha256_p1363_test.json');
    for (const g of data.testGroups) {
      if (!g.publicKeyJwk) continue;
      assert.equal(g.publicKeyJwk.x, coordinate(g.publicKey.wx as string));
      assert.equal(g.publicKeyJwk.y, coordinate(g.publicKey.wy as string));
    }
  });
});
