/**
 * The Fastify plugin: puts a {@link TokenService} on the instance and guards
 * every route with a Bearer access token unless the route says
 * `config: { public: true }`.
 *
 * ```ts
 * await app.register(tesseraAuth, { tokens });
 * app.get('/me', async (req) => req.principal);                      // protected
 * app.get('/health', { config: { public: true } }, async () => 'ok'); // public
 * app.get('/admin', { config: { scope: 'admin' } }, handler);         // needs scope "admin"
 * ```
 *
 * Protection is a global `onRequest` hook rather than something routes opt in
 * to, so a forgotten flag fails closed (like the middleware of the original
 * request, which guards every path but the refresh path). The hook also covers routes declared before the
 * plugin was registered.
 *
 * @module
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Principal, TokenService } from '../refresh/types.js';
import { createGuard, type GuardOptions } from './core/guard.js';
import { HttpError, sendHttpError } from './errors.js';

export { type AccessTokenVerifier, parseBearer, principalOfClaims } from './core/guard.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The token service the plugin was registered with. */
    tokens: TokenService;
    /**
     * Authenticates the request's Bearer token, checks the route's `config.scope`
     * and sets `request.principal`, or replies 400/401/403/503: the same check as
     * the hook that guards every non-public route. Exposed for routes of other
     * plugins that want to call it themselves.
     * (`import()` type: declaration emit drops an import that only this block uses.)
     */
    authenticate(request: FastifyRequest, reply: import('fastify').FastifyReply): Promise<void>;
  }
  interface FastifyRequest {
    /** Who the access token speaks for; `null` on public routes. */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** The route needs no access token. */
    public?: boolean;
    /** Space-separated scopes the access token must all carry (RFC 6749 §3.3). */
    scope?: string;
  }
}

/**
 * Either `tokens` (the auth server: a token service) or `verifier` (a resource server
 * that is not the auth server: e.g. `createJwksVerifier({ jwksUri, issuer, audience })`).
 */
export type TesseraAuthOptions = GuardOptions;

function noop(): void {}

function refuse(reply: FastifyReply, err: HttpError, refused: () => void): void {
  sendHttpError(reply, err);
  refused();
}

const plugin: FastifyPluginAsync<TesseraAuthOptions> = async (fastify, options) => {
  // The rules (Bearer parsing, scopes, refusals) live in core/guard.ts, shared with Express and Hono.
  const core = createGuard(options);

  /**
   * The one authentication of the plugin, for the hook and the decorator alike:
   * parse the Bearer credential (RFC 6750 §2.1), authenticate it, check the
   * route's scope (RFC 6750 §3.1). On success sets `request.principal` and calls
   * `done()`; on a refusal sends the 400/401/403/503 itself and calls `refused()`;
   * anything unexpected goes to `done(err)`, for the error handler.
   *
   * Callback style, not async: on the path of every protected request, one
   * promise (the token service's) instead of three nested async functions.
   */
  function guard(
    request: FastifyRequest,
    reply: FastifyReply,
    done: (err?: Error) => void,
    refused: () => void = noop,
    // Read once: `request.routeOptions` builds a new frozen object on every read.
    scope: string | undefined = request.routeOptions.config?.scope,
  ): void {
    const pending = core.start(request.headers.authorization, request.method, request.url, request.headers);
    if (pending instanceof HttpError) return void refuse(reply, pending, refused);
    // Answered without a store (a cached or self-contained token): no promise, no microtask.
    if (!(pending instanceof Promise)) return void admit(request, reply, pending, scope, done, refused);
    pending.then(
      (principal) => admit(request, reply, principal, scope, done, refused),
      (e: unknown) => {
        // Answered here, not left to an error handler: an app that embeds the plugin may have
        // one that would turn a 503 or 401 into a 500.
        const refusal = core.refusal(e, request.log);
        if (refusal) return void refuse(reply, refusal, refused);
        done(e as Error);
      },
    );
  }

  /** Sets `request.principal` and lets the request through, or refuses it for a missing scope (403). */
  function admit(
    request: FastifyRequest,
    reply: FastifyReply,
    principal: Principal,
    scope: string | undefined,
    done: (err?: Error) => void,
    refused: () => void,
  ): void {
    request.principal = principal;
    const denied = core.scopeRefusal(principal, scope);
    if (denied) return void refuse(reply, denied, refused);
    done();
  }

  function authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    return new Promise((resolve, reject) => guard(request, reply, (err) => (err ? reject(err) : resolve()), resolve));
  }

  if (options.tokens && !fastify.hasDecorator('tokens')) fastify.decorate('tokens', options.tokens);
  if (!fastify.hasDecorator('authenticate')) fastify.decorate('authenticate', authenticate);
  // Declared up front with null so every request object has the same shape (Fastify Decorators docs).
  if (!fastify.hasRequestDecorator('principal')) fastify.decorateRequest('principal', null);

  // Replying without calling `done` ends the hook chain (Fastify Hooks docs).
  fastify.addHook('onRequest', (request, reply, done) => {
    // An unknown path is a 404 for everyone: answering 401 would not protect anything.
    if (request.is404) return done();
    const config = request.routeOptions.config;
    if (config.public === true) return done();
    guard(request, reply, done, noop, config.scope);
  });
};

/** The plugin, wrapped so its decorators and hook apply to the registering instance (not encapsulated). */
export const tesseraAuth = fp(plugin, { name: 'tessera-auth', fastify: '5.x' });
export default tesseraAuth;
