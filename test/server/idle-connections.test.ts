/**
 * The idle-connection reaper (src/server/idle-connections.ts): a connection on
 * which no byte moves for `idleMs` is closed; one that keeps moving is not.
 * The clock is injected and sweeps are run by hand (no timer, no sleeping);
 * the sockets are real.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { reapIdleConnections } from '../../src/server/idle-connections.js';

describe('reapIdleConnections', () => {
  const server = createServer((socket) => {
    // Echo, so a client's write moves bytes both ways.
    socket.on('data', (d) => socket.write(d));
    socket.on('error', () => {});
  });
  let port = 0;
  let now = 0;
  const reaper = reapIdleConnections(server, 1000, { clock: () => now, intervalMs: 0 });

  before(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  after(() => {
    reaper.stop();
    server.close();
  });

  async function client(): Promise<Socket> {
    const before = reaper.size;
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {});
    await once(s, 'connect');
    // The server side has seen it once the reaper counts it.
    for (let i = 0; i < 100 && reaper.size === before; i++) await new Promise((r) => setImmediate(r));
    return s;
  }

  async function roundTrip(s: Socket): Promise<void> {
    s.write('x');
    await once(s, 'data');
  }

  test('a silent connection is closed once idleMs has passed since its last byte, not before', async () => {
    now = 0;
    const s = await client();
    const closed = once(s, 'close');
    reaper.sweep();
    now = 999;
    reaper.sweep();
    assert.equal(s.destroyed, false);
    now = 1000;
    reaper.sweep();
    await closed;
    assert.equal(reaper.size, 0);
  });

  test('a connection that keeps moving stays open; the clock restarts at each change', async () => {
    now = 10_000;
    const s = await client();
    reaper.sweep();
    for (let i = 1; i <= 5; i++) {
      await roundTrip(s);
      now = 10_000 + i * 900;
      reaper.sweep();
    }
    assert.equal(s.destroyed, false);
    assert.equal(reaper.size, 1);
    // Then silent: 1000 ms after the last sweep that saw a change, it goes.
    const closed = once(s, 'close');
    now += 999;
    reaper.sweep();
    assert.equal(s.destroyed, false);
    now += 1;
    reaper.sweep();
    await closed;
  });

  test('connections the client closes are forgotten; stop() stops watching new ones', async () => {
    const s = await client();
    assert.equal(reaper.size, 1);
    s.end();
    for (let i = 0; i < 100 && reaper.size > 0; i++) await new Promise((r) => setImmediate(r));
    assert.equal(reaper.size, 0);
    const stopped = reapIdleConnections(server, 1000, { clock: () => now, intervalMs: 0 });
    stopped.stop();
    const t = await client();
    assert.equal(stopped.size, 0);
    t.destroy();
  });

  test('idleMs must be positive', () => {
    assert.throws(() => reapIdleConnections(server, 0), RangeError);
    assert.throws(() => reapIdleConnections(server, Number.NaN), RangeError);
  });
});
