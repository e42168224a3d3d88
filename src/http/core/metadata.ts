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
import { OIDC_SCOPES } from './oidc.js';

const AUTHORIZE_PATH = endpointOf('authorize').path;
const USERINFO_PATH = endpointOf('userinfo').path;
const END_SESSION_PATH = endpointOf('endSession').path;

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
  /** OpenID Connect is on: the UserInfo and end-session endpoints, the `openid` and `profile` scopes. */
  oidc?: boolean;
}

export interface AuthorizationServerMetadata {
  issuer: string;
  token_endpoint: string;
  revocation_endpoint: string;
  introspection_endpoint: string;
  authorization_endpoint?: string;
  userinfo_endpoint?: string;
  end_session_endpoint?: string;
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
  if (o.oidc) {
    // The same members in both documents (Discovery 1.0 §3 and RFC 8414 §2 share their names).
    metadata.userinfo_endpoint = `${base}${USERINFO_PATH}`;
    metadata.end_session_endpoint = `${base}${END_SESSION_PATH}`;
    metadata.scopes_supported = [...new Set([...OIDC_SCOPES, ...metadata.scopes_supported])];
  }
  if (o.jwksUri !== undefined) metadata.jwks_uri = o.jwksUri;
  return metadata;
}

/** OpenID Connect Discovery 1.0 §3: the RFC 8414 document and the members only OpenID Providers have. */
export interface OpenIdConfiguration extends AuthorizationServerMetadata {
  subject_types_supported: string[];
  id_token_signing_alg_values_supported: string[];
  claims_supported: string[];
  prompt_values_supported: string[];
}

export function openidConfiguration(m: AuthorizationServerMetadata, idTokenAlg: string): OpenIdConfiguration {
  return {
    ...m,
    // §3 REQUIRED: `sub` is the user id, the same for every client.
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [idTokenAlg],
    claims_supported: ['iss', 'sub', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'azp', 'at_hash', 'preferred_username'],
    prompt_values_supported: ['none', 'login', 'consent'],
  };
}
