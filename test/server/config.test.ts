/** Server configuration: defaults, precedence, validation messages, the development secret. */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { serveCommand } from '../../src/cli/serve.js';
import { ConfigError } from '../../src/errors.js';
import { redactUrl } from '../../src/internal/redact.js';
import { generateSecret } from '../../src/keys.js';
import { parseConfig, resolveSecret, SETTINGS, storeConfig } from '../../src/server/config.js';
import { openStore } from '../../src/stores/open.js';

const secret = generateSecret();
const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'tessera-config-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function refused(env: NodeJS.ProcessEnv, flags: Parameters<typeof parseConfig>[1], message: RegExp): void {
  assert.throws(
    () => parseConfig(env, flags),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.match(e.message, message);
      assert.ok(!e.message.includes('\n'), 'one line');
      return true;
    },
  );
}

describe('parseConfig', () => {
  test('defaults', () => {
    const c = parseConfig({ TESSERA_SECRET: secret });
    assert.equal(c.store, `sqlite:${resolve('.tessera', 'tessera.db')}`);
    assert.equal(c.storeFrom, 'default');
    assert.equal(c.scheme, 'jwt');
    assert.equal(c.accessFormat, 'jwt');
    assert.equal(c.refreshFormat, 'jwt');
    assert.equal(c.accessTtl, 900);
    assert.equal(c.refreshTtl, 2592000);
    assert.equal(c.reuseGrace, 0);
    assert.equal(c.accessCache, 1000);
    assert.equal(c.port, 3000);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.logLevel, 'warn');
    assert.equal(c.logRequests, false);
    assert.deepEqual(c.rateLimit, { max: 20, perUser: 5, windowSeconds: 60 });
    assert.equal(c.trustProxy, false);
    assert.equal(c.scope, 'api');
    assert.equal(c.cookieMode, false);
    assert.equal(c.cookieSecure, true);
    assert.equal(c.allowRegister, false);
    assert.equal(c.docs, true);
    assert.equal(c.scryptN, 131072);
    assert.equal(c.redisPrefix, 'tessera:');
    assert.equal(c.secretSource?.kind, 'secret');
  });

  test('store precedence: flag, TESSERA_STORE, REDIS_URL, default in the data dir', () => {
    assert.equal(parseConfig({ TESSERA_SECRET: secret, REDIS_URL: 'redis://r:6379' }).store, 'redis://r:6379');
    assert.equal(parseConfig({ TESSERA_SECRET: secret, REDIS_URL: 'redis://r:6379' }).storeFrom, 'REDIS_URL');
    assert.equal(parseConfig({ TESSERA_SECRET: secret, REDIS_URL: 'redis://r', TESSERA_STORE: 'memory' }).store, 'memory');
    assert.equal(
      parseConfig({ TESSERA_SECRET: secret, TESSERA_STORE: 'memory' }, { store: 'sqlite:/x.db' }).store,
      'sqlite:/x.db',
    );
    assert.equal(parseConfig({ TESSERA_SECRET: secret, TESSERA_DATA_DIR: '/srv/t' }).store, 'sqlite:/srv/t/tessera.db');
    assert.equal(storeConfig({ TESSERA_STORE: 'redis+cluster://a:1,b:2' }).store, 'redis+cluster://a:1,b:2');
  });

  test('schemes and formats; flags win over variables', () => {
    const o = parseConfig({ TESSERA_SECRET: secret, TESSERA_SCHEME: 'opaque' });
    assert.equal(o.accessFormat, 'opaque');
    assert.equal(o.refreshFormat, 'opaque');
    const mixed = parseConfig(
      { TESSERA_SECRET: secret, TESSERA_SCHEME: 'sealed', TESSERA_ACCESS_FORMAT: 'fernet' },
      { refreshFormat: 'opaque' },
    );
    assert.equal(mixed.accessFormat, 'fernet');
    assert.equal(mixed.refreshFormat, 'opaque');
    const flags = parseConfig(
      { TESSERA_SECRET: secret, PORT: '1', HOST: 'a' },
      { port: '8080', host: '0.0.0.0', logRequests: true },
    );
    assert.equal(flags.port, 8080);
    assert.equal(flags.host, '0.0.0.0');
    assert.equal(flags.logRequests, true);
  });

  test('booleans, rate limit off, empty scope', () => {
    for (const v of ['1', 'true', 'YES', 'on'])
      assert.equal(parseConfig({ TESSERA_SECRET: secret, TESSERA_COOKIE_MODE: v }).cookieMode, true);
    for (const v of ['0', 'false', 'no', 'off'])
      assert.equal(parseConfig({ TESSERA_SECRET: secret, TESSERA_COOKIE_MODE: v }).cookieMode, false);
    refused({ TESSERA_SECRET: secret, TESSERA_COOKIE_MODE: 'maybe' }, {}, /^TESSERA_COOKIE_MODE must be 1 or 0/);
    assert.equal(parseConfig({ TESSERA_SECRET: secret, TESSERA_RATE_LIMIT: '0' }).rateLimit, false);
    assert.equal(parseConfig({ TESSERA_SECRET: secret, TESSERA_SCOPE: '' }).scope, undefined);
    assert.equal(parseConfig({ TESSERA_SECRET: secret, TESSERA_SCOPE: ' read   write ' }).scope, 'read write');
    assert.equal(parseConfig({ TESSERA_SECRET: secret, TESSERA_INSECURE_COOKIES: '1' }).cookieSecure, false);
  });

  test('TESSERA_TRUST_PROXY: off, a hop count, or proxy addresses/CIDRs; "true" is refused', () => {
    const tp = (v: string) => parseConfig({ TESSERA_SECRET: secret, TESSERA_TRUST_PROXY: v }).trustProxy;
    for (const v of ['off', '0', 'false', 'no']) assert.equal(tp(v), false);
    assert.equal(tp('1'), 1);
    assert.equal(tp('2'), 2);
    assert.deepEqual(tp('10.0.0.1, 10.1.0.0/16,::1,fd00::/8,loopback'), [
      '10.0.0.1',
      '10.1.0.0/16',
      '::1',
      'fd00::/8',
      'loopback',
    ]);
    assert.equal(parseConfig({ TESSERA_SECRET: secret }, { trustProxy: '3' }).trustProxy, 3);
    refused(
      { TESSERA_SECRET: secret, TESSERA_TRUST_PROXY: 'true' },
      {},
      /^TESSERA_TRUST_PROXY takes the number of proxies.*lets clients choose/,
    );
    refused(
      { TESSERA_SECRET: secret, TESSERA_TRUST_PROXY: '10.0.0.0/33' },
      {},
      /^TESSERA_TRUST_PROXY: "10\.0\.0\.0\/33" is not an IP address or CIDR/,
    );
    refused({ TESSERA_SECRET: secret }, { trustProxy: 'proxy.example' }, /^--trust-proxy: "proxy\.example" is not/);
  });

  test('one-line messages naming the setting and the fix', () => {
    refused({ TESSERA_SECRET: 'c2hvcnQ' }, {}, /^TESSERA_SECRET: secret has 5 bytes.*at least 32.*tessera keygen/);
    refused({}, { secret: 'c2hvcnQ' }, /^--secret: secret has 5 bytes/);
    refused({ TESSERA_KEYS: 'a:c2hvcnQ' }, {}, /^TESSERA_KEYS: key "a" has 5 bytes/);
    refused(
      { TESSERA_SECRET: secret, TESSERA_ACCESS_FORMAT: 'xml' },
      {},
      /^TESSERA_ACCESS_FORMAT must be one of jwt, sealed, fernet, opaque, got "xml"$/,
    );
    refused({ TESSERA_SECRET: secret }, { refreshFormat: 'xml' }, /^--refresh-format must be one of/);
    refused({ TESSERA_SECRET: secret, TESSERA_SCHEME: 'fernet' }, {}, /^TESSERA_SCHEME must be one of jwt, sealed, opaque/);
    refused(
      { TESSERA_SECRET: secret, TESSERA_ACCESS_TTL: '0' },
      {},
      /^TESSERA_ACCESS_TTL must be a whole number of seconds from 1/,
    );
    refused({ TESSERA_SECRET: secret, TESSERA_REFRESH_TTL: '1.5' }, {}, /^TESSERA_REFRESH_TTL/);
    refused({ TESSERA_SECRET: secret, PORT: 'http' }, {}, /^PORT must be a port number/);
    refused(
      { TESSERA_SECRET: secret, TESSERA_LOG_LEVEL: 'loud' },
      {},
      /^TESSERA_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent/,
    );
    refused({ TESSERA_SECRET: secret, TESSERA_STORE: 'mysql://x' }, {}, /^TESSERA_STORE must be memory, sqlite:PATH/);
    refused({ TESSERA_SECRET: secret, TESSERA_STORE: 'mysql://u:pw@h' }, {}, /got "mysql:\/\/u:\*\*\*@h"/);
    refused({ TESSERA_SECRET: secret, TESSERA_SCRYPT_N: '1000' }, {}, /^TESSERA_SCRYPT_N must be a power of two/);
    refused({ TESSERA_SECRET: secret, TESSERA_SCOPE: 'a"b' }, {}, /^TESSERA_SCOPE may hold only printable ASCII/);
    refused({ NODE_ENV: 'production' }, {}, /^TESSERA_SECRET is not set and NODE_ENV=production never generates one/);
    refused(
      { NODE_ENV: 'production', TESSERA_SECRET: generateSecret() },
      {},
      /^TESSERA_ISSUER is not set and NODE_ENV=production never defaults it to the listen URL; set TESSERA_ISSUER/,
    );
    refused({ NODE_ENV: 'production', TESSERA_SECRET: generateSecret(), TESSERA_ISSUER: '' }, {}, /^TESSERA_ISSUER is not set/);
    refused(
      { TESSERA_SECRET_FILE: '/nonexistent/secret' },
      {},
      /^TESSERA_SECRET_FILE: cannot read "\/nonexistent\/secret" \(ENOENT\)/,
    );
  });

  test('TESSERA_ACCESS_CACHE and --access-cache: 0 to 1000000, the flag wins', () => {
    const cache = (env: NodeJS.ProcessEnv, flags: Parameters<typeof parseConfig>[1] = {}) =>
      parseConfig({ TESSERA_SECRET: secret, ...env }, flags).accessCache;
    assert.equal(cache({}), 1000);
    assert.equal(cache({ TESSERA_ACCESS_CACHE: '' }), 1000, 'empty is unset');
    assert.equal(cache({ TESSERA_ACCESS_CACHE: '0' }), 0);
    assert.equal(cache({ TESSERA_ACCESS_CACHE: ' 25 ' }), 25);
    assert.equal(cache({ TESSERA_ACCESS_CACHE: '1000000' }), 1_000_000);
    assert.equal(cache({}, { accessCache: '0' }), 0);
    assert.equal(cache({ TESSERA_ACCESS_CACHE: '7' }, { accessCache: '5' }), 5);
    for (const bad of ['-1', '1000001', '1.5', '1e3', 'lots', '0x10', '10 000']) {
      refused(
        { TESSERA_SECRET: secret, TESSERA_ACCESS_CACHE: bad },
        {},
        new RegExp(`^TESSERA_ACCESS_CACHE must be a whole number from 0 to 1000000, got "${bad}"$`),
      );
      refused(
        { TESSERA_SECRET: secret, TESSERA_ACCESS_CACHE: '10' },
        { accessCache: bad },
        new RegExp(`^--access-cache must be a whole number from 0 to 1000000, got "${bad}"$`),
      );
    }
  });

  test('tessera serve --access-cache reaches the setting', async () => {
    const io = { out: () => {}, err: () => {} };
    // --port is invalid too (and checked later): should --access-cache ever be let through, this fails instead of serving.
    await assert.rejects(serveCommand(['--access-cache', 'lots', '--store', 'memory', '--port', 'http'], io), (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.equal(e.message, '--access-cache must be a whole number from 0 to 1000000, got "lots"');
      return true;
    });
  });

  test('TESSERA_KEYS (first signs) and TESSERA_SECRET_FILE', () => {
    const k = parseConfig({ TESSERA_KEYS: `new:${generateSecret()},old:${secret}`, TESSERA_SECRET: generateSecret() });
    assert.equal(k.keys?.primary.kid, 'new');
    assert.equal(k.keys?.keys.length, 2);
    const file = join(tmp(), 'secret');
    writeFileSync(file, `${secret}\n`);
    const f = parseConfig({ TESSERA_SECRET_FILE: file });
    assert.deepEqual(f.secretSource, { kind: 'file', path: file });
    assert.equal(f.keys?.primary.bytes.length, 32);
  });

  test('redactUrl hides the password of a store URL', () => {
    assert.equal(redactUrl('redis://:hunter2@h:6379'), 'redis://:***@h:6379');
    assert.equal(redactUrl('redis://user:hunter2@h:6379/0'), 'redis://user:***@h:6379/0');
    assert.equal(redactUrl('redis+cluster://pw@a:1,b:2'), 'redis+cluster://***@a:1,b:2');
    assert.equal(redactUrl('sqlite:/x'), 'sqlite:/x');
    // A password typed with a raw @ or / is still hidden whole.
    assert.equal(redactUrl('redis://u:p@ss/w0rd@h:6379'), 'redis://u:***@h:6379');
    assert.equal(redactUrl('rediss://:a/b@h'), 'rediss://:***@h');
  });

  test('the store layer hides passwords with the same function', async () => {
    await assert.rejects(openStore('nosuch://user:hunter2@h'), (e: Error) => {
      assert.ok(!e.message.includes('hunter2'), e.message);
      assert.match(e.message, /nosuch:\/\/user:\*\*\*@h/);
      return true;
    });
  });

  test('every setting has a distinct variable and flag', () => {
    const envs = Object.values(SETTINGS).map((s) => s.env);
    const flags = Object.values(SETTINGS).map((s) => s.flag);
    assert.equal(new Set(envs).size, envs.length);
    assert.equal(new Set(flags).size, flags.length);
  });
});

