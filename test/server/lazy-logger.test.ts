import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import Fastify from 'fastify';
import { LazyChildLogger, lazyChildLoggerFactory } from '../../src/server/lazy-logger.js';
import { captureLog } from '../support/log-capture.js';

describe('lazy request logger', () => {
  test('writes the same lines as the default child logger (bindings, redaction, level)', async () => {
    const out: Record<string, unknown>[][] = [];
    for (const lazy of [false, true]) {
      const { lines, stream } = captureLog();
      const app = Fastify({
        logger: { level: 'info', stream, redact: { paths: ['*.password'], censor: '[redacted]' } },
        genReqId: () => 'req-1',
        ...(lazy ? { childLoggerFactory: lazyChildLoggerFactory } : {}),
      });
      app.get('/x', async (request) => {
        if (lazy) assert.ok(request.log instanceof LazyChildLogger);
        request.log.debug('not written');
        request.log.info({ body: { password: 'secret' } }, 'hello');
        request.log.warn('careful');
        return { ok: true };
      });
      await app.inject('/x');
      await app.close();
      out.push(
        lines
          .filter((l) => l.msg !== 'incoming request' && l.msg !== 'request completed')
          .map(({ time: _t, pid: _p, ...l }) => l),
      );
    }
    assert.deepEqual(out[1], out[0]);
    assert.equal(out[0]?.length, 2);
    assert.deepEqual(out[0]?.[0], {
      level: 30,
      hostname: out[0]?.[0]?.hostname,
      reqId: 'req-1',
      body: { password: '[redacted]' },
      msg: 'hello',
    });
  });

  test('no child is made while nothing is logged at an enabled level', () => {
    let made = 0;
    const parent = {
      level: 'warn',
      isLevelEnabled: (l: string) => l === 'warn' || l === 'error' || l === 'fatal',
      child() {
        made++;
        return parent;
      },
      fatal() {},
      error() {},
      warn() {},
      info() {},
      debug() {},
      trace() {},
      silent() {},
    };
    const log = new LazyChildLogger(parent, { reqId: 'r' }, {});
    log.debug('x');
    log.info('x');
    assert.equal(log.level, 'warn');
    assert.equal(made, 0);
    log.warn('y');
    assert.equal(made, 1);
    log.error('z');
    assert.equal(made, 1);
  });
});
