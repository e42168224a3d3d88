/**
 * What a grant of the token endpoint is (RFC 6749 §4, §4.5): a `grant_type`, the
 * parameters it reads, who may use it, and how it turns a request into a token pair.
 * The token endpoint, its parameter rules, the OpenAPI schema of its body, the RFC 8414
 * `grant_types_supported` and the `unsupported_grant_type` text all come from the
 * registered grants (registry.ts).
 *
 * @module
 */
import type { ClientRecord, ClientType } from '../../../oauth-clients/types.js';
import type { AccessGrant, TokenPair, TokenService } from '../../../refresh/types.js';
import type { UserService } from '../../../users/users.js';
import type { GuessingLimiter } from '../guessing-limiter.js';
import type { AuthRequest } from '../request.js';

/** One body parameter of a grant: an exact string of at most `max` characters. */
export interface GrantParam {
  max: number;
  /**
   * REQUIRED by the grant: its absence is a 400 `invalid_request` naming every required
   * parameter of the grant (RFC 6749 §5.2). Kept optional in the endpoint's schema, so
   * the answer is the grant's, whichever grant is asked for.
   */
  required?: boolean;
  /** For the OpenAPI document. */
  description: string;
}

/** What a grant's handler gets: the request, the calling client, and the services of the server. */
export interface GrantContext {
  readonly req: AuthRequest;
  /** A body parameter, already checked to be a string within its limit, or absent. */
  param(name: string): string | undefined;
  /** The client, authenticated as RFC 6749 §2.3 / §3.2.1 ask before the grant is looked at. */
  readonly client: ClientRecord;
  /** True when the client proved a secret (client_secret_basic or client_secret_post). */
  readonly authenticated: boolean;
  readonly tokens: TokenService;
  /**
   * RFC 9449: the thumbprint of the request's checked DPoP proof, `null` for none, `undefined`
   * when DPoP is off. `tokens` already binds what it issues to it.
   */
  readonly dpopJkt?: string | null | undefined;
  /** The user directory, when the server has one. */
  readonly users: UserService | undefined;
  /** The scope the server grants at login (RFC 6749 §3.3), if any. */
  readonly scope: string | undefined;
  /** The brute-force protection of credential checks (guessing-limiter.ts); `undefined` when off. */
  readonly limiter: GuessingLimiter | undefined;
  /** Runs a password hash through the instance's hash queue (a full queue answers 503). */
  hashing<T>(address: string, fn: () => Promise<T>): Promise<T>;
}

/** What a grant answers: a pair, or an access token alone; with scope `openid` on the code flow, an ID token too. */
export type GrantResult = (TokenPair | AccessGrant) & { idToken?: string };

/** A grant of the token endpoint. Register extra ones with the `grants` option of the adapters. */
export interface Grant {
  /** The `grant_type` value (RFC 6749 §4.5: an absolute URI for an extension grant). */
  readonly type: string;
  /** One line for the OpenAPI document, e.g. `RFC 6749 §4.3`. */
  readonly description: string;
  /** The body parameters it reads besides `grant_type` and the client's. */
  readonly params: Readonly<Record<string, GrantParam>>;
  /** `'required'`: the client must prove a secret (else 401 `invalid_client`). Default: any client (RFC 6749 §3.2.1). */
  readonly clientAuthentication?: 'required';
  /** The client types that may use it (else 400 `unauthorized_client`, RFC 6749 §5.2). Default: all. */
  readonly clientTypes?: readonly ClientType[];
  /** In cookie mode, the refresh token of its answer goes into the refresh cookie (cookies.ts). Default false. */
  readonly refreshCookie?: boolean;
  /**
   * Issues the pair (or an access token alone: `tokens.issueAccess`, RFC 6749 §4.4.3), or throws
   * an HttpError (or a store outage, mapped to 503). The session it starts records `type` as the
   * grant that created it (`IssueInput.grant`, shown by `GET /auth/sessions`) unless it names one.
   */
  handle(ctx: GrantContext): Promise<GrantResult>;
}
