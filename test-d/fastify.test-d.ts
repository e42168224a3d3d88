/** `tessera-auth/fastify`: the plugin's declarations on Fastify's types (see index.test-d.ts). */
import Fastify from 'fastify';
import type { Principal, TokenService } from 'tessera-auth';
import { tesseraAuth } from 'tessera-auth/fastify';
import { expectType } from './helpers.js';

declare const tokens: TokenService;
const app = Fastify();
await app.register(tesseraAuth, { tokens, realm: 'api' });
// @ts-expect-error the plugin needs a token service
await app.register(tesseraAuth, { realm: 'api' });

expectType<TokenService>()(app.tokens);
app.get('/me', async (request) => {
  expectType<Principal | null>()(request.principal);
  return { sub: request.principal?.sub };
});
app.get('/admin', { config: { scope: 'admin' } }, async () => ({}));
app.get('/health', { config: { public: true } }, async () => ({}));
// @ts-expect-error the required scopes are one space-separated string
app.get('/admin2', { config: { scope: ['admin'] } }, async () => ({}));
