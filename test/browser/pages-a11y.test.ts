/**
 * The hosted sign-in pages (src/http/core/pages.ts) in a real browser: headless Chromium
 * driven by playwright-core loads each page from a small node:http server that sends it
 * with pageHeaders(). Checked: the page's CSP lets its own style apply and reports no
 * violation; axe-core finds no accessibility violation; the keyboard reaches the fields
 * and buttons in order with a visible focus ring; a submitted form POSTs its fields and
 * hidden fields unchanged, and the redirect that follows reaches the client's origin only
 * when that origin is one of the form targets (Chromium applies form-action to it).
 *
 * Chromium comes from Debian (`apt-get install chromium`, done by .ci/run); set
 * CHROMIUM_PATH to use another binary. axe-core runs in a context that bypasses the
 * page's CSP (the CSP allows no script, axe is one); everything else runs under it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { consentPage, errorPage, formActionSource, loginPage, pageHeaders } from '../../src/http/core/pages.js';
import { launchChromium, skipBrowser } from '../support/chromium.js';

const skip = skipBrowser;
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** Values a form must carry back unchanged: quotes, markup, a reference, non-ASCII. */
const HIDDEN: Record<string, string> = {
  response_type: 'code',
  client_id: 'app',
  redirect_uri: 'https://app.example/cb?x=1&y=2',
  state: `"'></script><script>alert(1)</script>&amp;`,
  code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
  scope: 'openid profile offline_access',
  csrf: 'c3JmLXRva2Vu_-',
  unicode: 'é€😀',
};
const CLIENT_NAME = `Example "App" <b>&</b>`;

interface Posted {
  path: string;
  contentType: string | undefined;
  fields: [string, string][];
}

/** Serves one tessera page per path, records form POSTs, and redirects them to the client. */
class PageServer {
  readonly posts: Posted[] = [];
  private server: Server | undefined;
  url = '';
  private readonly clientOrigin: () => string;

  constructor(clientOrigin: () => string) {
    this.clientOrigin = clientOrigin;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      this.posts.push({
        path: url.pathname,
        contentType: req.headers['content-type'],
        fields: [...new URLSearchParams(Buffer.concat(chunks).toString('utf8'))],
      });
      res.writeHead(303, { location: `${this.clientOrigin()}/cb?code=c0de&state=s` }).end();
      return;
    }
    // `?strict`: the page allows no form target but itself.
    const targets = url.searchParams.has('strict') ? [] : [formActionSource(`${this.clientOrigin()}/cb`)];
    const html = this.page(url.pathname);
    if (html === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, pageHeaders(targets)).end(html);
  }

  private page(path: string): string | undefined {
    switch (path) {
      case '/login':
        return loginPage({ action: '/authorize/login', hidden: HIDDEN, clientName: CLIENT_NAME });
      case '/login-error':
        return loginPage({
          action: '/authorize/login',
          hidden: HIDDEN,
          clientName: CLIENT_NAME,
          username: 'alice',
          error: 'Wrong username or password',
        });
      case '/consent':
        return consentPage({
          action: '/authorize/consent',
          hidden: HIDDEN,
          clientName: CLIENT_NAME,
          username: 'alice',
          scopes: ['openid', 'profile', 'offline_access', 'orders:read'],
        });
      case '/error':
        return errorPage({
          title: 'Unregistered redirect URI',
          message: 'The application sent a redirect URI that it did not register. You can close this page.',
        });
      default:
        return undefined;
    }
  }
}

/** The client's redirect URI endpoint, on another origin (another port). */
async function startClient(): Promise<{ url: string; hits: string[]; server: Server }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    // The browser's own favicon fetch is no visit of the redirect URI.
    if (req.url !== '/favicon.ico') hits.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'text/plain' }).end('client');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits, server };
}

const PAGES = ['/login', '/login-error', '/consent', '/error'];

