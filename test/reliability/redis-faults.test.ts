/**
 * Redis killed under load. Each scheme gets its own redis-server on a
 * spare port with an append-only file fsynced on every write, and its own
 * tessera process on it. Under refresh and /me load:
 *
 * 1. Redis is killed (SIGKILL). Every request that starts during the outage
 *    gets 503 with `Retry-After` (never a 500, never a dropped connection);
 *    tokens consumed or revoked before the kill are tried explicitly and
 *    refused with 503 as well (fail closed: nothing is accepted unchecked).
 * 2. Redis restarts on the same port and directory; tessera (the same process)
 *    reconnects by itself and the load succeeds again.
 * 3. A second kill with the load paused: the dataset digest after the restart
 *    equals the one before the kill (nothing lost).
 * 4. Every revocation still holds, and no refresh token whose rotation was
 *    acknowledged works again.
 *
 * Schemes: opaque (every request reads the store) and jwt with
 * --check-revocation (so /me reads it too).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { call, PASSWORD, type ServerProcess, serverEnv, startServer } from '../support/processes.js';
import { runLoad, type Sample, Session } from './load.js';
import { login, needsRedisServer, RELIABILITY, type RedisProcess, startRedis, waitFor } from './support.js';

const SCHEMES: { name: string; env: Record<string, string> }[] = [
  { name: 'opaque', env: { TESSERA_SCHEME: 'opaque' } },
  { name: 'jwt with --check-revocation', env: { TESSERA_SCHEME: 'jwt', TESSERA_CHECK_REVOCATION: '1' } },
];
const LOAD_SESSIONS = 6;

async function register(base: string, username: string): Promise<void> {
  const r = await call(base, 'POST', '/auth/register', { json: { username, password: PASSWORD } });
  assert.equal(r.status, 201, r.text);
}

function assert503(r: { status: number; headers: Record<string, unknown>; json: { error?: string } }, what: string): void {
  assert.equal(r.status, 503, `${what}: ${r.status}`);
  assert.equal(r.headers['retry-after'], '5', what);
  assert.equal(r.json?.error, 'temporarily_unavailable', what);
}

for (const scheme of SCHEMES) {
  describe(`Redis killed under load: ${scheme.name}`, needsRedisServer(), () => {
    let redis: RedisProcess;
    let srv: ServerProcess;

    before(async () => {
      redis = await startRedis({ persistent: true });
      const env = serverEnv(RELIABILITY, {
        ...scheme.env,
        TESSERA_STORE: redis.url,
        TESSERA_REDIS_PREFIX: 'rel:',
        TESSERA_ALLOW_REGISTER: '1',
        // On, and high: the limiter's counters live in Redis too, and must fail open, not 500.
        TESSERA_RATE_LIMIT: '1000000',
      });
      srv = await startServer(RELIABILITY, env);
      for (const u of ['alice', 'bob', 'carol', 'dave', ...Array.from({ length: LOAD_SESSIONS }, (_, i) => `load${i}`)]) {
        await register(srv.url, u);
      }
    });
    after(async () => {
      await srv?.kill();
      await redis?.kill();
    });

    test('503 + Retry-After during the outage, recovery without a restart, nothing lost', async () => {
      const base = srv.url;
      const pid = srv.pid;

      // State that must survive: a consumed token, a revoked family, a revoked access token, a user logged out everywhere.
      const a = await login(base, 'alice');
      const a1 = await call(base, 'POST', '/auth/refresh', { json: { refresh_token: a.refresh_token } });
      assert.equal(a1.status, 200);
      const consumedA0 = a.refresh_token;
      const aliceNow = a1.json as { access_token: string; refresh_token: string };
      const carol = await login(base, 'carol');
      assert.equal((await call(base, 'POST', '/auth/revoke', { form: { token: carol.refresh_token } })).status, 200);
      const dave = await login(base, 'dave');
      assert.equal((await call(base, 'POST', '/auth/revoke', { form: { token: dave.access_token } })).status, 200);
      const bob = await login(base, 'bob');
      assert.equal((await call(base, 'POST', '/auth/logout-all', { token: bob.access_token })).status, 204);
      const refusedNow = async (when: string) => {
        assert.equal(
          (await call(base, 'GET', '/me', { token: carol.access_token })).status,
          401,
          `${when}: revoked family, access`,
        );
        assert.equal(
          (await call(base, 'POST', '/auth/refresh', { json: { refresh_token: carol.refresh_token } })).status,
          400,
          `${when}: revoked family, refresh`,
        );
        assert.equal((await call(base, 'GET', '/me', { token: dave.access_token })).status, 401, `${when}: revoked access token`);
        assert.equal((await call(base, 'GET', '/me', { token: bob.access_token })).status, 401, `${when}: logged out everywhere`);
        assert.equal(
          (await call(base, 'POST', '/auth/refresh', { json: { refresh_token: bob.refresh_token } })).status,
          400,
          `${when}: logged out everywhere, refresh`,
        );
      };
      await refusedNow('before the kill');

      const samples: Sample[] = [];
      const sessions = Array.from({ length: LOAD_SESSIONS }, (_, i) => new Session(`load${i}`));
      const load = runLoad({ sessions, bases: [base], sink: (s) => samples.push(s) });
      try {
        await sleep(1000);

        // --- Kill under load.
        await redis.kill();
        const killedAt = Date.now();
        // Explicitly: what was consumed or revoked before the kill is not accepted now.
        const outageChecks: [string, () => ReturnType<typeof call>][] = [
          ['consumed refresh token', () => call(base, 'POST', '/auth/refresh', { json: { refresh_token: consumedA0 } })],
          [
            'revoked family: refresh',
            () => call(base, 'POST', '/auth/refresh', { json: { refresh_token: carol.refresh_token } }),
          ],

          [
            'logged out everywhere: refresh grant',
            () => call(base, 'POST', '/auth/token', { form: { grant_type: 'refresh_token', refresh_token: bob.refresh_token } }),
          ],
          ['live token: /me', () => call(base, 'GET', '/me', { token: aliceNow.access_token })],
          [
            'login',
            () => call(base, 'POST', '/auth/token', { form: { grant_type: 'password', username: 'alice', password: PASSWORD } }),
          ],
          ['revoke', () => call(base, 'POST', '/auth/revoke', { form: { token: aliceNow.refresh_token } })],
          ['logout', () => call(base, 'POST', '/auth/logout', { json: { refresh_token: aliceNow.refresh_token } })],
          [
            'introspect',
            // Client credentials: looking the client up needs the store too.
            () =>
              call(base, 'POST', '/auth/introspect', {
                headers: { authorization: `Basic ${Buffer.from('rs:secret').toString('base64')}` },
                form: { token: consumedA0 },
              }),
          ],
          ['ready', () => call(base, 'GET', '/ready')],
        ];
        for (const [what, run] of outageChecks) assert503(await run(), `during the outage, ${what}`);
        // Access tokens whose revocation this instance already holds (pushed): a
        // self-contained one is refused from memory, 401, without the store; an opaque one
        // is its store record, so 503. Never a 200.
        const knownRevoked: [string, string][] = [
          ['revoked family', carol.access_token],
          ['revoked access token', dave.access_token],
          ['logged out everywhere', bob.access_token],
        ];
        for (const [what, token] of knownRevoked) {
          const r = await call(base, 'GET', '/me', { token });
          if (scheme.env.TESSERA_SCHEME === 'opaque') assert503(r, `during the outage, ${what}: /me`);
          else assert.equal(r.status, 401, `during the outage, ${what}: /me refused from memory`);
        }
        assert.equal((await call(base, 'GET', '/health')).status, 200, 'liveness does not depend on the store');
        await sleep(1000);

        // --- Restart on the same port and directory (the append-only file is replayed).
        const restartAt = Date.now();
        redis = await startRedis({ port: redis.port, dir: redis.dir, persistent: true });
        const redisUp = Date.now();
        await waitFor(async () => (await call(base, 'GET', '/ready')).status === 200, 15_000, 'tessera to see Redis again');
        const recovered = Date.now();
        assert.equal(srv.pid, pid);
        assert.equal(srv.child.exitCode, null, 'tessera kept running');
        await sleep(1000);

        // --- Second kill with the load paused: the dataset is identical after the restart.
        await load.pause();
        const digest = redis.cli('debug', 'digest');
        const keys = Number(redis.cli('dbsize'));
        assert.match(digest, /^[0-9a-f]{40}$/);
        assert.ok(keys > 10, `only ${keys} keys before the second kill`);
        await redis.kill();
        redis = await startRedis({ port: redis.port, dir: redis.dir, persistent: true });
        assert.equal(redis.cli('debug', 'digest'), digest, 'the dataset changed across a kill and restart');
        assert.equal(Number(redis.cli('dbsize')), keys);
        await waitFor(async () => (await call(base, 'GET', '/ready')).status === 200, 15_000, 'tessera to see Redis again');
        load.resume();
        await sleep(1000);
        await load.stop();

        // --- The samples.
        const during = samples.filter((s) => s.t0 >= killedAt && s.t1 <= restartAt);
        const wrong = during.filter((s) => s.status !== 503 || s.retryAfter !== '5');
        assert.ok(during.length >= 20, `only ${during.length} requests during the outage`);
        assert.deepEqual(wrong.slice(0, 5), [], 'requests during the outage not answered 503 + Retry-After');
        const broken = samples.filter((s) => s.status === 0 || (s.status >= 500 && s.status !== 503));
        assert.deepEqual(broken.slice(0, 5), [], 'dropped connections or 5xx other than 503');
        const after = samples.filter((s) => s.t0 >= recovered && s.status === 200);
        assert.ok(after.length > 50, `only ${after.length} successes after the recovery`);
        for (const s of sessions) assert.deepEqual(s.unexplained, [], `${s.username}: refusals the ledger cannot explain`);

        // --- Nothing lost: revocations hold, the live session continues, consumed tokens stay consumed.
        await refusedNow('after the restarts');
        const next = await call(base, 'POST', '/auth/refresh', { json: { refresh_token: aliceNow.refresh_token } });
        assert.equal(next.status, 200, 'the session rotated before the kill survived it');
        const replay = await call(base, 'POST', '/auth/refresh', { json: { refresh_token: consumedA0 } });
        assert.equal(replay.status, 400);
        let consumedTried = 0;
        for (const s of sessions) {
          // The first and the last rotations of every session (all of them would cost seconds).
          for (const t of [...s.consumed.slice(0, 40), ...s.consumed.slice(-40)]) {
            const r = await call(base, 'POST', '/auth/refresh', { json: { refresh_token: t } });
            assert.equal(r.status, 400, `${s.username}: an acknowledged, consumed refresh token was accepted again`);
            consumedTried++;
          }
        }
        const rotations = sessions.reduce((n, s) => n + s.rotations, 0);
        process.stdout.write(
          `# ${scheme.name}: ${samples.length} requests, ${rotations} rotations, ${during.length} during the outage (all 503), ` +
            `recovered ${recovered - redisUp} ms after Redis was back (outage ${restartAt - killedAt} ms), ` +
            `${keys} keys identical across a kill, ${consumedTried} consumed tokens refused afterwards\n`,
        );
      } finally {
        await load.stop();
      }
    });
  });
}
