/**
 * OpenTelemetry through `@opentelemetry/api` only: with an SDK registered by the
 * application (here `@opentelemetry/sdk-trace-base` with its in-memory exporter), a
 * sign-in and a refresh produce their spans with the outcome and no secret; with the
 * API missing the server starts and serves all the same. A missing prom-client with
 * TESSERA_METRICS_PORT set is one line and exit 2.
 */
import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Context, type ContextManager, context, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { generateSecret } from '../../src/keys.js';
import { parseConfig } from '../../src/server/config.js';
import { type RunningServer, startServer } from '../../src/server/server.js';
import { loadTracing } from '../../src/server/tracing.js';
import {
  call,
  freePort,
  ROOT,
  runCli,
  type Suite,
  serverEnv,
  startServer as startProcess,
  tempDir,
} from '../support/processes.js';

const SUITE: Suite = { rateLimit: 1000, clockFile: false, dropNodeOptions: true, timeoutMs: 30_000 };
const HIDE = `--import ${join(ROOT, 'test/support/hide-packages.mjs')}`;
const PASSWORD = 'Tracing-test-password-31';

/** The context manager an SDK brings (AsyncLocalStorage), in a few lines: store spans find their request's span. */
function asyncContextManager(): ContextManager {
  const als = new AsyncLocalStorage<Context>();
  return {
    active: () => als.getStore() ?? ROOT_CONTEXT,
    with: (ctx, fn, thisArg, ...args) => als.run(ctx, () => fn.apply(thisArg, args)),
    bind: (_ctx, target) => target,
    enable() {
      return this;
    },
    disable() {
      als.disable();
      return this;
    },
  };
}

describe('spans of the token endpoint and refresh, with an SDK installed', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  let srv: RunningServer;

  before(async () => {
    trace.setGlobalTracerProvider(provider);
    context.setGlobalContextManager(asyncContextManager());
    const config = parseConfig({
      TESSERA_SECRET: generateSecret(),
      TESSERA_STORE: 'memory',
      TESSERA_DATA_DIR: join(tempDir(), 'data'),
      TESSERA_ALLOW_REGISTER: '1',
      TESSERA_SCRYPT_N: '1024',
      TESSERA_REUSE_GRACE: '0',
      TESSERA_LOG_LEVEL: 'silent',
      TESSERA_ISSUER: 'http://tessera.test',
      PORT: '0',
    });
    srv = await startServer(config, { note: () => {} });
  });
  after(async () => {
    await srv?.close();
    await provider.shutdown();
    trace.disable();
    context.disable();
  });

  test('a sign-in, a refresh and a replayed refresh token each produce one span with their outcome', async () => {
    assert.equal(
      (await call(srv.url, 'POST', '/auth/register', { json: { username: 'tracy', password: PASSWORD } })).status,
      201,
    );
    const login = await call(srv.url, 'POST', '/auth/token', {
      form: { grant_type: 'password', username: 'tracy', password: PASSWORD },
    });
    assert.equal(login.status, 200);
    const rt = String(login.json.refresh_token);
    assert.equal((await call(srv.url, 'GET', '/me', { token: String(login.json.access_token) })).status, 200);
    const next = await call(srv.url, 'POST', '/auth/refresh', { json: { refresh_token: rt } });
    assert.equal(next.status, 200);
    assert.equal((await call(srv.url, 'POST', '/auth/refresh', { json: { refresh_token: rt } })).status, 400);

    const all = exporter.getFinishedSpans();
    const spans = all.filter((s) => !s.name.startsWith('tessera.store.'));
    assert.deepEqual(
      spans.map((s) => [s.name, s.attributes['tessera.result'], s.attributes['http.response.status_code']]),
      [
        ['tessera.token', 'ok', 200],
        ['tessera.refresh', 'ok', 200],
        ['tessera.refresh', 'refused', 400],
      ],
      'one span per token endpoint and refresh request; none for /auth/register or /me',
    );
    const [signIn, , replay] = spans;
    assert.equal(signIn?.attributes['tessera.grant'], 'password');
    assert.equal(signIn?.attributes['http.route'], '/auth/token');
    assert.equal(replay?.attributes['tessera.reason'], 'reused');
    assert.deepEqual(
      replay?.events.map((e) => e.name),
      ['tessera.reuse_detected', 'tessera.revocation'],
    );
    // The store calls of the refresh are children of its span, named after the operation.
    const refreshSpan = spans[1];
    const children = all.filter((s) => s.parentSpanContext?.spanId === refreshSpan?.spanContext().spanId);
    assert.ok(children.length > 0, `store spans under the refresh: ${all.map((s) => s.name).join(' ')}`);
    for (const c of children) {
      assert.match(c.name, /^tessera\.store\.\w+$/);
      assert.equal(c.attributes['db.system.name'], 'memory');
    }
    assert.ok(!all.some((s) => s.name === 'tessera.probe'), 'the probe span is never exported');
    const everything = JSON.stringify(all.map((s) => [s.name, s.attributes, s.events]));
    for (const secret of [PASSWORD, rt, String(login.json.access_token), String(next.json.refresh_token)]) {
      assert.ok(!everything.includes(secret), 'no password or token in a span');
    }
    assert.ok(!everything.includes('tracy'), 'no username in a span');
  });
});

test('with the API but no SDK registered, the server traces nothing and adds nothing to its routes', async () => {
  trace.disable();
  assert.equal(await loadTracing(), undefined, 'no SDK: no tracing');
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new InMemorySpanExporter())] });
  trace.setGlobalTracerProvider(provider);
  try {
    const tracing = await loadTracing();
    assert.ok(tracing, 'an SDK registered before start-up: tracing');
    assert.equal(typeof tracing.install, 'function');
  } finally {
    await provider.shutdown();
    trace.disable();
  }
});

test('without @opentelemetry/api the server starts and signs in as before', async () => {
  const env = serverEnv(SUITE, {
    TESSERA_ALLOW_REGISTER: '1',
    TESSERA_TEST_HIDE_PACKAGES: '@opentelemetry/api',
    NODE_OPTIONS: HIDE,
  });
  const srv = await startProcess(SUITE, env);
  try {
    assert.equal(
      (await call(srv.url, 'POST', '/auth/register', { json: { username: 'tracy', password: PASSWORD } })).status,
      201,
    );
    const login = await call(srv.url, 'POST', '/auth/token', {
      form: { grant_type: 'password', username: 'tracy', password: PASSWORD },
    });
    assert.equal(login.status, 200);
  } finally {
    assert.equal(await srv.stop(), 0);
  }
});

test('TESSERA_METRICS_PORT without prom-client: one line naming the install line, exit 2', async () => {
  const env = serverEnv(SUITE, {
    TESSERA_METRICS_PORT: String(await freePort()),
    TESSERA_TEST_HIDE_PACKAGES: 'prom-client',
    NODE_OPTIONS: HIDE,
  });
  const r = await runCli(SUITE, ['serve', '--host', '127.0.0.1', '--port', '0'], env);
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /^tessera: TESSERA_METRICS_PORT needs prom-client: npm install prom-client@15; or unset TESSERA_METRICS_PORT$/m,
  );
  assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
});
