/**
 * `tessera-auth/client` with `dpop: true` in a real browser (headless Chromium, playwright-core)
 * against a real `tessera serve`: the key is a non-extractable WebCrypto key kept in IndexedDB,
 * the tokens are bound to it, and after a reload the same key goes on proving the session.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
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
    // Runs in the page: the client, its key in IndexedDB, the key's RFC 7638 thumbprint.
    const probe = `
      async function keyOf() {
        const db = await new Promise((resolve, reject) => {
          const r = indexedDB.open('dpop-test-dpop', 1);
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
});
