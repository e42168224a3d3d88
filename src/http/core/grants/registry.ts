/**
 * The grants of a token endpoint, by `grant_type`. Everything the endpoint says about
 * its grants derives from here: the dispatch, the body's parameter rules (core/request.ts
 * `checkParams` for Express and Hono, the TypeBox schema for Fastify and the OpenAPI
 * document), the `unsupported_grant_type` text (RFC 6749 §5.2) and the RFC 8414
 * `grant_types_supported`.
 *
 * @module
 */
import { GRANT_TYPES } from '../../../oauth-clients/clients.js';
import type { AuthorizationCodes } from '../../../refresh/authorization-codes.js';
import type { UserService } from '../../../users/users.js';
import { HttpError } from '../errors.js';
import type { ParamRules } from '../request.js';
import { authorizationCodeGrant, type CodeGrantOidc } from './authorization-code.js';
import { clientCredentialsGrant } from './client-credentials.js';
import { passwordGrant } from './password.js';
import { refreshTokenGrant } from './refresh-token.js';
import type { Grant, GrantParam } from './types.js';

/** `grant_type` itself: a plain string (not an enum), so an unknown grant is `unsupported_grant_type`. */
export const GRANT_TYPE_RULE = { min: 1, max: 64, required: true } as const;

/** RFC 6749 §2.3.1 client_secret_post, and §3.2.1 client_id of a public client. */
export const CLIENT_PARAMS: ParamRules = {
  client_id: { max: 1024, description: 'the client (RFC 6749 §2.2); none: the default client' },
  client_secret: { max: 1024, description: 'client_secret_post (RFC 6749 §2.3.1); or use HTTP Basic' },
};

/** What decides the built-in grants of a server. */
export interface BuiltinGrantOptions {
  /** The user directory: the password grant needs it. */
  users: UserService | undefined;
  /** The authorization endpoint's codes: the authorization_code grant needs them. */
  codes: AuthorizationCodes | undefined;
  /** OpenID Connect: ID tokens for codes with scope `openid`. */
  oidc?: CodeGrantOidc | undefined;
  /** The password grant (RFC 9700 §2.4: MUST NOT be used) can be turned off. Default on. */
  password?: boolean;
  /** The client credentials grant (RFC 6749 §4.4). Default on: only clients registered for it may use it. */
  clientCredentials?: boolean;
}

/**
 * The built-in grants of a server: authorization_code (with an authorization endpoint),
 * password (with a user directory, unless turned off), client_credentials and refresh_token.
 * One entry per grant; removing one turns it off everywhere.
 */
export function builtinGrants(o: BuiltinGrantOptions): Grant[] {
  return [
    ...(o.codes ? [authorizationCodeGrant(o.codes, o.oidc)] : []),
    ...(o.users && o.password !== false ? [passwordGrant] : []),
    ...(o.clientCredentials !== false ? [clientCredentialsGrant] : []),
    refreshTokenGrant,
  ];
}

/**
 * The grants whose use a client's registration decides (RFC 7591 §2 `grant_types`): a client
 * not registered for one gets `unauthorized_client`. Extension grants decide for themselves
 * (`Grant.clientTypes`, `clientAuthentication`).
 */
export const REGISTERED_GRANT_TYPES: ReadonlySet<string> = new Set(GRANT_TYPES);

/** A body parameter of the token endpoint as the schema shows it: the union over the grants. */
export interface TokenParam {
  max: number;
  description: string;
}

export interface GrantRegistry {
  /** The grant of a `grant_type`, or `undefined`. */
  get(type: unknown): Grant | undefined;
  /** The registered `grant_type`s, in registration order (RFC 8414 `grant_types_supported`). */
  readonly types: readonly string[];
  readonly grants: readonly Grant[];
  /** The body parameters every grant reads, merged (each optional: a grant checks its own required ones). */
  readonly params: Readonly<Record<string, TokenParam>>;
  /** The token endpoint's rules for `checkParams`: `grant_type`, the grants' parameters, the client's. */
  readonly rules: ParamRules;
  /** 400 `unsupported_grant_type` naming the registered grants (RFC 6749 §5.2). */
  unsupported(): HttpError;
  /** The 400 `invalid_request` of a grant whose required parameters are not all present, else `undefined`. */
  missing(grant: Grant, body: Record<string, unknown>): HttpError | undefined;
}

export function createGrantRegistry(grants: readonly Grant[]): GrantRegistry {
  const byType = new Map<string, Grant>();
  const params: Record<string, TokenParam> = Object.create(null);
  for (const grant of grants) {
    if (typeof grant.type !== 'string' || grant.type === '' || grant.type.length > GRANT_TYPE_RULE.max)
      throw new TypeError(`tessera: a grant type is a string of 1 to ${GRANT_TYPE_RULE.max} characters`);
    if (byType.has(grant.type)) throw new TypeError(`tessera: grant_type ${grant.type} is registered twice`);
    byType.set(grant.type, grant);
    for (const [name, p] of Object.entries(grant.params) as [string, GrantParam][]) {
      if (name === 'grant_type' || name in CLIENT_PARAMS)
        throw new TypeError(`tessera: grant ${grant.type} cannot redefine the parameter ${name}`);
      const seen = params[name];
      if (seen === undefined) params[name] = { max: p.max, description: p.description };
      else if (seen.max !== p.max)
        throw new TypeError(`tessera: grant ${grant.type} gives ${name} another length limit than an earlier grant`);
      else if (!seen.description.includes(p.description)) seen.description = `${seen.description}; ${p.description}`;
    }
  }
  const types = [...byType.keys()];
  const rules: Record<string, { min?: number; max: number; required?: boolean }> = { grant_type: { ...GRANT_TYPE_RULE } };
  for (const name in params) rules[name] = { max: (params[name] as TokenParam).max };
  Object.assign(rules, CLIENT_PARAMS);
  const required = new Map(
    grants.map((g) => [g, Object.keys(g.params).filter((n) => (g.params[n] as GrantParam).required)] as const),
  );
  const unsupportedText = types.length ? `Supported grant types: ${types.join(', ')}` : 'No grant type is enabled';

  return {
    get: (type) => (typeof type === 'string' ? byType.get(type) : undefined),
    types,
    grants: [...grants],
    params,
    rules,
    unsupported: () => new HttpError(400, 'unsupported_grant_type', unsupportedText),
    missing(grant, body) {
      const names = required.get(grant) ?? [];
      if (names.every((n) => body[n] !== undefined)) return undefined;
      // RFC 6749 §5.2 invalid_request: "missing a required parameter".
      return new HttpError(400, 'invalid_request', `grant_type=${grant.type} needs ${names.join(' and ')}`);
    },
  };
}
