/**
 * The security events of the auth endpoints: one neutral seam through which the
 * handlers report what they decided (a sign-in, a refresh and why it was refused,
 * a reuse detection, a logout, a revocation, a client that failed to authenticate,
 * a guessing-limiter block), for whoever listens: the reference server's metrics
 * and audit trail (src/server/metrics.ts, src/server/audit.ts), or an application's
 * own sink (`events` option of the routes).
 *
 * An event names who and where as far as the handler knows it: user id, username,
 * client id, session (refresh token family) id, client address, user agent, request
 * id. Never a token, a password, a client secret or a code: an event is meant to be
 * written to logs and shipped to other systems (RFC 9700 §4.14, RFC 6819 §5.1.4.1).
 *
 * A sink is called synchronously on the request's path and must not slow it down;
 * whatever it throws is swallowed ({@link guardedEmitter}): an event sink never
 * changes an answer.
 *
 * @module
 */
import type { AccessGrant, IssueInput, TokenPair, TokenService } from '../../refresh/types.js';
import { HttpError, toHttpError } from './errors.js';
import type { Grant, GrantContext } from './grants/types.js';
import type { AuthRequest } from './request.js';

/** Who and where: each member only where known. */
export interface EventSubject {
  /** The user (`sub`). */
  user_id?: string;
  /** The username, as the user typed it on a failed sign-in, else the account's. */
  username?: string;
  /** The OAuth client (RFC 6749 §2.2), as presented on a failed client authentication. */
  client_id?: string;
  /** The login session: the refresh token family id. */
  session_id?: string;
  /** The client address after the trusted-proxy rules (the guessing limiter's key). */
  address?: string;
  /** `User-Agent`, at most {@link MAX_USER_AGENT} characters. */
  user_agent?: string;
  /** The framework's request id, to find the request's log lines. */
  request_id?: string;
}

/** `ok`; `failed`: a wrong password or code; `limited`: the guessing limiter refused before checking; `error`: a dependency was down. */
export type SignInResult = 'ok' | 'failed' | 'limited' | 'error';
/** `refused`: a verdict on the token (its `reason`) or the request; `error`: a dependency was down (503). */
export type RefreshResult = 'ok' | 'refused' | 'error';
/** What ended tokens: RFC 7009 revocation, a logout, logout everywhere, a reuse detection, a replayed authorization code. */
export type RevocationKind = 'revoke' | 'logout' | 'logout_all' | 'reuse' | 'code_replay';
/** Why a client failed to authenticate (RFC 6749 §2.3). */
export type ClientAuthFailure = 'unknown_client' | 'bad_secret' | 'secret_required' | 'no_client' | 'malformed';
/** Which budget of the guessing limiter refused. */
export type LimiterScope = 'sign_in' | 'registration';

/** One security event. `event` discriminates; every member besides those of {@link EventSubject} has a bounded set of values. */
export type AuthEvent = EventSubject &
  (
    | { event: 'sign_in'; result: SignInResult; grant: string; reason?: string }
    | { event: 'refresh'; result: RefreshResult; reason?: string }
    | { event: 'reuse_detected' }
    | { event: 'logout'; ended: boolean }
    | { event: 'logout_all' }
    | { event: 'revocation'; kind: RevocationKind }
    | { event: 'client_auth_failed'; reason: ClientAuthFailure }
    | { event: 'limiter_block'; scope: LimiterScope }
    | { event: 'authorization_code_replay' }
    | { event: 'registration'; result: 'ok' | 'limited' | 'refused' }
  );

export type AuthEventName = AuthEvent['event'];

/** Receives the events. Synchronous; must not block. */
export interface AuthEventSink {
  emit(event: AuthEvent): void;
}

export type Emit = (event: AuthEvent) => void;

export const MAX_USER_AGENT = 256;

/** A sink's `emit` that never throws into the request; `undefined` without a sink (no event is built then). */
export function guardedEmitter(sink: AuthEventSink | undefined): Emit | undefined {
  if (!sink) return undefined;
  return (event) => {
    try {
      sink.emit(event);
    } catch {
      // An event sink never changes an answer.
    }
  };
}

/** Calls every sink in turn, each guarded. */
export function fanOut(sinks: readonly (AuthEventSink | undefined)[]): AuthEventSink | undefined {
  const live = sinks.filter((s): s is AuthEventSink => s !== undefined).map((s) => guardedEmitter(s) as Emit);
  if (live.length === 0) return undefined;
  if (live.length === 1) return { emit: live[0] as Emit };
  return {
    emit(e) {
      for (const f of live) f(e);
    },
  };
}

/** Address, user agent and request id of a request. */
export function requestSubject(req: AuthRequest | undefined): EventSubject {
  if (!req) return {};
  const out: EventSubject = { address: req.ip };
  const ua = req.headers['user-agent'];
  if (typeof ua === 'string' && ua !== '') out.user_agent = ua.length > MAX_USER_AGENT ? ua.slice(0, MAX_USER_AGENT) : ua;
  if (req.id !== undefined) out.request_id = req.id;
  return out;
}

