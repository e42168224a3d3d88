/**
 * A request that needs something the deployment lacks (an optional peer, such as the
 * common-password list for registration) is the operator's to fix: 503 to the client without
 * the message (it names packages and paths), and the error in the log at error level.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { logFailure, toHttpError } from '../../src/http/core/errors.js';

describe('a ConfigError while handling a request', () => {
  const err = new ConfigError('registration needs @zxcvbn-ts/language-common: npm install @zxcvbn-ts/language-common@4');

  test('maps to 503 temporarily_unavailable, never a 500, and keeps the message to the log', () => {
    const mapped = toHttpError(err);
    assert.equal(mapped.statusCode, 503);
    assert.equal(mapped.error, 'temporarily_unavailable');
    assert.doesNotMatch(mapped.message, /zxcvbn|npm/);
  });

  test('is logged at error with the error itself', () => {
    const seen: string[] = [];
    const log = {
      error: (o: object) => seen.push(`error:${(o as { err?: Error }).err?.message}`),
      warn: () => seen.push('warn'),
      debug: () => seen.push('debug'),
    };
    logFailure(log, err, toHttpError(err));
    assert.deepEqual(seen, [`error:${err.message}`]);
  });
});
