/**
 * Response headers every answer of the reference server carries (what
 * `@fastify/helmet` would set, without the dependency and with one policy per
 * kind of page):
 *
 * - `X-Content-Type-Options: nosniff`: a JSON answer is never sniffed into HTML
 *   or script (Fetch standard §3.5 / OWASP HTTP Headers Cheat Sheet);
 * - a Content-Security-Policy: API answers get `default-src 'none'` (they are
 *   data, never a document); Swagger UI at `/docs` gets one it works under (its
 *   scripts are files of this origin; it sets inline styles); the demo page sets
 *   its own strict one (demo.ts). Every policy says `frame-ancestors 'none'`:
 *   no page of this server can be framed (clickjacking);
 * - `X-Frame-Options: DENY` for browsers without CSP level 2, `Referrer-Policy:
 *   no-referrer`, `Cross-Origin-Opener-Policy` and `-Resource-Policy: same-origin`.
 *
 * `Cache-Control: no-store` on answers that carry a token or a principal is set
 * by the routes (RFC 6749 §5.1, RFC 6750 §5.3): it depends on the answer, not the path.
 *
 * @module
 */
import type { FastifyInstance } from 'fastify';

/** Policy of API answers (JSON): nothing may load, nothing may frame them. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/**
 * Policy of Swagger UI (`/docs`): its three scripts are served from this origin
 * (no inline script); it styles elements at run time (`'unsafe-inline'` styles
 * only) and shows data: images; it fetches the spec from this origin.
 */
export const DOCS_CSP =
  "default-src 'self'; script-src 'self'; script-src-attr 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const COMMON: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};
const API_HEADERS = { ...COMMON, 'content-security-policy': API_CSP };
const DOCS_HEADERS = { ...COMMON, 'content-security-policy': DOCS_CSP };

/** True for `/docs` and everything under it (Swagger UI's own files). */
function isDocs(url: string): boolean {
  return url.startsWith('/docs') && (url.length === 5 || url[5] === '/' || url[5] === '?');
}

/** Sets the headers on every answer, 404s and errors included; a route may override them (the demo page's CSP). */
export function securityHeaders(app: FastifyInstance): void {
  // onRequest, callback style: the headers are in place before any handler or error
  // handler runs, at the cost of one object walk per request.
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(isDocs(request.url) ? DOCS_HEADERS : API_HEADERS);
    done();
  });
}