describe('hosted sign-in pages in Chromium', { skip }, () => {
  let browser: Browser;
  /** Under the pages' CSP. */
  let strict: BrowserContext;
  /** CSP bypassed: axe-core is a script. */
  let bypass: BrowserContext;
  let pages: PageServer;
  let client: Awaited<ReturnType<typeof startClient>>;

  before(async () => {
    client = await startClient();
    pages = new PageServer(() => client.url);
    await pages.start();
    browser = await launchChromium();
    strict = await browser.newContext({ viewport: { width: 1000, height: 800 } });
    bypass = await browser.newContext({ viewport: { width: 1000, height: 800 }, bypassCSP: true });
  });

  after(async () => {
    await strict?.close();
    await bypass?.close();
    await browser?.close();
    await pages?.stop();
    await new Promise<void>((resolve) => client?.server.close(() => resolve()));
  });

  /** A tab under the pages' CSP that collects every console error and warning. */
  async function open(path: string): Promise<{ page: Page; console: string[] }> {
    const page = await strict.newPage();
    const console: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') console.push(m.text());
    });
    page.on('pageerror', (e) => console.push(String(e)));
    const res = await page.goto(pages.url + path);
    assert.equal(res?.status(), 200);
    return { page, console };
  }

  for (const path of PAGES) {
    test(`${path}: the CSP applies the page style and reports no violation`, async () => {
      const { page, console } = await open(path);
      const csp = (await page.goto(pages.url + path))?.headers()['content-security-policy'] ?? '';
      assert.match(
        csp,
        /^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/]+=*'; form-action 'self' http:\/\/127\.0\.0\.1:\d+;/,
      );
      const style = await page.evaluate(() => {
        const main = getComputedStyle(document.querySelector('main') as Element);
        return { background: main.backgroundColor, maxWidth: main.maxWidth, body: getComputedStyle(document.body).display };
      });
      assert.deepEqual(style, { background: 'rgb(255, 255, 255)', maxWidth: '416px', body: 'flex' });
      assert.deepEqual(console, []);
      await page.close();
    });

    test(`${path}: axe-core reports no accessibility violation`, async () => {
      const page = await bypass.newPage();
      await page.goto(pages.url + path);
      await page.addScriptTag({ content: AXE_SOURCE });
      const violations = await page.evaluate(async () => {
        const axe = (window as unknown as { axe: { run(): Promise<{ violations: unknown[] }> } }).axe;
        return (await axe.run()).violations;
      });
      assert.deepEqual(violations, [], JSON.stringify(violations, null, 2));
      await page.close();
    });
  }

  test('login: Tab moves username → password → submit, with a visible focus ring', async () => {
    const { page, console } = await open('/login');
    const focused = () =>
      page.evaluate(() => {
        const el = document.activeElement as HTMLElement;
        const cs = getComputedStyle(el);
        return {
          tag: el.tagName,
          name: el.getAttribute('name') ?? el.getAttribute('type'),
          outline: `${cs.outlineStyle} ${cs.outlineWidth}`,
        };
      });
    assert.deepEqual(await focused(), { tag: 'INPUT', name: 'username', outline: 'solid 3px' }, 'autofocus on the username');
    await page.keyboard.press('Tab');
    assert.deepEqual(await focused(), { tag: 'INPUT', name: 'password', outline: 'solid 3px' });
    await page.keyboard.press('Tab');
    assert.deepEqual(await focused(), { tag: 'BUTTON', name: 'submit', outline: 'solid 3px' });
    assert.deepEqual(console, []);
    await page.close();
  });

  test('login after an error: focus starts on the password; the alert is announced and describes both inputs', async () => {
    const { page } = await open('/login-error');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'password');
    assert.equal(await page.getByRole('alert').textContent(), 'Wrong username or password');
    assert.equal(await page.getByLabel('Username').inputValue(), 'alice');
    for (const label of ['Username', 'Password']) {
      const field = page.getByLabel(label);
      assert.equal(await field.getAttribute('aria-invalid'), 'true');
      assert.equal(
        await field.evaluate((el) => document.getElementById(el.getAttribute('aria-describedby') ?? '')?.textContent),
        'Wrong username or password',
      );
    }
    await page.close();
  });

  test('login: submitting POSTs username, password and every hidden field unchanged, then reaches the client', async () => {
    const { page, console } = await open('/login');
    pages.posts.length = 0;
    client.hits.length = 0;
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill('pa"ss <word> é');
    await Promise.all([page.waitForURL(`${client.url}/cb?**`), page.getByRole('button', { name: 'Sign in' }).click()]);
    assert.equal(pages.posts.length, 1);
    const post = pages.posts[0] as Posted;
    assert.equal(post.path, '/authorize/login');
    assert.equal(post.contentType, 'application/x-www-form-urlencoded');
    assert.deepEqual(post.fields, [...Object.entries(HIDDEN), ['username', 'alice'], ['password', 'pa"ss <word> é']]);
    assert.deepEqual(client.hits, ['/cb?code=c0de&state=s']);
    assert.deepEqual(console, []);
    await page.close();
  });

  test('login: Enter in the password field submits the form (no script needed)', async () => {
    const { page } = await open('/login-error');
    pages.posts.length = 0;
    // The page puts the focus in the password field (autofocus): typing before that lands loses keys.
    await page.waitForFunction(() => document.activeElement?.getAttribute('name') === 'password');
    await page.keyboard.type('secret');
    await Promise.all([page.waitForURL(`${client.url}/cb?**`), page.keyboard.press('Enter')]);
    assert.deepEqual(pages.posts[0]?.fields.slice(-2), [
      ['username', 'alice'],
      ['password', 'secret'],
    ]);
    await page.close();
  });

  test('consent: Tab reaches Approve then Deny; each button POSTs its decision with the hidden fields', async () => {
    for (const decision of ['approve', 'deny']) {
      const { page, console } = await open('/consent');
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => (document.activeElement as HTMLButtonElement).value), 'approve');
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => (document.activeElement as HTMLButtonElement).value), 'deny');
      pages.posts.length = 0;
      const name = decision === 'approve' ? 'Approve' : 'Deny';
      await Promise.all([page.waitForURL(`${client.url}/cb?**`), page.getByRole('button', { name }).click()]);
      assert.equal(pages.posts.length, 1);
      assert.equal(pages.posts[0]?.path, '/authorize/consent');
      assert.deepEqual(pages.posts[0]?.fields, [...Object.entries(HIDDEN), ['decision', decision]]);
      assert.deepEqual(console, []);
      await page.close();
    }
  });

  test('consent: the client, the user and each scope are shown as text', async () => {
    const { page } = await open('/consent');
    const text = ((await page.locator('main').textContent()) ?? '').replace(/\s+/g, ' ');
    assert.match(text, /Signed in as alice/);
    assert.ok(text.includes(`${CLIENT_NAME} asks for:`), text);
    assert.deepEqual(await page.locator('li').allTextContents(), [
      'Confirm your identity',
      'Your username',
      'Stay signed in',
      'orders:read',
    ]);
    assert.equal(await page.title(), `Allow access to ${CLIENT_NAME}?`);
    await page.close();
  });

  test('without the client origin in form-action, Chromium refuses the redirect after the POST', async () => {
    const { page, console } = await open('/login?strict');
    client.hits.length = 0;
    pages.posts.length = 0;
    await page.getByLabel('Username').fill('alice');
    await page.getByLabel('Password').fill('secret');
    const refused = page.waitForEvent('console', (m) => /form-action/.test(m.text()));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await refused;
    // The POST to 'self' went through; the 303 to the client's origin is what the policy stops.
    // Chromium names the form's own URL in the report (not the redirect target, which it keeps private).
    assert.equal(pages.posts.length, 1);
    assert.ok(
      console.some((m) => /^Sending form data to '[^']*\/authorize\/login' violates .*"form-action 'self'"/.test(m)),
      console.join('\n'),
    );
    assert.deepEqual(client.hits, []);
    await page.close();
  });
});
