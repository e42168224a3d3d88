/**
 * TypeBox schemas of the HTTP contract: the single source of request
 * validation, response serialisation (fields not listed are never sent) and
 * the OpenAPI document at /openapi.json.
 *
 * @module
 */
import { type Static, type TSchema, Type } from 'typebox';
import { GRANT_TYPE_RULE, type GrantRegistry } from './core/grants/registry.js';
import { MAX_TOKEN_LENGTH } from './core/limits.js';
import { ERROR_REASONS, type ErrorReason } from './errors.js';

/** RFC 6749 §2.3.1 client_secret_post, and §3.2.1 client_id of a public client. */
const clientParams = {
  client_id: Type.Optional(Type.String({ maxLength: 1024, description: 'the client (RFC 6749 §2.2); none: the default client' })),
  client_secret: Type.Optional(
    Type.String({ maxLength: 1024, description: 'client_secret_post (RFC 6749 §2.3.1); or use HTTP Basic' }),
  ),
};

const token = (description: string) => Type.String({ minLength: 1, maxLength: MAX_TOKEN_LENGTH, description });

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
    ...clientParams,
  });
}

/** RFC 6749 §5.1 successful token response. */
export const TokenResponse = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer({ description: 'access token lifetime, seconds' }),
  refresh_token: Type.Optional(Type.String({ description: 'absent in cookie mode (the refresh token is in a cookie)' })),
  refresh_expires_in: Type.Optional(Type.Integer({ description: 'refresh token lifetime, seconds' })),
  scope: Type.String({ description: 'granted scope (RFC 6749 §3.3)' }),
});
export type TokenResponse = Static<typeof TokenResponse>;

/** The refresh path of the original request. The token may instead come from the refresh cookie (cookie mode). */
export const RefreshRequest = Type.Object({
  refresh_token: Type.Optional(token('the refresh token; optional in cookie mode')),
  ...clientParams,
});
export type RefreshRequest = Static<typeof RefreshRequest>;

/** RFC 7009 §2.1 / RFC 7662 §2.1. `token` is optional here so its absence is an `invalid_request` from the handler. */
export const TokenParam = Type.Object({
  token: Type.Optional(Type.String({ maxLength: MAX_TOKEN_LENGTH, description: 'the token' })),
  token_type_hint: Type.Optional(Type.String({ maxLength: 64, description: '`access_token` or `refresh_token` (a hint only)' })),
  ...clientParams,
});
export type TokenParam = Static<typeof TokenParam>;

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
});

export const RegisterRequest = Type.Object({
  username: Type.String({ minLength: 1, maxLength: 64 }),
  password: Type.String({ minLength: 1, maxLength: 1024 }),
});
export type RegisterRequest = Static<typeof RegisterRequest>;

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