describe('development secret', () => {
  test('created once in the data directory with mode 0600; warnings are loud', () => {
    const dataDir = join(tmp(), 'data');
    const c = parseConfig({ TESSERA_DATA_DIR: dataDir });
    assert.equal(parseConfig({ TESSERA_DATA_DIR: dataDir }).keys, undefined, 'no key until resolveSecret');
    const warnings = resolveSecret(c);
    const path = join(dataDir, 'secret');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(dataDir).mode & 0o777, 0o700);
    assert.ok(c.keys);
    assert.deepEqual(c.secretSource, { kind: 'development', path, created: true });
    assert.ok(warnings.some((w) => /DEVELOPMENT MODE.*generated/.test(w)));
    const saved = readFileSync(path, 'utf8');

    const again = parseConfig({ TESSERA_DATA_DIR: dataDir });
    resolveSecret(again);
    assert.equal(readFileSync(path, 'utf8'), saved, 'not overwritten');
    assert.deepEqual(again.keys?.primary.bytes, c.keys?.primary.bytes);

    chmodSync(path, 0o644);
    const loose = parseConfig({ TESSERA_DATA_DIR: dataDir });
    const w = resolveSecret(loose);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.ok(w.some((line) => /readable by other users/.test(line)));
  });

  test('nothing is generated when a secret is configured', () => {
    const c = parseConfig({ TESSERA_SECRET: secret, TESSERA_DATA_DIR: join(tmp(), 'unused') });
    assert.deepEqual(resolveSecret(c), []);
  });
});

