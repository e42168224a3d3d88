/**
 * The `tessera` CLI contract (DESIGN.md "CLI contract"), spawned for real: a
 * `tessera` wrapper on PATH runs the CLI (test/support/processes.ts TESSERA_CLI), so the
 * issue's pipeline runs exactly as a user types it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createCodec, SELF_CONTAINED_FORMATS } from '../../src/tokens/codec.js';
import { TESSERA_CLI } from '../support/processes.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = mkdtempSync(join(tmpdir(), 'tessera-cli-'));
writeFileSync(
  join(BIN, 'tessera'),
  `#!/bin/sh\ncd ${JSON.stringify(ROOT)} && exec ${[process.execPath, ...TESSERA_CLI].map((a) => JSON.stringify(a)).join(' ')} "$@"\n`,
);
chmodSync(join(BIN, 'tessera'), 0o755);
after(() => rmSync(BIN, { recursive: true, force: true }));

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a shell command line with the wrapper first on PATH and no key in the environment (unless given). */
function sh(command: string, env: Record<string, string> = {}, input?: string): Promise<Result> {
  const { TESSERA_SECRET: _s, TESSERA_KEYS: _k, ...base } = process.env;
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', command], {
      env: { ...base, ...env, PATH: `${BIN}:${process.env.PATH}` },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

const SECRET = 'kW8pL0b4pVv3m2Yb8eT0mH8m2n6mV2rS1o6Vb3x5Q0c'; // 32 bytes, base64url

/** Changes one character in the middle of a token (inside the MAC-covered body, never in the kid). */
function tamper(token: string): string {
  const i = Math.floor(token.length / 2);
  return token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
}

describe('tessera CLI: keygen, token issue | token verify', () => {
  test("the issue's pipeline: TESSERA_SECRET=$(tessera keygen) sh -c 'tessera token issue ... | tessera token verify --format jwt -'", async () => {
    const r = await sh(
      `TESSERA_SECRET=$(tessera keygen) sh -c 'tessera token issue --format jwt --type access --sub alice | tessera token verify --format jwt -'`,
    );
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    const claims = JSON.parse(r.stdout);
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.type, 'access');
    assert.equal(typeof claims.jti, 'string');
    assert.equal(claims.exp - claims.iat, 900);
    assert.equal(r.stdout.trim().split('\n').length, 1, 'one line of JSON');
  });

  test('keygen prints 32 random bytes as base64url, different each time', async () => {
    const [a, b] = await Promise.all([sh('tessera keygen'), sh('tessera keygen')]);
    assert.equal(a.code, 0);
    assert.match(a.stdout, /^[A-Za-z0-9_-]{43}\n$/);
    assert.equal(Buffer.from(a.stdout.trim(), 'base64url').length, 32);
    assert.notEqual(a.stdout, b.stdout);
  });

  for (const format of SELF_CONTAINED_FORMATS) {
    describe(format, () => {
      test('issue | verify (also with --type, and with the token as an argument) prints the claims', async () => {
        const issued = await sh(
          `tessera token issue --format ${format} --type refresh --sub bob --ttl 120 --claims '{"scope":"read"}'`,
          {
            TESSERA_SECRET: SECRET,
          },
        );
        assert.equal(issued.code, 0, issued.stderr);
        const token = issued.stdout.trim();
        const [piped, arg] = await Promise.all([
          sh(`tessera token verify --format ${format} --type refresh -`, { TESSERA_SECRET: SECRET }, `${token}\n`),
          sh(`tessera token verify --format ${format} '${token}'`, { TESSERA_SECRET: SECRET }),
        ]);
        for (const r of [piped, arg]) {
          assert.equal(r.code, 0, r.stderr);
          const claims = JSON.parse(r.stdout);
          assert.deepEqual([claims.sub, claims.type, claims.scope, claims.exp - claims.iat], ['bob', 'refresh', 'read', 120]);
        }
      });

      test('a tampered token exits 1 and prints exactly {"error": "bad_signature"}', async () => {
        const issued = await sh(`tessera token issue --format ${format} --type access --sub alice`, { TESSERA_SECRET: SECRET });
        const r = await sh(`tessera token verify --format ${format} -`, { TESSERA_SECRET: SECRET }, tamper(issued.stdout.trim()));
        assert.equal(r.code, 1);
        assert.equal(r.stdout, '{"error": "bad_signature"}\n');
        assert.equal(r.stderr, '');
      });

      test('--type mismatch exits 1 with {"error": "wrong_type"}', async () => {
        const r = await sh(
          `tessera token issue --format ${format} --type refresh --sub alice | tessera token verify --format ${format} --type access -`,
          { TESSERA_SECRET: SECRET },
        );
        assert.equal(r.code, 1);
        assert.equal(r.stdout, '{"error": "wrong_type"}\n');
      });
    });
  }

  test('other refusals print their code: expired, unknown_key (another key ring), malformed', async () => {
    const other = 'Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE';
    const [expired, unknownKey, garbage, empty] = await Promise.all([
      sh(
        'tessera token verify --format jwt',
        { TESSERA_SECRET: SECRET },
        createCodec({ format: 'jwt', secret: SECRET }).encode({ sub: 'a', type: 'access', iat: 0, exp: 1 }),
      ),
      sh(
        `tessera token issue --format sealed --type access --sub a | TESSERA_SECRET=${other} tessera token verify --format sealed -`,
        {
          TESSERA_SECRET: SECRET,
        },
      ),
      sh('tessera token verify --format fernet not-a-token', { TESSERA_SECRET: SECRET }),
      sh('tessera token verify --format jwt -', { TESSERA_SECRET: SECRET }, ''),
    ]);
    assert.deepEqual([expired.code, expired.stdout], [1, '{"error": "expired"}\n']);
    assert.deepEqual([unknownKey.code, unknownKey.stdout], [1, '{"error": "unknown_key"}\n']);
    assert.deepEqual([garbage.code, garbage.stdout], [1, '{"error": "malformed"}\n']);
    assert.deepEqual([empty.code, empty.stdout], [1, '{"error": "malformed"}\n']);
  });

  test('--claims cannot set registered claims (exp, iat, iss, sub, aud, nbf, jti, type, ...): exit 2, nothing printed', async () => {
    const claims = [
      '{"exp":4102444800}',
      '{"iat":4102444800}',
      '{"iss":"x"}',
      '{"aud":"x"}',
      '{"sub":"root"}',
      '{"type":"refresh"}',
      '{"nbf":0}',
      '{"jti":"j"}',
      '{"fam":"f"}',
      '{"client_id":"c"}',
    ];
    const rs = await Promise.all(
      claims.map((c) => sh(`tessera token issue --format jwt --type access --sub a --claims '${c}'`, { TESSERA_SECRET: SECRET })),
    );
    for (const [i, r] of rs.entries()) {
      assert.equal(r.code, 2, claims[i]);
      assert.equal(r.stdout, '', claims[i]);
      const name = Object.keys(JSON.parse(claims[i] as string))[0] as string;
      assert.match(r.stderr, new RegExp(`^tessera: --claims may not set ${name}: `), claims[i]);
    }
    // Claims of one's own still go in; --ttl stays capped.
    const ok = await sh(
      `tessera token issue --format jwt --type access --sub a --claims '{"tenant":"t","scope":"read"}' | tessera token verify --format jwt -`,
      { TESSERA_SECRET: SECRET },
    );
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).tenant, 't');
    const long = await sh('tessera token issue --format jwt --type access --sub a --ttl 4102444800', { TESSERA_SECRET: SECRET });
    assert.equal(long.code, 2);
    assert.match(long.stderr, /--ttl must not exceed the refresh lifetime/);
  });

  test('refresh tokens are made with the derived refresh key: they verify as refresh tokens, not with the secret as access tokens', async () => {
    const issued = await sh('tessera token issue --format jwt --type refresh --sub a', { TESSERA_SECRET: SECRET });
    const token = issued.stdout.trim();
    assert.match(
      (() => {
        try {
          createCodec({ format: 'jwt', secret: SECRET }).decode(token);
          return 'ok';
        } catch (e) {
          return (e as { code: string }).code;
        }
      })(),
      /^(bad_signature|unknown_key)$/,
    );
    const [asRefresh, untyped] = await Promise.all([
      sh('tessera token verify --format jwt --type refresh -', { TESSERA_SECRET: SECRET }, token),
      sh('tessera token verify --format jwt -', { TESSERA_SECRET: SECRET }, token),
    ]);
    assert.equal(asRefresh.code, 0);
    assert.equal(JSON.parse(asRefresh.stdout).type, 'refresh');
    assert.equal(untyped.code, 0);
  });

  test('missing secret: exit 2 with a message naming TESSERA_SECRET and `tessera keygen`', async () => {
    const [issue, verify] = await Promise.all([
      sh('tessera token issue --format jwt --type access --sub alice'),
      sh('tessera token verify --format jwt x.y.z'),
    ]);
    for (const r of [issue, verify]) {
      assert.equal(r.code, 2);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /TESSERA_SECRET/);
      assert.match(r.stderr, /tessera keygen/);
    }
  });

  test('a short secret: exit 2 with the keygen hint, and the secret is not echoed', async () => {
    const r = await sh('tessera token issue --format jwt --type access --sub alice', { TESSERA_SECRET: 'c2hvcnQtc2VjcmV0' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /at least 32/);
    assert.match(r.stderr, /tessera keygen/);
    assert.ok(!r.stderr.includes('c2hvcnQtc2VjcmV0'));
  });

  test('usage errors exit 2: unknown format, missing --sub, bad --type, unknown commands', async () => {
    const rs = await Promise.all([
      sh('tessera toString'), // a name Object.prototype has is still an unknown command
      sh('tessera token issue --format paseto --type access --sub a', { TESSERA_SECRET: SECRET }),
      sh('tessera token issue --format jwt --type access', { TESSERA_SECRET: SECRET }),
      sh('tessera token verify --format jwt --type id x', { TESSERA_SECRET: SECRET }),
    ]);
    for (const r of rs) {
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^tessera: /);
    }
  });
});
