/**
 * The authorization endpoint (RFC 6749 §3.1, §4.1; OAuth 2.1 §4.1) with the hosted
 * login and consent pages: `GET /authorize` validates the request and answers a page or a
 * redirect; `POST /authorize` takes the login or consent form.
 *
 * Rules kept here, each from the RFCs:
 * - The client and the redirect URI are checked first; when either is wrong the browser
 *   gets an error page and is never redirected (RFC 6749 §4.1.2.1, RFC 9700 §4.11.2: no
 *   open redirector). Redirect URIs are compared exactly (RFC 9700 §4.1.1; loopback port
 *   per RFC 8252 §7.3, matchRedirectUri).
 * - Every other error is a redirect with `error`, `state` and `iss` (RFC 6749 §4.1.2.1,
 *   RFC 9207 §2).
 * - PKCE is required of every client, `S256` only (RFC 9700 §2.1.1, RFC 7636 §4.3): a
 *   missing method means `plain`, which is refused.
 * - A parameter sent twice is `invalid_request` (RFC 6749 §3.1).
 * - The codes are one-time records (refresh/authorization-codes.ts) bound to the client, the
 *   redirect URI, the challenge, the scope and the user.
 * - The login form is behind the guessing limiter and the hash queue, as the password grant;
 *   both forms carry a CSRF token bound to a cookie (browser-session.ts).
 * - `prompt=none` answers `login_required` / `consent_required` without a page; `prompt=login`
 *   asks for the password even with a session (OIDC Core §3.1.2.1).
 *
 * @module
 */

import { randomBytes, sha256Base64url } from '../../internal/crypto.js';
import type { ClientService } from '../../oauth-clients/clients.js';
import { matchRedirectUri } from '../../oauth-clients/redirect-uris.js';
import { grantScope, scopeWords } from '../../oauth-clients/scope.js';
import type { ClientRecord } from '../../oauth-clients/types.js';
import {
  type AuthorizationCodes,
  createAuthorizationCodes,
  isJwkThumbprint,
  isS256Challenge,
} from '../../refresh/authorization-codes.js';
import type { OneTimeRecords } from '../../stores/types.js';
import type { UserService } from '../../users/users.js';
import { type BrowserSession, type BrowserSessions, createBrowserSessions } from './browser-session.js';
import { type Emit, requestSubject } from './events.js';
import type { GuessingLimiter } from './guessing-limiter.js';
import { type IdTokens, OIDC_SCOPES } from './oidc.js';
import { consentPage, errorPage, formActionSource, loginPage, logoutPage, pageHeaders } from './pages.js';
import type { AuthRequest, AuthResponse, CookieOp } from './request.js';

/** The `grant` of the sign-in events of the hosted login page (the code exchange that follows is `authorization_code`). */
const LOGIN_PAGE = 'login_page';

/** The path of the authorization endpoint (the metadata's `authorization_endpoint`). */
export const AUTHORIZE_PATH = '/authorize';

