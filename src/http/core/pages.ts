/**
 * The server-rendered pages of the hosted sign-in (`GET /authorize`, RFC 6749 §4.1):
 * the login form, the consent form and the error page, as strings of HTML, with the
 * response headers they must be sent with. Framework-neutral and pure.
 *
 * The pages keep these rules:
 * - no script at all: they work without JavaScript, and their Content-Security-Policy
 *   allows none (`default-src 'none'`); the one inline `<style>` is allowed by its hash;
 * - every interpolated value goes through {@link escapeHtml}, text and attributes alike;
 * - the contract of DESIGN.md ("Authorization code + PKCE") holds exactly: the login
 *   form has `<input name="username">`, `<input name="password">` and one
 *   `<button type="submit">`; the consent form has `<button name="decision" value="approve">`
 *   and `<button name="decision" value="deny">`;
 * - WCAG 2.2 AA: a language, a title naming the page and the client, one `<main>` with an
 *   `<h1>`, a `<label for>` on each input, autocomplete tokens (SC 1.3.5), an error in a
 *   `role="alert"` element that the inputs reference (SC 3.3.1, 4.1.3), a visible focus
 *   outline (SC 2.4.7), text contrast of at least 4.5:1 (SC 1.4.3) and input borders of
 *   at least 3:1 (SC 1.4.11).
 *
 * @module
 */
import { sha256Base64 } from '../../internal/crypto.js';
import { API_HEADERS } from './security-headers.js';

/** The target and hidden fields of a page's form. */
export interface PageForm {
  /** Path the form POSTs to (same origin: the CSP allows `form-action 'self'`). */
  action: string;
  /** Hidden fields: the authorization request's parameters and a CSRF token. */
  hidden: Readonly<Record<string, string>>;
}

export interface LoginPageView extends PageForm {
  clientName: string;
  /** Prefills the username field (after a failed attempt); focus then starts on the password. */
  username?: string;
  /** A message for the user, e.g. "Wrong username or password". */
  error?: string;
}

export interface ConsentPageView extends PageForm {
  clientName: string;
  /** The signed-in user. */
  username: string;
  /** The scopes the client asks for. */
  scopes: readonly string[];
}

/** An error shown to the user instead of a redirect (RFC 6749 §4.1.2.1: unknown client, unregistered redirect URI). */
export interface ErrorPageView {
  title: string;
  message: string;
}

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/**
 * `s` as HTML text or a quoted attribute value: `& < > " '` replaced by character
 * references, so no value can end an attribute, open a tag or start a reference.
 */
export function escapeHtml(s: string): string {
  return String(s).replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
}

/**
 * The pages' only style. Colours (on white unless said): text #1f2937 (14.7:1), muted
 * #4b5563 (7.6:1), the primary button's white on #1d4ed8 (6.7:1), the alert's #991b1b on
 * #fef2f2 (7.7:1), input borders #6b7280 (4.8:1), the focus ring #1d4ed8.
 */
export const PAGE_STYLE = [
  '*,*::before,*::after{box-sizing:border-box}',
  ':root{color-scheme:light;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;font-size:100%;line-height:1.5;color:#1f2937;background:#f3f4f6}',
  'body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;padding:1rem}',
  'main{width:100%;max-width:26rem;background:#fff;border:1px solid #d1d5db;border-radius:.75rem;padding:2rem;box-shadow:0 1px 3px rgba(0,0,0,.08);overflow-wrap:anywhere}',
  'h1{font-size:1.5rem;line-height:1.25;margin:0 0 .5rem}',
  'p{margin:0 0 1rem}',
  '.muted{color:#4b5563}',
  '.alert{margin:0 0 1rem;padding:.75rem 1rem;border:1px solid #b91c1c;border-left-width:4px;border-radius:.375rem;background:#fef2f2;color:#991b1b}',
  'label{display:block;font-weight:600;margin:0 0 .25rem}',
  'input{display:block;width:100%;margin:0 0 1rem;padding:.625rem .75rem;font:inherit;color:inherit;background:#fff;border:1px solid #6b7280;border-radius:.375rem}',
  'input[aria-invalid="true"]{border-color:#b91c1c;border-width:2px}',
  'button{display:block;width:100%;padding:.625rem 1rem;font:inherit;font-weight:600;color:#fff;background:#1d4ed8;border:1px solid #1d4ed8;border-radius:.375rem;cursor:pointer}',
  'button:hover{background:#1e40af}',
  'button[value="deny"]{color:#1f2937;background:#fff;border-color:#6b7280}',
  'button[value="deny"]:hover{background:#f3f4f6}',
  ':focus-visible{outline:3px solid #1d4ed8;outline-offset:2px}',
  'ul{margin:0 0 1.5rem;padding-left:1.25rem}',
  'li{margin:.25rem 0}',
  '.actions{display:flex;gap:.75rem}',
  '.actions button{flex:1}',
].join('\n');

