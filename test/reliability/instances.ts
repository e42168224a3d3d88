/**
 * Three tessera processes on one store, shared by
 * instances-redis.test.ts and instances-cluster.test.ts:
 *
 * - a token issued by one instance refreshes on another, around the ring;
 * - 200 concurrent refreshes of one token spread over the three instances give
 *   exactly one success (grace 0), the 199 others `invalid_grant`, never a 5xx;
 * - a replay on any instance revokes the family everywhere; logout everywhere
 *   on one instance holds on the others.
 */
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { addIntrospector, call, PASSWORD, type ServerProcess, serverEnv, startServer } from '../support/processes.js';
import { login, RELIABILITY } from './support.js';

export interface InstancesOptions {
  title: string;
  /** The store spec and key prefix, resolved in `before` (the cluster may have to be started first). */
  store: () => Promise<{ spec: string; prefix: string; cleanup: () => Promise<void> }>;
  skip?: { skip?: string };
}

const SCHEMES: { name: string; env: Record<string, string> }[] = [
  { name: 'opaque', env: { TESSERA_SCHEME: 'opaque' } },
  { name: 'jwt with --check-revocation', env: { TESSERA_SCHEME: 'jwt', TESSERA_CHECK_REVOCATION: '1' } },
];
const RACERS = 200;
const RACES = 3;

