// What scripts/run-tests.mjs decides before it starts a file: the order the files start in, and
// whether dist/ is what src/ builds to. Tested by test/scripts/test-plan.test.ts.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The files that run longest, longest first (the "slowest files" of a full `CI=true npm test`
 * on a 2-core machine; wall time, mostly spent waiting on spawned servers, Chromium, npm and
 * tsc). They start first, so that no long file starts last while the other workers sit idle:
 * longest-processing-time-first scheduling. A file not named here starts after them, in path
 * order. An entry that names no test file fails test/scripts/test-plan.test.ts.
 */
export const SLOW_FIRST = [
  'test/e2e/oidc-browser.test.ts',
  'test/docs/docs.test.ts',
  'test/package/consumer-types.test.ts',
  'test/reliability/soak.test.ts',
  'test/interop/oauth-clients.test.ts',
  'test/cli/client-cli.test.ts',
  'test/package/readme-install.test.ts',
  'test/e2e/oidc-key-rotation.test.ts',
];

/** `files` (paths relative to the project) in the order they start: SLOW_FIRST's first, in its order, then the rest as given. */
export function runOrder(files) {
  const rank = (f) => {
    const i = SLOW_FIRST.indexOf(f);
    return i < 0 ? SLOW_FIRST.length : i;
  };
  return files
    .map((f, i) => ({ f, i }))
    .sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i)
    .map(({ f }) => f);
}

/** Newest (max) or oldest (min) modification time of the files under `dir`, or of the file `dir`. */
function mtime(path, pick) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return readdirSync(path).reduce((m, name) => pick(m, mtime(join(path, name), pick)), pick === Math.max ? 0 : Infinity);
}

/**
 * Why dist/ may not be what `npm run build` (tsc -p tsconfig.build.json) makes of src/ now, or
 * undefined when it is: dist/cli/main.js exists, and no file under src/, nor tsconfig.json or
 * tsconfig.build.json, changed after the oldest file under dist/ was written (the build empties
 * dist/ first, so every file in it is as new as that build).
 */
export function distStale(root) {
  let built;
  try {
    statSync(join(root, 'dist/cli/main.js'));
    built = mtime(join(root, 'dist'), Math.min);
  } catch {
    return 'dist/cli/main.js is missing';
  }
  const inputs = ['src', 'tsconfig.json', 'tsconfig.build.json'];
  const changed = inputs.find((p) => mtime(join(root, p), Math.max) > built);
  return changed === undefined ? undefined : `${changed} is newer than dist/`;
}
