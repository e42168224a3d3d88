/**
 * DPoP (RFC 9449) answers the same on Fastify, Express and Hono: binding at the token endpoint,
 * a proof at a protected route, a bound token refused as Bearer, a replayed proof refused on
 * another adapter sharing the store, a stolen refresh token refused and not consumed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { form } from '../http/helpers.js';
import { proof, proofKey } from '../support/dpop.js';
import { ADAPTERS, bearer, type Driver, driver, ISSUER, PASSWORD, type Shared, shared } from './adapters.js';

const TOKEN_URL = `${ISSUER}/auth/token`;
const ME_URL = `${ISSUER}/me`;

for (const name of ADAPTERS) {
  describe(`DPoP on ${name}`, () => {
    let s: Shared;
    let d: Driver;
    let other: Driver;
    before(async () => {
      s = await shared();
      d = await driver(name, s, { dpop: true });
      other = await driver(name === 'fastify' ? 'hono' : 'fastify', s, { dpop: true });
    });
    after(async () => {
      await d.close();
      await other.close();
      await s.close();
    });

    test('a proof at the token endpoint binds the tokens; /me takes the DPoP scheme with a proof and refuses the token as Bearer', async () => {
      const key = proofKey();
      const f = form({ grant_type: 'password', username: 'alice', password: PASSWORD });
      const res = await d.call({
        method: 'POST',
        url: '/auth/token',
        headers: { ...f.headers, dpop: proof(key, { htm: 'POST', htu: TOKEN_URL, nowMs: s.clock.now }) },
        payload: f.payload,
      });
      assert.equal(res.status, 200, res.text);
      const body = res.json() as { access_token: string; token_type: string; refresh_token: string };
      assert.equal(body.token_type, 'DPoP');
      const token = body.access_token;
      const p = proof(key, { htm: 'GET', htu: ME_URL, nowMs: s.clock.now, accessToken: token });
      const ok = await d.call({ url: '/me', headers: { authorization: `DPoP ${token}`, dpop: p } });
      assert.equal(ok.status, 200, ok.text);

      const replayed = await other.call({ url: '/me', headers: { authorization: `DPoP ${token}`, dpop: p } });
      assert.equal(replayed.status, 401);
      assert.equal(replayed.json().error, 'invalid_dpop_proof');
      assert.match(replayed.headers['www-authenticate'] ?? '', /^DPoP /);

      const asBearer = await d.call({ url: '/me', headers: bearer(token) });
      assert.equal(asBearer.status, 401);
      assert.equal(asBearer.json().error, 'invalid_token');
      assert.match(asBearer.headers['www-authenticate'] ?? '', /^DPoP .*error="invalid_token"/);

      const otherKey = await d.call({
        url: '/me',
        headers: {
          authorization: `DPoP ${token}`,
          dpop: proof(proofKey(), { htm: 'GET', htu: ME_URL, nowMs: s.clock.now, accessToken: token }),
        },
      });
      assert.equal(otherKey.status, 401);
      assert.equal(otherKey.json().error, 'invalid_dpop_proof');

      const r = form({ grant_type: 'refresh_token', refresh_token: body.refresh_token });
      const stolen = await d.call({ method: 'POST', url: '/auth/token', headers: r.headers, payload: r.payload });
      assert.equal(stolen.status, 400);
      assert.equal(stolen.json().error, 'invalid_dpop_proof');
      const owner = await d.call({
        method: 'POST',
        url: '/auth/token',
        headers: { ...r.headers, dpop: proof(key, { htm: 'POST', htu: TOKEN_URL, nowMs: s.clock.now }) },
        payload: r.payload,
      });
      assert.equal(owner.status, 200, owner.text);
      assert.equal(owner.json().token_type, 'DPoP');
    });

    test('the metadata lists the proof algorithms', async () => {
      const res = await d.call({ url: '/.well-known/oauth-authorization-server' });
      assert.deepEqual(res.json().dpop_signing_alg_values_supported, ['ES256', 'EdDSA', 'Ed25519', 'RS256']);
    });
  });
}
