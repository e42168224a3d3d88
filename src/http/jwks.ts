/**
 * `GET /.well-known/jwks.json`: the public keys of the EdDSA/ES256/RS256 access-token
 * signing set (RFC 7517 §5), for resource servers (`createJwksVerifier`, jose's
 * `createRemoteJWKSet`, PyJWT's `PyJWKClient`). Only public members are served:
 * `kty`, `crv`, `x`, `y`, `kid`, `alg`, `use`.
 *
 * @module
 */
import type { FastifyPluginAsync } from 'fastify';
import type { JwkSet } from '../tokens/jwk.js';
import { docText, endpointOf } from './core/endpoints.js';
import { JWKS_CACHE_CONTROL, publicJwksJson } from './core/handlers.js';

const NO_DOC_CONTEXT = { grantTypes: [], csrfHeader: '' };

export { JWKS_PATH } from './core/endpoints.js';
export { JWKS_CACHE_CONTROL, jwksUriFor } from './core/handlers.js';

export interface JwksRouteOptions {
  /** The public set: `SigningKeySet.publicJwks()`. */
  jwks: JwkSet;
}

/** Serves the set at the table's row (core/endpoints.ts), public (no Bearer token), with {@link JWKS_CACHE_CONTROL}. */
export const jwksRoute: FastifyPluginAsync<JwksRouteOptions> = async (app, options) => {
  // Serialized once: the set only changes with a restart.
  const body = publicJwksJson(options.jwks);
  const row = endpointOf('jwks');
  app.get(
    row.path,
    {
      config: { public: row.public },
      schema: { tags: [...row.doc.tags], summary: docText(row.doc.summary, NO_DOC_CONTEXT) },
    },
    async (_request, reply) => {
      reply.header('cache-control', JWKS_CACHE_CONTROL);
      reply.type('application/json; charset=utf-8');
      return reply.send(body);
    },
  );
};
