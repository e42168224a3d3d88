#!/usr/bin/env node
/**
 * The baselines of the HTTP benchmarks (bench/http.ts), each a child process
 * started the same way as `tessera serve` (plain `node`, no loader, one
 * listening socket on 127.0.0.1, port 0), printing "<mode> listening on URL".
 *
 *     node bench/servers/peers.mjs bare|fast-jwt|fast-jwt-cache|redis-floor|pg-floor
 *
 * - bare:          Fastify, `GET /me` returning a constant object (the ceiling of any auth route).
 * - fast-jwt:      Fastify + an onRequest hook verifying the HS256 Bearer token with fast-jwt
 *                  (`cache: false`: every request really verifies, as tessera does), `GET /me`
 *                  returning the claims: the peer library in the same place.
 * - fast-jwt-cache: the same with fast-jwt's own cache of verified tokens (`cache: true`,
 *                  1000 entries): the peer of tessera's default access-token cache.
 * - redis-floor:   Fastify, `POST /auth/refresh` with a JSON body: one EVALSHA of a trivial
 *                  consume script (GET the presented token's key, SET it to the successor with a
 *                  TTL) through ioredis, answering a token response of the same shape and size as
 *                  tessera's. The floor of a refresh on Redis: one round trip, no token work.
 *
 * - pg-floor:      Fastify, `POST /auth/refresh` with a JSON body: one prepared statement through
 *                  node-postgres (an upsert of the presented token's row to its successor, from a
 *                  pool as large as tessera's default), answering the same token response. The
 *                  floor of a refresh on PostgreSQL: one round trip, no token work.
 *
 * Environment: BENCH_SECRET (base64url, the server's secret), REDIS_URL and BENCH_AUTO_PIPELINING (redis-floor),
 * BENCH_ACCESS_LENGTH / BENCH_REFRESH_LENGTH (the floors: the size of the tokens to answer),
 * POSTGRES_URL and BENCH_PG_SCHEMA (pg-floor), BENCH_PORT (default 0: any free port).
 */
import { createVerifier } from 'fast-jwt';
import Fastify from 'fastify';
import Redis from 'ioredis';
import pg from 'pg';

const mode = process.argv[2];
const secret = Buffer.from(process.env.BENCH_SECRET ?? '', 'base64url');
const app = Fastify();

function bearer(header) {
  if (typeof header !== 'string' || !header.startsWith('Bearer ')) return undefined;
  return header.slice(7);
}

/**
 * `POST /auth/refresh` of the floors: the presented token's first 24 characters name the row
 * `consume` reads and writes; the answer is a token response of tessera's size. Successor
 * tokens are a counter padded to the size of tessera's refresh tokens: not random, the floor
 * does the least work a refresh can do (a real one must also make an unguessable token).
 */
function floorRefreshRoute(consume) {
  const accessToken = 'a'.repeat(Number(process.env.BENCH_ACCESS_LENGTH ?? 300));
  const pad = 'r'.repeat(Number(process.env.BENCH_REFRESH_LENGTH ?? 300));
  let issued = 0;
  app.post('/auth/refresh', async (request, reply) => {
    const presented = request.body?.refresh_token;
    if (typeof presented !== 'string' || presented.length === 0) return reply.code(400).send({ error: 'invalid_request' });
    const id = `${process.pid}.${++issued}.`;
    const next = id + pad.slice(id.length);
    await consume(presented.slice(0, 24), next);
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
    return { access_token: accessToken, token_type: 'Bearer', expires_in: 900, refresh_token: next, scope: 'api' };
  });
}

function unauthorized(reply) {
  reply.code(401).header('www-authenticate', 'Bearer error="invalid_token"').send({ error: 'invalid_token' });
}

switch (mode) {
  case 'bare': {
    const me = { sub: 'bench-user', scope: 'api', exp: 2_000_000_000, iat: 1_999_999_100 };
    app.get('/me', async () => me);
    break;
  }
  case 'fast-jwt':
  case 'fast-jwt-cache': {
    const verify = createVerifier({ key: secret, algorithms: ['HS256'], cache: mode === 'fast-jwt-cache' });
    app.decorateRequest('claims', null);
    app.addHook('onRequest', async (request, reply) => {
      try {
        request.claims = verify(bearer(request.headers.authorization) ?? '');
      } catch {
        unauthorized(reply);
      }
    });
    app.get('/me', async (request) => {
      const c = request.claims;
      return { sub: c.sub, scope: c.scope, exp: c.exp, iat: c.iat };
    });
    break;
  }
  case 'redis-floor': {
    // BENCH_AUTO_PIPELINING=1: ioredis batches the commands of one tick into one write, as
    // tessera's store does (src/stores/redis.ts); without it, the plain client of a bare app.
    const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
      maxRetriesPerRequest: 1,
      enableAutoPipelining: process.env.BENCH_AUTO_PIPELINING === '1',
    });
    // Logged, not fatal: an 'error' without a listener would end the floor mid-run.
    redis.on('error', (e) => console.error(`redis-floor: ${e.message}`));
    // A consume: read the presented id, write its successor. One EVALSHA per request.
    redis.defineCommand('benchConsume', {
      numberOfKeys: 1,
      lua: "local v = redis.call('GET', KEYS[1]) redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return v",
    });
    floorRefreshRoute((presented, next) => redis.benchConsume(`bench-floor:${presented}`, next, 2_592_000_000));
    app.addHook('onClose', async () => {
      await redis.quit();
    });
    break;
  }
  case 'pg-floor': {
    const schema = process.env.BENCH_PG_SCHEMA ?? 'bench_floor';
    const pool = new pg.Pool({
      connectionString: process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/tessera_test',
      max: 10,
    });
    await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await pool.query(
      `CREATE TABLE IF NOT EXISTS ${schema}.tokens (id text PRIMARY KEY, successor text NOT NULL, expires_at bigint NOT NULL)`,
    );
    // A consume: write the presented id's successor (a row read and written), one prepared statement.
    const consume = {
      name: 'bench-floor-consume',
      text: `INSERT INTO ${schema}.tokens AS t (id, successor, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET successor = excluded.successor, expires_at = excluded.expires_at RETURNING t.id`,
    };
    floorRefreshRoute((presented, next) => pool.query({ ...consume, values: [presented, next, Date.now() + 2_592_000_000] }));
    app.addHook('onClose', async () => {
      await pool.query(`DROP SCHEMA ${schema} CASCADE`);
      await pool.end();
    });
    break;
  }
  default:
    process.stderr.write(`usage: peers.mjs bare|fast-jwt|fast-jwt-cache|redis-floor|pg-floor (got ${mode})\n`);
    process.exit(2);
}

const url = await app.listen({ port: Number(process.env.BENCH_PORT ?? 0), host: '127.0.0.1' });
process.stdout.write(`${mode} listening on ${url}\n`);
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    app.close().then(() => process.exit(0));
  });
}
