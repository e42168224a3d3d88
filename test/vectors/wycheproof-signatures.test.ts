/**
 * Wycheproof's ECDSA P-256/SHA-256 IEEE P1363 (ES256's r||s form, RFC 7518 §3.4)
 * and Ed25519 (RFC 8032, EdDSA of RFC 8037) vectors, every one of them, through
 * src/internal/signatures.ts: valid ones verify, invalid ones (r or s out of range,
 * r+n, s+n, zero, wrong sizes, malleated Ed25519 S, truncated or padded signatures)
 * are refused. Then the same through a whole JWS: a vector's signature over a token.
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
  publicKey: { wx?: string; wy?: string; pk?: string };
  publicKeyJwk?: { x: string; y?: string };
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

function run(file: string, alg: AsymmetricAlg, keyOf: (g: Group) => PublicKeyMembers) {
  const data = loadVectors<VectorFile>(file);
  let valid = 0;
  let invalid = 0;
  const failures: string[] = [];
  for (const group of data.testGroups) {
    const verifier = prepareVerifier(alg, keyOf(group));
    assert.ok(verifier, `the public key of a group imports (${JSON.stringify(group.publicKey).slice(0, 80)})`);
    for (const t of group.tests) {
      const ok = verifier.verifyBytes(hex(t.msg), hex(t.sig));
      // The same signature given as base64url (the JWS path), over the message as latin1 text.
      const msg = hex(t.msg);
      if (t.result === 'valid') {
        valid++;
        if (!ok) failures.push(`tcId ${t.tcId} (valid, ${t.flags.join(',')}) refused`);
      } else {
        invalid++;
        if (ok) failures.push(`tcId ${t.tcId} (${t.result}, ${t.flags.join(',')}: ${t.comment}) accepted`);
      }
      const sigB64 = hex(t.sig).toString('base64url');
      const viaText = verifier.verifyBase64url(msg.toString('latin1'), sigB64);
      if (viaText !== ok && Buffer.from(msg.toString('latin1'), 'latin1').equals(msg)) {
        failures.push(`tcId ${t.tcId}: base64url path disagrees with the bytes path`);
      }
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

  test('the JWK coordinates of each ECDSA group agree with wx/wy where both are given', () => {
    const data = loadVectors<VectorFile>('wycheproof_ecdsa_secp256r1_sha256_p1363_test.json');
    for (const g of data.testGroups) {
      if (!g.publicKeyJwk) continue;
      assert.equal(g.publicKeyJwk.x, coordinate(g.publicKey.wx as string));
      assert.equal(g.publicKeyJwk.y, coordinate(g.publicKey.wy as string));
    }
  });
});
