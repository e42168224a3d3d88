/**
 * The endpoints of the auth server, each declared once: method, path, whether the
 * Bearer guard lets it through without a token, the parameter rules of its body,
 * its OpenAPI text and response schema (by name), and the handler that answers it.
 *
 * Everything else derives from this table: the Express and Hono route map (app.ts),
 * the Fastify routes and their TypeBox schemas (routes.ts, schemas.ts `bodySchema`),
 * the OpenAPI document, and the public paths ({@link PUBLIC_ENDPOINT_PATHS}). Adding
 * an endpoint is one row here and one handler in app.ts `endpointRunners`.
 *
 * @module
 */
import { AUTHORIZATION_PARAMS, AUTHORIZE_PATH, END_SESSION_PARAMS, END_SESSION_PATH, FORM_PARAMS } from './authorize.js';
import { CLIENT_PARAMS } from './grants/registry.js';
import { MAX_TOKEN_LENGTH } from './limits.js';
import type { ParamRules } from './request.js';

/** The handler that answers a row (app.ts `endpointRunners` maps each name to a function). */
export type EndpointHandler =
  | 'authorize'
  | 'authorizeSubmit'
  | 'endSession'
  | 'endSessionSubmit'
  | 'userinfo'
  | 'openidConfiguration'
  | 'token'
  | 'refresh'
  | 'revoke'
  | 'introspect'
  | 'logout'
  | 'logoutAll'
  | 'sessions'
  | 'deleteSession'
  | 'revokeOtherSessions'
  | 'register'
  | 'me'
  | 'metadata'
  | 'health'
  | 'ready'
  | 'jwks';

/** A row served only when its feature is on (registration, the example route, health checks, a JWK Set). */
export type EndpointFeature = 'authorize' | 'oidc' | 'register' | 'me' | 'health' | 'jwks';

/** The response schemas of schemas.ts, by name. */
export type ResponseSchemaName =
  | 'token'
  | 'empty'
  | 'introspection'
  | 'noContent'
  | 'user'
  | 'me'
  | 'sessions'
  | 'status'
  | 'ready';

/** OpenAPI security of a row: client authentication (Basic or none), Basic only, or a Bearer token. */
export type EndpointSecurity = 'client' | 'basic' | 'bearer';

/** What a row's documentation may depend on: the registered grant types and the CSRF header of cookie mode. */
export interface DocContext {
  grantTypes: readonly string[];
  csrfHeader: string;
}

type DocText = string | ((ctx: DocContext) => string);

export interface Endpoint {
  readonly method: 'GET' | 'POST' | 'DELETE';
  /**
   * The path; a last segment `{name}` is a path parameter (OpenAPI's syntax), one segment that
   * the handler reads from the request path (app.ts matches it, Fastify registers it as `:name`).
   */
  readonly path: string;
  /** Served without a Bearer token (the guard lets it through). */
  readonly public: boolean;
  /**
   * The body's parameter rules; `'grants'`: the token endpoint's, from the grant registry
   * (grants/registry.ts); `undefined`: the endpoint reads no body.
   */
  readonly params?: ParamRules | 'grants';
  readonly handler: EndpointHandler;
  readonly feature?: EndpointFeature;
  readonly doc: {
    readonly summary: DocText;
    readonly description?: DocText;
    readonly tags: readonly string[];
    readonly security?: EndpointSecurity;
    /** The success status and its response schema; none: the answer is not described. */
    readonly response?: { readonly status: number; readonly schema: ResponseSchemaName };
    /** The error statuses the endpoint answers with (the RFC 6749 §5.2 error shape). */
    readonly errors?: readonly number[];
  };
}

/** The refresh path of the original request, and logout: the token may come from the refresh cookie instead. */
const REFRESH_PARAMS: ParamRules = {
  refresh_token: { min: 1, max: MAX_TOKEN_LENGTH, description: 'the refresh token; optional in cookie mode' },
  ...CLIENT_PARAMS,
};

