/**
 * DPoP proof verification (RFC 9449 §4.3) without HTTP, and the binding of a family to a key
 * in the token service (RFC 9449 §5, §6.1).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { generateSecret } from '../../src/keys.js';
import { createTokenService } from '../../src/refresh/service.js';
import type { Scheme } from '../../src/refresh/types.js';
import { openStore } from '../../src/stores/open.js';
import { accessTokenHash, DpopError, normalizeHtu, verifyDpopProof } from '../../src/tokens/dpop.js';
import { proof, proofKey } from '../support/dpop.js';

const HTU = 'https://as.example/auth/token';
const NOW = 1_800_000_000_000;
const at = { now: NOW };

function refused(p: string, request = { htm: 'POST', htu: HTU }, options = at): void {
  assert.throws(
    () => verifyDpopProof(p, request, options),
    (e: unknown) => e instanceof DpopError && e.code === 'invalid_dpop_proof',
  );
}

describe('verifyDpopProof', () => {
  for (const alg of ['ES256', 'EdDSA', 'RS256'] as const) {
    test(`an ${alg} proof verifies to its key's RFC 7638 thumbprint, jti and iat`, () => {
      const key = proofKey(alg);
      const jti = randomUUID();
      const v = verifyDpopProof(proof(key, { htm: 'POST', htu: HTU, nowMs: NOW, jti }), { htm: 'POST', htu: HTU }, at);
      assert.deepEqual(v, { jkt: key.jkt, jti, iat: NOW / 1000, alg });
    });
  }

  test('alg Ed25519 (RFC 9864, as WebCrypto clients write it) is EdDSA on an Ed25519 key, and only on one', () => {
    const ed = proofKey('EdDSA');
    const v = verifyDpopProof(
      proof(ed, { htm: 'POST', htu: HTU, nowMs: NOW, header: { alg: 'Ed25519' } }),
      { htm: 'POST', htu: HTU },
      at,
    );
    assert.equal(v.jkt, ed.jkt);
    assert.equal(v.alg, 'Ed25519');
    refused(proof(proofKey('ES256'), { htm: 'POST', htu: HTU, nowMs: NOW, header: { alg: 'Ed25519' } }));
  });

  test('ath binds the proof to the access token it comes with', () => {
    const key = proofKey();
    const p = proof(key, { htm: 'GET', htu: HTU, nowMs: NOW, accessToken: 'tok' });
    assert.equal(verifyDpopProof(p, { htm: 'GET', htu: HTU, accessToken: 'tok' }, at).jkt, key.jkt);
    refused(p, { htm: 'GET', htu: HTU, accessToken: 'other' } as never);
    assert.equal(accessTokenHash('tok').length, 43);
  });

  test('the window around the clock is configurable, both ways', () => {
    const key = proofKey();
    const p = proof(key, { htm: 'POST', htu: HTU, iat: NOW / 1000 - 30 });
    assert.ok(verifyDpopProof(p, { htm: 'POST', htu: HTU }, { now: NOW, windowSeconds: 30 }));
    refused(p, { htm: 'POST', htu: HTU }, { now: NOW, windowSeconds: 29 } as never);
    refused(proof(key, { htm: 'POST', htu: HTU, iat: NOW / 1000 + 61 }));
  });

  test('crit, a missing jti, htm in another case, a non-string iat and a proof too long are refused', () => {
    const key = proofKey();
    refused(proof(key, { htm: 'POST', htu: HTU, nowMs: NOW, header: { crit: ['exp'] } }));
    refused(proof(key, { htm: 'POST', htu: HTU, nowMs: NOW, claims: { jti: undefined } }));
    refused(proof(key, { htm: 'post', htu: HTU, nowMs: NOW }));
    refused(proof(key, { htm: 'POST', htu: HTU, nowMs: NOW, claims: { iat: String(NOW / 1000) } }));
    refused(proof(key, { htm: 'POST', htu: HTU, nowMs: NOW, claims: { pad: 'x'.repeat(5000) } }));
  });

  test('every private JWK member is refused, and an alg that is not the key type', () => {
    const key = proofKey();
    for (const m of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'])
      refused(proof(key, { htm: 'POST', htu: HTU, nowMs: NOW, header: { jwk: { ...key.jwk, [m]: 'AAAA' } } }));
    refused(proof(key, { htm: 'POST', htu: HTU, nowMs: NOW, header: { alg: 'EdDSA' } }));
    refused(proof(key, { htm: 'POST', htu: HTU, nowMs: NOW, header: { alg: 'RS256' } }));
  });

  test('htu per RFC 9449 §4.3: case and default port normalized; query, fragment, another path refused', () => {
    assert.equal(normalizeHtu('HTTPS://AS.Example:443/a'), 'https://as.example/a');
    assert.equal(normalizeHtu('http://as.example:80'), 'http://as.example/');
    assert.equal(normalizeHtu('https://as.example:8443/a'), 'https://as.example:8443/a');
    assert.equal(normalizeHtu('ftp://as.example/a'), undefined);
    assert.equal(normalizeHtu('https://u:p@as.example/a'), undefined);
    const key = proofKey();
    refused(proof(key, { htm: 'POST', htu: `${HTU}?a=1`, nowMs: NOW }));
    refused(proof(key, { htm: 'POST', htu: `${HTU}#f`, nowMs: NOW }));
    refused(proof(key, { htm: 'POST', htu: `${HTU}/`, nowMs: NOW }));
    refused(proof(key, { htm: 'POST', htu: 'https://as.example/auth/Token', nowMs: NOW }));
  });

  test('anything that is not a compact JWS is refused with a DpopError, never a TypeError', () => {
    for (const p of ['', 'a.b', 'a.b.c.d', '!!.!!.!!', 'e30.e30.', undefined, 42, ['x']]) refused(p as string);
  });
});

for (const scheme of ['jwt', 'sealed', 'opaque'] as Scheme[]) {
  describe(`the token service binds a family to a key (${scheme})`, () => {
    test('its tokens say DPoP and carry cnf; a refresh without the key, or with another, is refused and consumes nothing', async () => {
      const store = await openStore('memory');
      const tokens = createTokenService({ secret: generateSecret(), scheme, store });
      try {
        const pair = await tokens.issue({ sub: 'alice', jkt: 'thumb' });
        assert.equal(pair.tokenType, 'DPoP');
        assert.deepEqual((await tokens.authenticate(pair.accessToken)).claims?.cnf, { jkt: 'thumb' });
        assert.deepEqual((await tokens.introspect(pair.accessToken)).cnf, { jkt: 'thumb' });
        const mismatch = (e: unknown) => e instanceof DpopError && e.code === 'dpop_key_mismatch';
        await assert.rejects(tokens.refresh(pair.refreshToken, { jkt: null }), mismatch);
        await assert.rejects(tokens.refresh(pair.refreshToken, { jkt: 'other' }), mismatch);
        const next = await tokens.refresh(pair.refreshToken, { jkt: 'thumb' });
        assert.equal(next.tokenType, 'DPoP');
        assert.deepEqual((await tokens.authenticate(next.accessToken)).claims?.cnf, { jkt: 'thumb' });
        // An unbound family stays Bearer, with or without a proof at refresh.
        const plain = await tokens.issue({ sub: 'bob' });
        assert.equal(plain.tokenType, 'Bearer');
        assert.equal((await tokens.refresh(plain.refreshToken, { jkt: 'thumb' })).tokenType, 'Bearer');
        // `cnf` is the service's: an extra claim of that name is dropped.
        const forged = await tokens.issue({ sub: 'carol', claims: { cnf: { jkt: 'x' } } });
        assert.equal(forged.tokenType, 'Bearer');
        assert.equal((await tokens.authenticate(forged.accessToken)).claims?.cnf, undefined);
      } finally {
        tokens.close();
        await store.close();
      }
    });
  });
}
