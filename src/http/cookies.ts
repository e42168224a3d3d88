/**
 * Browser mode: the refresh token lives in an `HttpOnly; Secure; SameSite=Strict`
 * cookie scoped to the auth path, so page scripts (and an XSS) never read it.
 *
 * A cookie is sent by the browser on its own, which opens the door to CSRF on
 * the endpoints that act on it (refresh, logout). Two independent defences:
 * - `SameSite=Strict` (RFC 6265bis §5.6.7.1): browsers do not attach it to
 *   cross-site requests at all;
 * - double-submit token: a second, script-readable cookie holds a random value
 *   that the page must echo in the `X-CSRF-Token` header. A cross-site page can
 *   neither read the cookie nor set a custom header without a CORS preflight,
 *   which this server never grants.
 *
 * @module
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { encodeBase64url } from '../internal/base64url.js';
import { constantTimeEqualString, randomBytes } from '../internal/crypto.js';
import { HttpError } from './errors.js';

export interface CookieModeOptions {
  /** Name of the refresh-token cookie. Default `tessera_rt`. */
  name?: string;
  /** Path the refresh cookie is scoped to. Default `/auth` (it is only ever sent to the auth endpoints). */
  path?: string;
  /** `Secure` attribute. Default true; turn off only for plain-http development on a non-localhost host. */
  secure?: boolean;
  /** Name of the double-submit cookie (readable by scripts, `Path=/`). Default `tessera_csrf`. */
  csrfCookieName?: string;
  /** Header that must repeat the CSRF cookie. Default `x-csrf-token`. */
  csrfHeader?: string;
}

export interface CookieMode {
  /**
   * Sets the refresh cookie and the CSRF cookie; returns the CSRF value. The CSRF
   * value is made at login and kept for the session (`csrf`: the checked value of
   * the request), so a page that read it once can keep sending it.
   */
  set(reply: FastifyReply, refreshToken: string, maxAgeSeconds: number, csrf?: string): string;
  /** The CSRF cookie value of a request (after {@link CookieMode.read} checked it). */
  csrfOf(request: FastifyRequest): string | undefined;
  clear(reply: FastifyReply): void;
  /** The refresh token from the cookie, after the CSRF check; `undefined` without a cookie. Throws 403 on a failed check. */
  read(request: FastifyRequest): string | undefined;
  readonly name: string;
  readonly csrfHeader: string;
}

export function createCookieMode(options: CookieModeOptions = {}): CookieMode {
  const name = options.name ?? 'tessera_rt';
  const path = options.path ?? '/auth';
  const secure = options.secure ?? true;
  const csrfName = options.csrfCookieName ?? 'tessera_csrf';
  const csrfHeader = (options.csrfHeader ?? 'x-csrf-token').toLowerCase();
  const base = { secure, sameSite: 'strict' as const };

  return {
    name,
    csrfHeader,
    set(reply, refreshToken, maxAgeSeconds, current) {
      const csrf = current ?? encodeBase64url(randomBytes(32));
      reply.setCookie(name, refreshToken, { ...base, httpOnly: true, path, maxAge: maxAgeSeconds });
      // Path=/ so the page's script can read it from any path; it authorises nothing on its own.
      reply.setCookie(csrfName, csrf, { ...base, httpOnly: false, path: '/', maxAge: maxAgeSeconds });
      return csrf;
    },
    csrfOf(request) {
      return request.cookies[csrfName];
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
      if (!cookie || typeof header !== 'string' || !constantTimeEqualString(header, cookie)) {
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
