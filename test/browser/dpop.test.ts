/**
 * `tessera-auth/client` with `dpop: true` in a real browser (headless Chromium, playwright-core)
 * against a real `tessera serve`: the key is a non-extractable WebCrypto key kept in IndexedDB,
 * the tokens are bound to it, and after a reload the same key goes on proving the session. The
 * demo page does the same: it signs in with DPoP and takes its session up again after a reload.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Request } from 'playwright-core';
import { jwkThumbprint } from '../../src/tokens/jwk.js';
import { E2E } from '../e2e/helpers.js';
import { ensureClientBuild, launchChromium, skipBrowser } from '../support/chromium.js';
import { PASSWORD, runCli, type ServerProcess, serverEnv, startServer, tempDir } from '../support/processes.js';

const skip = skipBrowser;

interface Seen {
  tokenType: string | undefined;
  me: number;
  cnf: string | undefined;
  jkt: string;
  extractable: boolean;
  exportRefused: boolean;
}

/**
 * Runs in the page: `keyOf()` reads the client's key pair from the IndexedDB database `db`
 * (`<name>-dpop`), answers its RFC 7638 thumbprint and whether the private key is extractable or
 * its export refused; `cnfOf(token)` reads a jwt's `cnf.jkt`.
 */
function keyProbe(db: string): string {
  return `
    async function keyOf() {
      const db = await new Promise((resolve, reject) => {
        const r = indexedDB.open(${JSON.stringify(db)}, 1);
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
      const pair = await new Promise((resolve, reject) => {
        const r = db.transaction('keys', 'readonly').objectStore('keys').get('pair');
        r.onsuccess = () => resolve(r.result);
        r.onerror = () => reject(r.error);
      });
      const j = await crypto.subtle.exportKey('jwk', pair.publicKey);
      const json = '{"crv":"P-256","kty":"EC","x":"' + j.x + '","y":"' + j.y + '"}';
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(json)));
      const jkt = btoa(String.fromCharCode(...digest)).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
      let exportRefused = false;
      try { await crypto.subtle.exportKey('jwk', pair.privateKey); } catch { exportRefused = true; }
      return { jkt, extractable: pair.privateKey.extractable, exportRefused };
    }
    const cnfOf = (t) => JSON.parse(atob(t.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).cnf?.jkt;
  `;
}

