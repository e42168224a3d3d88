/**
 * Browser mode: the refresh token lives in an `HttpOnly; Secure; SameSite=Strict`
 * cookie scoped to the auth path, so page scripts (and an XSS) never read it.
 *
 * A cookie is sent by the browser on its own, which opens the door to CSRF on
 * the endpoints that act on it (refresh, logout). Independent defences:
 * - `SameSite=Strict` (RFC 6265bis §5.6.7.1): browsers do not attach it to
 *   cross-site requests at all;
 * - a signed double-submit token (OWASP CSRF Cheat Sheet; RFC 9700 §4.7): a
 *   second, script-readable cookie holds HMAC-SHA256(server key, the current
 *   refresh token), which the page must echo in the `X-CSRF-Token` header. The
 *   server recomputes it from the refresh cookie, so a value is good for one
 *   session only and cannot be made without the key: a pair of cookies planted
 *   by a sibling subdomain (cookie tossing) or copied from another session fails.
 *   A cross-site page can neither read the cookie nor set a custom header
 *   without a CORS preflight, which this server never grants;
 * - cookie name prefixes (RFC 6265bis §4.1.3): `__Host-` on the CSRF cookie
 *   (Secure, `Path=/`, no Domain: no other host can set it), `__Secure-` on the
 *   refresh cookie (its `Path=/auth` rules out `__Host-`). Without `Secure`
 *   (plain-http development) browsers refuse prefixed names, so there are none.
 *
 * @module
 */
import { encodeBase64url } from '../../internal/base64url.js';
import { constantTimeEqualString, randomBytes } from '../../internal/crypto.js';
import { hmacSha256 } from '../../internal/hmac.js';
import { HttpError } from './errors.js';
import type { CookieOp } from './request.js';

export interface CookieModeOptions {
  /** Name of the refresh-token cookie. Default `__Secure-tessera_rt` (`tessera_rt` without `secure`). */
  name?: string;
  /** Path the refresh cookie is scoped to. Default `/auth` (it is only ever sent to the auth endpoints). */
  path?: string;
  /** `Secure` attribute. Default true; turn off only for plain-http development on a non-localhost host. */
  secure?: boolean;
  /** Name of the CSRF cookie (readable by scripts, `Path=/`). Default `__Host-tessera_csrf` (`tessera_csrf` without `secure`). */
  csrfCookieName?: string;
  /** Header that must repeat the CSRF cookie. Default `x-csrf-token`. */
  csrfHeader?: string;
  /**
   * Key of the CSRF HMAC, at least 32 bytes. Every instance behind one origin needs the
   * same one (the reference server derives it from its signing key). Default: random per process.
   */
  csrfKey?: Uint8Array;
}

/**
 * Cookie mode without a framework: the cookies to set and clear as {@link CookieOp}s, and the
 * refresh token of a request after the CSRF check. Each adapter writes the ops its own way.
 */
export interface CookieCore {
  /**
   * The refresh cookie and the CSRF cookie (the HMAC of this refresh token), and the CSRF
   * value. It changes with each rotation: pages read the cookie at each call (the tessera client does).
   */
  set(refreshToken: string, maxAgeSeconds: number): { ops: CookieOp[]; csrf: string };
  /** Ops that expire both cookies. */
  clear(): CookieOp[];
  /** The refresh token from the cookies, after the CSRF check; `undefined` without a cookie. Throws 403 on a failed check. */
  read(
    cookies: Readonly<Record<string, string | undefined>>,
    headers: Readonly<Record<string, string | string[] | undefined>>,
  ): string | undefined;
  readonly name: string;
  readonly csrfCookieName: string;
  readonly csrfHeader: string;
}

/** Domain separation of the CSRF MAC from every other use of the key. */
const CSRF_LABEL = 'tessera csrf v1\0';

export function createCookieCore(options: CookieModeOptions = {}): CookieCore {
  const secure = options.secure ?? true;
  const name = options.name ?? (secure ? '__Secure-tessera_rt' : 'tessera_rt');
  const path = options.path ?? '/auth';
  const csrfName = options.csrfCookieName ?? (secure ? '__Host-tessera_csrf' : 'tessera_csrf');
  const csrfHeader = (options.csrfHeader ?? 'x-csrf-token').toLowerCase();
  const key = options.csrfKey ?? randomBytes(32);
  if (key.length < 32) throw new TypeError('cookie mode: csrfKey must have at least 32 bytes');
  const csrfFor = (refreshToken: string) => encodeBase64url(hmacSha256(key, `${CSRF_LABEL}${refreshToken}`));
  const refreshOptions = { secure, sameSite: 'strict' as const, httpOnly: true, path };
  // Path=/ so the page's script can read it from any path; it authorises nothing on its own.
  const csrfOptions = { secure, sameSite: 'strict' as const, httpOnly: false, path: '/' };

  return {
    name,
    csrfCookieName: csrfName,
    csrfHeader,
    set(refreshToken, maxAgeSeconds) {
      const csrf = csrfFor(refreshToken);
      return {
        csrf,
        ops: [
          { name, value: refreshToken, options: { ...refreshOptions, maxAge: maxAgeSeconds } },
          { name: csrfName, value: csrf, options: { ...csrfOptions, maxAge: maxAgeSeconds } },
        ],
      };
    },
    clear() {
      return [
        { name, value: '', options: refreshOptions, clear: true },
        { name: csrfName, value: '', options: csrfOptions, clear: true },
      ];
    },
    read(cookies, headers) {
      const token = cookies[name];
      if (!token) return undefined;
      const cookie = cookies[csrfName];
      const header = headers[csrfHeader];
      // Both comparisons always run: no early exit that times which one failed.
      const echoed = typeof header === 'string' && !!cookie && constantTimeEqualString(header, cookie);
      const bound = typeof header === 'string' && constantTimeEqualString(header, csrfFor(token));
      if (!echoed || !bound) {
        throw new HttpError(
          403,
          'invalid_request',
          `CSRF check failed: send the ${csrfName} cookie value in the ${csrfHeader} header`,
        );
      }
      return token;
    },
  };
}