/**
 * A rotation's event, the frequent one: one object shape whatever the request told (a member not
 * known is undefined, which every sink leaves out), built without a spread.
 */
function refreshOk(base: EventSubject, sessionId: string): AuthEvent {
  return {
    event: 'refresh',
    result: 'ok',
    address: base.address,
    user_agent: base.user_agent,
    request_id: base.request_id,
    client_id: base.client_id,
    session_id: sessionId,
  };
}

/** The refusal reason of an error: the `reason` of a refused token or password, else the RFC 6749 §5.2 code. */
function reasonOf(e: unknown): string {
  const mapped = toHttpError(e);
  return mapped.reason ?? mapped.error;
}

/**
 * A failed rotation: `refused` with its reason, or `error` (no verdict, no reason) when a
 * dependency was down; a replayed token (RFC 9700 §4.14.2) also reports the detection and
 * the revocation of its session.
 */
function refreshFailed(e: unknown, base: EventSubject, emit: Emit): void {
  if (isOutage(e)) {
    emit({ event: 'refresh', result: 'error', ...base });
    return;
  }
  const reason = reasonOf(e);
  emit({ event: 'refresh', result: 'refused', reason, ...base });
  if (reason === 'reused') {
    emit({ event: 'reuse_detected', ...base });
    emit({ event: 'revocation', kind: 'reuse', ...base });
  }
}

/** 5xx: a dependency (the store, the hash queue) could not answer; no verdict on the request. */
function isOutage(e: unknown): boolean {
  return toHttpError(e).statusCode >= 500;
}

/**
 * Runs a grant of the token endpoint (RFC 6749 §4) and reports its outcome: a `refresh`
 * for `refresh_token` (with a `reuse_detected` and a `revocation` when the token was replayed),
 * else a `sign_in` (with a `limiter_block` when the guessing limiter refused, an
 * `authorization_code_replay` when a used code came back). Who signed in is read from
 * what the grant asks the token service to issue, so no grant has to report it.
 */
export async function observedGrant(grant: Grant, ctx: GrantContext, emit: Emit): Promise<TokenPair | AccessGrant> {
  const seen: { issued?: IssueInput; ended?: { sub: string; familyId: string } } = {};
  const own = ctx.tokens;
  const watched: Partial<TokenService> = {
    issue: (input) => ((seen.issued = input), own.issue(input)),
    issueAccess: (input) => ((seen.issued = input), own.issueAccess(input)),
    endFamily: (sub, familyId) => ((seen.ended = { sub, familyId }), own.endFamily(sub, familyId)),
  };
  // The service's other members as they are, bound to it (a class instance keeps its private fields).
  const tokens = new Proxy(own, {
    get(target, name, _receiver) {
      if (typeof name === 'string' && Object.hasOwn(watched, name)) return watched[name as keyof TokenService];
      const v: unknown = Reflect.get(target, name, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  const base: EventSubject = { ...requestSubject(ctx.req), client_id: ctx.client.clientId };
  const refresh = grant.type === 'refresh_token';
  try {
    const pair = await grant.handle({ ...ctx, tokens });
    if (refresh) emit(refreshOk(base, pair.familyId));
    else {
      const who: EventSubject = { ...base, session_id: pair.familyId };
      if (seen.issued) {
        who.user_id = seen.issued.sub;
        const name = seen.issued.claims?.preferred_username;
        if (typeof name === 'string') who.username = name;
      }
      emit({ event: 'sign_in', result: 'ok', grant: grant.type, ...who });
    }
    return pair;
  } catch (e) {
    if (refresh) {
      refreshFailed(e, base, emit);
      throw e;
    }
    const who: EventSubject = { ...base };
    const username = ctx.param('username');
    if (grant.type === 'password' && username) who.username = username;
    const limited = e instanceof HttpError && e.statusCode === 429;
    const result: SignInResult = limited ? 'limited' : isOutage(e) ? 'error' : 'failed';
    emit({ event: 'sign_in', result, grant: grant.type, ...(result === 'failed' ? { reason: reasonOf(e) } : {}), ...who });
    if (limited) emit({ event: 'limiter_block', scope: 'sign_in', ...who });
    if (seen.ended) {
      const ended = { ...base, user_id: seen.ended.sub, session_id: seen.ended.familyId };
      emit({ event: 'authorization_code_replay', ...ended });
      emit({ event: 'revocation', kind: 'code_replay', ...ended });
    }
    throw e;
  }
}

/** `POST /auth/refresh`: the same `refresh` (and reuse) events as the refresh_token grant. */
export async function observedRefresh(
  req: AuthRequest,
  clientId: string,
  emit: Emit,
  rotate: () => Promise<TokenPair>,
): Promise<TokenPair> {
  // A fresh object: the client is added in place (a member after a spread is defined at run time).
  const base = requestSubject(req);
  base.client_id = clientId;
  try {
    const pair = await rotate();
    emit(refreshOk(base, pair.familyId));
    return pair;
  } catch (e) {
    refreshFailed(e, base, emit);
    throw e;
  }
}