describe('TESSERA_LEGACY_REFRESH_KEYS', () => {
  test('on by default; off/0/false turns it off; the flag wins; nonsense is refused', () => {
    const secret = generateSecret();
    assert.equal(parseConfig({ TESSERA_SECRET: secret }).legacyRefreshKeys, true);
    assert.equal(parseConfig({ TESSERA_SECRET: secret, TESSERA_LEGACY_REFRESH_KEYS: '' }).legacyRefreshKeys, true);
    for (const v of ['off', '0', 'false', 'no']) {
      assert.equal(parseConfig({ TESSERA_SECRET: secret, TESSERA_LEGACY_REFRESH_KEYS: v }).legacyRefreshKeys, false, v);
    }
    assert.equal(parseConfig({ TESSERA_SECRET: secret, TESSERA_LEGACY_REFRESH_KEYS: 'on' }).legacyRefreshKeys, true);
    assert.equal(
      parseConfig({ TESSERA_SECRET: secret, TESSERA_LEGACY_REFRESH_KEYS: 'on' }, { legacyRefreshKeys: 'off' }).legacyRefreshKeys,
      false,
    );
    assert.throws(
      () => parseConfig({ TESSERA_SECRET: secret, TESSERA_LEGACY_REFRESH_KEYS: 'maybe' }),
      /TESSERA_LEGACY_REFRESH_KEYS must be 1 or 0/,
    );
  });
});

