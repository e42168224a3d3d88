/**
 * A complete Express 5 server with tessera's auth routes and guard:
 *
 *     PORT=3000 node --import tsx examples/express.ts    (the store of `tessera serve`: ./.tessera/tessera.db)
 *
 * Same environment as `tessera serve` (TESSERA_SECRET, TESSERA_STORE,
 * TESSERA_SCHEME, NODE_ENV, TESSERA_TRUST_PROXY, ...); users come from
 * `tessera user add NAME`. Serves /auth/*, the RFC 8414 metadata, /health,
 * /ready and GET /me; every other route needs a Bearer token unless listed in
 * `publicPaths`.
 */
import express from 'express';
import { errorHandler, notFound, requireScope, tesseraExpress } from '../src/http/express.js';
import { setup } from './setup.js';

const { config, options, serve } = await setup('express');

const app = express();
app.disable('x-powered-by');
// The client address of the guessing limiter: the right-most X-Forwarded-For entry no trusted
// proxy added (Express's `trust proxy` takes the same hop count or address list as TESSERA_TRUST_PROXY).
const trust = config.trustProxy;
app.set('trust proxy', trust === false || trust === 0 ? false : typeof trust === 'number' ? trust : trust.join(','));

// Before any body parser: the middleware reads its routes' bodies itself (core request rules).
app.use(tesseraExpress({ ...options, publicPaths: ['/hello'] }));

// Public (declared in publicPaths above).
app.get('/hello', (_req, res) => {
  res.json({ hello: 'world' });
});
// Protected: the guard ran; the principal is on the request.
app.get('/whoami', (req, res) => {
  res.set('cache-control', 'no-store').json({ sub: req.principal?.sub });
});
// Protected and scoped (RFC 6750 §3.1 insufficient_scope otherwise).
app.get('/admin', requireScope('admin'), (_req, res) => {
  res.json({ ok: true });
});

app.use(notFound);
app.use(errorHandler());
serve(app);
