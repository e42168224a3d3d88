/**
 * What the e2e suites (and test/browser) run their `tessera` processes with
 * (test/support/processes.ts starts them), and the shared Redis they may use.
 */
import type { Suite } from '../support/processes.js';

/**
 * The rate limiter on (1000 requests per client IP per minute) and a clock file
 * per server, so a suite moves the server past a token's expiry without waiting.
 */
export const E2E: Suite = { rateLimit: 1000, clockFile: true, dropNodeOptions: false, timeoutMs: 20_000 };

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** True when a Redis answers at `url` (PING over a raw socket, no client library needed). */
export async function redisAvailable(url = REDIS_URL): Promise<boolean> {
  const { hostname, port } = new URL(url);
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const sock = connect({ host: hostname, port: Number(port) || 6379 });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}
