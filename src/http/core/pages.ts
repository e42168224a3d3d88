/**
 * PLACEHOLDER until the pages branch lands (replaced at merge).
 * @module
 */
export interface PageForm {
  action: string;
  hidden: Readonly<Record<string, string>>;
}
export interface LoginPageView extends PageForm {
  clientName: string;
  username?: string;
  error?: string;
}
export interface ConsentPageView extends PageForm {
  clientName: string;
  username: string;
  scopes: readonly string[];
}
export interface ErrorPageView {
  title: string;
  message: string;
}
const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
const hidden = (f: PageForm) =>
  Object.entries(f.hidden)
    .map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`)
    .join('');
const shell = (title: string, main: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title></head><body><main><h1>${esc(title)}</h1>${main}</main></body></html>`;
export function loginPage(v: LoginPageView): string {
  return shell(
    `Sign in to ${v.clientName}`,
    `${v.error ? `<p role="alert">${esc(v.error)}</p>` : ''}<form method="post" action="${esc(v.action)}">${hidden(v)}<label for="u">Username</label><input id="u" name="username" value="${esc(v.username ?? '')}"><label for="p">Password</label><input id="p" type="password" name="password"><button type="submit">Sign in</button></form>`,
  );
}
export function consentPage(v: ConsentPageView): string {
  return shell(
    `Allow ${v.clientName}?`,
    `<form method="post" action="${esc(v.action)}">${hidden(v)}<ul>${v.scopes.map((s) => `<li>${esc(s)}</li>`).join('')}</ul><button name="decision" value="approve">Allow</button><button name="decision" value="deny">Deny</button></form>`,
  );
}
export function errorPage(v: ErrorPageView): string {
  return shell(v.title, `<p>${esc(v.message)}</p>`);
}
export function formActionSource(redirectUri: string): string {
  const u = new URL(redirectUri);
  return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : u.protocol;
}
export function pageHeaders(formTargets: readonly string[] = []): Record<string, string> {
  return {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    pragma: 'no-cache',
    'content-security-policy': `default-src 'none'; form-action 'self' ${formTargets.join(' ')}; frame-ancestors 'none'; base-uri 'none'`,
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
  };
}
