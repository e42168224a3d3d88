/**
 * A complete Hono server (on Node through @hono/node-server) with tessera's auth
 * routes and guard:
 *
 *     PORT=3000 node --import tsx examples/hono.ts    (the store of `tessera serve`: ./.tessera/tessera.db)
 *
 * Same environment as `tessera serve` (TESSERA_SECRET, TESSERA_STORE,
 * TESSERA_SCHEME, NODE_ENV, ...); users come from `tessera user add NAME`.
 * Serves /auth/*, the RFC 8414 metadata, /health, /ready and GET /me; every
 * other route needs a Bearer token unless listed in `publicPaths`. The client
 * address is the socket's peer (TESSERA_TRUST_PROXY is not applied here: pass
 * `clientAddress` to read a proxy's header).
 */
import { getRequestListener } from '@hono/node-server';
import { Hono } from 'hono';
import { notFound, requireScope, type TesseraEnv, tesseraHono } from '../src/http/hono.js';
import { setup } from './setup.js';

const { options, serve } = await setup('hono');

const app = new Hono<TesseraEnv>();
app.use(tesseraHono({ ...options, publicPaths: ['/hello'] }));

app.get('/hello', (c) => c.json({ hello: 'world' }));
app.get('/whoami', (c) => {
  c.header('cache-control', 'no-store');
  return c.json({ sub: c.get('principal').sub });
});
app.get('/admin', requireScope('admin'), (c) => c.json({ ok: true }));
app.notFound(notFound);

serve(getRequestListener(app.fetch));
