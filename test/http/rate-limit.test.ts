/** Rate limits of the credential endpoints: 429 with an RFC 6749-shaped body and Retry-After. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { bearer, type Harness, PASSWORD, setup } from './helpers.js';

describe('rate limit', () => {
  let h: Harness;
  before(async () => {
    h = await setup({ app: { rateLimit: { max: 3, windowSeconds: 60 } } });
  });
  after(() => h.close());

  test('the password grant is limited per client: the 4th attempt in the window is a 429', async () => {
    const attempt = () =>
      h.app.inject({
        method: 'POST',
        url: '/auth/token',
        payload: { grant_type: 'password', username: 'alice', password: 'wrong-guess' },
      });
    for (let i = 0; i < 3; i++) assert.equal((await attempt()).statusCode, 400);
    const res = await attempt();
    assert.equal(res.statusCode, 429);
    assert.equal(res.json().error, 'slow_down');
    assert.equal(typeof res.json().error_description, 'string');
    assert.ok(Number(res.headers['retry-after']) > 0);
    assert.equal(res.headers['cache-control'], 'no-store');
    // Another client address has its own budget.
    const other = await h.app.inject({
      method: 'POST',
      url: '/auth/token',
      remoteAddress: '10.1.2.3',
      payload: { grant_type: 'password', username: 'alice', password: PASSWORD },
    });
    assert.equal(other.statusCode, 200);
  });

  test('the refresh path is limited; protected routes are not', async () => {
    const t = await h.tokens.issue({ sub: 'rl' });
    const addr = '10.9.9.9';
    let last = 0;
    for (let i = 0; i < 4; i++) {
      last = (await h.app.inject({ method: 'POST', url: '/auth/refresh', remoteAddress: addr, payload: { refresh_token: 'x' } }))
        .statusCode;
    }
    assert.equal(last, 429);
    for (let i = 0; i < 10; i++) {
      const me = await h.app.inject({ url: '/me', remoteAddress: addr, headers: bearer(t.accessToken) });
      assert.equal(me.statusCode, 200);
    }
  });
});
