/**
 * examples/express.ts and examples/hono.ts as real processes, driven over
 * sockets: started with `PORT=0 node --import tsx examples/X.ts` and the
 * environment of `tessera serve`, on one SQLite file whose user was added with
 * `tessera user add` (and whose introspection client with `tessera client
 * add`), next to `tessera serve` itself on the same file: a token issued by one
 * process refreshes at another.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  addIntrospector,
  call,
  exitOf,
  PASSWORD,
  ROOT,
  runCli,
  type ServerProcess,
  serverEnv,
  startServer,
  tempDir,
  track,
} from '../support/processes.js';
import { E2E } from './helpers.js';

interface Example {
  url: string;
  child: ChildProcess;
  stop(): Promise<number | null>;
}

/** Starts an example on a free port; resolves once it prints its URL. */
function startExample(name: 'express' | 'hono', env: Record<string, string>): Promise<Example> {
  const child = track(
    spawn(process.execPath, ['--import', 'tsx', `examples/${name}.ts`], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env, PORT: '0', HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  const exited = exitOf(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`examples/${name}.ts did not start; stderr: ${stderr}`));
    }, E2E.timeoutMs);
    const early = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`examples/${name}.ts exited with ${code}; stderr: ${stderr}`));
    };
    child.once('exit', early);
    child.stdout?.on('data', (d) => {
      stdout += d;
      const m = /listening on (http:\/\/\S+)/.exec(stdout);
      if (!m) return;
      clearTimeout(timer);
      // Only our own listener: exitOf() and track() listen for the exit too.
      child.off('exit', early);
      resolve({
        url: m[1] as string,
        child,
        async stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          return exited;
        },
      });
    });
  });
}

