/**
 * startServer: the parsed configuration reaches the token service it builds
 * (settings whose effect the HTTP API cannot show, like the access cache).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isTokenError } from '../../src/errors.js';
import { createKeyRing, generateSecret, refreshKeyRing } from '../../src/keys.js';
import { parseConfig } from '../../src/server/config.js';
import { startServer } from '../../src/server/server.js';
import { createCodec } from '../../src/tokens/codec.js';

const quiet = { note: () => {} };

async function withServer(
  env: NodeJS.ProcessEnv,
  flags: Parameters<typeof parseConfig>[1],
  fn: (s: Awaited<ReturnType<typeof startServer>>) => Promise<void>,
) {
  const config = parseConfig(
    { TESSERA_SECRET: generateSecret(), TESSERA_STORE: 'memory', TESSERA_LOG_LEVEL: 'silent', ...env },
    { port: '0', ...flags },
  );
  const server = await startServer(config, quiet);
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

describe('startServer: access cache setting', () => {
  test('default: 1000 entries, a repeat token gets the same frozen claims', async () => {
    await withServer({}, {}, async ({ tokens }) => {
      assert.equal(tokens.config.accessCacheSize, 1000);
      const { accessToken } = await tokens.issue({ sub: 'alice' });
      const a = await tokens.authenticate(accessToken);
      const b = await tokens.authenticate(accessToken);
      assert.equal(a.claims, b.claims);
      assert.ok(Object.isFrozen(a.claims));
    });
  });

  test('TESSERA_ACCESS_CACHE=0: every authenticate verifies afresh', async () => {
    await withServer({ TESSERA_ACCESS_CACHE: '0' }, {}, async ({ tokens }) => {
      assert.equal(tokens.config.accessCacheSize, 0);
      const { accessToken } = await tokens.issue({ sub: 'alice' });
      const a = await tokens.authenticate(accessToken);
      const b = await tokens.authenticate(accessToken);
      assert.notEqual(a.claims, b.claims);
      assert.deepEqual(a.claims, b.claims);
      assert.ok(!Object.isFrozen(a.claims));
    });
  });

  test('--access-cache 5 reaches the service', async () => {
    await withServer({}, { accessCache: '5' }, async ({ tokens }) => {
      assert.equal(tokens.config.accessCacheSize, 5);
    });
  });
});

describe('startServer: underived refresh tokens (TESSERA_LEGACY_REFRESH_KEYS)', () => {
  /** A refresh token of `tokens`' latest family, re-made with the configured secret itself. */
  async function underived(secret: string, tokens: Awaited<ReturnType<typeof startServer>>['tokens']) {
    const pair = await tokens.issue({ sub: 'alice' });
    const claims = createCodec({ format: 'jwt', secret: refreshKeyRing(createKeyRing([{ secret }])) }).decode(pair.refreshToken);
    return createCodec({ format: 'jwt', secret }).encode(claims);
  }

  test('default on: one still refreshes; off: refused', async () => {
    const secret = generateSecret();
    await withServer({ TESSERA_SECRET: secret }, {}, async ({ tokens }) => {
      assert.equal(tokens.config.acceptLegacyRefreshKeys, true);
      assert.equal((await tokens.refresh(await underived(secret, tokens))).tokenType, 'Bearer');
    });
    await withServer({ TESSERA_SECRET: secret, TESSERA_LEGACY_REFRESH_KEYS: 'off' }, {}, async ({ tokens }) => {
      assert.equal(tokens.config.acceptLegacyRefreshKeys, false);
      await assert.rejects(tokens.refresh(await underived(secret, tokens)), (e: unknown) => isTokenError(e));
    });
  });
});