/** RFC 7009 §2.1 / RFC 7662 §2.1. `token` is optional here so its absence is an `invalid_request` from the handler. */
const TOKEN_PARAMS: ParamRules = {
  token: { max: MAX_TOKEN_LENGTH, description: 'the token' },
  token_type_hint: { max: 64, description: '`access_token` or `refresh_token` (a hint only)' },
  ...CLIENT_PARAMS,
};

const REGISTER_PARAMS: ParamRules = {
  username: { min: 1, max: 64, required: true },
  password: { min: 1, max: 1024, required: true },
};

/** RFC 6749 §2.3: how a client authenticates at the endpoints that take `security: 'client'`. */
export const CLIENT_AUTH_DOC =
  'Client authentication (RFC 6749 §2.3): HTTP Basic with the form-urlencoded client_id and client_secret ' +
  '(client_secret_basic), or client_id and client_secret in the body (client_secret_post); a public client sends ' +
  'client_id alone; a request that names no client acts as the default public client. Failure: 401 invalid_client.';

/** The session listing; `/{id}` under it is one session, `/revoke-others` ends the others. */
export const SESSIONS_PATH = '/auth/sessions';

/**
 * A row's path split at its path parameter: `{ prefix: '/auth/sessions/', name: 'id' }` for
 * `/auth/sessions/{id}`; undefined for a fixed path.
 */
export function pathParameter(path: string): { prefix: string; name: string } | undefined {
  const m = /^(.*\/)\{([a-z_]+)\}$/.exec(path);
  return m ? { prefix: m[1] as string, name: m[2] as string } : undefined;
}

/** RFC 8414 §3: the well-known path of the authorization server metadata. */
export const METADATA_PATH = '/.well-known/oauth-authorization-server';

/** RFC 7517 §5: the public JWK Set of the EdDSA/ES256 access-token signatures. */
export const JWKS_PATH = '/.well-known/jwks.json';

/** POST /authorize: the authorization request's parameters, carried by the forms, and the forms' own fields. */
const AUTHORIZE_FORM_PARAMS: ParamRules = Object.fromEntries(
  Object.entries({ ...AUTHORIZATION_PARAMS, ...FORM_PARAMS }).map(([name, max]) => [name, { max }]),
);

/** POST /logout: the confirmation form's fields (RP-Initiated Logout 1.0 §2 parameters and `csrf`). */
const END_SESSION_FORM_PARAMS: ParamRules = Object.fromEntries(
  Object.entries(END_SESSION_PARAMS).map(([name, max]) => [name, { max }]),
);

/** OpenID Connect Discovery 1.0 §4: the well-known path of the OpenID Provider configuration. */
export const OPENID_CONFIGURATION_PATH = '/.well-known/openid-configuration';

