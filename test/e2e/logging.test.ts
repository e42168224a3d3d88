/**
 * With every log line on (trace level, request logging, cookie mode), a full
 * flow leaves no token, password, cookie or secret in the server's output.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { call, type Res, serverEnv, startServer } from '../support/processes.js';
import { E2E } from './helpers.js';

test('no token, password or secret in the logs of a full flow', async () => {
  const env = serverEnv(E2E, {
    TESSERA_STORE: 'memory',
    TESSERA_LOG_LEVEL: 'trace',
    TESSERA_LOG_REQUESTS: '1',
    TESSERA_ALLOW_REGISTER: '1',
    TESSERA_COOKIE_MODE: '1',
  });
  const srv = await startServer(E2E, env);
  const url = srv.url;
  const secrets = new Set<string>([env.TESSERA_SECRET as string]);
  const remember = (...values: unknown[]) => {
    for (const v of values) if (typeof v === 'string' && v.length >= 8) secrets.add(v);
  };
  const setCookies = (res: Res) => {
    const jar: Record<string, string> = {};
    for (const c of res.headers['set-cookie'] ?? []) {
      const [pair] = c.split(';');
      const i = (pair as string).indexOf('=');
      jar[(pair as string).slice(0, i)] = (pair as string).slice(i + 1);
    }
    return jar;
  };
  try {
    const password = 'Pw-for-the-log-test-1';
    const wrong = 'Wrong-pw-for-the-log-test-2';
    const inJunk = 'Pw-in-broken-json-3';
    remember(password, wrong, inJunk);

    assert.equal((await call(url, 'POST', '/auth/register', { json: { username: 'logger', password } })).status, 201);
    assert.equal(
      (await call(url, 'POST', '/auth/token', { form: { grant_type: 'password', username: 'logger', password: wrong } })).status,
      400,
    );
    const login = await call(url, 'POST', '/auth/token', { form: { grant_type: 'password', username: 'logger', password } });
    assert.equal(login.status, 200);
    let jar = setCookies(login);
    remember(login.json.access_token, jar['__Secure-tessera_rt'], jar['__Host-tessera_csrf']);

    const cookie = () => `__Secure-tessera_rt=${jar['__Secure-tessera_rt']}; __Host-tessera_csrf=${jar['__Host-tessera_csrf']}`;
    const access = String(login.json.access_token);
    assert.equal((await call(url, 'GET', '/me', { token: access })).status, 200);
    const viaCookie = await call(url, 'POST', '/auth/refresh', {
      headers: { cookie: cookie(), 'x-csrf-token': jar['__Host-tessera_csrf'] as string },
    });
    assert.equal(viaCookie.status, 200);
    jar = setCookies(viaCookie);
    remember(viaCookie.json.access_token, jar['__Secure-tessera_rt'], jar['__Host-tessera_csrf']);

    // The OAuth refresh grant with the cookie's token returns it in the body.
    const grant = await call(url, 'POST', '/auth/token', {
      form: { grant_type: 'refresh_token', refresh_token: jar['__Secure-tessera_rt'] as string },
    });
    assert.equal(grant.status, 200);
    remember(grant.json.access_token, grant.json.refresh_token);
    const rt = String(grant.json.refresh_token);
    const at = String(grant.json.access_token);

    await call(url, 'POST', '/auth/introspect', { token: at, json: { token: rt } });
    // A replay (reuse detection logs a warning): the token must not be in it.
    await call(url, 'POST', '/auth/refresh', { json: { refresh_token: jar['__Secure-tessera_rt'] } });
    await call(url, 'POST', '/auth/revoke', { form: { token: rt } });
    await call(url, 'POST', '/auth/logout', { json: { refresh_token: rt } });
    await fetch(`${url}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"grant_type":"password","password":"${inJunk}`,
    });
    await call(url, 'GET', `/me?access_token=${at}`);
    await call(url, 'GET', '/me', { token: `${at}tampered` });
    await call(url, 'POST', '/auth/logout-all', { token: at });
    // Every JWT part that is secret-bearing: the signature of each issued token.
    for (const s of [...secrets]) if (s.split('.').length === 3) remember(s.split('.')[2]);
  } finally {
    assert.equal(await srv.stop(), 0);
  }
  const { stdout, stderr } = srv.output();
  const log = stdout + stderr;
  assert.match(log, /"msg":"incoming request"/, 'request logging was on');
  assert.match(log, /"level":(10|20)/, 'trace/debug lines were written');
  for (const s of secrets) {
    assert.ok(!log.includes(s), `the log contains a secret value (${s.slice(0, 6)}...)`);
  }
  assert.ok(!/authorization/i.test(log) || !/Bearer /.test(log), 'no Authorization header');
  assert.ok(!/set-cookie|"cookie"/i.test(log), 'no cookies');
});
