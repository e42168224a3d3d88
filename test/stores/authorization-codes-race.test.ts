/**
 * Authorization codes across instances, on every store: a code issued through one
 * instance is redeemed by 20 concurrent calls spread over two instances with their own
 * connections (two SQLite handles on one file, two Redis clients, two Cluster clients,
 * two PostgreSQL pools on one schema); exactly one gets the grant (RFC 6749 §4.1.2:
 * a code is used once). The replay record of a redeemed code is taken once the same way.
 * Redis, Redis Cluster and PostgreSQL skip when absent, never with CI=true.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { generateSecret } from '../../src/keys.js';
import { createClientService } from '../../src/oauth-clients/clients.js';
import { type ClientDirectory, completeClient } from '../../src/oauth-clients/types.js';
import { type AuthorizationCodes, type CodeGrant, createAuthorizationCodes } from '../../src/refresh/authorization-codes.js';
import { createTokenService } from '../../src/refresh/service.js';
import { buildApp } from '../../src/server/app.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { openStore } from '../../src/stores/open.js';
import { openPostgresStore } from '../../src/stores/postgres.js';
import type { RedisStore } from '../../src/stores/redis.js';
import type { OneTimeRecords, TokenStore, UserDirectory } from '../../src/stores/types.js';
import { createUserService } from '../../src/users/users.js';
import { hiddenFields, Jar, pkce } from '../support/forms.js';
import {
  clusterNodes,
  deletePrefix,
  dropSchema,
  FakeClock,
  PG_URL,
  postgresUnavailable,
  REDIS_URL,
  redisUnavailable,
  skipUnlessAvailable,
  tempSqlitePath,
  uniquePrefix,
  uniqueSchema,
} from './harness.js';

const GRANT: CodeGrant = {
  clientId: 'app',
  redirectUri: 'https://app.example/cb',
  codeChallenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
  scope: 'openid profile',
  sub: 'user-race',
  username: 'racer',
  nonce: 'n-race',
  authTime: 1_700_000_000,
};

/** Two instances' views of one backend, and how to close them. */
interface Pair {
  a: OneTimeRecords;
  b: OneTimeRecords;
  close(): Promise<void>;
}

type OpenPair = (clock: FakeClock) => Promise<Pair>;

const ROUNDS = 3;
const REDEEMERS = 20;

// The services are probed before the first test is registered (node:test drops a test registered after a
// top-level await once the earlier ones have finished).
const redisDown = await redisUnavailable();
const cluster = await clusterNodes();
const postgresDown = await postgresUnavailable();