describe('examples/express.ts and examples/hono.ts as processes on one SQLite file with `tessera serve`', () => {
  let env: Record<string, string>;
  let introspector: Record<string, string>;
  let serve: ServerProcess;
  const examples = new Map<string, Example>();

  before(async () => {
    const dir = tempDir('tessera-examples-');
    env = serverEnv(E2E, { TESSERA_STORE: `sqlite:${join(dir, 'tessera.db')}`, TESSERA_SCHEME: 'jwt' });
    const added = await runCli(E2E, ['user', 'add', 'alice'], env, `${PASSWORD}\n`);
    assert.equal(added.code, 0, added.stderr);
    introspector = await addIntrospector(E2E, env);
    const [e, h, s] = await Promise.all([startExample('express', env), startExample('hono', env), startServer(E2E, env)]);
    examples.set('express', e);
    examples.set('hono', h);
    serve = s;
  });
  after(async () => {
    for (const e of examples.values()) await e.stop();
    await serve?.stop();
  });

  for (const name of ['express', 'hono']) {
    test(`${name}: login with the CLI's user, GET /me, refresh, introspect, logout; 401 without a token`, async () => {
      const { url } = examples.get(name) as Example;
      const login = await call(url, 'POST', '/auth/token', {
        form: { grant_type: 'password', username: 'alice', password: PASSWORD },
      });
      assert.equal(login.status, 200, login.text);
      assert.equal(login.headers['cache-control'], 'no-store');
      assert.equal(login.headers['x-content-type-options'], 'nosniff');
      const me = await call(url, 'GET', '/me', { token: login.json.access_token });
      assert.equal(me.status, 200, me.text);
      assert.equal(me.json.preferred_username, 'alice');
      assert.equal(me.json.client_id, 'tessera');

      const none = await call(url, 'GET', '/me');
      assert.equal(none.status, 401);
      assert.equal(none.json.error, 'unauthorized');
      assert.equal(none.headers['www-authenticate'], 'Bearer realm="tessera"');
      const hello = await call(url, 'GET', '/hello');
      assert.equal(hello.status, 200, 'publicPaths are served without a token');
      const nope = await call(url, 'GET', '/nope', { token: login.json.access_token });
      assert.equal(nope.status, 404);
      assert.equal(nope.json.error, 'not_found');

      const refreshed = await call(url, 'POST', '/auth/refresh', { json: { refresh_token: login.json.refresh_token } });
      assert.equal(refreshed.status, 200, refreshed.text);

      const intro = await call(url, 'POST', '/auth/introspect', {
        form: { token: refreshed.json.access_token },
        headers: introspector,
      });
      assert.equal(intro.status, 200, intro.text);
      assert.equal(intro.json.active, true);
      const meta = await call(url, 'GET', '/.well-known/oauth-authorization-server');
      assert.equal(meta.json.issuer, 'http://tessera.test', 'TESSERA_ISSUER is honoured');

      const out = await call(url, 'POST', '/auth/logout', { json: { refresh_token: refreshed.json.refresh_token } });
      assert.equal(out.status, 204);
      const dead = await call(url, 'POST', '/auth/refresh', { json: { refresh_token: refreshed.json.refresh_token } });
      assert.equal(dead.status, 400);
      assert.equal(dead.json.reason, 'revoked');
    });
  }

  test('a token issued by `tessera serve` refreshes at Express, then at Hono, then back at `tessera serve`', async () => {
    const chain = [serve.url, (examples.get('express') as Example).url, (examples.get('hono') as Example).url, serve.url];
    const login = await call(chain[0] as string, 'POST', '/auth/token', {
      json: { grant_type: 'password', username: 'alice', password: PASSWORD },
    });
    assert.equal(login.status, 200, login.text);
    let refreshToken: string = login.json.refresh_token;
    for (const url of chain.slice(1)) {
      const r = await call(url, 'POST', '/auth/refresh', { json: { refresh_token: refreshToken } });
      assert.equal(r.status, 200, `${url}: ${r.text}`);
      refreshToken = r.json.refresh_token;
      for (const other of chain) {
        const me = await call(other, 'GET', '/me', { token: r.json.access_token });
        assert.equal(me.status, 200, `token from ${url} at ${other}`);
      }
    }
  });

  test('SIGTERM stops an example with exit code 0', async () => {
    const env2 = serverEnv(E2E, { TESSERA_STORE: 'memory' });
    const ex = await startExample('hono', env2);
    assert.equal((await call(ex.url, 'GET', '/health')).status, 200);
    assert.equal(await ex.stop(), 0);
  });
});

