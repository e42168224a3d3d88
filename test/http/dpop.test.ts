/**
 * DPoP (RFC 9449) over the Fastify app: binding at the token endpoint, proofs at the protected
 * routes, and each attack of a stolen token or proof refused.
 */
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { buildApp } from '../../src/server/app.js';
import type { OneTimeRecords } from '../../src/stores/types.js';
import { ath, type ProofKey, proof, proofKey, unsignedProof } from '../support/dpop.js';
import { bearer, form, type Harness, PASSWORD, SCHEMES, setup } from './helpers.js';

const ISSUER = 'https://as.dpop.test';
const TOKEN_URL = `${ISSUER}/auth/token`;
const ME_URL = `${ISSUER}/me`;

function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] as string, 'base64url').toString()) as Record<string, unknown>;
}

async function dpopLogin(h: Harness, key: ProofKey, dpopProof?: string) {
  return h.app.inject({
    method: 'POST',
    url: '/auth/token',
    ...withHeaders(form({ grant_type: 'password', username: 'alice', password: PASSWORD }), {
      dpop: dpopProof ?? proof(key, { htm: 'POST', htu: TOKEN_URL, nowMs: h.clock.now }),
    }),
  });
}

function withHeaders<T extends { headers: Record<string, string> }>(f: T, extra: Record<string, string>): T {
  return { ...f, headers: { ...f.headers, ...extra } };
}

function me(h: Harness, token: string, dpopProof: string | undefined, url = '/me') {
  return h.app.inject({
    method: 'GET',
    url,
    headers: { authorization: `DPoP ${token}`, ...(dpopProof === undefined ? {} : { dpop: dpopProof }) },
  });
}

function meProof(h: Harness, key: ProofKey, token: string, extra: Partial<Parameters<typeof proof>[1]> = {}) {
  return proof(key, { htm: 'GET', htu: ME_URL, nowMs: h.clock.now, accessToken: token, ...extra });
}

function refreshWith(h: Harness, refreshToken: string, dpopProof?: string) {
  return h.app.inject({
    method: 'POST',
    url: '/auth/token',
    ...withHeaders(form({ grant_type: 'refresh_token', refresh_token: refreshToken }), dpopProof ? { dpop: dpopProof } : {}),
  });
}

for (const scheme of SCHEMES) {
  describe(`DPoP on the ${scheme} scheme`, () => {
    let h: Harness;
    let key: ProofKey;
    let token: string;
    let refreshToken: string;
    before(async () => {
      h = await setup({ scheme, dpop: true, app: { issuer: ISSUER } });
      key = proofKey('ES256');
      const res = await dpopLogin(h, key);
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json() as { access_token: string; token_type: string; refresh_token: string };
      assert.equal(body.token_type, 'DPoP');
      token = body.access_token;
      refreshToken = body.refresh_token;
    });
    after(() => h.close());

    test('a token request with a proof answers token_type DPoP, and the access token is bound to the key (cnf.jkt)', () => {
      if (scheme === 'jwt') assert.deepEqual(claimsOf(token).cnf, { jkt: key.jkt });
    });

    test('introspection answers cnf.jkt of a bound access token (RFC 9449 §6.2)', async () => {
      const res = await h.app.inject({ method: 'POST', url: '/auth/introspect', ...withHeaders(form({ token }), h.rs.basic) });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json().cnf, { jkt: key.jkt });
    });

    test('GET /me with Authorization: DPoP and a proof carrying ath is admitted', async () => {
      const res = await me(h, token, meProof(h, key, token));
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().sub !== undefined, true);
    });

    test('the request query is not part of htu: a proof for /me serves /me?x=1', async () => {
      const res = await me(h, token, meProof(h, key, token), '/me?x=1');
      assert.equal(res.statusCode, 200, res.body);
    });

    test('a bound access token presented as Bearer is refused: 401 invalid_token with a DPoP challenge', async () => {
      const res = await h.app.inject({ method: 'GET', url: '/me', headers: bearer(token) });
      assert.equal(res.statusCode, 401);
      assert.equal(res.json().error, 'invalid_token');
      assert.match(res.headers['www-authenticate'] as string, /^DPoP realm="tessera", error="invalid_token"/);
    });

    test('a bound access token with a proof by another key is refused: 401 invalid_dpop_proof', async () => {
      const res = await me(h, token, meProof(h, proofKey('ES256'), token));
      assert.equal(res.statusCode, 401);
      assert.equal(res.json().error, 'invalid_dpop_proof');
      assert.match(res.headers['www-authenticate'] as string, /^DPoP .*error="invalid_dpop_proof"/);
    });

    test('the refresh token of a public client, refreshed without the key, is refused and not consumed; the owner refreshes after', async () => {
      const stolen = await refreshWith(h, refreshToken);
      assert.equal(stolen.statusCode, 400);
      assert.equal(stolen.json().error, 'invalid_dpop_proof');
      const attacker = await refreshWith(h, refreshToken, proof(proofKey(), { htm: 'POST', htu: TOKEN_URL, nowMs: h.clock.now }));
      assert.equal(attacker.statusCode, 400);
      assert.equal(attacker.json().error, 'invalid_dpop_proof');
      const owner = await refreshWith(h, refreshToken, proof(key, { htm: 'POST', htu: TOKEN_URL, nowMs: h.clock.now }));
      assert.equal(owner.statusCode, 200, owner.body);
      const body = owner.json() as { access_token: string; token_type: string; refresh_token: string };
      assert.equal(body.token_type, 'DPoP');
      if (scheme === 'jwt') assert.deepEqual(claimsOf(body.access_token).cnf, { jkt: key.jkt });
      const use = await me(h, body.access_token, meProof(h, key, body.access_token));
      assert.equal(use.statusCode, 200);
      refreshToken = body.refresh_token;
    });
  });
}

