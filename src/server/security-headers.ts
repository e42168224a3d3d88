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
import { API_HEADERS, DOCS_HEADERS, isDocs } from '../http/core/security-headers.js';

export { API_CSP, DOCS_CSP } from '../http/core/security-headers.js';

/**
 * Sets the headers on every answer, 404s and errors included; a route may override them (the demo
 * page's CSP). With `stamp`, the same hook also notes when the request arrived
 * (`request.tesseraStart`, for the request-duration histogram): one hook per request fewer than a
 * hook of its own.
 */
export function securityHeaders(app: FastifyInstance, options: { stamp?: boolean } = {}): void {
  const stamp = options.stamp === true;
  if (stamp) app.decorateRequest('tesseraStart', 0);
  // onRequest, callback style: the headers are in place before any handler or error
  // handler runs, at the cost of one object walk per request.
  app.addHook('onRequest', (request, reply, done) => {
    if (stamp) (request as { tesseraStart?: number }).tesseraStart = performance.now();
    reply.headers(isDocs(request.url) ? DOCS_HEADERS : API_HEADERS);
    done();
  });
}
