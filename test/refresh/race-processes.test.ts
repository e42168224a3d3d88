/**
 * The exactly-one rule across processes: two OS processes (each its own Node,
 * its own connection or file handle) refresh one token at the same moment.
 * Atomicity must come from the store (a Lua script on Redis, BEGIN IMMEDIATE on
 * SQLite), not from the single JS thread that makes the in-process race easy.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeBase64url } from '../../src/internal/base64url.js';
import { createTokenService } from '../../src/refresh/service.js';
import type { Scheme } from '../../src/refresh/types.js';
import { openStore } from '../../src/stores/open.js';
import type { RedisStore } from '../../src/stores/redis.js';
import type { TokenStore } from '../../src/stores/types.js';
import { codeOf } from '../stores/contract.js';
import {
  deletePrefix,
  REDIS_URL,
  redisUnavailable,
  SECRET,
  skipUnlessAvailable,
  tempSqlitePath,
  uniquePrefix,
} from '../stores/harness.js';
import { spawnChild } from './helpers/spawn.js';

const PER_PROCESS = 50;

async function raceTwoProcesses(store: TokenStore, spec: string, scheme: Scheme, keyPrefix?: string) {
  const tokens = createTokenService({ secret: SECRET, store, scheme });
  const pair = await tokens.issue({ sub: `race-${scheme}` });
  const input = {
    mode: 'race',
    store: spec,
    keyPrefix,
    secret: encodeBase64url(SECRET),
    scheme,
    token: pair.refreshToken,
    count: PER_PROCESS,
  };
  const children = [spawnChild(input), spawnChild(input)];
  // Both processes are loaded and connected before either starts.
  for (const c of children) assert.deepEqual(await c.next(), { ready: true });
  for (const c of children) c.proc.stdin.write('go\n');
  const results = (await Promise.all(children.map((c) => c.next()))) as { ok: number; codes: Record<string, number> }[];
  const ok = results.reduce((n, r) => n + r.ok, 0);
  assert.equal(ok, 1, `exactly one success across both processes: ${JSON.stringify(results)}`);
  for (const r of results) {
    assert.deepEqual(
      Object.keys(r.codes).filter((c) => c !== 'ok' && c !== 'reused'),
      [],
      JSON.stringify(r.codes),
    );
  }
  // And the losers revoked the family, so the session is over for everyone.
  const fresh = await tokens.issue({ sub: `race-${scheme}` });
  assert.equal(await codeOf(tokens.refresh(fresh.refreshToken)), 'ok', 'other families of the user are unaffected');
}

const redisSkip = skipUnlessAvailable(await redisUnavailable());

describe('two processes race on Redis', redisSkip, () => {
  for (const scheme of ['jwt', 'opaque'] as const) {
    test(`${scheme}: ${2 * PER_PROCESS} refreshes from two processes, exactly one wins`, async (t) => {
      const keyPrefix = uniquePrefix('race');
      const store = (await openStore(REDIS_URL, { keyPrefix })) as RedisStore;
      t.after(async () => {
        await deletePrefix(store.client, keyPrefix);
        await store.close();
      });
      await raceTwoProcesses(store, REDIS_URL, scheme, keyPrefix);
    });
  }
});

describe('two processes race on one SQLite file', () => {
  test(`sealed: ${2 * PER_PROCESS} refreshes from two processes, exactly one wins`, async (t) => {
    const file = tempSqlitePath();
    const store = await openStore(`sqlite:${file.path}`);
    t.after(async () => {
      await store.close();
      file.remove();
    });
    await raceTwoProcesses(store, `sqlite:${file.path}`, 'sealed');
  });
});