/** Runs an example to its exit (it is expected to refuse to start). */
function runExample(
  name: 'express' | 'hono',
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = track(
    spawn(process.execPath, ['--import', 'tsx', `examples/${name}.ts`], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env, PORT: '0', HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  return exitOf(child).then((code) => ({ code, stdout, stderr }));
}

describe('the examples refuse what `tessera serve` refuses, and keep its socket and proxy rules', () => {
  for (const name of ['express', 'hono'] as const) {
    test(`${name}: NODE_ENV=production without TESSERA_ISSUER exits 2 with one line naming it`, async () => {
      const res = await runExample(name, serverEnv(E2E, { TESSERA_STORE: 'memory', NODE_ENV: 'production', TESSERA_ISSUER: '' }));
      assert.equal(res.code, 2, res.stderr);
      assert.equal(res.stdout, '');
      assert.match(
        res.stderr,
        /^tessera \((express|hono)\): TESSERA_ISSUER is not set and NODE_ENV=production never defaults it to the listen URL; .*\n$/,
      );
    });

    test(`${name}: a request whose headers stall is closed at TESSERA_HEADERS_TIMEOUT, not up to 30 s later`, async () => {
      const ex = await startExample(
        name,
        serverEnv(E2E, { TESSERA_STORE: 'memory', TESSERA_HEADERS_TIMEOUT: '400', TESSERA_REQUEST_TIMEOUT: '400' }),
      );
      try {
        const { port, hostname } = new URL(ex.url);
        const { connect } = await import('node:net');
        const started = performance.now();
        const closedAfter = await new Promise<number>((resolve, reject) => {
          const sock = connect({ host: hostname, port: Number(port) }, () => sock.write('GET /health HTTP/1.1\r\nHost: x\r\n'));
          sock.on('data', () => {});
          sock.on('error', () => {});
          sock.on('close', () => resolve(performance.now() - started));
          setTimeout(() => {
            sock.destroy();
            reject(new Error('the stalled request was not closed within 5 s'));
          }, 5000);
        });
        // 400 ms plus at most one check period (200 ms here), with room for a loaded machine.
        assert.ok(closedAfter >= 350 && closedAfter < 1600, `closed after ${Math.round(closedAfter)} ms`);
      } finally {
        await ex.stop();
      }
    });
  }

  test('hono: TESSERA_TRUST_PROXY=1 keys the guessing limiter on the X-Forwarded-For client, not the proxy', async () => {
    const env = serverEnv(E2E, {
      TESSERA_STORE: 'memory',
      TESSERA_TRUST_PROXY: '1',
      TESSERA_LOGIN_LIMIT: '2',
      TESSERA_RATE_LIMIT: '1000',
    });
    // No user in this memory store: an unknown name is refused and counted like a wrong password.
    const ex = await startExample('hono', env);
    try {
      const guess = (client: string) =>
        call(ex.url, 'POST', '/auth/token', {
          form: { grant_type: 'password', username: 'alice', password: 'wrong password' },
          headers: { 'x-forwarded-for': `203.0.113.9, ${client}` },
        });
      let blocked = false;
      for (let i = 0; i < 10 && !blocked; i++) blocked = (await guess('198.51.100.1')).status === 429;
      assert.ok(blocked, 'one client address reaches its limit');
      // Another client behind the same proxy (the same socket peer) is its own bucket.
      const other = await guess('198.51.100.2');
      assert.equal(other.status, 400, other.text);
      assert.equal(other.json.error, 'invalid_grant');
      // The left-most entry is the client's own claim: changing it does not escape the limit.
      const spoofed = await call(ex.url, 'POST', '/auth/token', {
        form: { grant_type: 'password', username: 'alice', password: 'wrong password' },
        headers: { 'x-forwarded-for': '192.0.2.77, 198.51.100.1' },
      });
      assert.equal(spoofed.status, 429);
    } finally {
      await ex.stop();
    }
  });
});

describe('clientAddressResolver (the Hono example under TESSERA_TRUST_PROXY)', () => {
  test('off: the peer; N hops: the entry N from the right; a list: the right-most entry not in it', async () => {
    const { clientAddressResolver } = await import('../../examples/setup.js');
    const xff = '192.0.2.1, 198.51.100.7, 10.0.0.2';
    assert.equal(clientAddressResolver(false)('10.0.0.9', xff), '10.0.0.9');
    assert.equal(clientAddressResolver(false)('::ffff:10.0.0.9', xff), '10.0.0.9', 'IPv4-mapped peers are plain IPv4');
    assert.equal(clientAddressResolver(1)('10.0.0.9', xff), '10.0.0.2');
    assert.equal(clientAddressResolver(2)('10.0.0.9', xff), '198.51.100.7');
    assert.equal(clientAddressResolver(9)('10.0.0.9', xff), '192.0.2.1', 'more hops than entries: the left-most');
    assert.equal(clientAddressResolver(1)('10.0.0.9', undefined), '10.0.0.9', 'no header: the peer');
    assert.equal(clientAddressResolver(['10.0.0.0/8'])('10.0.0.9', xff), '198.51.100.7');
    assert.equal(clientAddressResolver(['uniquelocal'])('10.0.0.9', xff), '198.51.100.7');
    assert.equal(clientAddressResolver(['loopback'])('10.0.0.9', xff), '10.0.0.9', 'an untrusted peer: its header is ignored');
    assert.equal(clientAddressResolver(['10.0.0.9', 'fd00::/8'])('fd00::1', '2001:db8::5, 10.0.0.9'), '2001:db8::5');
  });
});
