/**
 * SQLite survives a restart: issue and revoke in this process, then in a new
 * process reopen the file. The revoked tokens are still refused, the valid ones
 * still work (a restart neither logs everyone out nor forgets a revocation).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeBase64url } from '../../src/internal/base64url.js';
import { createTokenService } from '../../src/refresh/service.js';
import { openStore } from '../../src/stores/open.js';
import { SECRET, tempSqlitePath } from '../stores/harness.js';
import { spawnChild } from './helpers/spawn.js';

for (const scheme of ['jwt', 'opaque'] as const) {
  test(`sqlite restart (${scheme}): revocations and live sessions survive in a new process`, async (t) => {
    const file = tempSqlitePath();
    t.after(() => file.remove());
    const spec = `sqlite:${file.path}`;
    const store = await openStore(spec);
    const tokens = createTokenService({ secret: SECRET, store, scheme, access: { checkRevocation: true } });
    const revokedFamily = await tokens.issue({ sub: 'restart' });
    const kept = await tokens.issue({ sub: 'restart' });
    const rotated = await tokens.refresh(kept.refreshToken);
    const deniedAccess = await tokens.issue({ sub: 'restart-2' });
    await tokens.revoke(revokedFamily.refreshToken);
    await tokens.revoke(deniedAccess.accessToken);
    await store.close();

    const child = spawnChild({
      mode: 'restart',
      store: spec,
      secret: encodeBase64url(SECRET),
      scheme,
      checks: [
        { op: 'refresh', token: revokedFamily.refreshToken },
        { op: 'authenticate', token: revokedFamily.accessToken },
        { op: 'authenticate', token: deniedAccess.accessToken },
        { op: 'authenticate', token: rotated.accessToken },
        { op: 'refresh', token: rotated.refreshToken },
        { op: 'refresh', token: deniedAccess.refreshToken },
        // kept's first token was consumed before the restart: presenting it now is still reuse.
        { op: 'refresh', token: kept.refreshToken },
      ],
    });
    const { results } = (await child.next()) as { results: string[] };
    assert.deepEqual(results, [
      'revoked',
      'revoked',
      // A revoked opaque access token's record is deleted (RFC 7009): it is simply unknown.
      scheme === 'opaque' ? 'unknown_token' : 'revoked',
      'ok',
      'ok',
      'ok',
      'reused',
    ]);
  });
}
