/**
 * One way to show a store URL in a message or a log line without its secret,
 * for every layer that names a store (stores/open.ts, server/config.ts,
 * server/server.ts).
 *
 * @module
 */

/**
 * The userinfo of `scheme://userinfo@host...` (RFC 3986 §3.2.1) up to the
 * last `@`: a password typed with a raw `@` or `/` in it is still hidden whole
 * (over-hiding a host part is the safe mistake).
 */
const USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)(.*)@/is;

/**
 * Hides the password of a URL-like store spec: `redis://user:secret@h` becomes
 * `redis://user:***@h`; a userinfo without `:` (`redis+cluster://secret@a:1`)
 * may be a password alone, so all of it becomes `***`. Anything else is
 * returned unchanged.
 */
export function redactUrl(spec: string): string {
  return spec.replace(USERINFO, (_m, scheme: string, cred: string) => {
    const colon = cred.indexOf(':');
    return `${scheme}${colon >= 0 ? `${cred.slice(0, colon)}:***` : '***'}@`;
  });
}
