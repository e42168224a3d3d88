/**
 * Every store URL scheme `openStore` accepts (the scheme registry,
 * src/stores/schemes.ts) is named where a reader looks for it: `tessera --help`,
 * `tessera serve --help`, the `--store` help and docs/configuration.md.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { MAIN_HELP } from '../../src/cli/main.js';
import { serveCommand } from '../../src/cli/serve.js';
import { SETTINGS } from '../../src/server/config.js';
import { storeSchemes } from '../../src/stores/open.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const SCHEMES = storeSchemes().flatMap((r) => r.schemes);

test('the registry holds the built-in stores', () => {
  assert.deepEqual(SCHEMES, ['memory', 'sqlite:', 'redis://', 'rediss://', 'redis+cluster://', 'postgres://', 'postgresql://']);
});

test('the --store help names every registered scheme', () => {
  for (const s of SCHEMES) assert.ok(SETTINGS.store.help.includes(s), `--store help lacks ${s}`);
});

test('tessera serve --help names every store scheme, PostgreSQL included', async () => {
  let out = '';
  assert.equal(await serveCommand(['--help'], { out: (l) => (out += `${l}\n`), err: () => {} }), 0);
  for (const s of SCHEMES) assert.ok(out.includes(s), `serve --help lacks ${s}`);
  assert.match(
    out.split('\n')[0]!,
    /--store memory\|sqlite:PATH\|redis:\/\/\.\.\.\|redis\+cluster:\/\/\.\.\.\|postgres:\/\/\.\.\./,
  );
});

test('tessera --help and docs/configuration.md name every registered store', () => {
  for (const r of storeSchemes()) assert.ok(MAIN_HELP.includes(r.usage ?? r.syntax), `tessera --help lacks ${r.syntax}`);
  const conf = readFileSync(`${ROOT}docs/configuration.md`, 'utf8');
  for (const s of SCHEMES) assert.ok(conf.includes(`\`${s}`), `docs/configuration.md lacks ${s}`);
});
