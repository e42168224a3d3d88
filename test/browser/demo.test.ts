/**
 * The demo page in a real browser (headless Chromium driven by playwright-core)
 * against a real server. Time is controlled on both sides: the page's clock with
 * Playwright's `page.clock`, the server's with its test clock file, so "the
 * access token is about to expire" is reached without waiting.
 *
 * Chromium comes from Debian (`apt-get install chromium`, done by .ci/run);
 * set CHROMIUM_PATH to use another binary. `npm run screenshots` refreshes
 * the screenshots in docs/screenshots from this run.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { E2E } from '../e2e/helpers.js';
import { ensureClientBuild, launchChromium, skipBrowser } from '../support/chromium.js';
import { PASSWORD, ROOT, runCli, type ServerProcess, serverEnv, startServer, tempDir } from '../support/processes.js';

/** docs/screenshots when refreshing them (`npm run screenshots`); a temp dir otherwise, so a test run leaves the tree clean. */
const SHOTS = process.env.TESSERA_UPDATE_SCREENSHOTS === '1' ? join(ROOT, 'docs', 'screenshots') : tempDir('tessera-shots-');
const skip = skipBrowser;

describe('demo page in Chromium', { skip }, () => {
  let server: ServerProcess;
  let browser: Browser;
  let context: BrowserContext;
  /** Server and page clocks move together. */
  let offsetMs = 0;

  before(async () => {
    ensureClientBuild();
    const env = serverEnv(E2E, {
      TESSERA_STORE: `sqlite:${join(tempDir(), 'demo.db')}`,
      TESSERA_SCHEME: 'jwt',
      TESSERA_ACCESS_TTL: '60',
      // The development default issuer (the listen URL), the page's origin: the demo signs in with
      // DPoP, whose proofs name the issuer's URLs (RFC 9449 §4.3).
      TESSERA_ISSUER: '',
    });
    const added = await runCli(E2E, ['user', 'add', 'alice'], env, PASSWORD);
    assert.equal(added.code, 0, added.stderr);
    server = await startServer(E2E, env);
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    mkdirSync(SHOTS, { recursive: true });
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await server?.stop();
  });

  async function openTab(): Promise<Page> {
    const page = await context.newPage();
    await page.clock.install({ time: Date.now() + offsetMs });
    await page.goto(server.url);
    return page;
  }

  async function signIn(page: Page): Promise<void> {
    await page.fill('#username', 'alice');
    await page.fill('#password', PASSWORD);
    await page.click('#login');
    await page.waitForSelector('#session:not([hidden])');
  }

  /**
   * Moves time forward on the server and in every tab. `page.clock` is the
   * context's clock, shared by all its tabs: fast-forwarding it once per tab
   * would move the tabs by that many times `ms` (a second refresh, and a flaky
   * two-tab test, when the first refresh landed between the two moves).
   */
  async function advance(ms: number): Promise<void> {
    offsetMs += ms;
    server.setClockOffset(offsetMs);
    await context.clock.fastForward(ms);
  }

  const timeline = (page: Page) => page.locator('#timeline li').allTextContents();

  test('sign in; the token refreshes by itself while the page keeps calling /me; replay: refused without the key, reuse with it, the family revoked', async () => {
    const page = await openTab();
    assert.equal(await page.title(), 'tessera: token demo');
    await signIn(page);
    await page.waitForFunction(() => document.querySelector('#me-result')?.textContent?.startsWith('200'));
    assert.match((await page.textContent('#claims')) ?? '', /"type": "access"/);

    // 57 s later the access token has 3 s left: inside the client's 5 s refresh-ahead window.
    await advance(57_000);
    await page.waitForFunction(() =>
      [...document.querySelectorAll('#timeline li')].some((li) => li.textContent?.includes('Refreshed')),
    );
    await page.click('#call-me');
    await page.waitForFunction(() => document.querySelector('#me-result')?.textContent?.startsWith('200'));
    assert.ok(await page.isEnabled('#replay'), 'a consumed refresh token is available to replay');
    await page.screenshot({ path: join(SHOTS, 'demo-signed-in.png'), fullPage: true });

    await page.click('#replay');
    await page.waitForSelector('#ended:not([hidden])');
    const reason = (await page.textContent('#ended-reason')) ?? '';
    assert.match(reason, /Reuse detected/);
    const events = await timeline(page);
    // DPoP: the copy without the key is refused first; the replay by the page's key is reuse.
    assert.ok(
      events.some((e) => /Server answered 400 invalid_dpop_proof/.test(e)),
      events.join('\n'),
    );
    assert.ok(
      events.some((e) => /Server answered 400 invalid_grant/.test(e)),
      events.join('\n'),
    );
    await page.screenshot({ path: join(SHOTS, 'demo-reuse-detected.png'), fullPage: true });
    await page.close();
  });

  test('two tabs stay signed in through a refresh race (one refresh, the other tab takes its result)', async () => {
    const tab1 = await openTab();
    const tab2 = await openTab();
    await signIn(tab1);
    // Tab 2 adopts tab 1's session through the BroadcastChannel.
    await tab2.waitForSelector('#session:not([hidden])');

    await advance(57_000);
    await Promise.all([tab1.click('#call-me'), tab2.click('#call-me')]);
    for (const tab of [tab1, tab2]) {
      await tab.waitForFunction(() =>
        [...document.querySelectorAll('#timeline li')].some((li) => /Refreshed|Another tab/.test(li.textContent ?? '')),
      );
      await tab.waitForFunction(() => document.querySelector('#me-result')?.textContent?.startsWith('200'));
    }
    const all = [...(await timeline(tab1)), ...(await timeline(tab2))];
    assert.equal(
      all.filter((e) => e.includes('Refreshed: new access')).length,
      1,
      `exactly one tab refreshed:\n${all.join('\n')}`,
    );
    assert.ok(
      all.some((e) => e.includes('Another tab')),
      all.join('\n'),
    );
    assert.ok(await tab1.isHidden('#ended'));
    assert.ok(await tab2.isHidden('#ended'));
    await tab1.close();
    await tab2.close();
  });

  test("the code-flow button signs in on the server's login page (PKCE) and comes back signed in", async () => {
    // The development default issuer (the listen URL): the demo page's redirect URI is the issuer's `/`.
    const env = serverEnv(E2E, { TESSERA_STORE: `sqlite:${join(tempDir(), 'code-flow.db')}`, TESSERA_ISSUER: '' });
    assert.equal((await runCli(E2E, ['user', 'add', 'alice'], env, PASSWORD)).code, 0);
    const own = await browser.newContext();
    const local = await startServer(E2E, env);
    try {
      const page = await own.newPage();
      await page.goto(local.url);
      await page.click('#code-flow');
      // The page says why when it cannot start the flow: fail with that, not a navigation timeout.
      await Promise.race([
        page.waitForURL(/\/authorize\?/),
        page.waitForSelector('#login-error:not([hidden])', { timeout: 0 }).then(async () => {
          if (!/\/authorize\?/.test(page.url()))
            throw new Error(`the code flow did not start: ${await page.textContent('#login-error')}`);
        }),
      ]);
      const url = new URL(page.url());
      assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
      assert.equal(url.searchParams.get('client_id'), 'tessera');
      await page.fill('input[name="username"]', 'alice');
      await page.fill('input[name="password"]', PASSWORD);
      await page.click('button[type="submit"]');
      await page.waitForSelector('#session:not([hidden])');
      // The name comes from GET /me, after the session is shown.
      await page.waitForFunction(() => document.querySelector('#who')?.textContent === 'alice');
      assert.equal(new URL(page.url()).search, '', 'the code leaves the address bar');
      await page.waitForFunction(() => document.querySelector('#me-result')?.textContent?.startsWith('200'));
    } finally {
      await own.close();
      await local.stop();
    }
  });

  test('sign out ends the session', async () => {
    const page = await openTab();
    await signIn(page);
    await page.click('#logout');
    await page.waitForSelector('#ended:not([hidden])');
    assert.match((await page.textContent('#ended-reason')) ?? '', /You signed out/);
    await page.screenshot({ path: join(SHOTS, 'demo-signed-out.png') });
    await page.close();
  });

  test('Swagger UI at /docs renders under its Content-Security-Policy without a violation', async () => {
    const page = await context.newPage();
    const violations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
    });
    await page.goto(`${server.url}/docs`);
    await page.waitForSelector('.swagger-ui .info .title');
    await page.waitForSelector('.opblock-tag');
    assert.deepEqual(violations, []);
    await page.close();
  });
});

