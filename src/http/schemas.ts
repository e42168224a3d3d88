/**
 * TypeBox schemas of the HTTP contract, built from the endpoint table
 * (core/endpoints.ts): request validation on Fastify, response serialisation
 * (fields not listed are never sent) and the OpenAPI document at /openapi.json.
 *
 * @module
 */
import { type Static, type TSchema, Type } from 'typebox';
import { type DocContext, docText, type Endpoint, pathParameter, type ResponseSchemaName } from './core/endpoints.js';
import { CLIENT_PARAMS, GRANT_TYPE_RULE, type GrantRegistry } from './core/grants/registry.js';
import type { ParamRule, ParamRules } from './core/request.js';
import { ERROR_REASONS, type ErrorReason } from './errors.js';

/** A string parameter's schema from its neutral rule (the limits `checkParams` applies on Express and Hono). */
function paramSchema(rule: ParamRule): TSchema {
  const options: { minLength?: number; maxLength?: number; description?: string } = {};
  if (rule.min !== undefined) options.minLength = rule.min;
  options.maxLength = rule.max;
  if (rule.description !== undefined) options.description = rule.description;
  const schema = Type.String(options);
  return rule.required ? schema : Type.Optional(schema);
}

/** A request body's schema from an endpoint's parameter rules (core/endpoints.ts): the same rules, for Ajv and OpenAPI. */
export function bodySchema(rules: ParamRules) {
  const properties: Record<string, TSchema> = {};
  for (const name in rules) properties[name] = paramSchema(rules[name] as ParamRule);
  return Type.Object(properties);
}

/**
 * RFC 6749 §5.2 error response (also used for every other error). `reason`
 * is an extra member (§5.2 allows them): a plain string enum rather than a
 * union of literals, so the serialiser writes it without trying branches.
 */
export const ErrorResponse = Type.Object(
  {
    error: Type.String({ description: 'RFC 6749 §5.2 / RFC 6750 §3.1 error code' }),
    error_description: Type.String({
      description: 'Human-readable; never contains the presented token. Wording may change: decide on `error` and `reason`',
    }),
    reason: Type.Optional(
      Type.Unsafe<ErrorReason>({
        type: 'string',
        enum: [...ERROR_REASONS],
        description:
          'Why the token or grant was refused (with `invalid_grant` and `invalid_token`): the TokenError code, e.g. `reused`, `revoked`, `expired`. Never present on a 503 (a store outage says nothing about the token)',
      }),
    ),
    not_ready: Type.Optional(
      Type.Array(Type.String(), {
        description: 'GET /ready only: what is not ready (`store`; `revocation_feed` when its push is down too)',
      }),
    ),
  },
  { description: 'Error (RFC 6749 §5.2 shape)' },
);

/**
 * RFC 6749 §3.2: the token request, from the registered grants (core/grants/registry.ts).
 * `grant_type` is a plain string, not an enum, so an unknown grant reaches the handler and
 * is answered with `unsupported_grant_type` instead of a generic validation error. Every
 * grant parameter is optional here: the grant answers for its required ones. Unknown
 * parameters are ignored (RFC 6749 §3.2).
 */
export function tokenRequestSchema(grants: GrantRegistry) {
  const params: Record<string, TSchema> = {};
  for (const [name, p] of Object.entries(grants.params))
    params[name] = Type.Optional(Type.String({ maxLength: p.max, description: p.description }));
  return Type.Object({
    grant_type: Type.String({
      minLength: GRANT_TYPE_RULE.min,
      maxLength: GRANT_TYPE_RULE.max,
      description: grants.grants.map((g) => `\`${g.type}\` (${g.description})`).join(', '),
    }),
    ...params,
    ...bodySchema(CLIENT_PARAMS).properties,
  });
}

/** RFC 6749 §5.1 successful token response. */
export const TokenResponse = Type.Object({
  access_token: Type.String(),
  token_type: Type.Union([Type.Literal('Bearer'), Type.Literal('DPoP')], {
    description: '`DPoP` when the request carried a DPoP proof (RFC 9449 §5): the access token is bound to its key',
  }),
  expires_in: Type.Integer({ description: 'access token lifetime, seconds' }),
  refresh_token: Type.Optional(Type.String({ description: 'absent in cookie mode (the refresh token is in a cookie)' })),
  refresh_expires_in: Type.Optional(Type.Integer({ description: 'refresh token lifetime, seconds' })),
  id_token: Type.Optional(Type.String({ description: 'OpenID Connect Core §3.1.3.3: with scope openid on the code flow' })),
  scope: Type.String({ description: 'granted scope (RFC 6749 §3.3)' }),
});
export type TokenResponse = Static<typeof TokenResponse>;

