/**
 * `tessera keys list|add|promote|remove FILE`: the steps of a signing-key rotation on the JWK
 * Set of TESSERA_SIGNING_KEY_FILE (src/tokens/key-rotation.ts), each leaving a set the server
 * loads (parseConfig), with the file's mode kept and nothing written when a step is refused.
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { generateSecret } from '../../src/keys.js';
import { parseConfig } from '../../src/server/config.js';
import { generateSigningJwk } from '../../src/tokens/jwk.js';
import { runMain } from '../support/main-io.js';
import { tempDir } from '../support/processes.js';

function keyFile(keys: object[], mode = 0o600): string {
  const path = join(tempDir('tessera-keys-'), 'signing-keys.json');
  writeFileSync(path, JSON.stringify({ keys }), { mode });
  return path;
}

const lines = (out: string) => out.trim().split('\n');

/** What a server started on `path` with `alg` signs with and publishes. */
function served(path: string, alg: string): { signer: string; published: string[] } {
  const c = parseConfig({ TESSERA_SECRET: generateSecret(), TESSERA_ACCESS_ALG: alg, TESSERA_SIGNING_KEY_FILE: path });
  return { signer: c.signingKeys?.signer.kid as string, published: c.signingKeys?.publicJwks().keys.map((k) => k.kid) ?? [] };
}

describe('tessera keys', () => {
  for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
    test(`${alg}: add publishes a new key without signing with it, promote makes it sign, remove drops the old one`, async () => {
      const old = generateSigningJwk(alg);
      const path = keyFile([old]);

      const added = await runMain(['keys', 'add', '--alg', alg, path]);
      assert.equal(added.code, 0, added.err);
      const kid = added.out.trim();
      assert.notEqual(kid, old.kid);
      assert.deepEqual(served(path, alg), { signer: old.kid, published: [old.kid, kid] });
      assert.deepEqual(lines((await runMain(['keys', 'list', path])).out), [`${old.kid} ${alg} signs`, `${kid} ${alg} verifies`]);
      // The old key's JWK is kept as it was, private members included.
      assert.deepEqual((JSON.parse(readFileSync(path, 'utf8')) as { keys: unknown[] }).keys[0], old);

      const promoted = await runMain(['keys', 'promote', kid, path]);
      assert.equal(promoted.code, 0, promoted.err);
      assert.match(promoted.err, new RegExp(`${kid} \\(${alg}\\) signs from the next start\\n$`));
      assert.deepEqual(served(path, alg), { signer: kid, published: [kid, old.kid] });

      const removed = await runMain(['keys', 'remove', old.kid, path]);
      assert.equal(removed.code, 0, removed.err);
      assert.equal(removed.err, '', 'the signing key is unchanged: nothing to say');
      assert.deepEqual(served(path, alg), { signer: kid, published: [kid] });
      assert.equal(statSync(path).mode & 0o777, 0o600);
    });
  }

  test("the file's mode is kept; removing the signing key makes the next one sign, and says so", async () => {
    const [a, b] = [generateSigningJwk('ES256'), generateSigningJwk('ES256')];
    const path = keyFile([a, b], 0o640);
    const r = await runMain(['keys', 'remove', a.kid, path]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, new RegExp(`${b.kid} \\(ES256\\) signs from the next start`));
    assert.deepEqual(served(path, 'ES256'), { signer: b.kid, published: [b.kid] });
    assert.equal(statSync(path).mode & 0o777, 0o640);
  });

  test("a kid that starts with '-' (one thumbprint in 64) is promoted and removed as written, before or after '--'", async () => {
    const old = generateSigningJwk('EdDSA');
    let dashed = generateSigningJwk('EdDSA');
    while (!dashed.kid.startsWith('-')) dashed = generateSigningJwk('EdDSA');
    const path = keyFile([old, dashed]);
    const promoted = await runMain(['keys', 'promote', dashed.kid, path]);
    assert.equal(promoted.code, 0, promoted.err);
    assert.deepEqual(served(path, 'EdDSA'), { signer: dashed.kid, published: [dashed.kid, old.kid] });
    const removed = await runMain(['keys', 'remove', '--', old.kid, path]);
    assert.equal(removed.code, 0, removed.err);
    assert.deepEqual(served(path, 'EdDSA'), { signer: dashed.kid, published: [dashed.kid] });
    // An option name is lowercase letters and dashes: a misspelt one is still refused as an option.
    const typo = await runMain(['keys', 'add', '--algo', 'EdDSA', path]);
    assert.equal(typo.code, 2);
    assert.match(typo.err, /Unknown option '--algo'/);
  });

  test('promoting a key of another algorithm names the TESSERA_ACCESS_ALG it needs', async () => {
    const path = keyFile([generateSigningJwk('RS256')]);
    const kid = (await runMain(['keys', 'add', '--alg', 'ES256', path])).out.trim();
    const r = await runMain(['keys', 'promote', kid, path]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /: set TESSERA_ACCESS_ALG=ES256\n$/);
    assert.equal(served(path, 'ES256').signer, kid);
  });

  test('refusals: exit 2, one line, the file untouched', async () => {
    const only = generateSigningJwk('EdDSA');
    const path = keyFile([only]);
    const before = readFileSync(path, 'utf8');
    const bad = keyFile([{ ...generateSigningJwk('EdDSA'), d: undefined }]);
    for (const [args, message] of [
      [['keys', 'remove', only.kid, path], /is the only key of the signing key set in .*tessera keys add/],
      [['keys', 'promote', 'nope', path], new RegExp(`has no key "nope" \\(its keys: ${only.kid}\\)`)],
      [['keys', 'remove', 'nope', path], /has no key "nope"/],
      [['keys', 'add', path], /needs --alg EdDSA\|ES256\|RS256/],
      [['keys', 'add', '--alg', 'HS256', path], /needs --alg/],
      [['keys', 'add', '--alg', 'EdDSA', bad], /key #1 has no private part/],
      [['keys', 'list', join(tempDir(), 'absent.json')], /cannot read ".*absent.json" \(ENOENT\)/],
      [['keys', 'promote', path], /takes KID FILE/],
      [['keys', 'rotate', path], /unknown keys command "rotate"/],
    ] as const) {
      const r = await runMain([...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.out}`);
      assert.match(r.err, message);
      assert.equal(r.err.trim().split('\n').length <= 2, true, r.err);
    }
    assert.equal(readFileSync(path, 'utf8'), before);
    assert.match((await runMain(['keys', '--help'])).out, /tessera keys add --alg EdDSA\|ES256\|RS256 FILE/);
  });
});