describe('DPoP proofs refused (RFC 9449 §4.3, §11.1)', () => {
  let h: Harness;
  let key: ProofKey;
  let token: string;
  before(async () => {
    h = await setup({ dpop: true, app: { issuer: ISSUER } });
    key = proofKey('EdDSA');
    const res = await dpopLogin(h, key);
    assert.equal(res.statusCode, 200, res.body);
    token = res.json().access_token;
  });
  after(() => h.close());

  const refusedAtMe = async (p: string) => {
    const res = await me(h, token, p);
    assert.equal(res.statusCode, 401, res.body);
    assert.equal(res.json().error, 'invalid_dpop_proof');
  };
  const refusedAtToken = async (p: string) => {
    const res = await dpopLogin(h, key, p);
    assert.equal(res.statusCode, 400, res.body);
    assert.equal(res.json().error, 'invalid_dpop_proof');
  };

  test('EdDSA proofs are accepted', async () => {
    assert.equal((await me(h, token, meProof(h, key, token))).statusCode, 200);
  });

  test('a replayed proof is refused the second time', async () => {
    const p = meProof(h, key, token);
    assert.equal((await me(h, token, p)).statusCode, 200);
    await refusedAtMe(p);
  });

  test('a proof replayed on a second instance sharing the store is refused', async () => {
    const second = buildApp({
      tokens: h.tokens,
      users: h.users,
      clients: h.clients,
      scope: 'api',
      log: false,
      rateLimit: false,
      issuer: ISSUER,
      dpop: { records: h.store as unknown as OneTimeRecords, clock: () => h.clock.now },
    });
    await second.ready();
    try {
      const p = meProof(h, key, token);
      assert.equal((await me(h, token, p)).statusCode, 200);
      const again = await second.inject({ method: 'GET', url: '/me', headers: { authorization: `DPoP ${token}`, dpop: p } });
      assert.equal(again.statusCode, 401);
      assert.equal(again.json().error, 'invalid_dpop_proof');
    } finally {
      await second.close();
    }
  });

  test('a request without a proof is refused', async () => {
    await refusedAtMe('');
    const res = await me(h, token, undefined);
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().error, 'invalid_dpop_proof');
  });

  test('htu naming another host is refused', () => refusedAtMe(meProof(h, key, token, { htu: 'https://evil.test/me' })));
  test('htu with a query is refused (§4.2: htu has none)', () => refusedAtMe(meProof(h, key, token, { htu: `${ME_URL}?x=1` })));
  test('htu with a fragment is refused', () => refusedAtMe(meProof(h, key, token, { htu: `${ME_URL}#f` })));
  test('htu with a trailing slash is refused', () => refusedAtMe(meProof(h, key, token, { htu: `${ME_URL}/` })));
  test('htu compares scheme and host case-insensitively, the default port dropped', async () => {
    const res = await me(h, token, meProof(h, key, token, { htu: 'HTTPS://AS.dpop.test:443/me' }));
    assert.equal(res.statusCode, 200, res.body);
  });
  test('htm of another method is refused', () => refusedAtMe(meProof(h, key, token, { htm: 'POST' })));
  test('iat far in the past is refused', () =>
    refusedAtMe(meProof(h, key, token, { iat: Math.floor(h.clock.now / 1000) - 120 })));
  test('iat far in the future is refused', () =>
    refusedAtMe(meProof(h, key, token, { iat: Math.floor(h.clock.now / 1000) + 120 })));
  test('a proof without ath, or with the ath of another token, is refused', async () => {
    await refusedAtMe(proof(key, { htm: 'GET', htu: ME_URL, nowMs: h.clock.now }));
    await refusedAtMe(proof(key, { htm: 'GET', htu: ME_URL, nowMs: h.clock.now, claims: { ath: ath('another') } }));
  });

  test('a proof whose jwk carries the private key is refused', () =>
    refusedAtToken(
      proof(key, {
        htm: 'POST',
        htu: TOKEN_URL,
        nowMs: h.clock.now,
        header: { jwk: { ...key.jwk, d: key.privateKey.export({ format: 'jwk' }).d } },
      }),
    ));
  test('an unsigned proof (alg none) is refused', () =>
    refusedAtToken(unsignedProof(key, { htm: 'POST', htu: TOKEN_URL, nowMs: h.clock.now })));
  test('an HS256 proof is refused', async () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const k = Buffer.alloc(32, 1);
    const input = `${b64({ typ: 'dpop+jwt', alg: 'HS256', jwk: { kty: 'oct', k: k.toString('base64url') } })}.${b64({
      jti: randomUUID(),
      htm: 'POST',
      htu: TOKEN_URL,
      iat: Math.floor(h.clock.now / 1000),
    })}`;
    await refusedAtToken(`${input}.${createHmac('sha256', k).update(input).digest('base64url')}`);
    // The same MAC under a public key's header is no signature either.
    const input2 = `${b64({ typ: 'dpop+jwt', alg: 'HS256', jwk: key.jwk })}.${b64({ jti: randomUUID(), htm: 'POST', htu: TOKEN_URL, iat: 1 })}`;
    await refusedAtToken(`${input2}.${createHmac('sha256', k).update(input2).digest('base64url')}`);
  });
  test('a proof without typ dpop+jwt is refused', () =>
    refusedAtToken(proof(key, { htm: 'POST', htu: TOKEN_URL, nowMs: h.clock.now, header: { typ: 'JWT' } })));
  test('a proof with a bad signature, or a signature not canonically encoded, is refused', async () => {
    const p = proof(key, { htm: 'POST', htu: TOKEN_URL, nowMs: h.clock.now });
    const at = p.length - 10;
    await refusedAtToken(`${p.slice(0, at)}${p[at] === 'A' ? 'B' : 'A'}${p.slice(at + 1)}`);
    // 64 bytes in 86 symbols: the last symbol's low four bits are unused and must be zero.
    const q = proof(key, { htm: 'POST', htu: TOKEN_URL, nowMs: h.clock.now });
    const last = q.at(-1) as string;
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    await refusedAtToken(`${q.slice(0, -1)}${alphabet[alphabet.indexOf(last) + 1]}`);
  });
  test('the token endpoint checks htu against the issuer, never Host', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/auth/token',
      ...withHeaders(form({ grant_type: 'password', username: 'alice', password: PASSWORD }), {
        host: 'evil.test',
        dpop: proof(key, { htm: 'POST', htu: 'https://evil.test/auth/token', nowMs: h.clock.now }),
      }),
    });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error, 'invalid_dpop_proof');
  });
});