describe('cookie mode in Chromium: __Host-/__Secure- cookies and the session-bound CSRF value', { skip }, () => {
  let server: ServerProcess;
  let browser: Browser;

  before(async () => {
    ensureClientBuild();
    const env = serverEnv(E2E, {
      TESSERA_STORE: `sqlite:${join(tempDir(), 'cookie.db')}`,
      TESSERA_SCHEME: 'opaque',
      TESSERA_COOKIE_MODE: '1',
    });
    const added = await runCli(E2E, ['user', 'add', 'alice'], env, PASSWORD);
    assert.equal(added.code, 0, added.stderr);
    server = await startServer(E2E, env);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('the client logs in, refreshes through the cookie with the CSRF header, and logs out', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    // localhost is a secure context: Chromium stores Secure and prefixed cookies from it over http.
    await page.goto(server.url.replace('127.0.0.1', 'localhost'));
    const result = await page.evaluate(async (password) => {
      const url = '/client.js'; // a URL of the page, not a module of this project
      const { createClient } = await import(url);
      const client = createClient({ cookieMode: true });
      const first = await client.login('alice', password);
      const csrf1 = document.cookie.match(/__Host-tessera_csrf=([^;]+)/)?.[1];
      const second = await client.refresh();
      const csrf2 = document.cookie.match(/__Host-tessera_csrf=([^;]+)/)?.[1];
      const me = await client.fetch('/me');
      await client.logout();
      return {
        rotated: first.accessToken !== second.accessToken,
        csrf1: Boolean(csrf1),
        csrfChanged: csrf1 !== csrf2,
        me: me.status,
        rtVisible: document.cookie.includes('tessera_rt'),
        after: document.cookie.includes('__Host-tessera_csrf'),
      };
    }, PASSWORD);
    assert.deepEqual(result, { rotated: true, csrf1: true, csrfChanged: true, me: 200, rtVisible: false, after: false });
    const cookies = await context.cookies();
    assert.ok(
      !cookies.some((c) => c.name === '__Secure-tessera_rt' && c.value !== ''),
      'the refresh cookie is gone after logout',
    );
    await context.close();
  });
});
