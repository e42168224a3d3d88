/**
 * RFC 8414 authorization server metadata, served at
 * `GET /.well-known/oauth-authorization-server` (§3), framework-neutral.
 * Standard clients configure themselves from it (openid-client `discovery`,
 * authlib `AuthorizationServerMetadata`).
 *
 * @module
 */
import { CLIENT_AUTH_METHODS } from './client-auth.js';
import { endpointOf } from './endpoints.js';

const AUTHORIZE_PATH = endpointOf('authorize').path;

/** The endpoints the metadata names (RFC 8414 §2), at their rows of the endpoint table. */
const TOKEN_PATH = endpointOf('token').path;
const REVOKE_PATH = endpointOf('revoke').path;
const INTROSPECT_PATH = endpointOf('introspect').path;

export interface MetadataOptions {
  /** RFC 8414 §2 `issuer`: an https (or, in development, http) URL without query or fragment. */
  issuer: string;
  /** The grants of the token endpoint (grants/registry.ts). */
  grantTypes: readonly string[];
  /** The scope granted at login, space-separated. */
  scope?: string;
  /** Where the public signing keys are, when an asymmetric algorithm is on (absent for HS256). */
  jwksUri?: string;
  /** The authorization endpoint is served (RFC 6749 §3.1). */
  authorize?: boolean;
}

export interface AuthorizationServerMetadata {
  issuer: string;
  token_endpoint: string;
  revocation_endpoint: string;
  introspection_endpoint: string;
  authorization_endpoint?: string;
  jwks_uri?: string;
  grant_types_supported: string[];
  token_endpoint_auth_methods_supported: string[];
  revocation_endpoint_auth_methods_supported: string[];
  introspection_endpoint_auth_methods_supported: string[];
  scopes_supported: string[];
  response_types_supported: string[];
  code_challenge_methods_supported?: string[];
  authorization_response_iss_parameter_supported?: boolean;
}

export function authorizationServerMetadata(o: MetadataOptions): AuthorizationServerMetadata {
  // Endpoints live under the issuer (a path prefix behind a proxy included).
  const base = o.issuer.replace(/\/+$/, '');
  const metadata: AuthorizationServerMetadata = {
    issuer: o.issuer,
    token_endpoint: `${base}${TOKEN_PATH}`,
    revocation_endpoint: `${base}${REVOKE_PATH}`,
    introspection_endpoint: `${base}${INTROSPECT_PATH}`,
    grant_types_supported: [...o.grantTypes],
    token_endpoint_auth_methods_supported: [...CLIENT_AUTH_METHODS],
    // RFC 7009 §2.1: public clients revoke too (identified by client_id).
    revocation_endpoint_auth_methods_supported: [...CLIENT_AUTH_METHODS],
    // RFC 7662 §2.1: the caller must be authorized, so it must authenticate: no `none`.
    introspection_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS.filter((m) => m !== 'none'),
    scopes_supported: (o.scope ?? '').split(' ').filter(Boolean),
    // RFC 8414 §2 makes it REQUIRED; without an authorization endpoint there is no response type.
    response_types_supported: o.authorize ? ['code'] : [],
  };
  if (o.authorize) {
    metadata.authorization_endpoint = `${base}${AUTHORIZE_PATH}`;
    // RFC 7636 §4.3 / RFC 9700 §2.1.1: S256 only; plain is refused.
    metadata.code_challenge_methods_supported = ['S256'];
    // RFC 9207 §3: every authorization response carries `iss`.
    metadata.authorization_response_iss_parameter_supported = true;
  }
  if (o.jwksUri !== undefined) metadata.jwks_uri = o.jwksUri;
  return metadata;
}
