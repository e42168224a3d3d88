/**
 * A store outage against a real server: a private redis-server is killed under
 * a running tessera. Every stateful call must answer 503 with Retry-After
 * (fail closed), and the server must recover when Redis is back.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { call, freePort, onExit, PASSWORD, runCli, type ServerProcess, serverEnv, startServer } from '../support/processes.js';
import { E2E } from './helpers.js';

const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0;

async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  onExit(() => child.kill('SIGKILL'));
  for (let i = 0; i < 50; i++) {
    if (
      spawnSync('redis-cli', ['-p', String(port), 'ping'])
        .stdout?.toString()
        .startsWith('PONG')
    )
      return child;
    await sleep(100);
  }
  throw new Error('redis-server did not start');
}

// On CI (CI=true) a missing redis-server is a failure, never a skip.
const skip = hasRedisServer || process.env.CI === 'true' ? false : 'no redis-server binary';

describe('store outage (a redis-server killed under the server)', { skip }, () => {
  let redis: ChildProcess;
  let port: number;
  let srv: ServerProcess;

  before(async () => {
    port = await freePort();
    redis = await startRedis(port);
    const env = serverEnv(E2E, { TESSERA_SCHEME: 'opaque', TESSERA_STORE: `redis://127.0.0.1:${port}` });
    const created = await runCli(E2E, ['user', 'add', 'alice'], env, PASSWORD);
    assert.equal(created.code, 0, created.stderr);
    srv = await startServer(E2E, env);
  });
  after(async () => {
    await srv?.stop();
    redis?.kill('SIGKILL');
  });

  test('503 + Retry-After on every stateful endpoint, then recovery', async () => {
    const login = await call(srv.url, 'POST', '/auth/token', {
      form: { grant_type: 'password', username: 'alice', password: PASSWORD },
    });
    assert.equal(login.status, 200);
    const t = login.json as { access_token: string; refresh_token: string };

    redis.kill('SIGKILL');
    await new Promise((r) => redis.once('exit', r));

    const checks: [string, () => ReturnType<typeof call>][] = [
      ['ready', () => call(srv.url, 'GET', '/ready')],
      ['refresh', () => call(srv.url, 'POST', '/auth/refresh', { json: { refresh_token: t.refresh_token } })],
      [
        'refresh grant',
        () => call(srv.url, 'POST', '/auth/token', { form: { grant_type: 'refresh_token', refresh_token: t.refresh_token } }),
      ],
      [
        'login',
        () => call(srv.url, 'POST', '/auth/token', { form: { grant_type: 'password', username: 'alice', password: PASSWORD } }),
      ],
      ['/me (opaque: looked up)', () => call(srv.url, 'GET', '/me', { token: t.access_token })],
      ['revoke', () => call(srv.url, 'POST', '/auth/revoke', { form: { token: t.refresh_token } })],
      ['logout', () => call(srv.url, 'POST', '/auth/logout', { json: { refresh_token: t.refresh_token } })],
    ];
    for (const [name, run] of checks) {
      const res = await run();
      assert.equal(res.status, 503, `${name}: ${res.status} ${res.text}`);
      assert.equal(res.headers['retry-after'], '5', name);
      assert.equal(res.json.error, 'temporarily_unavailable', name);
    }
    assert.equal((await call(srv.url, 'GET', '/health')).status, 200, 'liveness does not depend on the store');

    // Redis back (empty: it kept nothing): the server reconnects by itself.
    redis = await startRedis(port);
    let ready = 0;
    for (let i = 0; i < 50 && ready !== 200; i++) {
      ready = (await call(srv.url, 'GET', '/ready')).status;
      if (ready !== 200) await sleep(100);
    }
    assert.equal(ready, 200);
    // The data did not survive the restart: the old tokens are refused, not accepted.
    const me = await call(srv.url, 'GET', '/me', { token: t.access_token });
    assert.equal(me.status, 401);
  });
});
