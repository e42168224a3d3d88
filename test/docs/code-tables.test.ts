/**
 * Help texts and doc tables that list what the code has tables for (token formats, grant
 * types, signing algorithms) name exactly what the code has: a format, grant or algorithm
 * added to the code and not to the help or the docs fails here. Stores: store-specs.test.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { CLIENT_HELP } from '../../src/cli/client.js';
import { REGISTERED_GRANT_TYPES } from '../../src/http/core/grants/registry.js';
import { GRANT_TYPES } from '../../src/oauth-clients/clients.js';
import { TOKEN_FORMATS } from '../../src/refresh/types.js';
import { SETTINGS } from '../../src/server/config.js';
import { ASYMMETRIC_ALGS } from '../../src/tokens/jwk.js';

const ROOT = new URL('../..', import.meta.url).pathname;
const read = (path: string): string => readFileSync(`${ROOT}${path}`, 'utf8');

test('the token formats: the --access-format and --refresh-format help and docs/configuration.md name each one', () => {
  const conf = read('docs/configuration.md');
  for (const f of TOKEN_FORMATS) {
    assert.ok(SETTINGS.accessFormat.arg?.split('|').includes(f), `--access-format lacks ${f}`);
    assert.ok(
      SETTINGS.refreshFormat.arg?.split('|').includes(f) || SETTINGS.refreshFormat.help.includes(f),
      `--refresh-format lacks ${f}`,
    );
    assert.ok(conf.includes(`\`${f}\``), `docs/configuration.md lacks ${f}`);
  }
  assert.deepEqual(SETTINGS.accessFormat.arg?.split('|').sort(), [...TOKEN_FORMATS].sort(), 'and no format the code lacks');
});

test('the grant types a client registers for: the CLI accepts, its help and the docs name exactly those', () => {
  assert.deepEqual([...GRANT_TYPES].sort(), [...REGISTERED_GRANT_TYPES].sort());
  const api = read('docs/http-api.md');
  const readme = read('README.md');
  for (const g of REGISTERED_GRANT_TYPES) {
    assert.ok(CLIENT_HELP.includes(g), `tessera client --help lacks ${g}`);
    assert.ok(api.includes(`\`${g}\``), `docs/http-api.md lacks ${g}`);
  }
  // The README's Sign-in flows table names each grant by its RFC section.
  for (const section of ['RFC 6749 §4.1', 'RFC 6749 §4.4', 'RFC 6749 §6', 'RFC 6749 §4.3'])
    assert.ok(readme.includes(section), `README Sign-in flows lacks ${section}`);
});

test('the asymmetric signing algorithms: keygen --help, --access-alg and docs/keys.md name each one', () => {
  const keys = read('docs/keys.md');
  for (const alg of ASYMMETRIC_ALGS) {
    assert.ok(SETTINGS.accessAlg.arg?.includes(alg) || SETTINGS.accessAlg.help.includes(alg), `--access-alg lacks ${alg}`);
    assert.ok(keys.includes(alg), `docs/keys.md lacks ${alg}`);
  }
});

test('every setting of tessera serve: its variable and its flag are in docs/configuration.md', () => {
  const conf = read('docs/configuration.md');
  for (const [name, s] of Object.entries(SETTINGS) as [string, { env?: string; flag?: string }][]) {
    if (s.env) assert.ok(conf.includes(`\`${s.env}\``), `docs/configuration.md lacks ${s.env} (${name})`);
    if (s.flag) assert.ok(conf.includes(`--${s.flag}`), `docs/configuration.md lacks --${s.flag} (${name})`);
  }
});
