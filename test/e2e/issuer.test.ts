/**
 * One issuer (DESIGN "One issuer"): `tessera serve` processes on different ports, one store
 * (a shared SQLite file, and Redis when one answers) and one TESSERA_ISSUER, with
 * NODE_ENV=production: tokens issued by one instance refresh on the other, and after a restart
 * on another port; every instance serves the same metadata. Real processes, real sockets.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { call, PASSWORD, runCli, type ServerProcess, serverEnv, startServer, tempDir } from '../support/processes.js';
import { E2E, REDIS_URL, redisAvailable } from './helpers.js';

const ISSUER = 'https://auth.example.test';

async function login(url: string): Promise<Record<string, string>> {
  const res = await call(url, 'POST', '/auth/token', {
    form: { grant_type: 'password', username: 'alice', password: PASSWORD },
  });
  assert.equal(res.status, 200, res.text);
  return res.json;
}

async function refreshAt(url: string, refreshToken: string): Promise<Record<string, string>> {
  const res = await call(url, 'POST', '/auth/refresh', { json: { refresh_token: refreshToken } });
  assert.equal(res.status, 200, `refresh at ${url}: ${res.text}`);
  return res.json;
}

function storeCases(): {
  name: string;
  env: () => Record<string, string>;
  skip: string | false;
  cleanup?: (env: Record<string, string>) => Promise<void>;
}[] {
  return [
    { name: 'a shared SQLite file', env: () => ({ TESSERA_STORE: `sqlite:${join(tempDir(), 'tessera.db')}` }), skip: false },
    {
      name: 'Redis',
      env: () => ({ TESSERA_STORE: REDIS_URL, TESSERA_REDIS_PREFIX: `tessera-e2e-issuer:${randomUUID()}:` }),
      skip: false,
      cleanup: (env) => deletePrefix(env.TESSERA_REDIS_PREFIX as string),
    },
  ];
}

const redisUp = await redisAvailable();

for (const store of storeCases()) {
  const skip = store.name === 'Redis' && !redisUp && process.env.CI !== 'true' ? `no Redis at ${REDIS_URL}` : false;
  describe(`one TESSERA_ISSUER on ${store.name}, NODE_ENV=production`, { skip }, () => {
    const running: ServerProcess[] = [];
    let env: Record<string, string>;
    after(async () => {
      for (const s of running) await s.stop();
      if (env && store.cleanup) await store.cleanup(env);
    });

    test('two instances on different ports, then a restart on another port: tokens issued before keep refreshing', async () => {
      env = serverEnv(E2E, { ...store.env(), NODE_ENV: 'production', TESSERA_ISSUER: ISSUER });
      const added = await runCli(E2E, ['user', 'add', 'alice'], env, `${PASSWORD}\n`);
      assert.equal(added.code, 0, added.stderr);
      const a = await startServer(E2E, env);
      running.push(a);
      const b = await startServer(E2E, env);
      running.push(b);
      assert.notEqual(a.port, b.port);

      // The same metadata from both, naming the configured issuer (not either listen URL).
      const metaA = await call(a.url, 'GET', '/.well-known/oauth-authorization-server');
      const metaB = await call(b.url, 'GET', '/.well-known/oauth-authorization-server');
      assert.equal(metaA.json.issuer, ISSUER);
      assert.deepEqual(metaB.json, metaA.json);

      // Issued at A, refreshed at B, then at A; each access token works on both.
      const first = await login(a.url);
      const atB = await refreshAt(b.url, first.refresh_token as string);
      const atA = await refreshAt(a.url, atB.refresh_token as string);
      for (const s of [a, b]) {
        const me = await call(s.url, 'GET', '/me', { token: atA.access_token });
        assert.equal(me.status, 200, `${s.url}: ${me.text}`);
      }
      // A second session, left untouched across the restart.
      const idle = await login(b.url);

      // A stops; it comes back on another port (the system picks a free one).
      assert.equal(await a.stop(), 0);
      running.splice(running.indexOf(a), 1);
      const a2 = await startServer(E2E, env);
      running.push(a2);
      assert.notEqual(a2.port, a.port, 'the restarted instance listens on another port');

      const afterRestart = await refreshAt(a2.url, atA.refresh_token as string);
      assert.equal(
        (await call(a2.url, 'GET', '/me', { token: atA.access_token })).status,
        200,
        'access tokens from before the restart',
      );
      assert.equal((await call(b.url, 'GET', '/me', { token: afterRestart.access_token })).status, 200);
      await refreshAt(a2.url, idle.refresh_token as string);
      await refreshAt(b.url, afterRestart.refresh_token as string);
      // Reuse detection still spans the instances: the consumed token is refused at the other one.
      const reused = await call(b.url, 'POST', '/auth/refresh', { json: { refresh_token: atA.refresh_token } });
      assert.equal(reused.status, 400);
      assert.equal(reused.json.reason, 'reused');
    });
  });
}

/** Removes every key a suite wrote (users have no TTL). */
async function deletePrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true });
  await redis.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