export function instancesSuite(o: InstancesOptions): void {
  for (const scheme of SCHEMES) {
    describe(`three instances on ${o.title}: ${scheme.name}`, o.skip ?? {}, () => {
      let servers: ServerProcess[] = [];
      let cleanup: (() => Promise<void>) | undefined;
      const urls = () => servers.map((s) => s.url);

      let rs: Record<string, string>;
      before(async () => {
        const store = await o.store();
        cleanup = store.cleanup;
        // One configuration, one secret, three processes.
        const env = serverEnv(RELIABILITY, {
          ...scheme.env,
          TESSERA_STORE: store.spec,
          TESSERA_REDIS_PREFIX: store.prefix,
          TESSERA_ALLOW_REGISTER: '1',
          TESSERA_REUSE_GRACE: '0',
          TESSERA_RATE_LIMIT: '1000000',
        });
        rs = await addIntrospector(RELIABILITY, env);
        servers = await Promise.all([0, 1, 2].map(() => startServer(RELIABILITY, env)));
        for (const u of ['alice', 'bob', 'carol']) {
          const r = await call(servers[0]!.url, 'POST', '/auth/register', { json: { username: u, password: PASSWORD } });
          assert.equal(r.status, 201, r.text);
        }
      });
      after(async () => {
        await Promise.all(servers.map((s) => s.kill()));
        await cleanup?.();
      });

      test('a token issued by one instance refreshes on another, around the ring', async () => {
        const [a, b, c] = urls() as [string, string, string];
        let t = await login(a, 'alice');
        for (let hop = 0; hop < 30; hop++) {
          const on = urls()[hop % 3] as string;
          const r = await call(on, 'POST', '/auth/refresh', { json: { refresh_token: t.refresh_token } });
          assert.equal(r.status, 200, `hop ${hop}: ${r.text}`);
          t = r.json;
          const me = await call(urls()[(hop + 1) % 3] as string, 'GET', '/me', { token: t.access_token });
          assert.equal(me.status, 200, `hop ${hop}: /me on the next instance`);
        }
        // Introspection on any instance agrees.
        for (const u of [a, b, c]) {
          const r = await call(u, 'POST', '/auth/introspect', { headers: rs, form: { token: t.refresh_token } });
          assert.equal(r.json.active, true);
        }
      });

      test('the client binding holds across instances: another client is refused on one, the owner refreshes on another', async () => {
        const [a, b, c] = urls() as [string, string, string];
        const grant = await call(a, 'POST', '/auth/token', {
          headers: rs,
          form: { grant_type: 'password', username: 'alice', password: PASSWORD },
        });
        assert.equal(grant.status, 200, grant.text);
        const rt = grant.json.refresh_token as string;
        // The default client (no credentials) is another client: refused, nothing consumed.
        const stolen = await call(b, 'POST', '/auth/refresh', { json: { refresh_token: rt } });
        assert.equal(stolen.status, 400);
        assert.equal(stolen.json.error, 'invalid_grant');
        const intro = await call(c, 'POST', '/auth/introspect', { headers: rs, form: { token: rt } });
        assert.deepEqual([intro.json.active, intro.json.client_id], [true, 'rs']);
        const owner = await call(c, 'POST', '/auth/token', {
          headers: rs,
          form: { grant_type: 'refresh_token', refresh_token: rt },
        });
        assert.equal(owner.status, 200, owner.text);
      });

      test(`${RACES} x ${RACERS} concurrent refreshes of one token over three instances: exactly one wins`, async () => {
        const agent = new Agent({ keepAlive: true, maxSockets: RACERS });
        try {
          for (let race = 0; race < RACES; race++) {
            const t = await login(urls()[race % 3] as string, 'bob');
            const results = await Promise.all(
              Array.from({ length: RACERS }, (_, i) =>
                call(urls()[i % 3] as string, 'POST', '/auth/refresh', { json: { refresh_token: t.refresh_token } }, agent),
              ),
            );
            const won = results.filter((r) => r.status === 200);
            const lost = results.filter((r) => r.status === 400);
            assert.equal(won.length, 1, `race ${race}: ${won.length} winners`);
            assert.equal(lost.length, RACERS - 1, `race ${race}: statuses ${[...new Set(results.map((r) => r.status))]}`);
            for (const r of lost) assert.equal(r.json.error, 'invalid_grant');
            // The losers were replays of a consumed token: the family, the winner's new pair included, is revoked everywhere.
            const winner = won[0]!.json;
            for (const u of urls()) {
              const r = await call(u, 'POST', '/auth/refresh', { json: { refresh_token: winner.refresh_token } });
              assert.equal(r.status, 400, 'the family survived a replay');
              assert.equal((await call(u, 'GET', '/me', { token: winner.access_token })).status, 401);
            }
          }
        } finally {
          agent.destroy();
        }
      });

      test('a replay on any instance revokes the family everywhere; logout everywhere holds everywhere', async () => {
        for (let i = 0; i < 3; i++) {
          const [x, y, z] = [urls()[i], urls()[(i + 1) % 3], urls()[(i + 2) % 3]] as [string, string, string];
          const t0 = await login(x, 'carol');
          const r1 = await call(y, 'POST', '/auth/refresh', { json: { refresh_token: t0.refresh_token } });
          assert.equal(r1.status, 200);
          const replay = await call(z, 'POST', '/auth/refresh', { json: { refresh_token: t0.refresh_token } });
          assert.equal(replay.status, 400);
          assert.match(replay.json.error_description, /reused/);
          for (const u of [x, y, z]) {
            assert.equal(
              (await call(u, 'GET', '/me', { token: r1.json.access_token })).status,
              401,
              'access token of a revoked family',
            );
            const r = await call(u, 'POST', '/auth/refresh', { json: { refresh_token: r1.json.refresh_token } });
            assert.equal(r.status, 400, 'refresh token of a revoked family');
          }
        }
        const sessions = await Promise.all(urls().map((u) => login(u, 'alice')));
        assert.equal((await call(urls()[1]!, 'POST', '/auth/logout-all', { token: sessions[0]!.access_token })).status, 204);
        for (const [i, s] of sessions.entries()) {
          for (const u of urls()) {
            assert.equal((await call(u, 'GET', '/me', { token: s.access_token })).status, 401, `session ${i} on ${u}`);
          }
          const r = await call(urls()[i]!, 'POST', '/auth/refresh', { json: { refresh_token: s.refresh_token } });
          assert.equal(r.status, 400);
        }
      });
    });
  }
}
