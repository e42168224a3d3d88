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
import { isTokenError, TokenError } from '../errors.js';
import type { Principal, TokenService } from '../refresh/types.js';
import type { Claims } from '../tokens/claims.js';
import {
  accessTokenError,
  type HttpError,
  insufficientScope,
  isStoreOutage,
  malformedAuthorization,
  missingToken,
  sendHttpError,
  storeUnavailable,
} from './errors.js';
import { DEFAULT_REALM } from './limits.js';

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

/** Anything that verifies an access token into claims: `createJwksVerifier(...)` is one. */
export interface AccessTokenVerifier {
  verify(token: string): Promise<Claims>;
}

/**
 * Either `tokens` (the auth server: a token service) or `verifier` (a resource server
 * that is not the auth server: e.g. `createJwksVerifier({ jwksUri, issuer, audience })`).
 */
export type TesseraAuthOptions = {
  /** The realm of the `WWW-Authenticate` challenge (RFC 6750 §3). Default `tessera`. */
  realm?: string;
} & ({ tokens: TokenService; verifier?: undefined } | { verifier: AccessTokenVerifier; tokens?: undefined });

/**
 * RFC 6750 §2.1: `credentials = "Bearer" 1*SP b64token`, where
 * `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
 * The scheme name is case-insensitive (RFC 9110 §11.1).
 */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;
const BEARER_SCHEME = /^Bearer(?: |$)/i;

/** The Bearer token of a header value: a string, `null` for another scheme or none, or `false` when malformed. */
export function parseBearer(header: string | undefined): string | null | false {
  if (header === undefined || header === '') return null;
  const m = BEARER.exec(header);
  if (m) return m[1] as string;
  // "Bearer" with nothing usable after it is a malformed request (RFC 6750 §3.1 invalid_request);
  // another scheme (Basic, ...) is simply not a Bearer credential.
  return BEARER_SCHEME.test(header) ? false : null;
}

function noop(): void {}

function refuse(reply: FastifyReply, err: HttpError, refused: () => void): void {
  sendHttpError(reply, err);
  refused();
}

function hasScopes(granted: string | undefined, required: string): boolean {
  const have = new Set((granted ?? '').split(' '));
  return required.split(' ').every((s) => s === '' || have.has(s));
}

/** The principal of verified claims (a resource server's view: no family, no store). */
export function principalOfClaims(claims: Claims): Principal {
  if (typeof claims.sub !== 'string' || claims.sub === '') throw new TokenError('invalid_claims', 'The token has no sub claim');
  const principal: Principal = { sub: claims.sub, exp: claims.exp as number, claims };
  if (typeof claims.scope === 'string') principal.scope = claims.scope;
  if (typeof claims.jti === 'string') principal.tokenId = claims.jti;
  if (typeof claims.iat === 'number') principal.iat = claims.iat;
  return principal;
}

/** A token service's `authenticate` made from a verifier. */
function authenticatorOf(verifier: AccessTokenVerifier): Pick<TokenService, 'authenticate'> {
  return { authenticate: async (token) => principalOfClaims(await verifier.verify(token)) };
}

const plugin: FastifyPluginAsync<TesseraAuthOptions> = async (fastify, options) => {
  const { verifier } = options;
  if (verifier !== undefined && typeof verifier.verify !== 'function')
    throw new TypeError('tesseraAuth: `verifier` must have a verify(token) method');
  const maybe: Pick<TokenService, 'authenticate'> | undefined =
    verifier !== undefined ? authenticatorOf(verifier) : options.tokens;
  if (!maybe || typeof maybe.authenticate !== 'function')
    throw new TypeError('tesseraAuth: `tokens` (a TokenService) or `verifier` is required');
  const tokens = maybe;
  const realm = options.realm ?? DEFAULT_REALM;
  if (!/^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/.test(realm))
    throw new TypeError('tesseraAuth: `realm` must be printable ASCII without " or \\');

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
  function guard(request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void, refused: () => void = noop): void {
    const token = parseBearer(request.headers.authorization);
    if (token === null) return void refuse(reply, missingToken(realm), refused);
    if (token === false) return void refuse(reply, malformedAuthorization(realm), refused);
    let pending: Promise<Principal>;
    try {
      pending = Promise.resolve(tokens.authenticate(token));
    } catch (e) {
      pending = Promise.reject(e);
    }
    pending.then(
      (principal) => {
        request.principal = principal;
        const scope = request.routeOptions.config?.scope;
        if (scope && !hasScopes(principal?.scope, scope)) return void refuse(reply, insufficientScope(realm, scope), refused);
        done();
      },
      (e: unknown) => {
        if (isStoreOutage(e)) {
          // A key set (JWKS) or store that cannot be reached. Answered here, not left to an error handler: an app that embeds the plugin may have
          // one that would turn it into a 500. A 503 is "try again", never "sign out".
          request.log.warn({ code: 'store_unavailable' }, 'store unavailable');
          return void refuse(reply, storeUnavailable(), refused);
        }
        if (!isTokenError(e)) return done(e as Error);
        // The specific cause is for the server log; the client gets a fixed description and the code as `reason`.
        request.log.debug({ code: e.code }, 'access token refused');
        refuse(reply, accessTokenError(e, realm), refused);
      },
    );
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
    if (request.routeOptions.config.public === true) return done();
    guard(request, reply, done);
  });
};

/** The plugin, wrapped so its decorators and hook apply to the registering instance (not encapsulated). */
export const tesseraAuth = fp(plugin, { name: 'tessera-auth', fastify: '5.x' });
export default tesseraAuth;