export interface AuthorizeOptions {
  /** Where codes and remembered consents live: the token store (every built-in store has one-time records). */
  records: OneTimeRecords;
  /**
   * Key of the session cookie's MAC and of the forms' CSRF tokens, at least 32 bytes; every
   * instance behind one issuer needs the same (the reference server derives it from its key ring).
   * Default: random per process (sessions then end with it).
   */
  key?: Uint8Array;
  /** `Secure` cookies with `__Host-` names. Default true. */
  secure?: boolean;
  /** How long a browser session skips the password. Default 43200 (12 hours). */
  sessionSeconds?: number;
  /** Lifetime of an authorization code. Default 60 (RFC 6749 §4.1.2: short; 10 minutes at most). */
  codeSeconds?: number;
  /** How long an approval on the consent page is remembered, renewed with each use. Default 31536000 (a year). */
  consentSeconds?: number;
  /** Milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number;
}

/** What the endpoint needs of the server. */
export interface AuthorizeDeps {
  clients: ClientService;
  users: UserService;
  limiter: GuessingLimiter | undefined;
  hashing<T>(address: string, fn: () => Promise<T>): Promise<T>;
  /** RFC 9207 `iss` of the responses. */
  issuer(): string | undefined;
  /** The scope a client without a registered scope gets (RFC 6749 §3.3). */
  defaultScope: string | undefined;
  /** OpenID Connect is on: `openid` and `profile` may be asked by every client; `id_token_hint` is read with it. */
  idTokens?: IdTokens | undefined;
  /** Where the login page's outcomes go (events.ts): a sign-in with grant `login_page`, a limiter block. */
  emit?: Emit;
  /** Ends the user's sessions (families) of one client: RP-Initiated Logout 1.0 §2. */
  endClientSessions?(sub: string, clientId: string): Promise<void>;
  /**
   * DPoP is served (RFC 9449): `dpop_jkt` binds the code to a key (§10). Off, the parameter is
   * ignored as any unrecognized one (RFC 6749 §3.1).
   */
  dpop?: boolean;
}

export interface AuthorizeEndpoint {
  readonly codes: AuthorizationCodes;
  readonly sessions: BrowserSessions;
  /** GET: validates, then a login page, a consent page or a redirect with a code. */
  start(req: AuthRequest): Promise<AuthResponse>;
  /** POST: the login or the consent form. */
  submit(req: AuthRequest): Promise<AuthResponse>;
  /** GET: RP-Initiated Logout 1.0 (the end-session endpoint). */
  endSession(req: AuthRequest): Promise<AuthResponse>;
  /** POST: the sign-out confirmation form. */
  endSessionSubmit(req: AuthRequest): Promise<AuthResponse>;
}

/** The path of the end-session endpoint (RP-Initiated Logout 1.0; the metadata's `end_session_endpoint`). */
export const END_SESSION_PATH = '/logout';

/** RP-Initiated Logout 1.0 §2 request parameters (and the confirmation form's `csrf`). */
export const END_SESSION_PARAMS = {
  id_token_hint: 8192,
  post_logout_redirect_uri: 2000,
  state: 1024,
  client_id: 128,
  logout_hint: 256,
  ui_locales: 64,
  csrf: 64,
} as const;

/** The parameters of an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, OIDC Core §3.1.2.1). */
export const AUTHORIZATION_PARAMS = {
  response_type: 64,
  client_id: 128,
  redirect_uri: 2000,
  scope: 1024,
  state: 1024,
  code_challenge: 128,
  code_challenge_method: 16,
  prompt: 64,
  nonce: 512,
  max_age: 10,
  login_hint: 256,
  dpop_jkt: 64,
} as const;
type AuthorizationParam = keyof typeof AUTHORIZATION_PARAMS;

/** The form fields of POST /authorize besides the request's own. */
export const FORM_PARAMS = { username: 256, password: 1024, decision: 16, csrf: 64 } as const;

/** RFC 6749 §4.1.2.1 error codes, plus OIDC Core §3.1.2.6's. */
type AuthorizeErrorCode =
  | 'invalid_request'
  | 'unauthorized_client'
  | 'access_denied'
  | 'unsupported_response_type'
  | 'invalid_scope'
  | 'server_error'
  | 'temporarily_unavailable'
  | 'login_required'
  | 'consent_required';

/** A validated authorization request. */
interface Authorization {
  client: ClientRecord;
  redirectUri: string;
  state: string | undefined;
  scope: string;
  codeChallenge: string;
  nonce: string | undefined;
  /** RFC 9449 §10: the thumbprint of the DPoP key the code's token request must prove. */
  dpopJkt: string | undefined;
  prompt: ReadonlySet<string>;
  /** OIDC Core §3.1.2.1: the longest time since the password, in seconds. */
  maxAge: number | undefined;
  /** The request's parameters as received, for the forms' hidden fields. */
  params: Record<string, string>;
}

type Checked = { ok: true; authz: Authorization } | { ok: false; response: AuthResponse };

const PROMPTS: ReadonlySet<string> = new Set(['none', 'login', 'consent']);
const CONSENT_KIND = 'consent';

/** A redirect the browser follows and no cache keeps; the address never leaks on in a Referer. */
function redirectTo(url: URL, status: 302 | 303, cookies?: CookieOp[]): AuthResponse {
  const res: AuthResponse = {
    status,
    headers: { location: url.href, 'cache-control': 'no-store', pragma: 'no-cache', 'referrer-policy': 'no-referrer' },
    body: null,
  };
  if (cookies?.length) res.cookies = cookies;
  return res;
}

/** The value of one parameter: a string, `undefined` when absent, or `null` when sent twice or too long. */
function single(source: Readonly<Record<string, unknown>>, name: string, max: number): string | undefined | null {
  const v = source[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length > max) return null;
  return v;
}

export function createAuthorizeEndpoint(options: AuthorizeOptions, deps: AuthorizeDeps): AuthorizeEndpoint {
  if (!options || typeof options.records?.putOnce !== 'function' || typeof options.records.consumeOnce !== 'function')
    throw new TypeError('authorize: `records` must be a store with one-time records (putOnce, consumeOnce)');
  const clock = options.clock ?? Date.now;
  const codes = createAuthorizationCodes({
    store: options.records,
    clock,
    ...(options.codeSeconds === undefined ? {} : { ttlSeconds: options.codeSeconds }),
  });
  const sessions = createBrowserSessions({
    key: options.key ?? randomBytes(32),
    clock,
    ...(options.secure === undefined ? {} : { secure: options.secure }),
    ...(options.sessionSeconds === undefined ? {} : { sessionSeconds: options.sessionSeconds }),
  });
  const consentMs = (options.consentSeconds ?? 31_536_000) * 1000;
  const records = options.records;

  // ---- answers ----

  function page(status: number, html: string, formTargets: readonly string[] = [], cookies?: CookieOp[]): AuthResponse {
    const res: AuthResponse = { status, headers: pageHeaders(formTargets), body: html };
    if (cookies?.length) res.cookies = cookies;
    return res;
  }

  function fail(status: number, title: string, message: string): AuthResponse {
    return page(status, errorPage({ title, message }));
  }

  /** A redirect to the client (RFC 6749 §4.1.2): its query kept (§3.1.2), `iss` added (RFC 9207 §2). */
  function redirect(
    authz: Pick<Authorization, 'redirectUri' | 'state'>,
    params: Record<string, string>,
    status: 302 | 303,
    cookies?: CookieOp[],
  ): AuthResponse {
    const url = new URL(authz.redirectUri);
    for (const [k, v] of Object.entries(params)) url.searchParams.append(k, v);
    if (authz.state !== undefined) url.searchParams.append('state', authz.state);
    const iss = deps.issuer();
    if (iss) url.searchParams.append('iss', iss);
    return redirectTo(url, status, cookies);
  }

  function error(
    authz: Pick<Authorization, 'redirectUri' | 'state'>,
    code: AuthorizeErrorCode,
    description: string,
    status: 302 | 303,
    cookies?: CookieOp[],
  ): AuthResponse {
    return redirect(authz, { error: code, error_description: description }, status, cookies);
  }

  // ---- the request ----

  /** RFC 6749 §4.1.1 with the rules in this module's header. */
  async function check(source: Readonly<Record<string, unknown>>, status: 302 | 303): Promise<Checked> {
    const clientId = single(source, 'client_id', AUTHORIZATION_PARAMS.client_id);
    if (clientId === null)
      return { ok: false, response: fail(400, 'Sign-in request refused', 'The request names its client more than once.') };
    const client = clientId ? await deps.clients.get(clientId) : null;
    if (!client)
      return {
        ok: false,
        response: fail(400, 'Unknown application', 'The application that sent you here is not registered with this server.'),
      };
    const presented = single(source, 'redirect_uri', AUTHORIZATION_PARAMS.redirect_uri);
    if (presented === null)
      return { ok: false, response: fail(400, 'Sign-in request refused', 'The request names its redirect URI more than once.') };
    // RFC 6749 §3.1.2.3: without one, the client's only registered URI (OAuth 2.1 §4.1.1 keeps it optional then).
    const redirectUri =
      presented === undefined
        ? client.redirectUris.length === 1
          ? client.redirectUris[0]
          : undefined
        : matchRedirectUri(client.redirectUris, presented);
    if (redirectUri === undefined)
      return {
        ok: false,
        response: fail(
          400,
          'Sign-in request refused',
          'The address to return to is not one this application registered, so you are not sent back to it.',
        ),
      };

    const params: Record<string, string> = Object.create(null);
    for (const name of Object.keys(AUTHORIZATION_PARAMS) as AuthorizationParam[]) {
      const v = single(source, name, AUTHORIZATION_PARAMS[name]);
      if (v === null) {
        const stateOnce = single(source, 'state', AUTHORIZATION_PARAMS.state);
        return {
          ok: false,
          response: error(
            { redirectUri, state: stateOnce ?? undefined },
            'invalid_request',
            `${name} is repeated or too long (RFC 6749 §3.1)`,
            status,
          ),
        };
      }
      if (v !== undefined) params[name] = v;
    }
    const back = { redirectUri, state: params.state };
    if (params.response_type !== 'code')
      return {
        ok: false,
        response: error(
          back,
          params.response_type === undefined ? 'invalid_request' : 'unsupported_response_type',
          'response_type must be code',
          status,
        ),
      };
    if (!client.grantTypes.includes('authorization_code'))
      return {
        ok: false,
        response: error(back, 'unauthorized_client', 'This client may not use the authorization code flow', status),
      };
    if (params.code_challenge === undefined)
      return {
        ok: false,
        response: error(back, 'invalid_request', 'code_challenge is required (PKCE, RFC 7636; RFC 9700 §2.1.1)', status),
      };
    if (params.code_challenge_method !== 'S256')
      return {
        ok: false,
        response: error(back, 'invalid_request', 'code_challenge_method must be S256 (plain is not supported)', status),
      };
    if (!isS256Challenge(params.code_challenge))
      return {
        ok: false,
        response: error(back, 'invalid_request', 'code_challenge is not an S256 challenge (RFC 7636 §4.2)', status),
      };
    // RFC 9449 §10: the JWK SHA-256 Thumbprint (RFC 7638) of the client's DPoP key, base64url.
    const dpopJkt = deps.dpop ? params.dpop_jkt : undefined;
    if (dpopJkt !== undefined && !isJwkThumbprint(dpopJkt))
      return {
        ok: false,
        response: error(back, 'invalid_request', 'dpop_jkt is not a SHA-256 JWK thumbprint (RFC 9449 §10, RFC 7638)', status),
      };
    const prompt = new Set(scopeWords(params.prompt));
    for (const p of prompt)
      if (!PROMPTS.has(p)) return { ok: false, response: error(back, 'invalid_request', `prompt=${p} is not supported`, status) };
    if (prompt.has('none') && prompt.size > 1)
      return {
        ok: false,
        response: error(back, 'invalid_request', 'prompt=none cannot be combined (OIDC Core §3.1.2.1)', status),
      };
    let maxAge: number | undefined;
    if (params.max_age !== undefined) {
      if (!/^\d{1,9}$/.test(params.max_age))
        return { ok: false, response: error(back, 'invalid_request', 'max_age must be a number of seconds', status) };
      maxAge = Number(params.max_age);
    }
    // RFC 6749 §3.3: the client's registered scopes (else the server's) bound the request; none asked: all of them.
    // OIDC's identity scopes (Core §5.4) are every client's when OpenID Connect is on.
    const registered = scopeWords(client.scope || deps.defaultScope);
    const allowed = deps.idTokens ? [...new Set([...registered, ...OIDC_SCOPES])] : registered;
    const granted = grantScope(params.scope, allowed, registered);
    if ('refused' in granted)
      return {
        ok: false,
        response: error(
          back,
          'invalid_scope',
          granted.refused === 'malformed'
            ? 'The scope is malformed (RFC 6749 §3.3)'
            : 'The requested scope exceeds what this client may ask for',
          status,
        ),
      };
    const scope = granted.scope;
    return {
      ok: true,
      authz: {
        client,
        redirectUri,
        state: params.state,
        scope,
        codeChallenge: params.code_challenge,
        nonce: params.nonce,
        dpopJkt,
        prompt,
        maxAge,
        params,
      },
    };
  }

  // ---- consent, remembered per (user, client) ----

  const consentId = (sub: string, clientId: string): string => sha256Base64url(`${sub}\0${clientId}`);

  /** The remembered approval covers the scope; renewed for another period when it does. */
  async function consented(sub: string, authz: Authorization): Promise<boolean> {
    const id = consentId(sub, authz.client.clientId);
    const now = clock();
    const held = await records.consumeOnce({ kind: CONSENT_KIND, id, now });
    if (held === null) return false;
    const granted = scopeWords(held);
    await records.putOnce({ kind: CONSENT_KIND, id, value: held, now, expiresAt: now + consentMs });
    return scopeWords(authz.scope).every((s) => granted.includes(s));
  }

  async function remember(sub: string, authz: Authorization): Promise<void> {
    const id = consentId(sub, authz.client.clientId);
    const now = clock();
    const held = await records.consumeOnce({ kind: CONSENT_KIND, id, now });
    const scopes = new Set([...scopeWords(held ?? ''), ...scopeWords(authz.scope)]);
    await records.putOnce({ kind: CONSENT_KIND, id, value: [...scopes].join(' '), now, expiresAt: now + consentMs });
  }

  // ---- pages ----

  const clientName = (c: ClientRecord): string => c.clientId;

  function hidden(authz: Authorization, csrf: string): Record<string, string> {
    const out: Record<string, string> = { ...authz.params, redirect_uri: authz.redirectUri, csrf };
    return out;
  }

  function showLogin(
    req: AuthRequest,
    authz: Authorization,
    status: number,
    extra: { error?: string; username?: string; headers?: Record<string, string> } = {},
  ): AuthResponse {
    const csrf = sessions.csrf(req.cookies);
    const res = page(
      status,
      loginPage({
        action: AUTHORIZE_PATH,
        hidden: hidden(authz, csrf.token),
        clientName: clientName(authz.client),
        ...(extra.username === undefined
          ? authz.params.login_hint === undefined
            ? {}
            : { username: authz.params.login_hint }
          : { username: extra.username }),
        ...(extra.error === undefined ? {} : { error: extra.error }),
      }),
      [formActionSource(authz.redirectUri)],
      csrf.cookie ? [csrf.cookie] : [],
    );
    if (extra.headers) Object.assign(res.headers, extra.headers);
    return res;
  }

  function showConsent(req: AuthRequest, authz: Authorization, session: BrowserSession, cookies: CookieOp[]): AuthResponse {
    const csrf = sessions.csrf(req.cookies);
    return page(
      200,
      consentPage({
        action: AUTHORIZE_PATH,
        hidden: hidden(authz, csrf.token),
        clientName: clientName(authz.client),
        username: session.username,
        scopes: scopeWords(authz.scope),
      }),
      [formActionSource(authz.redirectUri)],
      [...cookies, ...(csrf.cookie ? [csrf.cookie] : [])],
    );
  }

  /** The code, redirected to the client (RFC 6749 §4.1.2). */
  async function grant(authz: Authorization, session: BrowserSession, status: 302 | 303, cookies: CookieOp[]) {
    const code = await codes.issue({
      clientId: authz.client.clientId,
      redirectUri: authz.redirectUri,
      codeChallenge: authz.codeChallenge,
      scope: authz.scope,
      sub: session.sub,
      username: session.username,
      authTime: session.authTime,
      ...(authz.nonce === undefined ? {} : { nonce: authz.nonce }),
      ...(authz.dpopJkt === undefined ? {} : { dpopJkt: authz.dpopJkt }),
    });
    return redirect(authz, { code }, status, cookies);
  }

  /** After the user is known: the consent page when one is needed, else the code. */
  async function proceed(
    req: AuthRequest,
    authz: Authorization,
    session: BrowserSession,
    status: 302 | 303,
    cookies: CookieOp[],
  ): Promise<AuthResponse> {
    const needsConsent = !authz.client.firstParty && (authz.prompt.has('consent') || !(await consented(session.sub, authz)));
    if (needsConsent) {
      if (authz.prompt.has('none'))
        return error(authz, 'consent_required', 'The user has not approved this client', status, cookies);
      return showConsent(req, authz, session, cookies);
    }
    return grant(authz, session, status, cookies);
  }

  async function login(req: AuthRequest, authz: Authorization): Promise<AuthResponse> {
    const username = single(req.body, 'username', FORM_PARAMS.username);
    const password = single(req.body, 'password', FORM_PARAMS.password);
    if (!username || !password)
      return showLogin(req, authz, 400, { error: 'Enter your username and password.', username: username ?? '' });
    const address = req.ip;
    const who = { ...requestSubject(req), client_id: authz.client.clientId, username: username.slice(0, 256) };
    const reservation = deps.limiter ? await deps.limiter.reserve(address, username) : undefined;
    if (reservation && !reservation.ok) {
      deps.emit?.({ event: 'sign_in', result: 'limited', grant: LOGIN_PAGE, ...who });
      deps.emit?.({ event: 'limiter_block', scope: 'sign_in', ...who });
      const seconds = Math.max(1, Math.ceil(reservation.waitMs / 1000));
      return showLogin(req, authz, 429, {
        error: `Too many attempts. Try again in ${seconds} seconds.`,
        username,
        headers: { 'retry-after': String(seconds) },
      });
    }
    let user: Awaited<ReturnType<UserService['verify']>>;
    try {
      user = await deps.hashing(address, () => deps.users.verify(username, password));
    } catch (e) {
      await reservation?.done('unchecked');
      deps.emit?.({ event: 'sign_in', result: 'error', grant: LOGIN_PAGE, ...who });
      throw e;
    }
    if (!user) {
      await reservation?.done('failed');
      deps.emit?.({ event: 'sign_in', result: 'failed', grant: LOGIN_PAGE, reason: 'invalid_credentials', ...who });
      // One message for an unknown user and a wrong password (no enumeration).
      return showLogin(req, authz, 400, { error: 'Wrong username or password.', username });
    }
    await reservation?.done('succeeded');
    deps.emit?.({ event: 'sign_in', result: 'ok', grant: LOGIN_PAGE, ...who, user_id: user.id, username: user.username });
    const started = sessions.start(user.id, user.username);
    return proceed(req, authz, started.session, 303, [started.cookie]);
  }

  // ---- RP-Initiated Logout 1.0 ----

  type EndChecked =
    | { ok: false; response: AuthResponse }
    | {
        ok: true;
        hint: { sub: string; aud: string } | undefined;
        clientId: string | undefined;
        back: string | undefined;
        state: string | undefined;
        params: Record<string, string>;
      };

  /** §2: the hint, the client, and the post-logout redirect URI, which must be registered for that client exactly. */
  async function checkEnd(source: Readonly<Record<string, unknown>>): Promise<EndChecked> {
    const params: Record<string, string> = Object.create(null);
    for (const [name, max] of Object.entries(END_SESSION_PARAMS)) {
      const v = single(source, name, max);
      if (v === null) return { ok: false, response: fail(400, 'Sign-out refused', `${name} is repeated or too long.`) };
      if (v !== undefined && name !== 'csrf') params[name] = v;
    }
    const read = params.id_token_hint === undefined ? undefined : deps.idTokens?.read(params.id_token_hint);
    if (params.id_token_hint !== undefined && read === undefined)
      return { ok: false, response: fail(400, 'Sign-out refused', 'The ID token hint was not issued by this server.') };
    // A hint whose key a rotation removed (docs/keys.md) proves nothing either way: the request
    // goes on as one without a hint, so a signed-in user confirms it on our page.
    const hint = read === 'unknown_key' ? undefined : read;
    // §2: client_id and the hint's audience must agree.
    if (hint && params.client_id !== undefined && params.client_id !== hint.aud)
      return { ok: false, response: fail(400, 'Sign-out refused', 'client_id is not the ID token hint’s audience.') };
    const clientId = hint?.aud ?? params.client_id;
    let back: string | undefined;
    if (params.post_logout_redirect_uri !== undefined) {
      const client = clientId ? await deps.clients.get(clientId) : null;
      // §3: only a URI registered for the client, compared exactly; else no redirect at all.
      if (!client?.postLogoutRedirectUris.includes(params.post_logout_redirect_uri))
        return {
          ok: false,
          response: fail(400, 'Sign-out refused', 'The address to return to is not one this application registered.'),
        };
      back = params.post_logout_redirect_uri;
    }
    return { ok: true, hint, clientId, back, state: params.state, params };
  }

  /** Ends the browser session (and the client's sessions of the user), then back to the app or a page. */
  async function signOut(
    c: Extract<EndChecked, { ok: true }>,
    session: BrowserSession | undefined,
    status: 302 | 303,
  ): Promise<AuthResponse> {
    const sub = session?.sub ?? c.hint?.sub;
    if (sub !== undefined && c.clientId !== undefined && deps.endClientSessions) await deps.endClientSessions(sub, c.clientId);
    const cookies = [sessions.end()];
    if (c.back === undefined) {
      const res = fail(200, 'Signed out', 'You are signed out.');
      res.cookies = cookies;
      return res;
    }
    const url = new URL(c.back);
    if (c.state !== undefined) url.searchParams.append('state', c.state);
    return redirectTo(url, status, cookies);
  }

  return {
    codes,
    sessions,

    async endSession(req) {
      const checked = await checkEnd(req.query);
      if (!checked.ok) return checked.response;
      const session = sessions.read(req.cookies);
      // §2: a hint for the signed-in user (or no session at all) proves the request is the user's app.
      if (!session || (checked.hint && checked.hint.sub === session.sub)) return signOut(checked, session, 302);
      // Otherwise the user confirms (a page of ours, CSRF-protected): no site can sign a user out unseen.
      const csrf = sessions.csrf(req.cookies);
      return page(
        200,
        logoutPage({ action: END_SESSION_PATH, hidden: { ...checked.params, csrf: csrf.token }, username: session.username }),
        checked.back === undefined ? [] : [formActionSource(checked.back)],
        csrf.cookie ? [csrf.cookie] : [],
      );
    },

    async endSessionSubmit(req) {
      if (!sessions.checkCsrf(req.cookies, req.body.csrf))
        return fail(403, 'Form expired', 'This form has expired or did not come from this site. Go back and start again.');
      const checked = await checkEnd(req.body);
      if (!checked.ok) return checked.response;
      return signOut(checked, sessions.read(req.cookies), 303);
    },

    async start(req) {
      const checked = await check(req.query, 302);
      if (!checked.ok) return checked.response;
      const { authz } = checked;
      const held = authz.prompt.has('login') ? undefined : sessions.read(req.cookies);
      // OIDC Core §3.1.2.1 max_age: a password entered longer ago than that is asked again.
      // max_age=0 is prompt=login (OpenID Connect Core errata, issue #993): any elapsed time is too long.
      const session =
        held && authz.maxAge !== undefined && (authz.maxAge === 0 || Math.floor(clock() / 1000) - held.authTime > authz.maxAge)
          ? undefined
          : held;
      if (!session) {
        if (authz.prompt.has('none')) return error(authz, 'login_required', 'The user is not signed in', 302);
        return showLogin(req, authz, 200);
      }
      return proceed(req, authz, session, 302, []);
    },

    async submit(req) {
      // The CSRF check comes first: a forged form learns nothing, not even whether its client exists.
      if (!sessions.checkCsrf(req.cookies, req.body.csrf))
        return fail(403, 'Form expired', 'This form has expired or did not come from this site. Go back and start again.');
      const checked = await check(req.body, 303);
      if (!checked.ok) return checked.response;
      const { authz } = checked;
      const decision = single(req.body, 'decision', FORM_PARAMS.decision);
      if (decision === undefined) return login(req, authz);
      const session = sessions.read(req.cookies);
      if (!session) return showLogin(req, authz, 200, { error: 'Your session has ended. Sign in again.' });
      if (decision === 'deny') return error(authz, 'access_denied', 'The user denied the request', 303);
      if (decision !== 'approve') return fail(400, 'Sign-in request refused', 'The form sent an unknown decision.');
      await remember(session.sub, authz);
      return grant(authz, session, 303, []);
    },
  };
}
