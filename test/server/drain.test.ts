/**
 * Shutdown of keep-alive connections (src/server/drain.ts): a connection busy with a
 * request is told to close with that request's response; an idle one is left to the
 * server's close; one whose response already went out is not touched. Real sockets,
 * raw HTTP/1.1 (so nothing but the server decides about `Connection`).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { watchConnections } from '../../src/server/drain.js';

const held: ServerResponse[] = [];
const server = createServer((req, res) => {
  // /hold answers only when the test says so; anything else at once.
  if (req.url === '/hold') held.push(res);
  else res.end('now');
});
const connections = watchConnections(server);
let port = 0;

before(async () => {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});
after(() => server.close());

/** A raw keep-alive connection and everything it receives. */
async function client(): Promise<{ socket: Socket; received: () => string; closed: Promise<unknown> }> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let data = '';
  socket.on('data', (d: Buffer) => {
    data += d.toString('latin1');
  });
  return { socket, received: () => data, closed: once(socket, 'close') };
}

const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setImmediate(r));
}

test('the response of an in-flight request says Connection: close; answered ones and idle connections are untouched', async () => {
  const busy = await client();
  const done = await client();
  await until(() => connections.size === 2);
  busy.socket.write(get('/hold'));
  done.socket.write(get('/now'));
  await until(() => held.length === 1 && done.received().includes('now'));
  assert.match(done.received(), /^Connection: keep-alive\r$/im);

  connections.closeAfterResponses();
  held[0]?.end('late');
  await busy.closed;
  assert.match(busy.received(), /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(busy.received(), /^Connection: close\r$/im);
  assert.ok(busy.received().endsWith('late'));

  // The connection that was idle is still open and still keeps alive.
  done.socket.write(get('/again'));
  await until(() => (done.received().match(/HTTP\/1\.1 200/g) ?? []).length === 2);
  assert.doesNotMatch(done.received(), /^Connection: close\r$/im);
  done.socket.destroy();
  await done.closed;
  await until(() => connections.size === 0);
});
