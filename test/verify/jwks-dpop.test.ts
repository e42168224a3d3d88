/**
 * `createJwksVerifier(...).verifyRequest`: a resource server that holds no secret checks DPoP-bound
 * access tokens (RFC 9449 §7) given the request's method, URL and headers.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isDpopError } from '../../src/tokens/dpop.js';
import { generateSigningJwk } from '../../src/tokens/jwk.js';
import { createJwksVerifier } from '../../src/verify/jwks.js';
import { publicOf, signWith, stubFetch } from '../support/asymmetric.js';
import { proof, proofKey } from '../support/dpop.js';

const ISS = 'https://auth.example';
const AUD = 'https://api.example';
const URL_ = 'https://api.example/things';
const k = generateSigningJwk('ES256');
const NOW = 1_800_000_000_000;
const client = proofKey();

function token(cnf?: object): string {
  const now = NOW / 1000;
  return signWith(
    k,
    { alg: k.alg, typ: 'at+jwt', kid: k.kid },
    { sub: 'alice', iss: ISS, aud: AUD, iat: now, exp: now + 900, ...(cnf ? { cnf } : {}) },
  );
}

function verifier() {
  return createJwksVerifier({
    jwksUri: `${ISS}/.well-known/jwks.json`,
    issuer: ISS,
    audience: AUD,
    fetch: stubFetch({ keys: [publicOf(k)] }).fetch,
    clock: () => NOW,
  });
}

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'accepted',
    (e: { code?: string }) => e.code,
  );

describe('createJwksVerifier: verifyRequest (RFC 9449 §7)', () => {
  test('a bound token with a proof by its key, for this method and URL, is accepted once', async () => {
    const v = verifier();
    const t = token({ jkt: client.jkt });
    const p = proof(client, { htm: 'GET', htu: URL_, nowMs: NOW, accessToken: t });
    const headers = { authorization: `DPoP ${t}`, dpop: p };
    assert.equal((await v.verifyRequest({ method: 'GET', url: `${URL_}?page=2`, headers })).sub, 'alice');
    assert.equal(await codeOf(v.verifyRequest({ method: 'GET', url: URL_, headers })), 'invalid_dpop_proof');
  });

  test('a Headers object works as well', async () => {
    const t = token({ jkt: client.jkt });
    const headers = new Headers({
      authorization: `DPoP ${t}`,
      dpop: proof(client, { htm: 'GET', htu: URL_, nowMs: NOW, accessToken: t }),
    });
    assert.equal((await verifier().verifyRequest({ method: 'GET', url: URL_, headers })).sub, 'alice');
  });

  test('a bound token as Bearer, a proof by another key, for another method or URL, or without ath is refused', async () => {
    const v = verifier();
    const t = token({ jkt: client.jkt });
    assert.equal(
      await codeOf(v.verifyRequest({ method: 'GET', url: URL_, headers: { authorization: `Bearer ${t}` } })),
      'invalid_claims',
    );
    const other = proof(proofKey(), { htm: 'GET', htu: URL_, nowMs: NOW, accessToken: t });
    const mismatch = await v
      .verifyRequest({ method: 'GET', url: URL_, headers: { authorization: `DPoP ${t}`, dpop: other } })
      .catch((e) => e);
    assert.ok(isDpopError(mismatch) && mismatch.code === 'dpop_key_mismatch');
    for (const p of [
      proof(client, { htm: 'POST', htu: URL_, nowMs: NOW, accessToken: t }),
      proof(client, { htm: 'GET', htu: 'https://api.example/other', nowMs: NOW, accessToken: t }),
      proof(client, { htm: 'GET', htu: URL_, nowMs: NOW }),
    ])
      assert.equal(
        await codeOf(v.verifyRequest({ method: 'GET', url: URL_, headers: { authorization: `DPoP ${t}`, dpop: p } })),
        'invalid_dpop_proof',
      );
  });

  test('an unbound token is accepted as Bearer', async () => {
    assert.equal(
      (await verifier().verifyRequest({ method: 'GET', url: URL_, headers: { authorization: `Bearer ${token()}` } })).sub,
      'alice',
    );
  });
});
