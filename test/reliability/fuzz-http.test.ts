/**
 * HTTP fuzzing through `app.inject()`: random methods, paths,
 * headers, content types and bodies against every route of the reference app
 * on a memory store, with a store outage drawn in one case out of ten.
 *
 * For every response: no 5xx but a 503 while the store is down; errors are
 * `{error, error_description}` without a stack trace, an internal path or an
 * echoed password; and every success is deserved: a protected route answered
 * only for an access token the service issued, a refresh succeeded only once
 * per issued refresh token, a password grant only with the password.
 *
 * Cases per configuration: FUZZ_HTTP_RUNS, else FUZZ_RUNS / 25 (`npm run fuzz`:
 * 40 000), else 4 000 (CI).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { parseBearer } from '../../src/http/plugin.js';
import { generateSecret } from '../../src/keys.js';
import { createTokenService } from '../../src/refresh/service.js';
import type { Scheme, TokenService } from '../../src/refresh/types.js';
import { buildApp } from '../../src/server/app.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { createUserService } from '../../src/users/users.js';
import { flakyStore } from '../support/flaky-store.js';
import { PASSWORD } from '../support/processes.js';
import { caseArb, judge, type Ledger, LIVE_REFRESH, materialize, newLedger, type TokenPool } from './fuzz-arbitraries.js';
import { leakProblem } from './support.js';

const RUNS = Number(process.env.FUZZ_HTTP_RUNS ?? (process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) / 25 : 4000));
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;

interface Config {
  name: string;
  scheme: Scheme;
  checkRevocation?: boolean;
  cookie?: boolean;
  register?: boolean;
  grace?: number;
}

const CONFIGS: Config[] = [
  { name: 'jwt', scheme: 'jwt' },
  { name: 'sealed, revocation checked', scheme: 'sealed', checkRevocation: true },
  { name: 'opaque', scheme: 'opaque' },
  { name: 'jwt, cookie mode and registration', scheme: 'jwt', cookie: true, register: true },
];

async function pool(tokens: TokenService, foreign: TokenService): Promise<TokenPool> {
  const p: TokenPool = { access: [], refresh: [], foreign: [] };
  for (let i = 0; i < 12; i++) {
    const pair = await tokens.issue({ sub: `user-${i}`, scope: 'api' });
    p.access.push(pair.accessToken);
    p.refresh.push(pair.refreshToken);
    const f = await foreign.issue({ sub: `user-${i}`, scope: 'api' });
    p.foreign.push(f.accessToken, f.refreshToken);
  }
  return p;
}

let total = 0;

for (const cfg of CONFIGS) {
  describe(`HTTP fuzz through inject: ${cfg.name}`, () => {
    const down = { value: false };
    let app: FastifyInstance;
    let inner: MemoryStore;
    let tokens: TokenService;
    let ledger: Ledger;
    let tokenPool: TokenPool;

    before(async () => {
      inner = new MemoryStore();
      const store = flakyStore(inner, down);
      const service = {
        secret: generateSecret(),
        scheme: cfg.scheme,
        access: { checkRevocation: cfg.checkRevocation ?? false },
        refresh: { reuseGraceSeconds: cfg.grace ?? 0 },
      };
      tokens = createTokenService({ ...service, store });
      // Another deployment of the same scheme: another secret, another store.
      const foreign = createTokenService({ ...service, secret: generateSecret(), store: new MemoryStore() });
      const users = createUserService(store, { scrypt: { N: 1024, r: 8, p: 1, keyLength: 32 } });
      await users.add('alice', PASSWORD);
      await users.add('bob', PASSWORD);
      app = buildApp({
        tokens,
        users,
        scope: 'api',
        log: false,
        rateLimit: false,
        allowRegister: cfg.register ?? false,
        cookie: cfg.cookie ? { secure: true } : false,
      });
      await app.ready();
      tokenPool = await pool(tokens, foreign);
      ledger = newLedger(tokenPool, PASSWORD);
    });
    after(async () => {
      await app?.close();
      await inner?.close();
    });

    test(`${RUNS} random requests: no 5xx (but 503 in an outage), no leak, nothing undeserved accepted`, async () => {
      const cookieName = cfg.cookie ? '__Secure-tessera_rt' : undefined;
      await fc.assert(
        fc.asyncProperty(caseArb({ pool: tokenPool, password: PASSWORD, outages: true, cookieName }), async (generated) => {
          const c = materialize(generated, ledger);
          down.value = c.storeDown;
          let res: Awaited<ReturnType<FastifyInstance['inject']>>;
          try {
            res = await app.inject({
              method: c.method as 'GET',
              url: c.path,
              headers: c.headers,
              payload: c.body,
            });
          } finally {
            down.value = false;
          }
          total++;
          const setCookie = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
          const rt = setCookie.map((s) => /^__Secure-tessera_rt=([^;]+)/.exec(s)?.[1]).find((v) => v !== undefined);
          const problem = judge(
            c,
            {
              status: res.statusCode,
              body: res.body,
              contentType: res.headers['content-type'] as string | undefined,
              setCookieRefresh: rt ? decodeURIComponent(rt) : undefined,
            },
            ledger,
            parseBearer,
            leakProblem,
            cookieName,
          );
          assert.equal(problem, undefined, `${problem}: ${c.method} ${c.path} -> ${res.statusCode} ${res.body.slice(0, 300)}`);
          // The live refresh token was used up (revoked, logged out, reused): start a new live session.
          const usedLive = [generated.body, ...Object.values(generated.headers)].some((v) => v?.includes(LIVE_REFRESH));
          if (usedLive && !(res.statusCode === 200 && ledger.liveRefresh !== c.refreshToken)) {
            const pair = await tokens.issue({ sub: 'live', scope: 'api' });
            ledger.issuedAccess.add(pair.accessToken);
            ledger.issuedRefresh.add(pair.refreshToken);
            ledger.liveAccess = pair.accessToken;
            ledger.liveRefresh = pair.refreshToken;
          }
        }),
        { numRuns: RUNS, seed: SEED },
      );
      // The fuzzer reached past the parsers: some requests succeeded, some were refused, some hit the outage.
      const count = (s: number) => ledger.counts.get(String(s)) ?? 0;
      process.stdout.write(
        `# ${cfg.name}: statuses ${JSON.stringify([...ledger.counts].sort())}, refreshes ${ledger.consumed.size}\n`,
      );
      assert.ok(count(200) > RUNS / 50, `too few successes: ${JSON.stringify([...ledger.counts])}`);
      assert.ok(count(400) + count(401) > RUNS / 10, 'too few refusals');
      assert.ok(count(503) > 0, 'no outage case ran');
      assert.ok(ledger.consumed.size > 0, 'no refresh ever succeeded: the fuzzer did not reach rotation');
    });

    test('the fuzzed app still works and nothing was polluted', async () => {
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
      const res = await app.inject({
        method: 'POST',
        url: '/auth/token',
        payload: { grant_type: 'password', username: 'alice', password: PASSWORD },
      });
      assert.equal(res.statusCode, 200, res.body);
      const me = await app.inject({ url: '/me', headers: { authorization: `Bearer ${res.json().access_token}` } });
      assert.equal(me.statusCode, 200);
    });
  });
}

after(() => {
  process.stdout.write(`# fuzz-http: ${total} requests through inject (${RUNS} per configuration)\n`);
});
