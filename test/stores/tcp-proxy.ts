/**
 * A TCP proxy a test can cut and restore, between a client and a real server
 * (here the shared PostgreSQL, which a test must never stop: other runs use it).
 *
 * - `refuse()`: existing connections are reset and new ones refused (the server is down).
 * - `blackhole()`: connections are accepted but nothing is forwarded either way (a hung
 *   server or a dead network: the client hears nothing, ever).
 * - `stall()`: connections stay open and what the client sends still reaches the server, but
 *   nothing the server sends reaches the client (a middlebox that silently drops one
 *   direction of an idle flow); new connections are accepted and stalled alike.
 * - `restore()`: back to forwarding (a stalled connection resumes, minus what was dropped).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  port: number;
  refuse(): void;
  blackhole(): void;
  stall(): void;
  restore(): void;
  /** Connections accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  let mode: 'forward' | 'refuse' | 'blackhole' | 'stall' = 'forward';
  let accepted = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    accepted++;
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    if (mode === 'refuse') {
      client.resetAndDestroy();
      return;
    }
    if (mode === 'blackhole') return;
    const upstream = connect(targetPort, targetHost);
    sockets.add(upstream);
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.on('data', (d) => (mode === 'forward' || mode === 'stall') && upstream.write(d));
    upstream.on('data', (d) => mode === 'forward' && client.write(d));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const dropAll = () => {
    for (const s of sockets) s.resetAndDestroy();
    sockets.clear();
  };
  return {
    port,
    refuse() {
      mode = 'refuse';
      dropAll();
    },
    blackhole() {
      mode = 'blackhole';
    },
    stall() {
      mode = 'stall';
    },
    get accepted() {
      return accepted;
    },
    restore() {
      // Connections that were black-holed have lost protocol sync: they go, new ones forward.
      if (mode === 'blackhole') dropAll();
      mode = 'forward';
    },
    close: () =>
      new Promise<void>((r) => {
        dropAll();
        server.close(() => r());
      }),
  };
}