/** CSP Level 3 §2.3.1 hash source of {@link PAGE_STYLE}: the exact text between `<style>` and `</style>`. */
export const PAGE_STYLE_HASH = `'sha256-${sha256Base64(PAGE_STYLE)}'`;

/** Field names of the forms themselves: a hidden field may not take one (the contract's names appear once). */
const RESERVED_FIELDS: ReadonlySet<string> = new Set(['username', 'password', 'decision']);

function htmlDocument(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>${escapeHtml(title)}</title>
<style>${PAGE_STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

function hiddenFields(hidden: Readonly<Record<string, string>>): string {
  return Object.entries(hidden)
    .map(([name, value]) => {
      if (RESERVED_FIELDS.has(name)) throw new RangeError(`hidden field "${name}" would shadow a field of the form`);
      return `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(String(value))}">`;
    })
    .join('\n');
}

function formOpen(form: PageForm): string {
  return `<form method="post" action="${escapeHtml(form.action)}">\n${hiddenFields(form.hidden)}`;
}

/** The login page: username, password, one submit button. */
export function loginPage(v: LoginPageView): string {
  const client = escapeHtml(v.clientName);
  const hasUsername = v.username !== undefined && v.username !== '';
  const hasError = v.error !== undefined && v.error !== '';
  const invalid = hasError ? ' aria-invalid="true" aria-describedby="login-error"' : '';
  const value = hasUsername ? ` value="${escapeHtml(v.username as string)}"` : '';
  return htmlDocument(
    `Sign in to ${v.clientName}`,
    `<h1>Sign in</h1>
<p class="muted">to continue to <strong>${client}</strong></p>
${hasError ? `<p id="login-error" class="alert" role="alert">${escapeHtml(v.error as string)}</p>\n` : ''}${formOpen(v)}
<label for="username">Username</label>
<input name="username" id="username" type="text" autocomplete="username" autocapitalize="none" spellcheck="false" required${value}${hasUsername ? '' : ' autofocus'}${invalid}>
<label for="password">Password</label>
<input name="password" id="password" type="password" autocomplete="current-password" required${hasUsername ? ' autofocus' : ''}${invalid}>
<button type="submit">Sign in</button>
</form>`,
  );
}

/** What a scope lets the client do, in words for the user; other scopes are shown as they are. */
const SCOPE_TEXT: Readonly<Record<string, string>> = {
  openid: 'Confirm your identity',
  profile: 'Your username',
  offline_access: 'Stay signed in',
};

/** The text a consent page shows for `scope`. */
export function scopeText(scope: string): string {
  return Object.hasOwn(SCOPE_TEXT, scope) ? (SCOPE_TEXT[scope] as string) : scope;
}

/** The consent page: the client, the signed-in user, the scopes, Approve and Deny. */
export function consentPage(v: ConsentPageView): string {
  const client = escapeHtml(v.clientName);
  const scopes = [...new Set(v.scopes)];
  const list =
    scopes.length === 0
      ? `<p><strong>${client}</strong> asks for access to your account.</p>`
      : `<p><strong>${client}</strong> asks for:</p>\n<ul>\n${scopes.map((s) => `<li>${escapeHtml(scopeText(s))}</li>`).join('\n')}\n</ul>`;
  return htmlDocument(
    `Allow access to ${v.clientName}?`,
    `<h1>Allow access?</h1>
<p class="muted">Signed in as <strong>${escapeHtml(v.username)}</strong></p>
${list}
${formOpen(v)}
<div class="actions">
<button name="decision" value="approve">Approve</button>
<button name="decision" value="deny">Deny</button>
</div>
</form>`,
  );
}

/** RP-Initiated Logout 1.0 §2: the sign-out confirmation asked when the request cannot prove it comes from the user's app. */
export interface LogoutPageView extends PageForm {
  username: string;
}

/** The sign-out confirmation: one button that posts the form (CSRF-protected by the caller's hidden field). */
export function logoutPage(v: LogoutPageView): string {
  return htmlDocument(
    'Sign out?',
    `<h1>Sign out?</h1>
<p class="muted">Signed in as <strong>${escapeHtml(v.username)}</strong></p>
${formOpen(v)}
<div class="actions">
<button type="submit">Sign out</button>
</div>
</form>`,
  );
}

/** A page that ends the flow with a message (no form, no redirect). */
export function errorPage(v: ErrorPageView): string {
  return htmlDocument(v.title, `<h1>${escapeHtml(v.title)}</h1>\n<p>${escapeHtml(v.message)}</p>`);
}

/** A CSP source expression (CSP Level 3 §2.3.1): a scheme (`com.example.app:`) or a scheme, a host and an optional port. */
const CSP_SOURCE = /^[a-z][a-z0-9+.-]*:(\/\/[a-z0-9.-]+(:\d{1,5})?)?$/;

/**
 * The CSP `form-action` source of a redirect URI (CSP Level 3 §6.4.1, source list
 * grammar §2.3.1): its origin for http and https, `scheme:` for any other scheme
 * (RFC 8252 §7.1 private-use schemes). A host the host-source grammar cannot name gets
 * its scheme, the narrowest source that admits it: an IP-literal (`http://[::1]:8080`,
 * RFC 8252 §7.3 loopback; Chromium ignores such a source) or a name with `_`. Throws a
 * RangeError for a string that is not an absolute URI.
 */
export function formActionSource(redirectUri: string): string {
  let url: URL;
  try {
    url = new URL(redirectUri);
  } catch {
    throw new RangeError('not an absolute URI');
  }
  const web = url.protocol === 'http:' || url.protocol === 'https:';
  return web && CSP_SOURCE.test(url.origin) ? url.origin : url.protocol;
}

/**
 * Response headers of a page: content-type text/html; charset=utf-8, cache-control no-store, pragma no-cache, a strict CSP,
 * x-frame-options DENY, referrer-policy no-referrer, x-content-type-options nosniff. `formTargets`: origins/schemes the
 * form may end up at (the client's redirect URI origin, because Chrome applies CSP form-action to the redirect after a form
 * POST; for a custom scheme like com.example.app:/cb the source is `com.example.app:`). Each target must be a source
 * expression as {@link formActionSource} returns it (a RangeError otherwise: nothing may add a directive to the policy).
 *
 * The login page answers with a password form and the consent page with a CSRF token:
 * RFC 6749 §10.13 (clickjacking) asks for the framing refusal, and no cache may keep them
 * (RFC 9111 §5.2.2.5; `pragma` for HTTP/1.0 caches, RFC 9111 §5.4).
 */
export function pageHeaders(formTargets: readonly string[] = []): Record<string, string> {
  for (const t of formTargets) if (!CSP_SOURCE.test(t)) throw new RangeError(`"${t}" is not a CSP source expression`);
  const formAction = ["'self'", ...new Set(formTargets)].join(' ');
  return {
    ...API_HEADERS,
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    pragma: 'no-cache',
    'content-security-policy': `default-src 'none'; style-src ${PAGE_STYLE_HASH}; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
  };
}
