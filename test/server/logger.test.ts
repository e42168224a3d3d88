/**
 * The server's logging (src/server/logger.ts). With request logging off (the
 * default), Fastify gets no logger, so it adds no per-response listeners; the
 * lines handlers write still reach the log through `request.log`, with the
 * request id and the redaction rules. With request logging on, Fastify writes
 * its incoming/completed lines through the same logger and serializers.
 */
import assert from 'node:assert/strict';
import { ServerResponse } from 'node:http';
import { describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { PASSWORD, setup } from '../http/helpers.js';
import { captureLog } from '../support/log-capture.js';

/** 'finish' listeners put on the response of one `GET /health`. */
async function finishListenersAdded(app: FastifyInstance): Promise<number> {
  const proto = ServerResponse.prototype as unknown as { on: (...a: unknown[]) => unknown };
  const original = proto.on;
  let n = 0;
  proto.on = function (this: unknown, event: unknown, ...rest: unknown[]) {
    if (event === 'finish') n++;
    return original.call(this, event, ...rest);
  };
  try {
    const res = await app.inject({ method: 'GET', url: '/health' });
    assert.equal(res.statusCode, 200);
  } finally {
    proto.on = original;
  }
  return n;
}

describe('server logging', () => {
  test('request logging off: handler lines keep the request id, no per-request lines, no response listeners', async () => {
    const { lines, stream } = captureLog();
    const h = await setup({ app: { log: { level: 'debug', stream } } });
    try {
      const res = await h.app.inject({
        method: 'GET',
        url: '/me?access_token=secret-in-query',
        headers: { authorization: 'Bearer abc.def.ghi' },
      });
      assert.equal(res.statusCode, 401);
      const refused = lines.find((l) => l.msg === 'access token refused');
      assert.ok(refused, JSON.stringify(lines));
      assert.equal(typeof refused.reqId, 'string');
      assert.equal(refused.level, 20);
      assert.ok(!lines.some((l) => l.msg === 'incoming request' || l.msg === 'request completed'));
      // Fastify times a response (a 'finish' listener) only when it has a logger: one fewer than with request logging.
      const on = await setup({ app: { log: { level: 'info', requests: true, stream: captureLog().stream } } });
      try {
        assert.equal(await finishListenersAdded(h.app), (await finishListenersAdded(on.app)) - 1);
      } finally {
        await on.close();
      }
    } finally {
      await h.close();
    }
  });

  test('request logging on: incoming/completed lines with id, method and path only; secrets redacted', async () => {
    const { lines, stream } = captureLog();
    const h = await setup({ app: { log: { level: 'info', requests: true, stream } } });
    try {
      const res = await h.app.inject({
        method: 'POST',
        url: '/auth/token?x=secret-in-query',
        payload: { grant_type: 'password', username: 'alice', password: PASSWORD },
      });
      assert.equal(res.statusCode, 200);
      const incoming = lines.find((l) => l.msg === 'incoming request') as { req?: Record<string, unknown>; reqId?: string };
      const completed = lines.find((l) => l.msg === 'request completed') as { res?: Record<string, unknown>; reqId?: string };
      assert.deepEqual(incoming?.req, { id: incoming?.reqId, method: 'POST', url: '/auth/token' });
      assert.deepEqual(completed?.res, { statusCode: 200 });
      assert.equal(completed?.reqId, incoming?.reqId);
      const text = JSON.stringify(lines);
      assert.ok(!text.includes(PASSWORD) && !text.includes('secret-in-query'), text);
    } finally {
      await h.close();
    }
  });

  test('log: false writes nothing and still answers', async () => {
    const h = await setup({ app: { log: false } });
    try {
      const res = await h.app.inject({ method: 'GET', url: '/me', headers: { authorization: 'Bearer abc.def.ghi' } });
      assert.equal(res.statusCode, 401);
    } finally {
      await h.close();
    }
  });
});