describe('tessera serve --help', () => {
  test('lists every variable and flag', async () => {
    let out = '';
    const code = await serveCommand(['--help'], { out: (l) => (out += `${l}\n`), err: () => {} });
    assert.equal(code, 0);
    for (const s of Object.values(SETTINGS)) {
      assert.ok(out.includes(s.env), s.env);
      assert.ok(out.includes(`--${s.flag}`), s.flag);
    }
  });
});

describe('TESSERA_SESSION_ADDRESS', () => {
  test('truncated by default; full and off as asked; the flag wins; anything else is refused', () => {
    const secret = generateSecret();
    assert.equal(parseConfig({ TESSERA_SECRET: secret }).sessionAddress, 'truncated');
    for (const v of ['full', 'truncated', 'off'] as const) {
      assert.equal(parseConfig({ TESSERA_SECRET: secret, TESSERA_SESSION_ADDRESS: v }).sessionAddress, v);
    }
    assert.equal(
      parseConfig({ TESSERA_SECRET: secret, TESSERA_SESSION_ADDRESS: 'full' }, { sessionAddress: 'off' }).sessionAddress,
      'off',
    );
    assert.throws(
      () => parseConfig({ TESSERA_SECRET: secret, TESSERA_SESSION_ADDRESS: 'city' }),
      /TESSERA_SESSION_ADDRESS must be one of full, truncated, off, got "city"/,
    );
  });
});
