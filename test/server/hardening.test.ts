/**
 * The reference server's hardening, on real sockets and real files: the client
 * address behind a proxy, slow-body clients, and the modes of the files at rest.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateSecret } from '../../src/keys.js';
import { parseConfig, resolveSecret } from '../../src/server/config.js';
import { startServer } from '../../src/server/server.js';
import { E2E } from '../e2e/helpers.js';
import { PASSWORD, runCli, tempDir } from '../support/processes.js';

const quiet = { note: () => {} };
const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);

async function withServer(env: NodeJS.ProcessEnv, fn: (s: Awaited<ReturnType<typeof startServer>>) => Promise<void>) {
  const config = parseConfig(
    { TESSERA_SECRET: generateSecret(), TESSERA_STORE: 'memory', TESSERA_LOG_LEVEL: 'silent', ...env },
    { port: '0' },
  );
  const server = await startServer(config, quiet);
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

describe('TESSERA_TRUST_PROXY=1 behind one proxy', () => {
  test('30 wrong passwords with a changing left-most X-Forwarded-For entry end in 429s', async () => {
    await withServer(
      { TESSERA_TRUST_PROXY: '1', TESSERA_RATE_LIMIT: '10', TESSERA_LOGIN_LIMIT: '5', TESSERA_SCRYPT_N: '1024' },
      async (s) => {
        const codes: number[] = [];
        for (let i = 0; i < 30; i++) {
          const res = await fetch(`${s.url}/auth/token`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-forwarded-for': `203.0.113.${i}, 198.51.100.7` },
            body: JSON.stringify({ grant_type: 'password', username: 'alice', password: `guess-${i}` }),
          });
          codes.push(res.status);
          await res.arrayBuffer();
        }
        assert.deepEqual(codes.slice(0, 5), [400, 400, 400, 400, 400]);
        assert.ok(
          codes.slice(5).every((c) => c === 429),
          codes.join(' '),
        );
      },
    );
  });
});

describe('slow clients', () => {
  test('a socket that sends headers and never the body is closed within the request timeout; /health still answers', async () => {
    await withServer({ TESSERA_REQUEST_TIMEOUT: '400', TESSERA_HEADERS_TIMEOUT: '300' }, async (s) => {
      const socket = connect(s.port, '127.0.0.1');
      let received = '';
      socket.on('data', (d) => (received += d));
      const t0 = Date.now();
      const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now() - t0)));
      socket.on('error', () => {});
      socket.write('POST /auth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"gr');
      // A server without a request timeout never closes it: give up after 5 s (and fail).
      const guard = setTimeout(() => socket.destroy(), 5000);
      const ms = await closed;
      clearTimeout(guard);
      assert.ok(ms < 3000, `closed after ${ms} ms`);
      assert.match(received, /^HTTP\/1\.1 408 /);
      assert.match(received, /"error":"invalid_request"/);
      const health = await fetch(`${s.url}/health`);
      assert.equal(health.status, 200);
    });
  });

  test('a connection on which nothing moves is closed after TESSERA_CONNECTION_TIMEOUT', async () => {
    // Headers and request timeouts far away: only the idle-connection sweep can close it.
    await withServer(
      { TESSERA_CONNECTION_TIMEOUT: '300', TESSERA_HEADERS_TIMEOUT: '20000', TESSERA_REQUEST_TIMEOUT: '30000' },
      async (s) => {
        const socket = connect(s.port, '127.0.0.1');
        socket.on('error', () => {});
        const t0 = Date.now();
        const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now() - t0)));
        const guard = setTimeout(() => socket.destroy(), 5000);
        const ms = await closed;
        clearTimeout(guard);
        assert.ok(ms >= 250 && ms < 3000, `closed after ${ms} ms`);
        // A connection in use is not touched: a request on a fresh one is answered.
        const health = await fetch(`${s.url}/health`);
        assert.equal(health.status, 200);
      },
    );
  });

  test('defaults: request 30 s, headers 10 s, keep-alive 5 s, idle connection 60 s; configurable', () => {
    const c = parseConfig({ TESSERA_SECRET: generateSecret() });
    assert.deepEqual(c.timeouts, {
      requestTimeout: 30000,
      headersTimeout: 10000,
      keepAliveTimeout: 5000,
      connectionTimeout: 60000,
    });
    assert.throws(
      () => parseConfig({ TESSERA_SECRET: generateSecret(), TESSERA_REQUEST_TIMEOUT: '1000', TESSERA_HEADERS_TIMEOUT: '2000' }),
      /TESSERA_HEADERS_TIMEOUT \(2000\) must not exceed TESSERA_REQUEST_TIMEOUT \(1000\)/,
    );
  });
});

describe('files at rest: data directory 0700, database and secret 0600', () => {
  let umask: number;
  before(() => {
    umask = process.umask(0o022); // the usual umask, which made them 0755/0644
  });
  after(() => {
    process.umask(umask);
  });

  test('serve with TESSERA_SECRET set and the default SQLite store', async () => {
    const data = join(tempDir(), 'data');
    await withServer({ TESSERA_STORE: '', TESSERA_DATA_DIR: data }, async (s) => {
      await s.tokens.issue({ sub: 'alice' });
      assert.equal(mode(data), '700');
      for (const f of ['tessera.db', 'tessera.db-wal', 'tessera.db-shm']) assert.equal(mode(join(data, f)), '600', f);
    });
  });

  test('serve with an explicit sqlite:PATH in a new directory', async () => {
    const dir = join(tempDir(), 'a', 'b');
    await withServer({ TESSERA_STORE: `sqlite:${join(dir, 't.db')}` }, async () => {
      assert.equal(mode(dir), '700');
      assert.equal(mode(join(dir, '..')), '700');
      for (const f of ['t.db', 't.db-wal', 't.db-shm']) assert.equal(mode(join(dir, f)), '600', f);
    });
  });

  test('user add first, then serve with a generated development secret', async () => {
    const data = join(tempDir(), 'data');
    const env = { TESSERA_DATA_DIR: data, TESSERA_SCRYPT_N: '1024' };
    const added = await runCli(E2E, ['user', 'add', 'alice'], env, PASSWORD);
    assert.equal(added.code, 0, added.stderr);
    assert.equal(mode(data), '700');
    for (const f of ['tessera.db']) assert.equal(mode(join(data, f)), '600', f);
    const config = parseConfig({ TESSERA_DATA_DIR: data, TESSERA_LOG_LEVEL: 'silent' }, { port: '0' });
    resolveSecret(config);
    assert.equal(mode(join(data, 'secret')), '600');
    const server = await startServer(config, quiet);
    await server.close();
    assert.equal(mode(data), '700');
  });

  test('a data directory left 0755 and a database left 0644 by an older version are tightened', async () => {
    const data = join(tempDir(), 'data');
    mkdirSync(data, { mode: 0o755 });
    chmodSync(data, 0o755);
    await withServer({ TESSERA_STORE: '', TESSERA_DATA_DIR: data }, async () => {});
    chmodSync(join(data, 'tessera.db'), 0o644);
    await withServer({ TESSERA_STORE: '', TESSERA_DATA_DIR: data }, async () => {
      assert.equal(mode(data), '700');
      assert.equal(mode(join(data, 'tessera.db')), '600');
    });
  });
});
