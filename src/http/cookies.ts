/**
 * Cookie mode for Fastify: core/cookies.ts holds the rules (names, prefixes,
 * attributes, the session-bound CSRF value); this wraps them around a Fastify
 * reply and request (@fastify/cookie).
 *
 * @module
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type CookieModeOptions, createCookieCore } from './core/cookies.js';
import { type CookieOp, serializeCookie } from './core/request.js';

export { type CookieCore, type CookieModeOptions, createCookieCore } from './core/cookies.js';

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

/** Writes cookie ops: through @fastify/cookie when registered (cookie mode), else as `Set-Cookie` headers. */
export function applyCookieOps(reply: FastifyReply, ops: readonly CookieOp[]): void {
  if (typeof (reply as { setCookie?: unknown }).setCookie !== 'function') {
    // Fastify appends each `set-cookie` value rather than replacing the header.
    for (const op of ops) reply.header('set-cookie', serializeCookie(op));
    return;
  }
  for (const op of ops) {
    if (op.clear) reply.clearCookie(op.name, op.options);
    else reply.setCookie(op.name, op.value, op.options);
  }
}

export function createCookieMode(options: CookieModeOptions = {}): CookieMode {
  const core = createCookieCore(options);
  return {
    name: core.name,
    csrfCookieName: core.csrfCookieName,
    csrfHeader: core.csrfHeader,
    set(reply, refreshToken, maxAgeSeconds) {
      const { ops, csrf } = core.set(refreshToken, maxAgeSeconds);
      applyCookieOps(reply, ops);
      return csrf;
    },
    clear(reply) {
      applyCookieOps(reply, core.clear());
    },
    read(request) {
      return core.read(request.cookies, request.headers);
    },
  };
}
