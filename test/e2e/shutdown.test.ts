/**
 * Graceful shutdown: on SIGTERM the server stops accepting connections, lets
 * the in-flight request finish, closes the store and exits 0.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { PASSWORD, runCli, serverEnv, startServer, tempDir } from '../support/processes.js';
import { E2E } from './helpers.js';

test('SIGTERM: the in-flight login completes, then the process exits 0', async () => {
  // The default scrypt cost makes a login take a few hundred ms: long enough to be in flight.
  // Request logging says when the server has the request (its "incoming request" line).
  const env = serverEnv(E2E, {
    TESSERA_STORE: `sqlite:${join(tempDir(), 't.db')}`,
    TESSERA_SCRYPT_N: '131072',
    TESSERA_LOG_LEVEL: 'info',
    TESSERA_LOG_REQUESTS: '1',
  });
  assert.equal((await runCli(E2E, ['user', 'add', 'alice'], env, PASSWORD)).code, 0);
  const srv = await startServer(E2E, env);
  const inFlight = fetch(`${srv.url}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username: 'alice', password: PASSWORD }),
  });
  // SIGTERM once the request is in the server's hands (not after a guessed delay: a loaded
  // machine may take longer than any delay to deliver it).
  while (!/"url":"\/auth\/token"/.test(srv.output().stdout)) await new Promise((r) => setTimeout(r, 5));
  srv.child.kill('SIGTERM');
  const res = await inFlight;
  assert.equal(res.status, 200);
  // The keep-alive connection of the in-flight request is told to close (else it holds the process).
  assert.equal(res.headers.get('connection'), 'close');
  assert.equal(typeof ((await res.json()) as { access_token: unknown }).access_token, 'string');
  assert.equal(await srv.exited, 0);
  assert.match(srv.output().stderr, /SIGTERM: shutting down/);
  await assert.rejects(fetch(`${srv.url}/health`), 'no longer accepting connections');
});
