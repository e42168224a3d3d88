/**
 * Bad configuration: `tessera serve` exits non-zero with one line that says
 * what is wrong and how to fix it, before listening.
 */
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { call, runCli, serverEnv, startServer, tempDir } from '../support/processes.js';
import { E2E } from './helpers.js';

const cases: { name: string; env: Record<string, string>; args?: string[]; match: RegExp }[] = [
  { name: 'short secret', env: { TESSERA_SECRET: 'c2hvcnQ' }, match: /TESSERA_SECRET.*5 bytes.*at least 32.*tessera keygen/ },
  { name: 'secret that is not base64url', env: { TESSERA_SECRET: 'not base64 !!' }, match: /TESSERA_SECRET.*base64url/ },
  {
    name: 'unknown access format',
    env: { TESSERA_ACCESS_FORMAT: 'paseto' },
    match: /TESSERA_ACCESS_FORMAT must be one of jwt, sealed, fernet, opaque, got "paseto"/,
  },
  {
    name: 'unknown scheme flag',
    env: {},
    args: ['--scheme', 'saml'],
    match: /--scheme must be one of jwt, sealed, opaque, got "saml"/,
  },
  { name: 'bad TTL', env: { TESSERA_ACCESS_TTL: '15m' }, match: /TESSERA_ACCESS_TTL must be a whole number of seconds/ },
  { name: 'bad PORT', env: { PORT: '70000' }, args: [], match: /PORT must be a port number from 0 to 65535, got "70000"/ },
  { name: 'bad --port', env: {}, args: ['--port', 'http'], match: /--port must be a port number from 0 to 65535, got "http"/ },
  { name: 'ambiguous --port value', env: {}, args: ['--port', '-1'], match: /--port.*ambiguous/ },
  {
    name: 'reuse grace longer than the refresh lifetime',
    env: { TESSERA_REUSE_GRACE: '60', TESSERA_REFRESH_TTL: '30' },
    match: /TESSERA_REUSE_GRACE \(60\) must be shorter/,
  },
  { name: 'unknown store', env: { TESSERA_STORE: 'mongodb://x' }, match: /TESSERA_STORE must be memory, sqlite:PATH/ },
  {
    name: 'unreachable Redis at start',
    env: { TESSERA_STORE: 'redis://:hunter2@127.0.0.1:1' },
    match: /cannot reach Redis.*127\.0\.0\.1:1.*TESSERA_STORE/,
  },
  {
    name: 'production without a secret',
    env: { TESSERA_SECRET: '', NODE_ENV: 'production' },
    match: /NODE_ENV=production never generates one/,
  },
  {
    name: 'production without an issuer',
    env: { NODE_ENV: 'production', TESSERA_ISSUER: '' },
    match: /TESSERA_ISSUER is not set and NODE_ENV=production never defaults it to the listen URL/,
  },
  { name: 'unknown flag', env: {}, args: ['--colour'], match: /Unknown option '--colour'/ },
];

describe('bad configuration exits non-zero with a one-line reason', () => {
  for (const c of cases) {
    test(c.name, async () => {
      const env = serverEnv(E2E, { TESSERA_STORE: 'memory', ...c.env });
      const res = await runCli(E2E, ['serve', ...(c.args ?? ['--port', '0'])], env);
      assert.equal(res.code, 2, res.stderr);
      assert.equal(res.stdout, '', 'never started listening');
      const lines = res.stderr.trim().split('\n');
      // Usage errors add a "Run tessera --help" hint line; configuration errors are one line.
      assert.ok(lines.length <= 2, res.stderr);
      assert.match(lines[0] as string, /^tessera: /);
      assert.match(lines[0] as string, c.match);
      assert.ok(!res.stderr.includes('hunter2'), 'the Redis password is not printed');
      assert.ok(!/\n\s+at /.test(res.stderr), 'no stack trace');
    });
  }
});

describe('development secret', () => {
  test('without TESSERA_SECRET: generated in the data directory (0600), said loudly; reused on restart', async () => {
    const dir = tempDir();
    const env = serverEnv(E2E, { TESSERA_SECRET: '', TESSERA_DATA_DIR: join(dir, 'data'), TESSERA_STORE: 'memory' });
    const first = await startServer(E2E, env);
    const path = join(dir, 'data', 'secret');
    try {
      assert.ok(existsSync(path));
      assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.match(first.output().stderr, /WARNING: DEVELOPMENT MODE.*generated/);
      assert.equal((await call(first.url, 'GET', '/health')).status, 200);
    } finally {
      assert.equal(await first.stop(), 0);
    }
    const second = await startServer(E2E, env);
    try {
      assert.match(second.output().stderr, /WARNING: DEVELOPMENT MODE.*using the generated secret/);
    } finally {
      await second.stop();
    }
  });
});

describe('a busy port', () => {
  test('tessera serve on a port in use prints the documented one line and exits 2', async () => {
    const env = serverEnv(E2E, { TESSERA_STORE: 'memory' });
    const first = await startServer(E2E, env);
    try {
      const res = await runCli(E2E, ['serve', '--host', '127.0.0.1', '--port', String(first.port)], env);
      assert.equal(res.code, 2, res.stderr);
      assert.equal(res.stdout, '');
      assert.equal(res.stderr, `tessera: port ${first.port} on 127.0.0.1 is in use; set PORT (or --port 0 for any free port)\n`);
    } finally {
      await first.stop();
    }
  });
});

describe('the development issuer', () => {
  test('HOST=0.0.0.0 without TESSERA_ISSUER: tokens and metadata name the loopback URL, and start-up says so', async () => {
    const env = serverEnv(E2E, { TESSERA_STORE: 'memory', TESSERA_ISSUER: '' });
    const srv = await startServer(E2E, env, ['--host', '0.0.0.0']);
    try {
      assert.equal(srv.url, `http://127.0.0.1:${srv.port}`);
      assert.match(
        srv.output().stderr,
        new RegExp(
          `tessera: issuer http://127\\.0\\.0\\.1:${srv.port} .*HOST=0\\.0\\.0\\.0 listens on every interface.*set TESSERA_ISSUER`,
        ),
      );
      const m = await call(srv.url, 'GET', '/.well-known/oauth-authorization-server');
      assert.equal(m.json.issuer, `http://127.0.0.1:${srv.port}`);
    } finally {
      await srv.stop();
    }
  });
});