describe('tessera-auth/client dpop: true in Chromium', { skip }, () => {
  let server: ServerProcess;
  let browser: Browser;

  before(async () => {
    ensureClientBuild();
    // The default issuer: the URL listened on, which is the page's origin (the proofs' htu).
    const env = serverEnv(E2E, { TESSERA_STORE: `sqlite:${join(tempDir(), 'dpop.db')}`, TESSERA_ISSUER: '' });
    assert.equal((await runCli(E2E, ['user', 'add', 'alice'], env, PASSWORD)).code, 0);
    server = await startServer(E2E, env);
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('signs in with a non-extractable key kept in IndexedDB; after a reload the same key proves the session and its refresh', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    // The demo page: its policy lets scripts of this origin load (the API answers allow none).
    await page.goto(server.url);
    const probe = keyProbe('dpop-test-dpop');
    const first = (await page.evaluate(`(async () => {
      ${probe}
      const { createClient } = await import('/client.js');
      const client = createClient({ dpop: true, name: 'dpop-test' });
      const s = await client.login('alice', ${JSON.stringify(PASSWORD)});
      const me = await client.fetch('/me');
      sessionStorage.setItem('session', JSON.stringify(s));
      return { tokenType: s.tokenType, me: me.status, cnf: cnfOf(s.accessToken), ...(await keyOf()) };
    })()`)) as Seen;
    assert.equal(first.tokenType, 'DPoP');
    assert.equal(first.me, 200);
    assert.equal(first.cnf, first.jkt, 'the access token is bound to the key in IndexedDB');
    assert.equal(first.extractable, false);
    assert.equal(first.exportRefused, true);

    await page.reload();
    const second = (await page.evaluate(`(async () => {
      ${probe}
      const { createClient } = await import('/client.js');
      const client = createClient({ dpop: true, name: 'dpop-test' });
      client.setSession(JSON.parse(sessionStorage.getItem('session')));
      const me = await client.fetch('/me');
      const next = await client.refresh();
      return { tokenType: next.tokenType, me: me.status, cnf: cnfOf(next.accessToken), ...(await keyOf()) };
    })()`)) as Seen;
    assert.equal(second.me, 200, 'the reloaded page proves the session with the stored key');
    assert.equal(second.tokenType, 'DPoP');
    assert.equal(second.jkt, first.jkt, 'the same key after the reload');
    assert.equal(second.cnf, first.jkt, 'the refreshed tokens stay bound to it');
    await context.close();
  });

  test('the demo page signs in with DPoP: /me with a proof, a non-extractable key; after a reload still signed in, refreshing with the same key', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    /** The DPoP proofs the page sent, by path: the RFC 7638 thumbprint of each one's key, and its request. */
    const sent: { path: string; jkt: string; claims: Record<string, unknown>; authorization: string | undefined }[] = [];
    const watch = (req: Request) => {
      const { dpop: proof, authorization } = req.headers();
      if (!proof) return;
      const [h, c] = proof
        .split('.')
        .slice(0, 2)
        .map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()));
      sent.push({ path: new URL(req.url()).pathname, jkt: jwkThumbprint(h.jwk), claims: c, authorization });
    };
    page.on('request', watch);
    const tokenAnswer = page.waitForResponse((r) => new URL(r.url()).pathname === '/auth/token');
    await page.goto(server.url);
    await page.fill('#username', 'alice');
    await page.fill('#password', PASSWORD);
    await page.click('#login');
    await page.waitForSelector('#session:not([hidden])');
    await page.waitForFunction(() => document.querySelector('#me-result')?.textContent?.startsWith('200'));
    const token = (await (await tokenAnswer).json()) as { token_type: string; access_token: string };
    assert.equal(token.token_type, 'DPoP');

    const signIn = sent.find((p) => p.path === '/auth/token');
    assert.ok(signIn, 'the token request carried a proof');
    const me = sent.find((p) => p.path === '/me');
    assert.ok(me, 'the /me request carried a proof');
    assert.equal(me.authorization, `DPoP ${token.access_token}`);
    assert.equal(me.claims.htm, 'GET');
    assert.equal(me.claims.htu, `${server.url}/me`);
    assert.equal(me.claims.ath, createHash('sha256').update(token.access_token).digest('base64url'));
    assert.equal(me.jkt, signIn.jkt, 'one key for the token request and the API call');

    // The key in IndexedDB is the one that signed, and it cannot leave the browser.
    const key = (await page.evaluate(`(async () => { ${keyProbe('tessera-auth-dpop')} return keyOf(); })()`)) as Seen;
    assert.deepEqual([key.jkt, key.extractable, key.exportRefused], [signIn.jkt, false, true]);

    sent.length = 0;
    await page.reload();
    await page.waitForSelector('#session:not([hidden])');
    assert.ok(await page.isHidden('#signin'), 'still signed in after the reload');
    await page.waitForFunction(() => document.querySelector('#me-result')?.textContent?.startsWith('200'));
    const refreshAnswer = page.waitForResponse((r) => new URL(r.url()).pathname === '/auth/refresh');
    await page.click('#refresh-now');
    const refreshed = await refreshAnswer;
    assert.equal(refreshed.status(), 200, await refreshed.text());
    assert.equal(((await refreshed.json()) as { token_type: string }).token_type, 'DPoP');
    const after = sent.filter((p) => p.path === '/me' || p.path === '/auth/refresh');
    assert.ok(after.some((p) => p.path === '/auth/refresh'));
    assert.ok(after.some((p) => p.path === '/me'));
    assert.ok(
      after.every((p) => p.jkt === signIn.jkt),
      'the reloaded page proves /me and the refresh with the same key',
    );
    await context.close();
  });
});
