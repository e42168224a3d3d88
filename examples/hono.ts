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
 * address (the guessing limiter's key) follows TESSERA_TRUST_PROXY as in
 * `tessera serve`: the socket's peer, or behind trusted proxies the right-most
 * X-Forwarded-For entry they did not add.
 */
import { getRequestListener } from '@hono/node-server';
import { type Context, Hono } from 'hono';
import { notFound, requireScope, type TesseraEnv, tesseraHono } from '../src/http/hono.js';
import { clientAddressResolver, setup } from './setup.js';

const { config, options, serve } = await setup('hono');

/** The socket's peer under @hono/node-server. */
function peerOf(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? '';
}
const resolveAddress = clientAddressResolver(config.trustProxy);

const app = new Hono<TesseraEnv>();
app.use(
  tesseraHono({
    ...options,
    publicPaths: ['/hello'],
    clientAddress: (c) => resolveAddress(peerOf(c), c.req.header('x-forwarded-for')),
  }),
);

app.get('/hello', (c) => c.json({ hello: 'world' }));
app.get('/whoami', (c) => {
  c.header('cache-control', 'no-store');
  return c.json({ sub: c.get('principal').sub });
});
app.get('/admin', requireScope('admin'), (c) => c.json({ ok: true }));
app.notFound(notFound);

serve(getRequestListener(app.fetch));