/** RFC 7662 §2.2 introspection response. */
export const IntrospectionResponse = Type.Object({
  active: Type.Boolean(),
  sub: Type.Optional(Type.String()),
  scope: Type.Optional(Type.String()),
  exp: Type.Optional(Type.Integer()),
  iat: Type.Optional(Type.Integer()),
  jti: Type.Optional(Type.String()),
  token_type: Type.Optional(Type.String({ description: '`access_token` or `refresh_token`' })),
  iss: Type.Optional(Type.String()),
  client_id: Type.Optional(Type.String({ description: 'the client the token was issued to' })),
  username: Type.Optional(Type.String({ description: "the resource owner's username" })),
  cnf: Type.Optional(
    Type.Object({ jkt: Type.String() }, { description: 'RFC 9449 §6.2: the key a DPoP-bound token is bound to' }),
  ),
});

export const UserResponse = Type.Object({ id: Type.String(), username: Type.String() });

/** GET /me: who the access token speaks for. */
export const MeResponse = Type.Object({
  sub: Type.String(),
  preferred_username: Type.Optional(Type.String({ description: 'the username (OIDC Core §5.1)' })),
  client_id: Type.Optional(Type.String({ description: 'the client the token was issued to (RFC 9068 §2.2)' })),
  scope: Type.Optional(Type.String()),
  exp: Type.Integer({ description: 'access token expiry, seconds since the epoch' }),
  iat: Type.Optional(Type.Integer()),
});

/** GET /auth/sessions: the caller's sessions (refresh token families). */
export const SessionsResponse = Type.Object({
  sessions: Type.Array(
    Type.Object({
      id: Type.String({ description: 'the session id (DELETE /auth/sessions/{id})' }),
      client_id: Type.String({ description: "the client it was issued to ('' for none)" }),
      created_at: Type.String({ format: 'date-time', description: 'the sign-in (RFC 3339)' }),
      last_used_at: Type.String({ format: 'date-time', description: 'the latest refresh (RFC 3339)' }),
      expires_at: Type.String({ format: 'date-time', description: 'when it ends unless refreshed (RFC 3339)' }),
      user_agent: Type.String({ description: "the device's User-Agent, at most 256 characters ('' when unknown)" }),
      address: Type.String({ description: "the client address as kept (by default its /24 or /48 network; '' when not kept)" }),
      current: Type.Boolean({ description: 'the session of the access token that asked' }),
      grant: Type.Union([Type.String(), Type.Null()], {
        description: "the grant_type that created it ('password', 'authorization_code', ...); null when not recorded",
      }),
    }),
  ),
});

export const StatusResponse = Type.Object({ status: Type.String() });

/**
 * RFC 7009 §2.2: 200, and "the content of the response body is ignored by the client": `{}` as
 * JSON, which every client library can parse (simple-oauth2's `revoke()` parses it as JSON).
 */
export const EmptyObject = Type.Object({}, { additionalProperties: false, description: 'An empty JSON object' });

/** `GET /ready`: `revocation_feed` when the token service keeps pushed revocations ('down': every token asks the store). */
export const ReadyResponse = Type.Object({
  status: Type.String(),
  revocation_feed: Type.Optional(Type.Union([Type.Literal('up'), Type.Literal('down')])),
});

/** A response without a body (204). */
export const NoContent = Type.Null({ description: 'No content' });

/** The error responses a route can produce, for the OpenAPI document. */
export function errors(...codes: number[]): Record<number, typeof ErrorResponse> {
  return Object.fromEntries(codes.map((c) => [c, ErrorResponse]));
}

/** The response schemas an endpoint row names (core/endpoints.ts `ResponseSchemaName`). */
const RESPONSES: Record<ResponseSchemaName, TSchema> = {
  token: TokenResponse,
  empty: EmptyObject,
  introspection: IntrospectionResponse,
  noContent: NoContent,
  user: UserResponse,
  me: MeResponse,
  sessions: SessionsResponse,
  status: StatusResponse,
  ready: ReadyResponse,
};

/** OpenAPI: HTTP Basic (client_secret_basic), or none (client_secret_post and public clients use the body). */
const SECURITY: Record<NonNullable<Endpoint['doc']['security']>, { [scheme: string]: string[] }[]> = {
  client: [{ basic: [] }, {}],
  basic: [{ basic: [] }],
  bearer: [{ bearer: [] }],
};

const FORM = ['application/x-www-form-urlencoded', 'application/json'];

/** The Fastify route schema of an endpoint row (validation, serialisation, OpenAPI). */
export function routeSchema(row: Endpoint, ctx: DocContext, grants: GrantRegistry): Record<string, unknown> {
  const d = row.doc;
  const schema: Record<string, unknown> = { summary: docText(d.summary, ctx) };
  if (d.description !== undefined) schema.description = docText(d.description, ctx);
  schema.tags = [...d.tags];
  if (d.security !== undefined) schema.security = SECURITY[d.security];
  const param = pathParameter(row.path);
  if (param) schema.params = Type.Object({ [param.name]: Type.String() });
  if (row.params !== undefined) {
    schema.consumes = FORM;
    schema.body = row.params === 'grants' ? tokenRequestSchema(grants) : bodySchema(row.params);
  }
  if (d.response !== undefined || d.errors !== undefined) {
    const response: Record<number, TSchema> = {};
    if (d.response) response[d.response.status] = RESPONSES[d.response.schema];
    Object.assign(response, errors(...(d.errors ?? [])));
    schema.response = response;
  }
  return schema;
}
