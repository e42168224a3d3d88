/**
 * `GET /.well-known/jwks.json`: the public keys of the EdDSA/ES256 access-token
 * signing set (RFC 7517 §5), for resource servers (`createJwksVerifier`, jose's
 * `createRemoteJWKSet`, PyJWT's `PyJWKClient`). Only public members are served:
 * `kty`, `crv`, `x`, `y`, `kid`, `alg`, `use`.
 *
 * @module
 */
import type { FastifyPluginAsync } from 'fastify';
import type { JwkSet } from '../tokens/jwk.js';

export const JWKS_PATH = '/.well-known/jwks.json';

/**
 * Five minutes. Verifiers refetch on an unknown `kid` anyway (ours, jose and PyJWT
 * all do), so a cached copy delays nothing for them; the max-age only bounds how long
 * a shared HTTP cache (a CDN, a proxy) may serve a set that lacks a new key. The
 * rotation procedure (docs/keys.md) publishes a new key in second place for longer
 * than this before it starts signing, so no cache can hold a set without it by then.
 */
export const JWKS_CACHE_CONTROL = 'public, max-age=300';

/**
 * The `jwks_uri` of the RFC 8414 metadata (`issuer` + {@link JWKS_PATH}) when the
 * access tokens are signed with an asymmetric algorithm; `undefined` for HS256,
 * whose key must never be published (the metadata route then leaves `jwks_uri` out).
 */
export function jwksUriFor(issuer: string, accessAlg: string | undefined): string | undefined {
  if (accessAlg === undefined || accessAlg === 'HS256') return undefined;
  return `${issuer.replace(/\/+$/, '')}${JWKS_PATH}`;
}

export interface JwksRouteOptions {
  /** The public set: `SigningKeySet.publicJwks()`. */
  jwks: JwkSet;
}

/** Serves the set, public (no Bearer token), with {@link JWKS_CACHE_CONTROL}. */
export const jwksRoute: FastifyPluginAsync<JwksRouteOptions> = async (app, options) => {
  // Serialized once: the set only changes with a restart.
  const body = JSON.stringify({
    keys: options.jwks.keys.map(({ kty, crv, x, y, kid, alg, use }) => ({ kty, crv, x, y, kid, alg, use })),
  });
  app.get(
    JWKS_PATH,
    {
      config: { public: true },
      schema: { tags: ['auth'], summary: 'Public keys of the access-token signatures (RFC 7517 JWK Set)' },
    },
    async (_request, reply) => {
      reply.header('cache-control', JWKS_CACHE_CONTROL);
      reply.type('application/json; charset=utf-8');
      return reply.send(body);
    },
  );
};
