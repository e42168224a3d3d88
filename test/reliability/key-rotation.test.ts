/**
 * Key rotation through the real server, one SQLite file kept across
 * three restarts with different TESSERA_KEYS:
 *
 * 1. `k1:S1`: sessions are opened; one is revoked.
 * 2. `k2:S2,k1:S1` (a new first key): tokens signed by k1 still verify and
 *    refresh, until they expire (the server's clock is moved past the access
 *    lifetime with TESSERA_TEST_CLOCK_FILE: no waiting); new tokens are signed
 *    by k2 only; the revocation made under k1 still holds.
 * 3. `k2:S2` (k1 removed): every token signed by k1 is refused, tokens signed
 *    by k2 keep working.
 *
 * "Signed by" is checked from outside: a codec holding only one of the keys
 * verifies the token, one holding only the other does not.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { isTokenError } from '../../src/errors.js';
import { createKeyRing, generateSecret, refreshKeyRing } from '../../src/keys.js';
import { createCodec, type SelfContainedFormat } from '../../src/tokens/codec.js';
import { addIntrospector, call, PASSWORD, type ServerProcess, serverEnv, startServer } from '../support/processes.js';
import { login, RELIABILITY, type TokenBody } from './support.js';

const ACCESS_TTL = 600;

for (const format of ['jwt', 'sealed', 'fernet'] as const satisfies readonly SelfContainedFormat[]) {
  describe(`key rotation through the server: ${format}`, () => {
    let srv: ServerProcess | undefined;
    after(async () => {
      await srv?.kill();
    });

    test('old-key tokens verify until they expire, new tokens use the new key, a removed key is refused', async () => {
      const S1 = generateSecret();
      const S2 = generateSecret();
      // A far-future clock is not wanted here: verify signatures at the real time. Refresh tokens
      // are made with the key derived from each configured key for them (keys.ts refreshKeyRing).
      const only = (kid: string, secret: string, refresh = false) => {
        const ring = createKeyRing([{ kid, secret }]);
        return createCodec({ format, secret: refresh ? refreshKeyRing(ring) : ring });
      };
      const codecs = { access: [only('k1', S1), only('k2', S2)], refresh: [only('k1', S1, true), only('k2', S2, true)] };
      const signedBy = (token: string, kind: 'access' | 'refresh' = 'access'): string[] => {
        const by: string[] = [];
        const [k1, k2] = codecs[kind];
        for (const [name, codec] of [
          ['k1', k1],
          ['k2', k2],
        ] as const) {
          try {
            codec.decode(token);
            by.push(name);
          } catch (e) {
            assert.ok(isTokenError(e), String(e));
          }
        }
        return by;
      };

      const env = serverEnv(RELIABILITY, {
        TESSERA_ACCESS_FORMAT: format,
        TESSERA_REFRESH_FORMAT: format,
        TESSERA_ACCESS_TTL: String(ACCESS_TTL),
        TESSERA_KEYS: `k1:${S1}`,
      });
      const clockFile = join(env.TESSERA_DATA_DIR as string, '..', 'clock');
      env.TESSERA_TEST_CLOCK_FILE = clockFile;
      env.TESSERA_STORE = `sqlite:${join(env.TESSERA_DATA_DIR as string, 'tessera.db')}`;
      env.TESSERA_ALLOW_REGISTER = '1';
      const me = (t: string) => call(srv!.url, 'GET', '/me', { token: t }).then((r) => r.status);
      const refresh = (t: string) => call(srv!.url, 'POST', '/auth/refresh', { json: { refresh_token: t } });

      const rs = await addIntrospector(RELIABILITY, env);
      // --- Phase 1: k1 only.
      srv = await startServer(RELIABILITY, env);
      assert.equal(
        (await call(srv.url, 'POST', '/auth/register', { json: { username: 'alice', password: PASSWORD } })).status,
        201,
      );
      const old: TokenBody[] = [];
      for (let i = 0; i < 5; i++) old.push(await login(srv.url, 'alice'));
      for (const t of old) {
        assert.deepEqual(signedBy(t.access_token), ['k1']);
        assert.deepEqual(signedBy(t.refresh_token, 'refresh'), ['k1']);
      }
      const [a, b, c, d, e] = old as [TokenBody, TokenBody, TokenBody, TokenBody, TokenBody];
      assert.equal((await call(srv.url, 'POST', '/auth/revoke', { form: { token: d.refresh_token } })).status, 200);
      await srv.stop();

      // --- Phase 2: a new first key; k1 still verifies.
      srv = await startServer(RELIABILITY, { ...env, TESSERA_KEYS: `k2:${S2},k1:${S1}` });
      assert.equal(await me(a.access_token), 200, 'a k1 access token after the rotation');
      const rotated = await refresh(a.refresh_token);
      assert.equal(rotated.status, 200, `a k1 refresh token after the rotation: ${rotated.text}`);
      assert.deepEqual(signedBy(rotated.json.access_token), ['k2'], 'new access tokens are signed by the new first key');
      assert.deepEqual(
        signedBy(rotated.json.refresh_token, 'refresh'),
        ['k2'],
        'new refresh tokens are signed by the new first key',
      );
      const fresh = await login(srv.url, 'alice');
      assert.deepEqual(signedBy(fresh.access_token), ['k2']);
      assert.equal((await refresh(d.refresh_token)).status, 400, 'a revocation made under k1 still holds');
      assert.equal((await refresh(e.refresh_token)).status, 200);
      assert.equal((await refresh(e.refresh_token)).status, 400, 'a consumed k1 token stays consumed');
      // Until they expire: move the server's clock past the access lifetime.
      writeFileSync(clockFile, String((ACCESS_TTL + 5) * 1000));
      assert.equal(await me(b.access_token), 401, 'a k1 access token after its expiry');
      const expired = await call(srv.url, 'GET', '/me', { token: b.access_token });
      assert.match(expired.json.error_description, /expired/);
      writeFileSync(clockFile, '0');
      assert.equal(await me(b.access_token), 200);
      await srv.stop();

      // --- Phase 3: k1 removed.
      srv = await startServer(RELIABILITY, { ...env, TESSERA_KEYS: `k2:${S2}` });
      assert.equal(await me(c.access_token), 401, 'a k1 access token after k1 was removed');
      const removed = await refresh(c.refresh_token);
      assert.equal(removed.status, 400, 'a k1 refresh token after k1 was removed');
      assert.equal(removed.json.error, 'invalid_grant');
      const intro = await call(srv.url, 'POST', '/auth/introspect', { headers: rs, form: { token: c.access_token } });
      assert.equal(intro.json.active, false);
      assert.equal(await me(rotated.json.access_token), 200, 'k2 tokens keep working');
      assert.equal(await me(fresh.access_token), 200);
      const again = await refresh(rotated.json.refresh_token);
      assert.equal(again.status, 200, again.text);
      assert.deepEqual(signedBy(again.json.access_token), ['k2']);
      await srv.stop();
      assert.equal(srv.child.exitCode, 0, 'graceful stop');
    });
  });
}