describe('DPoP at the edges', () => {
  let h: Harness;
  before(async () => {
    h = await setup({ dpop: true, app: { issuer: ISSUER } });
  });
  after(() => h.close());

  test('the metadata lists dpop_signing_alg_values_supported', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' });
    assert.deepEqual(res.json().dpop_signing_alg_values_supported, ['ES256', 'EdDSA', 'Ed25519', 'RS256']);
  });

  test('a request without a credential is challenged with both schemes (RFC 9449 §7.1)', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/me' });
    assert.equal(res.statusCode, 401);
    assert.equal(
      res.headers['www-authenticate'],
      'Bearer realm="tessera", DPoP realm="tessera", algs="ES256 EdDSA Ed25519 RS256"',
    );
  });

  test('"DPoP" without a token, or with a token that is no token68, is a malformed request (400)', async () => {
    for (const authorization of ['DPoP', 'DPoP ', 'DPoP a b', 'DPoP "x"']) {
      const res = await h.app.inject({ method: 'GET', url: '/me', headers: { authorization } });
      assert.equal(res.statusCode, 400, authorization);
      assert.equal(res.json().error, 'invalid_request');
    }
  });

  test('a token request without a proof answers Bearer tokens, usable as Bearer', async () => {
    const body = await h.login();
    assert.equal(body.token_type, 'Bearer');
    assert.equal((await h.app.inject({ method: 'GET', url: '/me', headers: bearer(body.access_token) })).statusCode, 200);
  });

  test('an unbound token presented with the DPoP scheme and a valid proof is admitted (RFC 9449 §7.2 leaves it to the resource)', async () => {
    const body = await h.login();
    const key = proofKey();
    const res = await me(h, body.access_token, meProof(h, key, body.access_token));
    assert.equal(res.statusCode, 200, res.body);
    assert.equal((await me(h, body.access_token, undefined)).statusCode, 401);
  });

  test('a client registered with --dpop must send a proof: 400 invalid_dpop_proof without one', async () => {
    await h.clients.add('spa-dpop', { dpop: true });
    const res = await h.app.inject({
      method: 'POST',
      url: '/auth/token',
      ...form({ grant_type: 'password', username: 'alice', password: PASSWORD, client_id: 'spa-dpop' }),
    });
    assert.equal(res.statusCode, 400, res.body);
    assert.equal(res.json().error, 'invalid_dpop_proof');
    const key = proofKey();
    const ok = await h.app.inject({
      method: 'POST',
      url: '/auth/token',
      ...withHeaders(form({ grant_type: 'password', username: 'alice', password: PASSWORD, client_id: 'spa-dpop' }), {
        dpop: proof(key, { htm: 'POST', htu: TOKEN_URL, nowMs: h.clock.now }),
      }),
    });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal(ok.json().token_type, 'DPoP');
  });
});

