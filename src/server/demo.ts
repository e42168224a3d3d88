/**
 * The demo page at `/`: static files from `public/` and the browser build of
 * `tessera-auth/client` at `/client.js`. Everything comes from the package (no CDN),
 * is read once at start-up and served from memory; the routes are public.
 *
 * @module
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/** Strict CSP: scripts and styles only from this origin; the page calls only this origin. */
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** Package root (src/http or dist/http -> ../..). */
const ROOT = new URL('../..', import.meta.url).pathname;

interface Asset {
  body: Buffer;
  type: string;
}

function loadAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  const dir = join(ROOT, 'public');
  if (existsSync(dir)) {
    for (const name of readdirSync(dir)) {
      const type = TYPES[extname(name)];
      if (type) assets.set(name === 'index.html' ? '/' : `/demo/${name}`, { body: readFileSync(join(dir, name)), type });
    }
  }
  // The client is TypeScript in src/; the browser gets the compiled ESM from dist/ (built by `npm ci`/`npm run build`).
  const client = join(ROOT, 'dist', 'client', 'index.js');
  if (existsSync(client)) assets.set('/client.js', { body: readFileSync(client), type: TYPES['.js'] as string });
  return assets;
}

export async function demoRoutes(app: FastifyInstance): Promise<void> {
  const assets = loadAssets();
  for (const [path, asset] of assets) {
    app.get(path, { config: { public: true }, schema: { hide: true } }, async (_req, reply) =>
      reply
        .header('content-type', asset.type)
        .header('content-security-policy', CSP)
        .header('x-content-type-options', 'nosniff')
        .header('cache-control', 'no-cache')
        .send(asset.body),
    );
  }
  if (!assets.has('/client.js')) {
    app.get('/client.js', { config: { public: true }, schema: { hide: true } }, async (_req, reply) =>
      reply.code(404).type('text/plain').send('dist/client/index.js is missing: run `npm run build`'),
    );
  }
}
