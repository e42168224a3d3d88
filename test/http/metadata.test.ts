/**
 * RFC 8414 metadata of the library's routes and adapters: the issuer is the routes' `issuer`
 * option or the token service's, never the request's Host; with neither, no document at all.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generateSecret } from '../../src/keys.js';
import { createTokenService } from '../../src/refresh/service.js';
import { ADAPTERS, type Driver, driver, type Shared, shared } from '../conformance/adapters.js';

const PATH = '/.well-known/oauth-authorization-server';

for (const name of ADAPTERS) {
  describe(`metadata issuer: ${name}`, () => {
    let s: Shared;
    before(async () => {
      s = await shared();
    });
    after(() => s.close());

    test('no issuer on the token service nor the routes: 404 not_found, whatever the Host says', async () => {
      const tokens = createTokenService({ secret: generateSecret(), store: s.store });
      const d: Driver = await driver(name, { ...s, tokens });
      try {
        const variants: Record<string, string>[] = [{}, { host: 'evil.example' }, { 'x-forwarded-host': 'evil.example' }];
        for (const headers of variants) {
          const res = await d.call({ url: PATH, headers });
          assert.equal(res.status, 404, res.text);
          assert.equal(res.json().error, 'not_found');
          assert.ok(!res.text.includes('evil.example'));
        }
      } finally {
        await d.close();
        tokens.close();
      }
    });
  });
}
