/**
 * What the authorization code suites (code-flow-browser, code-flow-negative) share,
 * written against DESIGN "Contracts for the third round" ("Clients, grown",
 * "Authorization code + PKCE") and RFC 6749 §4.1 / RFC 7636 / RFC 9207, not
 * against the implementation: a real `tessera serve` on SQLite with clients
 * registered through `tessera client add`, a callback server standing in for the
 * clients' redirect URIs, PKCE values, Chromium's launch options, and a small
 * cookie-keeping HTTP agent that drives the hosted login and consent forms the
 * way a browser would (fetch, `redirect: 'manual'`).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { PASSWORD, runCli, type ServerProcess, serverEnv, startServer, tempDir } from '../support/processes.js';
import { E2E } from './helpers.js';

export { CHROMIUM, CHROMIUM_ARGS, skipBrowser } from '../support/chromium.js';
export { PASSWORD };

// ---------------------------------------------------------------------------
// PKCE (RFC 7636 §4.1, §4.2).

export function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export const randomState = (): string => randomBytes(12).toString('base64url');

// ---------------------------------------------------------------------------
// The callback server: the redirect URIs of every client.

export interface CallbackServer {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  /** Every redirect received, in order. */
  received: URL[];
  /** Resolves with the next redirect that reaches one of the callback paths. */
  next(timeoutMs?: number): Promise<URL>;
  close(): Promise<void>;
}

