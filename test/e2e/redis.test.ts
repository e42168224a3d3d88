/**
 * End to end on Redis (REDIS_URL or 127.0.0.1:6379), one unique key prefix per
 * suite. Skipped when no Redis answers, except with CI=true: there it must run.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { Redis } from 'ioredis';
import { serverEnv } from '../support/processes.js';
import { e2eFlow } from './flow.js';
import { E2E, REDIS_URL, redisAvailable } from './helpers.js';

const available = await redisAvailable();
if (!available && process.env.CI === 'true') {
  test('Redis is required on CI', () => {
    assert.fail(`no Redis answers at ${REDIS_URL}; CI=true requires the Redis end-to-end tests to run`);
  });
} else if (!available) {
  test(`Redis e2e (no Redis at ${REDIS_URL})`, {
    skip: 'no Redis; set REDIS_URL or start redis-server (CI=true makes this a failure)',
  }, () => {});
} else {
  for (const scheme of ['jwt', 'sealed', 'opaque']) {
    e2eFlow(
      `e2e ${scheme} on Redis`,
      () =>
        serverEnv(E2E, {
          TESSERA_SCHEME: scheme,
          TESSERA_STORE: REDIS_URL,
          TESSERA_REDIS_PREFIX: `tessera-e2e:${randomUUID()}:`,
        }),
      (env) => deletePrefix(env.TESSERA_REDIS_PREFIX as string),
    );
  }
}

/** Removes every key a suite wrote (users have no TTL). */
async function deletePrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true });
  await redis.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
