/**
 * Debian's Chromium for the browser tests (playwright-core never downloads a browser): where it
 * is, the flags this machine needs (no background networking: the closed network refuses it), the
 * skip rule (only when it is absent and CI is not set), and the browser build of the client that
 * the served pages load.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { ROOT } from './processes.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Skipped only when Chromium is really absent and CI is not set. */
export const skipBrowser: string | false =
  !existsSync(CHROMIUM) && process.env.CI !== 'true' ? `no Chromium at ${CHROMIUM}` : false;

export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS] });
}

/** The pages load the browser build of the client from dist/: rebuild it when src/client is newer. */
export function ensureClientBuild(): void {
  const out = join(ROOT, 'dist', 'client', 'index.js');
  const src = join(ROOT, 'src', 'client', 'index.ts');
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    // `npm run build`'s script: other test files may be running the built CLI meanwhile.
    execFileSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT });
  }
}
