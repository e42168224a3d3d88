/**
 * The browser side of the hosted sign-in (`/authorize`): the session cookie that lets
 * a signed-in browser skip the password on the next authorization, and the CSRF token
 * of the login and consent forms.
 *
 * - Session: `__Host-tessera_session` (HttpOnly, Secure, `Path=/`, `SameSite=Lax`: it
 *   must ride along on the top-level cross-site navigation that starts an authorization),
 *   holding `v1.<payload>.<mac>`: the user, when they signed in (OIDC Core §2
 *   `auth_time`) and when the session ends, MACed with HMAC-SHA256 under a key derived
 *   for this use alone. Nothing in it is secret; it cannot be made or stretched without the key.
 * - CSRF (RFC 9700 §4.7, OWASP's signed double submit): `__Host-tessera_authz` holds a
 *   random value; each form carries HMAC(key, that value), which only this server can
 *   compute and only a page of this origin can read. A login form posted from elsewhere
 *   (login CSRF) or a consent forged by another site fails the check.
 *
 * `__Host-` names need `Secure` (RFC 6265bis §4.1.3.2); without it (plain-http development
 * away from loopback) the names lose the prefix.
 *
 * @module
 */
import { decodeBase64url, encodeBase64url } from '../../internal/base64url.js';
import { constantTimeEqualString, hkdfSha256, randomBase64url } from '../../internal/crypto.js';
import { hmacSha256 } from '../../internal/hmac.js';
import type { CookieOp, CookieOptions } from './request.js';

/** Who a browser session speaks for. */
export interface BrowserSession {
  sub: string;
  username: string;
  /** When the user entered the password, seconds since the epoch (OIDC Core §2 `auth_time`). */
  authTime: number;
  /** When the session ends, seconds since the epoch. */
  exp: number;
}

export interface BrowserSessionOptions {
  /** At least 32 bytes; every instance behind one issuer needs the same (the server derives it from its key ring). */
  key: Uint8Array;
  /** `Secure` cookies with `__Host-` names. Default true (browsers accept them on http://127.0.0.1 and localhost too). */
  secure?: boolean;
  /** Session lifetime. Default 43200 (12 hours). */
  sessionSeconds?: number;
  clock?: () => number;
}

export interface BrowserSessions {
  /** The live session of a request's cookies, or `undefined`. */
  read(cookies: Readonly<Record<string, string | undefined>>): BrowserSession | undefined;
  /** A new session for a user who just proved their password, and the cookie that holds it. */
  start(sub: string, username: string): { session: BrowserSession; cookie: CookieOp };
  /** The cookie op that ends the session (RP-initiated logout, OIDC). */
  end(): CookieOp;
  /**
   * The CSRF value of a request's forms: from its binding cookie, or a new binding (its cookie
   * returned to be set). `token` goes into the form's hidden `csrf` field.
   */
  csrf(cookies: Readonly<Record<string, string | undefined>>): { token: string; cookie?: CookieOp };
  /** True when the form's `csrf` field matches the request's binding cookie. */
  checkCsrf(cookies: Readonly<Record<string, string | undefined>>, token: unknown): boolean;
  readonly sessionCookieName: string;
  readonly csrfCookieName: string;
}

export const DEFAULT_SESSION_SECONDS = 43_200;
/** The CSRF binding outlives any sign-in a person completes; a form older than this is re-shown. */
const CSRF_COOKIE_SECONDS = 3600;
const BINDING = /^[A-Za-z0-9_-]{43}$/;
const MAX_SESSION_COOKIE = 2048;

export function createBrowserSessions(options: BrowserSessionOptions): BrowserSessions {
  if (!(options.key instanceof Uint8Array) || options.key.length < 32)
    throw new TypeError('authorize: the session key must have at least 32 bytes');
  const secure = options.secure ?? true;
  const lifetime = options.sessionSeconds ?? DEFAULT_SESSION_SECONDS;
  if (!Number.isSafeInteger(lifetime) || lifetime < 60) throw new TypeError('authorize: sessionSeconds must be an integer >= 60');
  const clock = options.clock ?? Date.now;
  // One key per use (RFC 5869 §3.2 `info`): a session MAC can never pass for a CSRF token.
  const sessionKey = hkdfSha256(options.key, Buffer.alloc(0), 'tessera browser session v1', 32);
  const csrfKey = hkdfSha256(options.key, Buffer.alloc(0), 'tessera authorize csrf v1', 32);
  const sessionName = secure ? '__Host-tessera_session' : 'tessera_session';
  const csrfName = secure ? '__Host-tessera_authz' : 'tessera_authz';
  const base = (maxAge: number): CookieOptions => ({ httpOnly: true, secure, sameSite: 'lax', path: '/', maxAge });

  const mac = (payload: string): string => encodeBase64url(hmacSha256(sessionKey, `v1.${payload}`));
  const csrfOf = (binding: string): string => encodeBase64url(hmacSha256(csrfKey, binding));

  return {
    sessionCookieName: sessionName,
    csrfCookieName: csrfName,

    read(cookies) {
      const raw = cookies[sessionName];
      if (typeof raw !== 'string' || raw.length > MAX_SESSION_COOKIE || !raw.startsWith('v1.')) return undefined;
      const dot = raw.indexOf('.', 3);
      if (dot < 0) return undefined;
      const payload = raw.slice(3, dot);
      if (!constantTimeEqualString(raw.slice(dot + 1), mac(payload))) return undefined;
      const bytes = decodeBase64url(payload);
      if (bytes === null) return undefined;
      let s: unknown;
      try {
        s = JSON.parse(bytes.toString('utf8'));
      } catch {
        return undefined;
      }
      const o = s as Partial<BrowserSession>;
      if (
        typeof o !== 'object' ||
        o === null ||
        typeof o.sub !== 'string' ||
        typeof o.username !== 'string' ||
        typeof o.authTime !== 'number' ||
        typeof o.exp !== 'number'
      )
        return undefined;
      if (o.exp * 1000 <= clock()) return undefined;
      return { sub: o.sub, username: o.username, authTime: o.authTime, exp: o.exp };
    },

    start(sub, username) {
      const now = Math.floor(clock() / 1000);
      const session: BrowserSession = { sub, username, authTime: now, exp: now + lifetime };
      const payload = encodeBase64url(Buffer.from(JSON.stringify(session), 'utf8'));
      return { session, cookie: { name: sessionName, value: `v1.${payload}.${mac(payload)}`, options: base(lifetime) } };
    },

    end() {
      return { name: sessionName, value: '', options: base(0), clear: true };
    },

    csrf(cookies) {
      const held = cookies[csrfName];
      if (typeof held === 'string' && BINDING.test(held)) return { token: csrfOf(held) };
      const binding = randomBase64url(32);
      return { token: csrfOf(binding), cookie: { name: csrfName, value: binding, options: base(CSRF_COOKIE_SECONDS) } };
    },

    checkCsrf(cookies, token) {
      const held = cookies[csrfName];
      if (typeof held !== 'string' || !BINDING.test(held) || typeof token !== 'string' || token.length > 64) return false;
      return constantTimeEqualString(token, csrfOf(held));
    },
  };
}
