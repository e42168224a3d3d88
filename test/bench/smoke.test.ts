/**
 * The benchmark scripts start and print their tables (no timing is checked: numbers
 * belong to `npm run bench`, not to the test suite). About 3 s, and about 10 s for the
 * peer comparison (three servers and a private Redis).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatSummary, summarise } from '../../bench/profile.js';
import { redisUnavailable, skipUnlessAvailable } from '../stores/harness.js';

const root = join(fileURLToPath(import.meta.url), '..', '..', '..');

/** The peer comparison runs oidc-provider on Redis too. */
const redisSkip = skipUnlessAvailable(await redisUnavailable());

function run(args: readonly string[], timeout: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', ...args], { cwd: root, timeout }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
    );
  });
}

describe('bench smoke', () => {
  test('npm run bench -- --quick --filter "HS256 verify" prints the codec table and the targets', async () => {
    const out = await run(['bench/index.ts', '--quick', '--filter', 'HS256 verify'], 30_000);
    assert.match(out, /sections: codecs/);
    assert.match(out, /\| HS256 verify +\| floor: createHmac \+ timingSafeEqual/);
    assert.match(out, /\| HS256 verify +\| tessera codec\.decode/);
    assert.match(out, /Targets\n {2}HS256 verify \(codec\.decode\)/);
    assert.doesNotMatch(out, /HS256 sign/);
  });

  test(
    'bench/peers.ts --smoke --group me: oidc-provider signs in through its code flow, both routes answer, no failure',
    redisSkip,
    async () => {
      const out = await run(['bench/peers.ts', '--smoke', '--group', 'me'], 120_000);
      const lines = out.split('\n').filter((l) => l.startsWith('| GET /me (access-token validation)'));
      // The rows of the first table (13 columns); the ratio table's rows have 5.
      const rows = lines.filter((l) => l.split('|').length === 15);
      assert.deepEqual(
        rows.map((l) => l.split('|')[2]?.trim()),
        ['tessera serve, memory store', 'oidc-provider AccessToken.find, memory', 'oidc-provider AccessToken.find, Redis'],
      );
      // Every request of every row answered 2xx: the last column counts the others.
      for (const row of rows) assert.equal(row.split('|').at(-2)?.trim(), '0', row);
      assert.match(out, /\| GET \/me \(access-token validation\) +\| oidc-provider AccessToken\.find, memory +\| +\d+\.\d\dx \|/);
    },
  );

  test('bench/features.ts --quick --only DPoP: proofs and bound token are accepted, both rows answer, no failure', async () => {
    const out = await run(['bench/features.ts', '--quick', '--only', 'DPoP'], 120_000);
    const row = out.split('\n').find((l) => l.startsWith('| DPoP proof'));
    assert.ok(row, out);
    const cells = row.split('|').map((c) => c.trim());
    assert.equal(cells[2], 'GET /me');
    assert.match(cells[5] as string, /^\d+\.\d{3}x$/);
    assert.equal(cells.at(-2), '0', row);
  });

  test('profile summary: self time by function and location, inclusive time', () => {
    const frame = (id: number, functionName: string, url: string, children: number[] = []) => ({
      id,
      callFrame: { functionName, url, lineNumber: 0 },
      children,
    });
    const profile = {
      nodes: [
        frame(1, '(root)', '', [2, 4]),
        frame(2, 'handler', 'file:///app/dist/http/plugin.js', [3]),
        frame(3, 'hash', 'node:crypto'),
        frame(4, '(idle)', ''),
      ],
      samples: [3, 3, 2, 4, 3],
      timeDeltas: [0, 1000, 1000, 1000, 1000],
      startTime: 0,
      endTime: 5000,
    };
    const s = summarise(profile, ['handler']);
    assert.equal(s.idleMs, 1);
    assert.deepEqual(
      s.functions.map((f) => [f.name, f.selfMs]),
      [
        ['hash', 2],
        ['handler', 1],
      ],
    );
    assert.equal(s.locations.find((l) => l.where === 'tessera dist/http/plugin.js')?.selfMs, 1);
    assert.deepEqual(s.focus, [{ name: 'handler', totalMs: 3, share: 1 }]);
    assert.match(formatSummary(s), /inclusive time/);
  });
});
