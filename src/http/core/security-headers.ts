/**
 * The response headers every answer carries (what `@fastify/helmet` would set,
 * without the dependency), framework-neutral; security-headers.ts (Fastify),
 * express.ts and hono.ts set them. See security-headers.ts for the reasons.
 *
 * @module
 */

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

/** Headers of API answers. */
export const API_HEADERS: Readonly<Record<string, string>> = { ...COMMON, 'content-security-policy': API_CSP };
/** Headers of Swagger UI's pages. */
export const DOCS_HEADERS: Readonly<Record<string, string>> = { ...COMMON, 'content-security-policy': DOCS_CSP };

/** True for `/docs` and everything under it (Swagger UI's own files). */
export function isDocs(url: string): boolean {
  return url.startsWith('/docs') && (url.length === 5 || url[5] === '/' || url[5] === '?');
}
