#!/usr/bin/env node
/**
 * The servers of the adapter benchmark (bench/adapters.ts): `GET /me` through
 * each framework adapter of tessera, and that framework's bare route returning a
 * constant object (the ceiling). Each is a child process started the same way
 * (plain `node` on the built dist/, no loader, one socket on 127.0.0.1, port 0,
 * memory store, jwt access tokens with the default access-token cache, no
 * logging), printing "<mode> listening on URL".
 *
 *     node bench/servers/adapters.mjs fastify|fastify-bare|express|express-bare|hono|hono-bare
 *
 * Environment: BENCH_SECRET (base64url), the secret the bench issues its token with.
 */
import { createTokenService } from '../../dist/refresh/service.js';
import { openStore } from '../../dist/stores/open.js';

const mode = process.argv[2];
const me = { sub: 'bench-user', scope: 'api', exp: 2_000_000_000, iat: 1_999_999_100 };

async function tokens() {
  const store = await openStore('memory');
  return createTokenService({ secret: process.env.BENCH_SECRET, scheme: 'jwt', store });
}

function ready(url) {
  process.stdout.write(`${mode} listening on ${url}\n`);
}

switch (mode) {
  case 'fastify': {
    const { buildApp } = await import('../../dist/server/app.js');
    const app = buildApp({ tokens: await tokens(), log: false, docs: false, demo: false, rateLimit: false });
    ready(await app.listen({ port: 0, host: '127.0.0.1' }));
    break;
  }
  case 'fastify-bare': {
    const { default: Fastify } = await import('fastify');
    const app = Fastify();
    app.get('/me', async () => me);
    ready(await app.listen({ port: 0, host: '127.0.0.1' }));
    break;
  }
  case 'express':
  case 'express-bare': {
    const { default: express } = await import('express');
    const app = express();
    app.disable('x-powered-by');
    if (mode === 'express') {
      const { tesseraExpress } = await import('../../dist/http/express.js');
      app.use(tesseraExpress({ tokens: await tokens(), rateLimit: false }));
    } else {
      app.get('/me', (_req, res) => {
        res.json(me);
      });
    }
    const server = app.listen(0, '127.0.0.1', () => ready(`http://127.0.0.1:${server.address().port}`));
    break;
  }
  case 'hono':
  case 'hono-bare': {
    const { Hono } = await import('hono');
    const { serve } = await import('@hono/node-server');
    const app = new Hono();
    if (mode === 'hono') {
      const { tesseraHono } = await import('../../dist/http/hono.js');
      app.use(tesseraHono({ tokens: await tokens(), rateLimit: false }));
    } else {
      app.get('/me', (c) => c.json(me));
    }
    serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => ready(`http://127.0.0.1:${info.port}`));
    break;
  }
  default:
    process.stderr.write(`unknown mode ${mode}\n`);
    process.exit(2);
}
process.once('SIGTERM', () => process.exit(0));
