/**
 * PostgreSQL away under a running `tessera serve` (TESSERA_STORE=postgres://...), simulated
 * by a TCP proxy between the server and the shared PostgreSQL (which must never be
 * stopped): during the outage every stateful endpoint answers 503 with Retry-After (fail
 * closed, no 500, no logout); once the proxy forwards again, the same process recovers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { dropSchema, postgresThroughProxy, postgresUnavailable, skipUnlessAvailable, uniqueSchema } from '../stores/harness.js';
import type { TcpProxy } from '../stores/tcp-proxy.js';
import { call, PASSWORD, type ServerProcess, serverEnv, startServer } from '../support/processes.js';
import { addUsers, login, RELIABILITY, waitFor } from './support.js';

const skip = skipUnlessAvailable(await postgresUnavailable());

describe('PostgreSQL outage under a running server: 503 + Retry-After, then recovery', skip, () => {
  let proxy: TcpProxy;
  let srv: ServerProcess;
  const schema = uniqueSchema('srvout');

  before(async () => {
    const through = await postgresThroughProxy(schema);
    proxy = through.proxy;
    const env = serverEnv(RELIABILITY, { TESSERA_SCHEME: 'opaque', TESSERA_STORE: through.store });
    await addUsers(env, ['alice']);
    srv = await startServer(RELIABILITY, env);
  });
  after(async () => {
    await srv?.kill();
    await proxy?.close();
    await dropSchema(schema);
  });

  for (const [name, cut] of [
    ['refused', (p: TcpProxy) => p.refuse()],
    ['hung (black hole)', (p: TcpProxy) => p.blackhole()],
  ] as const) {
    test(`server ${name}: refresh, login, /me, /ready answer 503 + Retry-After; restored: 200 again`, async () => {
      const t = await login(srv.url, 'alice');
      cut(proxy);
      const checks = [
        () => call(srv.url, 'POST', '/auth/refresh', { json: { refresh_token: t.refresh_token } }),
        () => call(srv.url, 'POST', '/auth/token', { form: { grant_type: 'password', username: 'alice', password: PASSWORD } }),
        () => call(srv.url, 'GET', '/me', { token: t.access_token }),
        () => call(srv.url, 'GET', '/ready'),
      ];
      for (const run of checks) {
        const t0 = Date.now();
        const res = await run();
        assert.equal(res.status, 503, res.text);
        assert.ok(res.headers['retry-after'], 'Retry-After');
        assert.ok(Date.now() - t0 < 5000, `answered within the timeouts (${Date.now() - t0} ms)`);
      }
      proxy.restore();
      await waitFor(async () => (await call(srv.url, 'GET', '/ready')).status === 200, 10_000, 'ready again');
      const r = await call(srv.url, 'POST', '/auth/refresh', { json: { refresh_token: t.refresh_token } });
      assert.equal(r.status, 200, `the token refused during the outage still refreshes: ${r.text}`);
    });
  }
});