describe('DPoP server nonces (RFC 9449 §8)', () => {
  let h: Harness;
  before(async () => {
    h = await setup({ dpop: { nonce: { key: Buffer.alloc(32, 3), stepSeconds: 60 } }, app: { issuer: ISSUER } });
  });
  after(() => h.close());

  test('a proof without the nonce gets 400 use_dpop_nonce and a DPoP-Nonce; with it the token is issued, with the next nonce', async () => {
    const key = proofKey();
    const first = await dpopLogin(h, key);
    assert.equal(first.statusCode, 400);
    assert.equal(first.json().error, 'use_dpop_nonce');
    const nonce = first.headers['dpop-nonce'] as string;
    assert.match(nonce, /^[a-z0-9]+\.[A-Za-z0-9_-]{24}$/);
    const ok = await dpopLogin(h, key, proof(key, { htm: 'POST', htu: TOKEN_URL, nowMs: h.clock.now, claims: { nonce } }));
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal(ok.headers['dpop-nonce'], nonce);
    const token = ok.json().access_token as string;

    const missing = await me(h, token, meProof(h, key, token));
    assert.equal(missing.statusCode, 401);
    assert.equal(missing.json().error, 'use_dpop_nonce');
    assert.match(missing.headers['www-authenticate'] as string, /^DPoP .*error="use_dpop_nonce"/);
    assert.equal(missing.headers['dpop-nonce'], nonce);
    assert.equal((await me(h, token, meProof(h, key, token, { claims: { nonce } }))).statusCode, 200);

    // Good for the current and the previous step only; a made-up nonce never.
    h.clock.now += 60_000;
    assert.equal((await me(h, token, meProof(h, key, token, { claims: { nonce } }))).statusCode, 200);
    h.clock.now += 60_000;
    assert.equal((await me(h, token, meProof(h, key, token, { claims: { nonce } }))).statusCode, 401);
    const forged = `${nonce.split('.')[0]}.${'A'.repeat(24)}`;
    assert.equal((await me(h, token, meProof(h, key, token, { claims: { nonce: forged } }))).statusCode, 401);
  });
});

describe('DPoP off', () => {
  test('a DPoP header is ignored (Bearer tokens), the metadata lists no DPoP algorithms, and a --dpop client is refused', async () => {
    const h = await setup({ app: { issuer: ISSUER } });
    try {
      const key = proofKey();
      const res = await dpopLogin(h, key);
      assert.equal(res.json().token_type, 'Bearer');
      const meta = await h.app.inject({ method: 'GET', url: '/.well-known/oauth-authorization-server' });
      assert.equal(meta.json().dpop_signing_alg_values_supported, undefined);
      await h.clients.add('spa-dpop', { dpop: true });
      const refused = await h.app.inject({
        method: 'POST',
        url: '/auth/token',
        ...form({ grant_type: 'password', username: 'alice', password: PASSWORD, client_id: 'spa-dpop' }),
      });
      assert.equal(refused.statusCode, 400);
      assert.equal(refused.json().error, 'invalid_dpop_proof');
    } finally {
      await h.close();
    }
  });
});