function raceSuite(name: string, openPair: OpenPair, skip: { skip?: string } = {}): void {
  describe(`authorization codes across two instances: ${name}`, skip, () => {
    async function setup(t: { after(fn: () => Promise<void>): void }) {
      const clock = new FakeClock();
      const pair = await openPair(clock);
      t.after(() => pair.close());
      const a = createAuthorizationCodes({ store: pair.a, clock: clock.now });
      const b = createAuthorizationCodes({ store: pair.b, clock: clock.now });
      return { clock, a, b, spread: (i: number): AuthorizationCodes => (i % 2 === 0 ? a : b) };
    }

    test(`a code issued through A: of ${REDEEMERS} concurrent redeems over A and B exactly one gets the grant`, async (t) => {
      const { a, spread } = await setup(t);
      for (let round = 0; round < ROUNDS; round++) {
        const grant = { ...GRANT, sub: `user-race-${round}` };
        const code = await a.issue(grant);
        const got = await Promise.all(Array.from({ length: REDEEMERS }, (_, i) => spread(i).redeem(code)));
        const winners = got.filter((g) => g !== null);
        assert.equal(winners.length, 1, `round ${round}: one winner`);
        assert.deepEqual(winners[0], grant);
        assert.equal(got.filter((g) => g === null).length, REDEEMERS - 1);
      }
    });

    test('a replay after markRedeemed gives the family once, whichever instance takes it', async (t) => {
      const { a, b, spread } = await setup(t);
      const code = await a.issue(GRANT);
      assert.deepEqual(await b.redeem(code), GRANT);
      await b.markRedeemed(code, 'fam-race');
      assert.equal(await a.redeem(code), null, 'the replayed code redeems nothing');
      const taken = await Promise.all(Array.from({ length: REDEEMERS }, (_, i) => spread(i).takeRedeemed(code)));
      assert.deepEqual(
        taken.filter((f) => f !== null),
        ['fam-race'],
      );
      assert.equal(await a.takeRedeemed(code), null);
      assert.equal(await b.takeRedeemed(code), null);
    });

    test(`through the servers: a code from /authorize on A, exchanged by ${REDEEMERS} concurrent token requests over A and B, buys one pair`, async (t) => {
      const clock = new FakeClock();
      const pair = await openPair(clock);
      t.after(() => pair.close());
      const [a, b] = [pair.a, pair.b] as unknown as (TokenStore & UserDirectory & ClientDirectory)[];
      const secret = generateSecret();
      const server = async (store: TokenStore & UserDirectory & ClientDirectory) => {
        const tokens = createTokenService({ secret, store, clock: clock.now, issuer: 'https://auth.race' });
        const users = createUserService(store, { scrypt: { N: 1024, r: 8, p: 1, keyLength: 32 }, clock: clock.now });
        const app = buildApp({
          tokens,
          users,
          clients: createClientService(store, { clock: clock.now }),
          log: false,
          demo: false,
          docs: false,
          rateLimit: false,
          authorize: { records: store as unknown as OneTimeRecords, clock: clock.now, key: Buffer.alloc(32, 3) },
        });
        await app.ready();
        t.after(() => app.close());
        return { app, users };
      };
      const A = await server(a);
      const B = await server(b);
      const username = `racer-${uniquePrefix('u').replace(/\W/g, '')}`;
      await A.users.add(username, 'a long enough race password');
      await a.createClient({
        ...completeClient({ clientId: 'race-app', clientType: 'public', secretHash: '', introspect: false, createdAt: 1 }),
        redirectUris: [GRANT.redirectUri],
        grantTypes: ['authorization_code', 'refresh_token'],
      });
      const { verifier, challenge } = pkce();
      const jar = new Jar();
      const query = new URLSearchParams({
        response_type: 'code',
        client_id: 'race-app',
        redirect_uri: GRANT.redirectUri,
        code_challenge: challenge,
        code_challenge_method: 'S256',
      });
      const page = await A.app.inject({ url: `/authorize?${query}` });
      jar.take(page.headers['set-cookie']);
      const done = await A.app.inject({
        method: 'POST',
        url: '/authorize',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...jar.header() },
        payload: new URLSearchParams({
          ...hiddenFields(page.body),
          username,
          password: 'a long enough race password',
        }).toString(),
      });
      const code = new URL(done.headers.location as string).searchParams.get('code') as string;
      const payload = new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: GRANT.redirectUri,
        code_verifier: verifier,
        client_id: 'race-app',
      }).toString();
      const answers = await Promise.all(
        Array.from({ length: REDEEMERS }, (_, i) =>
          (i % 2 === 0 ? A : B).app.inject({
            method: 'POST',
            url: '/auth/token',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            payload,
          }),
        ),
      );
      const statuses = answers.map((r) => r.statusCode);
      assert.equal(statuses.filter((s) => s === 200).length, 1, statuses.join(' '));
      assert.equal(statuses.filter((s) => s === 400).length, REDEEMERS - 1, statuses.join(' '));
    });

    test('a code is gone at 60 s on the callers clock, through either instance', async (t) => {
      const { a, b, clock } = await setup(t);
      const early = await a.issue(GRANT);
      const late = await a.issue(GRANT);
      clock.advance(59);
      assert.deepEqual(await b.redeem(early), GRANT);
      clock.advance(1);
      assert.equal(await b.redeem(late), null);
      assert.equal(await a.redeem(late), null);
    });
  });
}

raceSuite('memory (one store, two code instances)', async (clock) => {
  const store = new MemoryStore({ clock: clock.now });
  return { a: store, b: store, close: async () => {} };
});

raceSuite('sqlite (two openStore handles on one file)', async (clock) => {
  const file = tempSqlitePath();
  const a = await openStore(`sqlite:${file.path}`, { clock: clock.now });
  const b = await openStore(`sqlite:${file.path}`, { clock: clock.now });
  return {
    a,
    b,
    close: async () => {
      await a.close();
      await b.close();
      file.remove();
    },
  };
});

/** Two Redis (or Cluster) clients under one fresh key prefix; the prefix is deleted on close. */
function redisPair(spec: string, label: string): OpenPair {
  return async () => {
    const keyPrefix = uniquePrefix(label);
    const a = (await openStore(spec, { keyPrefix })) as RedisStore;
    const b = await openStore(spec, { keyPrefix });
    return {
      a,
      b,
      close: async () => {
        await deletePrefix(a.client, keyPrefix);
        await a.close();
        await b.close();
      },
    };
  };
}

raceSuite('redis (two clients)', redisPair(REDIS_URL, 'codes-race'), skipUnlessAvailable(redisDown));

raceSuite(
  'redis cluster (two cluster clients)',
  redisPair(
    'nodes' in cluster ? `redis+cluster://${cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',')}` : '',
    'codes-race-cluster',
  ),
  skipUnlessAvailable('error' in cluster ? cluster.error : undefined),
);

raceSuite(
  'postgres (two pools on one schema)',
  async (clock) => {
    const schema = uniqueSchema('codes_race');
    const a = await openPostgresStore(PG_URL, { schema, clock: clock.now, purgeIntervalMs: 0, poolSize: 4 });
    const b = await openPostgresStore(PG_URL, { schema, clock: clock.now, purgeIntervalMs: 0, poolSize: 4 });
    return {
      a,
      b,
      close: async () => {
        await a.close();
        await b.close();
        await dropSchema(schema);
      },
    };
  },
  skipUnlessAvailable(postgresDown),
);
