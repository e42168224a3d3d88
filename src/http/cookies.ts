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
import type { FastifyReply, FastifyRequest } from 'fastify';
import { encodeBase64url } from '../internal/base64url.js';
import { constantTimeEqualString, randomBytes } from '../internal/crypto.js';
import { hmacSha256 } from '../internal/hmac.js';
import { HttpError } from './errors.js';

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

export interface CookieMode {
  /**
   * Sets the refresh cookie and the CSRF cookie (the HMAC of this refresh token);
   * returns the CSRF value. It changes with each rotation: pages read the cookie at
   * each call (the tessera client does).
   */
  set(reply: FastifyReply, refreshToken: string, maxAgeSeconds: number): string;
  clear(reply: FastifyReply): void;
  /** The refresh token from the cookie, after the CSRF check; `undefined` without a cookie. Throws 403 on a failed check. */
  read(request: FastifyRequest): string | undefined;
  readonly name: string;
  readonly csrfCookieName: string;
  readonly csrfHeader: string;
}

/** Domain separation of the CSRF MAC from every other use of the key. */
const CSRF_LABEL = 'tessera csrf v1\0';

export function createCookieMode(options: CookieModeOptions = {}): CookieMode {
  const secure = options.secure ?? true;
  const name = options.name ?? (secure ? '__Secure-tessera_rt' : 'tessera_rt');
  const path = options.path ?? '/auth';
  const csrfName = options.csrfCookieName ?? (secure ? '__Host-tessera_csrf' : 'tessera_csrf');
  const csrfHeader = (options.csrfHeader ?? 'x-csrf-token').toLowerCase();
  const key = options.csrfKey ?? randomBytes(32);
  if (key.length < 32) throw new TypeError('cookie mode: csrfKey must have at least 32 bytes');
  const base = { secure, sameSite: 'strict' as const };
  const csrfFor = (refreshToken: string) => encodeBase64url(hmacSha256(key, `${CSRF_LABEL}${refreshToken}`));

  return {
    name,
    csrfCookieName: csrfName,
    csrfHeader,
    set(reply, refreshToken, maxAgeSeconds) {
      const csrf = csrfFor(refreshToken);
      reply.setCookie(name, refreshToken, { ...base, httpOnly: true, path, maxAge: maxAgeSeconds });
      // Path=/ so the page's script can read it from any path; it authorises nothing on its own.
      reply.setCookie(csrfName, csrf, { ...base, httpOnly: false, path: '/', maxAge: maxAgeSeconds });
      return csrf;
    },
    clear(reply) {
      reply.clearCookie(name, { ...base, httpOnly: true, path });
      reply.clearCookie(csrfName, { ...base, httpOnly: false, path: '/' });
    },
    read(request) {
      const token = request.cookies[name];
      if (!token) return undefined;
      const cookie = request.cookies[csrfName];
      const header = request.headers[csrfHeader];
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
