/**
 * `tessera-auth/client` with `dpop: true` against the app on a real socket: a non-extractable
 * P-256 key signs the proofs of the login, the refresh and the calls of `client.fetch`; a
 * server nonce is taken and retried with once.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createClient, type FetchLike } from '../../src/client/index.js';
import { type Harness, PASSWORD, setup } from '../http/helpers.js';

function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] as string, 'base64url').toString()) as Record<string, unknown>;
}

async function serve(nonce: boolean): Promise<{ h: Harness; base: string }> {
  let base = '';
  const h = await setup({
    dpop: nonce ? { nonce: { key: Buffer.alloc(32, 9) } } : true,
    app: { issuer: () => base },
  });
  h.clock.now = Date.now();
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
  return { h, base };
}

for (const nonce of [false, true]) {
  describe(`tessera-auth/client dpop: true${nonce ? ', server nonces on' : ''}`, () => {
    let h: Harness;
    let base: string;
    before(async () => {
      ({ h, base } = await serve(nonce));
    });
    after(() => h.close());

    test('login, fetch and refresh are DPoP-bound to one key; the tokens are useless as Bearer', async () => {
      h.clock.now = Date.now();
      const seen: { url: string; dpop: string | null; authorization: string | null; status: number }[] = [];
      const fetch: FetchLike = async (url, init) => {
        const res = await globalThis.fetch(url, init);
        const headers = new Headers(init?.headers);
        seen.push({ url, dpop: headers.get('dpop'), authorization: headers.get('authorization'), status: res.status });
        return res;
      };
      const client = createClient({ baseUrl: base, fetch, dpop: true, locks: null, channel: null });
      const session = await client.login('alice', PASSWORD);
      assert.equal(session.tokenType, 'DPoP');
      const jkt = (claimsOf(session.accessToken).cnf as { jkt: string }).jkt;
      assert.equal(typeof jkt, 'string');
      const me = await client.fetch('/me');
      assert.equal(me.status, 200);
      assert.match(seen.at(-1)?.authorization ?? '', /^DPoP /);
      const header = JSON.parse(Buffer.from((seen.at(-1)?.dpop ?? '').split('.')[0] as string, 'base64url').toString());
      assert.equal(header.typ, 'dpop+jwt');
      assert.equal(header.alg, 'ES256');
      assert.equal(header.jwk.d, undefined);
      const next = await client.refresh();
      assert.equal(next.tokenType, 'DPoP');
      assert.deepEqual(claimsOf(next.accessToken).cnf, { jkt });
      assert.equal((await client.fetch('/me')).status, 200);
      const asBearer = await globalThis.fetch(`${base}/me`, { headers: { authorization: `Bearer ${next.accessToken}` } });
      assert.equal(asBearer.status, 401);
      if (nonce)
        assert.ok(
          seen.some((s) => s.status === 400 || s.status === 401),
          'a nonce was asked for and retried',
        );
      // RFC 9449 §10: the authorization request names the same key.
      const request = await client.authorize({ redirectUri: 'https://app.example/cb' });
      assert.equal(new URL(request.url).searchParams.get('dpop_jkt'), jkt);
      client.close();
    });
  });
}