/** Answers 200 on `paths` (recording the URL), 404 elsewhere (a favicon request records nothing). */
export async function startCallbackServer(paths: string[]): Promise<CallbackServer> {
  const received: URL[] = [];
  const waiters: ((u: URL) => void)[] = [];
  let origin = '';
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', origin);
    if (!paths.includes(url.pathname)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not a callback');
      return;
    }
    received.push(url);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>callback</title><p>ok</p>');
    waiters.shift()?.(url);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    received,
    next(timeoutMs = 15_000) {
      return new Promise<URL>((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = waiters.indexOf(done);
          if (i >= 0) waiters.splice(i, 1);
          reject(new Error(`no redirect reached the callback server within ${timeoutMs} ms`));
        }, timeoutMs);
        const done = (u: URL) => {
          clearTimeout(timer);
          resolve(u);
        };
        waiters.push(done);
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------
// The server and its registered clients.

/** One object of `tessera client add`'s stdout (DESIGN "Clients, grown"). */
export interface Registered {
  client_id: string;
  client_type: 'public' | 'confidential';
  client_secret?: string;
  redirect_uris: string[];
  grant_types: string[];
  scope: string;
  first_party: boolean;
  dpop_bound_access_tokens: boolean;
}

export interface CodeFlowServer {
  srv: ServerProcess;
  /** The issuer as the metadata states it: the listen URL unless TESSERA_ISSUER is overridden. */
  issuer: string;
  cb: CallbackServer;
  clients: Record<string, Registered>;
  /** `redirect_uri` of a client registered here: the callback origin + `path`. */
  redirect(path: string): string;
  stop(): Promise<void>;
}

export interface ClientSpec {
  id: string;
  /** `tessera client add` flags, with `{cb}` replaced by the callback server's origin. */
  flags: string[];
}

/**
 * A `tessera serve` on SQLite in a temp dir (NODE_ENV unset, TESSERA_ISSUER empty: the
 * listen URL), users added with `tessera user add`, clients with `tessera client add`.
 */
export async function startCodeFlowServer(
  users: string[],
  specs: ClientSpec[],
  callbackPaths: string[],
  envOverrides: Record<string, string> = {},
): Promise<CodeFlowServer> {
  const cb = await startCallbackServer(callbackPaths);
  const env = serverEnv(E2E, {
    TESSERA_STORE: `sqlite:${join(tempDir(), 'code-flow.db')}`,
    TESSERA_ISSUER: '',
    ...envOverrides,
  });
  for (const user of users) {
    const r = await runCli(E2E, ['user', 'add', user], env, `${PASSWORD}\n`);
    assert.equal(r.code, 0, r.stderr);
  }
  const clients: Record<string, Registered> = {};
  for (const { id, flags } of specs) {
    const args = ['client', 'add', id, ...flags.map((f) => f.replaceAll('{cb}', cb.origin))];
    const r = await runCli(E2E, args, env);
    assert.equal(r.code, 0, `tessera ${args.join(' ')}: ${r.stderr}`);
    clients[id] = JSON.parse(r.stdout) as Registered;
  }
  const srv = await startServer(E2E, env);
  return {
    srv,
    issuer: env.TESSERA_ISSUER || srv.url,
    cb,
    clients,
    redirect: (path) => `${cb.origin}${path}`,
    async stop() {
      await srv.stop();
      await cb.close();
    },
  };
}

/** The RFC 8414 metadata (§3: `/.well-known/oauth-authorization-server` under the issuer). */
export async function metadata(issuer: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${issuer}/.well-known/oauth-authorization-server`);
  assert.equal(res.status, 200);
  return (await res.json()) as Record<string, unknown>;
}

/** The endpoints a client reads from the metadata (RFC 8414 §2). */
export async function endpoints(issuer: string): Promise<{ authorize: string; token: string; introspect: string }> {
  const meta = await metadata(issuer);
  assert.equal(typeof meta.authorization_endpoint, 'string', 'the metadata names an authorization_endpoint');
  return {
    authorize: meta.authorization_endpoint as string,
    token: meta.token_endpoint as string,
    introspect: meta.introspection_endpoint as string,
  };
}

export function authorizeUrl(endpoint: string, params: Record<string, string>): string {
  const u = new URL(endpoint);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.href;
}

// ---------------------------------------------------------------------------
// HTML forms, read the way a browser submits them.

export interface HtmlForm {
  action: string;
  method: string;
  /** Named inputs with their values (hidden ones included), in document order. */
  fields: [string, string][];
  /** Named submit buttons: name and value. */
  buttons: [string, string][];
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", '#39': "'" };
function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (m, e: string) => {
    if (e[0] === '#')
      return String.fromCodePoint(e[1]?.toLowerCase() === 'x' ? Number.parseInt(e.slice(2), 16) : Number(e.slice(1)));
    return ENTITIES[e.toLowerCase()] ?? m;
  });
}

function attrs(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
    const name = (m[1] as string).toLowerCase();
    if (!(name in out)) out[name] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return out;
}

/** The forms of `html`; `base` resolves their actions (an absent or empty action: `base` itself). */
export function formsOf(html: string, base: string): HtmlForm[] {
  const forms: HtmlForm[] = [];
  for (const m of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const a = attrs(m[1] as string);
    const body = m[2] as string;
    const fields: [string, string][] = [];
    for (const i of body.matchAll(/<input\b([^>]*)>/gi)) {
      const ia = attrs(i[1] as string);
      if (ia.name === undefined || ['submit', 'button', 'image', 'reset'].includes(ia.type ?? '')) continue;
      if ((ia.type === 'checkbox' || ia.type === 'radio') && !('checked' in ia)) continue;
      fields.push([ia.name, ia.value ?? '']);
    }
    const buttons: [string, string][] = [];
    for (const b of body.matchAll(/<button\b([^>]*)>/gi)) {
      const ba = attrs(b[1] as string);
      if (ba.name !== undefined && (ba.type ?? 'submit') === 'submit') buttons.push([ba.name, ba.value ?? '']);
    }
    forms.push({
      action: new URL(a.action || base, base).href,
      method: (a.method ?? 'get').toLowerCase(),
      fields,
      buttons,
    });
  }
  return forms;
}

/** The CSRF field of a hosted form: a hidden input named like one (the contract names none). */
export function csrfField(form: HtmlForm): string | undefined {
  return form.fields.find(([name]) => /csrf|xsrf/i.test(name))?.[0];
}

// ---------------------------------------------------------------------------
// A cookie-keeping agent: what a browser does with the hosted pages, in fetch.

export interface Step {
  status: number;
  location: string | null;
  contentType: string;
  text: string;
  url: string;
  headers: Headers;
}

export class Agent {
  readonly jar = new Map<string, string>();
  readonly origin: string;
  constructor(origin: string) {
    this.origin = origin;
  }

  private cookieHeader(): Record<string, string> {
    return this.jar.size === 0 ? {} : { cookie: [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ') };
  }

  private keep(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = (pair as string).indexOf('=');
      const name = (pair as string).slice(0, eq).trim();
      const value = (pair as string).slice(eq + 1).trim();
      const expired = attributes.some((a) => {
        const [k, v] = a.trim().split('=');
        if (k?.toLowerCase() === 'max-age') return Number(v) <= 0;
        if (k?.toLowerCase() === 'expires') return Date.parse(v ?? '') <= Date.now();
        return false;
      });
      if (expired || value === '') this.jar.delete(name);
      else this.jar.set(name, value);
    }
  }

  private async step(url: string, init: RequestInit): Promise<Step> {
    const res = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { ...this.cookieHeader(), ...(init.headers as Record<string, string>) },
    });
    if (new URL(url).origin === this.origin) this.keep(res);
    return {
      status: res.status,
      location: res.headers.get('location'),
      contentType: res.headers.get('content-type') ?? '',
      text: await res.text(),
      url,
      headers: res.headers,
    };
  }

  get(url: string): Promise<Step> {
    return this.step(url, { method: 'GET', headers: { accept: 'text/html' } });
  }

  /** A form POST as a browser sends it from a page of the server (same-origin `Origin`). */
  post(url: string, fields: [string, string][]): Promise<Step> {
    return this.step(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: this.origin, accept: 'text/html' },
      body: new URLSearchParams(fields).toString(),
    });
  }

  /**
   * Follows redirects while they stay on the server; stops at a redirect to elsewhere (the
   * client's callback: returned as `callback`) or at a page.
   */
  async follow(first: Step): Promise<{ page?: Step; callback?: URL }> {
    let cur = first;
    for (let hops = 0; hops < 10; hops++) {
      if (cur.status < 300 || cur.status >= 400 || !cur.location) return { page: cur };
      const next = new URL(cur.location, cur.url);
      if (next.origin !== this.origin) return { callback: next };
      cur = await this.get(next.href);
    }
    throw new Error('more than 10 redirects');
  }

  /** GET `url` and follow. */
  async open(url: string): Promise<{ page?: Step; callback?: URL }> {
    return this.follow(await this.get(url));
  }

  /** Submits the login form on `page` with `username`/`password` (and its hidden fields), then follows. */
  async submitLogin(page: Step, username: string, password: string, drop: (name: string) => boolean = () => false) {
    const form = loginForm(page);
    const fields = form.fields
      .filter(([n]) => n !== 'username' && n !== 'password' && !drop(n))
      .concat([
        ['username', username],
        ['password', password],
      ]);
    const res = await this.post(form.action, fields);
    return { res, ...(await this.follow(res)) };
  }

  /** Submits the consent form on `page` with `decision`, then follows. */
  async submitConsent(page: Step, decision: 'approve' | 'deny', drop: (name: string) => boolean = () => false) {
    const form = consentForm(page);
    const res = await this.post(form.action, [...form.fields.filter(([n]) => !drop(n)), ['decision', decision]]);
    return { res, ...(await this.follow(res)) };
  }

  /**
   * The whole authorization of `url` as `username`: the login form when shown, the consent
   * page when shown (approved), up to the redirect to the client. Returns that redirect.
   */
  async authorize(url: string, username = 'alice', password = PASSWORD): Promise<URL> {
    let r = await this.open(url);
    for (let i = 0; i < 3 && r.page; i++) {
      const page = r.page;
      if (isLoginPage(page)) r = await this.submitLogin(page, username, password);
      else if (isConsentPage(page)) r = await this.submitConsent(page, 'approve');
      else throw new Error(`unexpected page ${page.status} at ${page.url}: ${page.text.slice(0, 500)}`);
    }
    assert.ok(r.callback, 'the authorization ends in a redirect to the client');
    return r.callback;
  }
}

export const isLoginPage = (p: Step): boolean =>
  p.status === 200 && formsOf(p.text, p.url).some((f) => f.fields.some(([n]) => n === 'password'));
export const isConsentPage = (p: Step): boolean =>
  p.status === 200 && formsOf(p.text, p.url).some((f) => f.buttons.some(([n, v]) => n === 'decision' && v === 'approve'));

export function loginForm(page: Step): HtmlForm {
  const form = formsOf(page.text, page.url).find((f) => f.fields.some(([n]) => n === 'password'));
  assert.ok(form, `a login form at ${page.url} (status ${page.status}): ${page.text.slice(0, 300)}`);
  return form;
}

export function consentForm(page: Step): HtmlForm {
  const form = formsOf(page.text, page.url).find((f) => f.buttons.some(([n, v]) => n === 'decision' && v === 'approve'));
  assert.ok(form, `a consent form at ${page.url} (status ${page.status}): ${page.text.slice(0, 300)}`);
  return form;
}

// ---------------------------------------------------------------------------
// The token endpoint, called as RFC 6749 §4.1.3 says.

export interface TokenAnswer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: token responses are read loosely
  json: any;
}

export async function tokenRequest(
  tokenEndpoint: string,
  params: Record<string, string>,
  client?: { id: string; secret: string },
): Promise<TokenAnswer> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (client) {
    const enc = (v: string) => encodeURIComponent(v).replace(/%20/g, '+');
    headers.authorization = `Basic ${Buffer.from(`${enc(client.id)}:${enc(client.secret)}`).toString('base64')}`;
  }
  const res = await fetch(tokenEndpoint, { method: 'POST', headers, body: new URLSearchParams(params).toString() });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = { text };
  }
  return { status: res.status, json };
}