/** The table. Order: the order of the OpenAPI document. */
export const ENDPOINTS: readonly Endpoint[] = [
  {
    method: 'GET',
    path: AUTHORIZE_PATH,
    public: true,
    handler: 'authorize',
    feature: 'authorize',
    doc: {
      summary:
        'Authorization endpoint (RFC 6749 §4.1.1): response_type=code with PKCE S256; answers the login or consent page, or a redirect',
      description:
        'An unknown client_id or an unregistered redirect_uri gets an HTML error page (never a redirect); every other error redirects with error, state and iss (RFC 6749 §4.1.2.1, RFC 9207).',
      tags: ['auth'],
    },
  },
  {
    method: 'POST',
    path: AUTHORIZE_PATH,
    public: true,
    params: AUTHORIZE_FORM_PARAMS,
    handler: 'authorizeSubmit',
    feature: 'authorize',
    doc: {
      summary: 'The hosted login and consent forms (form-urlencoded, CSRF-protected); answers a page or a 303 redirect',
      tags: ['auth'],
    },
  },
  {
    method: 'POST',
    path: '/auth/token',
    public: true,
    params: 'grants',
    handler: 'token',
    doc: {
      summary: (ctx) => `Token endpoint (RFC 6749 §3.2): grant_type ${ctx.grantTypes.join(', ')}`,
      description: CLIENT_AUTH_DOC,
      tags: ['auth'],
      security: 'client',
      response: { status: 200, schema: 'token' },
      errors: [400, 401, 413, 415, 429, 503],
    },
  },
  {
    method: 'POST',
    path: '/auth/refresh',
    public: true,
    params: REFRESH_PARAMS,
    handler: 'refresh',
    doc: {
      summary: 'Rotates a refresh token: the old one is consumed, a new pair is issued',
      description: (ctx) =>
        `Send {"refresh_token": "..."}, or in cookie mode the refresh cookie with the ${ctx.csrfHeader} header.`,
      tags: ['auth'],
      response: { status: 200, schema: 'token' },
      errors: [400, 403, 429, 503],
    },
  },
  {
    method: 'POST',
    path: '/auth/revoke',
    public: true,
    params: TOKEN_PARAMS,
    handler: 'revoke',
    doc: {
      summary: "Token revocation (RFC 7009): the client's own tokens; 200 even for unknown, invalid or other clients' tokens",
      description: CLIENT_AUTH_DOC,
      tags: ['auth'],
      security: 'client',
      response: { status: 200, schema: 'empty' },
      errors: [400, 401, 503],
    },
  },
  {
    method: 'POST',
    path: '/auth/introspect',
    // Public to the Bearer guard: the caller is a client, authenticated by the handler (RFC 7662 §2.1).
    public: true,
    params: TOKEN_PARAMS,
    handler: 'introspect',
    doc: {
      summary: 'Token introspection (RFC 7662): for clients registered with --introspect, authenticated',
      description:
        "A confidential client registered with `tessera client add ID --confidential --introspect` authenticates with HTTP Basic or client_secret_post. An end user's Bearer token is not accepted (401).",
      tags: ['auth'],
      security: 'basic',
      response: { status: 200, schema: 'introspection' },
      errors: [400, 401, 403, 503],
    },
  },
  {
    method: 'POST',
    path: '/auth/logout',
    public: true,
    params: REFRESH_PARAMS,
    handler: 'logout',
    doc: {
      summary: "Ends the presented refresh token's session (its family), if it is the client's and current",
      description: `${CLIENT_AUTH_DOC} A confidential client authenticates as for /auth/refresh. Another client's refresh token, or one already rotated, ends nothing and is answered 204 all the same (RFC 7009 §2.1, §2.2).`,
      tags: ['auth'],
      security: 'client',
      response: { status: 204, schema: 'noContent' },
      errors: [400, 401, 403, 503],
    },
  },
  {
    method: 'POST',
    path: '/auth/logout-all',
    public: false,
    handler: 'logoutAll',
    doc: {
      summary: 'Ends every session of the caller (logout everywhere)',
      tags: ['auth'],
      security: 'bearer',
      response: { status: 204, schema: 'noContent' },
      errors: [401, 503],
    },
  },
  {
    method: 'GET',
    path: SESSIONS_PATH,
    public: false,
    handler: 'sessions',
    doc: {
      summary: "The caller's sessions (where the user is signed in), most recently used first, the caller's own marked current",
      description:
        'A session is a refresh token family: one per sign-in, kept through its refreshes. Times are RFC 3339; address is as the server keeps it (by default the /24 or /48 network).',
      tags: ['auth'],
      security: 'bearer',
      response: { status: 200, schema: 'sessions' },
      errors: [401, 503],
    },
  },
  {
    method: 'DELETE',
    path: `${SESSIONS_PATH}/{id}`,
    public: false,
    handler: 'deleteSession',
    doc: {
      summary: "Ends one of the caller's sessions: its refresh token and access tokens are refused on every instance",
      description: "Another user's session id, or an unknown one, is 404 (never 403: nothing tells whether it exists).",
      tags: ['auth'],
      security: 'bearer',
      response: { status: 204, schema: 'noContent' },
      errors: [401, 404, 503],
    },
  },
  {
    method: 'POST',
    path: `${SESSIONS_PATH}/revoke-others`,
    public: false,
    handler: 'revokeOtherSessions',
    doc: {
      summary: "Ends every session of the caller but the caller's own (sign out everywhere else)",
      tags: ['auth'],
      security: 'bearer',
      response: { status: 204, schema: 'noContent' },
      errors: [401, 503],
    },
  },
  {
    method: 'POST',
    path: '/auth/register',
    public: true,
    params: REGISTER_PARAMS,
    handler: 'register',
    feature: 'register',
    doc: {
      summary: 'Creates a user (only when registration is enabled)',
      tags: ['auth'],
      response: { status: 201, schema: 'user' },
      errors: [400, 409, 429, 503],
    },
  },
  {
    method: 'GET',
    path: '/me',
    public: false,
    handler: 'me',
    feature: 'me',
    doc: {
      summary: 'Who the access token speaks for (an example of a protected route)',
      tags: ['example'],
      security: 'bearer',
      response: { status: 200, schema: 'me' },
      errors: [400, 401, 503],
    },
  },
  {
    method: 'GET',
    path: '/userinfo',
    public: false,
    handler: 'userinfo',
    feature: 'oidc',
    doc: {
      summary: 'UserInfo (OpenID Connect Core §5.3): sub and preferred_username of an access token granted openid',
      tags: ['oidc'],
      security: 'bearer',
      errors: [401, 403, 503],
    },
  },
  {
    method: 'GET',
    path: END_SESSION_PATH,
    public: true,
    handler: 'endSession',
    feature: 'oidc',
    doc: {
      summary:
        'End session (OpenID Connect RP-Initiated Logout 1.0): ends the browser session; back to a registered post_logout_redirect_uri with state',
      tags: ['oidc'],
    },
  },
  {
    method: 'POST',
    path: END_SESSION_PATH,
    public: true,
    params: END_SESSION_FORM_PARAMS,
    handler: 'endSessionSubmit',
    feature: 'oidc',
    doc: { summary: 'The sign-out confirmation form (CSRF-protected)', tags: ['oidc'] },
  },
  {
    method: 'GET',
    path: OPENID_CONFIGURATION_PATH,
    public: true,
    handler: 'openidConfiguration',
    feature: 'oidc',
    doc: { summary: 'OpenID Provider configuration (OpenID Connect Discovery 1.0)', tags: ['oidc'] },
  },
  {
    method: 'GET',
    path: METADATA_PATH,
    public: true,
    handler: 'metadata',
    doc: { summary: 'Authorization server metadata (RFC 8414)', tags: ['auth'] },
  },
  {
    method: 'GET',
    path: '/health',
    public: true,
    handler: 'health',
    feature: 'health',
    doc: { summary: 'Liveness: the process answers', tags: ['ops'], response: { status: 200, schema: 'status' } },
  },
  {
    method: 'GET',
    path: '/ready',
    public: true,
    handler: 'ready',
    feature: 'health',
    doc: {
      summary: 'Readiness: the token store answers (503 otherwise)',
      tags: ['ops'],
      response: { status: 200, schema: 'ready' },
      errors: [503],
    },
  },
  {
    method: 'GET',
    path: JWKS_PATH,
    public: true,
    handler: 'jwks',
    feature: 'jwks',
    doc: { summary: 'Public keys of the access-token signatures (RFC 7517 JWK Set)', tags: ['auth'] },
  },
];

/**
 * The paths the guard lets through without a Bearer token: every public row, served or not
 * (a disabled `/auth/register` is then the app's 404, not a 401).
 */
export const PUBLIC_ENDPOINT_PATHS: readonly string[] = ENDPOINTS.filter((e) => e.public).map((e) => e.path);

/** The row answered by `handler` (each handler answers one row). */
export function endpointOf(handler: EndpointHandler): Endpoint {
  const row = ENDPOINTS.find((e) => e.handler === handler);
  if (!row) throw new TypeError(`no endpoint is answered by ${handler}`);
  return row;
}

/** A row's documentation text in a context. */
export function docText(text: DocText, ctx: DocContext): string {
  return typeof text === 'function' ? text(ctx) : text;
}
