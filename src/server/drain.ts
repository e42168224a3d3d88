/**
 * Graceful shutdown of keep-alive connections. Fastify's close stops accepting,
 * answers 503 with `Connection: close` to requests that arrive meanwhile, and
 * closes the connections idle at that moment; a connection busy with a request
 * would stay open after its response and hold the process until its keep-alive
 * timeout. {@link watchConnections} lets the server tell exactly those clients to
 * close: `Connection: close` on the response each busy connection is preparing
 * (RFC 9112 §9.6), so they finish their request and hang up.
 *
 * It watches connections, not requests: nothing runs per request (an `onSend`
 * hook did this before, at a cost on every answer). A connection's current
 * response is Node's `socket._httpMessage`, set while a response is attached to
 * it, the field graceful-shutdown libraries such as http-terminator read.
 *
 * @module
 */
import type { ServerResponse } from 'node:http';
import type { Server, Socket } from 'node:net';

export interface WatchedConnections {
  /** Open connections. */
  readonly size: number;
  /** Adds `Connection: close` to every response being prepared that has not sent its headers. */
  closeAfterResponses(): void;
}

/** Watches the connections `server` accepts from now on. */
export function watchConnections(server: Server): WatchedConnections {
  const open = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  return {
    get size() {
      return open.size;
    },
    closeAfterResponses() {
      for (const socket of open) {
        const res = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
        if (res && !res.headersSent) res.setHeader('connection', 'close');
      }
    },
  };
}
