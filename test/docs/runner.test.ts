/**
 * The docs runner itself: how a block splits into steps and documented output,
 * and that a walk-through fails when a command prints something else than its
 * doc says, or fails.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { type Block, extractBlocks, matchesExpected, shellSteps } from './extract.js';
import { MAIN, runShellSection } from './runner.js';

const sh = (code: string): Block => ({ file: 'inline.md', line: 1, lang: 'sh', section: 's', code });

describe('extracting blocks and their documented output', () => {
  test('a fence info string gives the language, the id and the no-run reason; an HTML comment names a block', () => {
    const md = [
      '## One',
      '```sh no-run: needs a Go toolchain',
      'go run .',
      '```',
      '<!-- named -->',
      '```python',
      'print(1)',
      '```',
      '  ```ts id=x',
      '  const a = 1;',
      '  ```',
    ].join('\n');
    const [a, b, c] = extractBlocks(md, 'f.md');
    assert.deepEqual([a!.lang, a!.noRun, a!.section], ['sh', 'needs a Go toolchain', 'One']);
    assert.deepEqual([b!.lang, b!.id, b!.noRun], ['python', 'named', undefined]);
    assert.deepEqual([c!.lang, c!.id, c!.code], ['ts', 'x', 'const a = 1;']);
  });

  test('steps: continuations, here-documents and functions stay whole; `# =>` lines and trailing `# =>` are the output', () => {
    const steps = shellSteps(
      sh(
        [
          'f() { echo hi; }',
          'echo a \\',
          '  b   # => a b',
          '# prose, not output',
          "cat <<'EOF'",
          'x # => not a comment here',
          'EOF',
          '# => x # => not a comment here',
          'echo "#" one',
          '# => # one',
          '# => ',
        ].join('\n'),
      ),
    );
    assert.deepEqual(
      steps.map((s) => [s.code, s.expected]),
      [
        ['f() { echo hi; }', undefined],
        ['echo a \\\n  b   # => a b', ['a b']],
        ["cat <<'EOF'\nx # => not a comment here\nEOF", ['x # => not a comment here']],
        ['echo "#" one', ['# one', '']],
      ],
    );
  });

  test('documented output: … stands for any text, everything else is compared as written', () => {
    assert.ok(
      matchesExpected(['{"active":true,…"username":"alice"…}'], '{"active":true,"sub":"u_1","username":"alice","exp":1}\n'),
    );
    assert.ok(!matchesExpected(['{"active":true,…}'], '{"active":false}'));
    assert.ok(matchesExpected(['401'], '401  \n'));
    assert.ok(!matchesExpected(['401'], '4010'));
    assert.ok(matchesExpected(['a', 'exit 1'], 'a\nexit 1\n'));
    assert.ok(!matchesExpected(['a', 'exit 1'], 'a\nexit 2\n'));
  });
});

describe('a walk-through run against the built CLI', {
  skip: existsSync(MAIN) ? false : 'needs dist/ (npx tsc -p tsconfig.build.json)',
}, () => {
  const needs = { redis: false, pg: false };
  const secret = 'export TESSERA_SECRET=$(npx tessera keygen)';
  const verify = 'npx tessera token verify --format jwt eyJhbGciOiJub25lIn0.e30.; echo "exit $?"';

  test('passes when every command prints what its doc says', async () => {
    await runShellSection([sh(`${secret}\n${verify}\n# => {"error": "unsupported"}\n# => exit 1`)], needs);
  });

  test('fails, naming the line, when a documented output changes', async () => {
    await assert.rejects(
      runShellSection([sh(`${secret}\n${verify}\n# => {"error": "bad_signature"}\n# => exit 1`)], needs),
      (e: Error) => /inline\.md:3: .*printed\n\{"error": "unsupported"\}\nexit 1\nwhere the doc says/s.test(e.message),
    );
  });

  test('fails when a command exits non-zero, and stops there', async () => {
    await assert.rejects(
      runShellSection([sh(`${secret}\ntessera token verify --format jwt not-a-token\necho never`)], needs),
      (e: Error) => /inline\.md:3: `tessera token verify --format jwt not-a-token` exited with status 1/.test(e.message),
    );
  });

  test('a server started in the background is waited for, and ends with the walk-through', async () => {
    await runShellSection(
      [sh('npx tessera serve --port 3000 &\ncurl -s http://127.0.0.1:3000/health   # => {"status":"ok"}')],
      needs,
    );
  });
});
