/**
 * "Your sessions" on the demo page, in headless Chromium against a real server: three browser
 * contexts (three devices, each its own storage and User-Agent) signed in as one user. One lists
 * the sessions and signs another out, whose next API call is refused and whose page shows the
 * signed-out state; a third signs out of every other session.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { E2E } from '../e2e/helpers.js';
import { ensureClientBuild, launchChromium, skipBrowser } from '../support/chromium.js';
import { PASSWORD, runCli, type ServerProcess, serverEnv, startServer, tempDir } from '../support/processes.js';

const skip = skipBrowser;

const DEVICES = {
  laptop: 'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0',
  phone: 'Mozilla/5.0 (Linux; Android 15) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Mobile Safari/537.36',
  tablet: 'Mozilla/5.0 (iPad; CPU OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15',
} as const;

describe('"Your sessions" in Chromium: sign one device out, then every other', { skip }, () => {
  let server: ServerProcess;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  before(async () => {
    ensureClientBuild();
    // The development default issuer (the listen URL), the page's origin: the demo's tokens are DPoP-bound.
    const env = serverEnv(E2E, {
      TESSERA_STORE: `sqlite:${join(tempDir(), 'sessions.db')}`,
      TESSERA_SCHEME: 'jwt',
      TESSERA_ISSUER: '',
    });
    const added = await runCli(E2E, ['user', 'add', 'alice'], env, PASSWORD);
    assert.equal(added.code, 0, added.stderr);
    server = await startServer(E2E, env);
    browser = await launchChromium();
  });

  after(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    await server?.stop();
  });

  /** A device: its own browser context (storage, BroadcastChannel) and User-Agent, signed in as alice. */
  async function device(userAgent: string): Promise<Page> {
    const context = await browser.newContext({ userAgent, viewport: { width: 1100, height: 900 } });
    contexts.push(context);
    const page = await context.newPage();
    await page.goto(server.url);
    await page.fill('#username', 'alice');
    await page.fill('#password', PASSWORD);
    await page.click('#login');
    await page.waitForSelector('#devices:not([hidden])');
    return page;
  }

  /** The session list as shown, once it shows `n` sessions (the page reloads it every 2 s). */
  async function listed(page: Page, n: number): Promise<string[]> {
    await page.waitForFunction((count) => document.querySelectorAll('#session-list li').length === count, n, {
      timeout: 10_000,
    });
    return page.locator('#session-list li').allTextContents();
  }

  test('the laptop lists two sessions and signs the phone out; the phone is refused and shows it; the tablet signs out every other', async () => {
    const laptop = await device(DEVICES.laptop);
    const phone = await device(DEVICES.phone);
    const shown = await listed(laptop, 2);
    assert.ok(
      shown.some((t) => /Firefox on Linux.*this device/.test(t)),
      shown.join('\n'),
    );
    assert.ok(
      shown.some((t) => /Chrome on Android/.test(t) && !/this device/.test(t)),
      shown.join('\n'),
    );
    assert.ok(
      shown.every((t) => /near 127\.0\.0\.x|near ::/.test(t) && /last used just now · signed in with password/.test(t)),
      shown.join('\n'),
    );

    await laptop
      .locator('#session-list li', { hasText: 'Chrome on Android' })
      .getByRole('button', { name: /Sign out/ })
      .click();
    await listed(laptop, 1);
    // The phone's next call (the page calls /me every 2 s) is refused: its session was revoked.
    await phone.waitForSelector('#ended:not([hidden])', { timeout: 10_000 });
    assert.match((await phone.textContent('#ended-reason')) ?? '', /revoked/);

    const tablet = await device(DEVICES.tablet);
    await listed(laptop, 2);
    await listed(tablet, 2);
    await tablet.click('#sign-out-others');
    await laptop.waitForSelector('#ended:not([hidden])', { timeout: 10_000 });
    assert.match((await laptop.textContent('#ended-reason')) ?? '', /revoked/);
    const left = await listed(tablet, 1);
    assert.match(left[0] ?? '', /Safari on iOS.*this device/);
    assert.ok(await tablet.isHidden('#ended'));
  });
});
