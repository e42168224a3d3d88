/**
 * Authorization code binding to a DPoP key (RFC 9449 §10) on every adapter: `dpop_jkt` at
 * /authorize binds the code; the token request must carry a proof by that key, else
 * `invalid_grant` and the code is spent; a malformed `dpop_jkt` is `invalid_request` at the
 * redirect URI. A proof with an unbound code binds the tokens as at any grant.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { form } from '../http/helpers.js';
import { proof, proofKey } from '../support/dpop.js';
import { hiddenFields, Jar, pkce, registerSpa, spaAuthorizeQuery } from '../support/forms.js';
import { ADAPTERS, type Answer, type Driver, driver, ISSUER, PASSWORD, type Shared, shared } from './adapters.js';

const CB = 'https://app.example/cb';
const TOKEN_URL = `${ISSUER}/auth/token`;

for (const name of ADAPTERS) {
  describe(`dpop_jkt at the authorization endpoint (RFC 9449 §10): ${name}`, () => {
    let s: Shared;
    let d: Driver;
    const jar = new Jar();
    before(async () => {
      s = await shared();
      await registerSpa(s.store, CB);
      d = await driver(name, s, { authorize: true, dpop: true });
    });
    after(async () => {
      await d.close();
      await s.close();
    });

    async function call(c: Parameters<Driver['call']>[0]): Promise<Answer> {
      const res = await d.call({ ...c, headers: { ...c.headers, ...jar.header() } });
      jar.take(res.setCookies);
      return res;
    }

    const query = (challenge: string, extra: Record<string, string>) => spaAuthorizeQuery(CB, challenge, extra);

    /** The redirect of an authorization request: through the login page the first time, then the browser session. */
    async function authorize(extra: Record<string, string>): Promise<{ url: URL; verifier: string }> {
      const { verifier, challenge } = pkce();
      let res = await call({ url: query(challenge, extra) });
      if (res.status === 200)
        res = await call({
          method: 'POST',
          url: '/authorize',
          ...form({ ...hiddenFields(res.text), username: 'alice', password: PASSWORD }),
        });
      assert.ok(res.status === 302 || res.status === 303, res.text);
      return { url: new URL(res.headers.location ?? ''), verifier };
    }

    function exchange(code: string, verifier: string, dpop?: string): Promise<Answer> {
      const f = form({ grant_type: 'authorization_code', code, redirect_uri: CB, code_verifier: verifier, client_id: 'spa' });
      return d.call({
        method: 'POST',
        url: '/auth/token',
        headers: { ...f.headers, ...(dpop ? { dpop } : {}) },
        payload: f.payload,
      });
    }

    const proofBy = (key: ReturnType<typeof proofKey>) => proof(key, { htm: 'POST', htu: TOKEN_URL, nowMs: s.clock.now });

    test('a code bound to a key is exchanged with a proof by that key: the tokens are bound to it', async () => {
      const key = proofKey();
      const { url, verifier } = await authorize({ dpop_jkt: key.jkt });
      assert.equal(url.searchParams.get('state'), 'xyz');
      const res = await exchange(url.searchParams.get('code') ?? '', verifier, proofBy(key));
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json().token_type, 'DPoP');
      const r = form({ grant_type: 'refresh_token', refresh_token: String(res.json().refresh_token), client_id: 'spa' });
      const refreshed = await d.call({
        method: 'POST',
        url: '/auth/token',
        headers: { ...r.headers, dpop: proofBy(key) },
        payload: r.payload,
      });
      assert.equal(refreshed.status, 200, refreshed.text);
    });

    test('without a proof, or with a proof by another key: invalid_grant, and the code is spent', async () => {
      const key = proofKey();
      for (const presented of [undefined, proofKey()]) {
        const { url, verifier } = await authorize({ dpop_jkt: key.jkt });
        const code = url.searchParams.get('code') ?? '';
        const refused = await exchange(code, verifier, presented ? proofBy(presented) : undefined);
        assert.equal(refused.status, 400, refused.text);
        assert.equal(refused.json().error, 'invalid_grant');
        assert.match(String(refused.json().error_description), /dpop_jkt/);
        const late = await exchange(code, verifier, proofBy(key));
        assert.equal(late.json().error, 'invalid_grant', 'the code was consumed by the refused request');
      }
    });

    test('a malformed dpop_jkt is invalid_request at the redirect URI', async () => {
      for (const bad of ['short', `${proofKey().jkt}=`, `${'A'.repeat(42)}+`]) {
        const res = await call({ url: query(pkce().challenge, { dpop_jkt: bad }) });
        assert.equal(res.status, 302, res.text);
        const url = new URL(res.headers.location ?? '');
        assert.equal(`${url.origin}${url.pathname}`, CB);
        assert.equal(url.searchParams.get('error'), 'invalid_request');
        assert.equal(url.searchParams.get('state'), 'xyz');
      }
    });

    test('an unbound code with a proof: the proof binds the tokens; without one they are Bearer', async () => {
      const key = proofKey();
      const bound = await authorize({});
      const withProof = await exchange(bound.url.searchParams.get('code') ?? '', bound.verifier, proofBy(key));
      assert.equal(withProof.json().token_type, 'DPoP');
      const plain = await authorize({});
      const bearer = await exchange(plain.url.searchParams.get('code') ?? '', plain.verifier);
      assert.equal(bearer.status, 200, bearer.text);
      assert.equal(bearer.json().token_type, 'Bearer');
    });
  });
}
