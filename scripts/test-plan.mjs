// What scripts/run-tests.mjs decides before it starts a file: the order the files start in, and
// whether dist/ is what src/ builds to. Tested by test/scripts/test-plan.test.ts.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The files that run longest, longest first (the "slowest files" of a full `CI=true npm test`
 * on a shared 2-core machine: wall time, most of it CPU time of the processes they spawn:
 * servers, Chromium, npm, tsc, Python; the fuzzers' own). They start first, so that no long file starts last while the other workers sit idle:
 * longest-processing-time-first scheduling. A file not named here starts after them, in path
 * order. An entry that names no test file fails test/scripts/test-plan.test.ts.
 */
export const SLOW_FIRST = [
  'test/package/consumer-types.test.ts',
  'test/reliability/soak.test.ts',
  'test/e2e/oidc-browser.test.ts',
  'test/docs/docs.test.ts',
  'test/package/readme-install.test.ts',
  'test/reliability/fuzz-http.test.ts',
  'test/reliability/timing.test.ts',
  'test/interop/oauth-clients.test.ts',
  'test/bench/smoke.test.ts',
  'test/e2e/code-flow-browser.test.ts',
  'test/e2e/config.test.ts',
  'test/reliability/fuzz-http-server.test.ts',
  'test/refresh/logout-all.test.ts',
  'test/browser/sessions.test.ts',
  'test/reliability/redis-faults.test.ts',
  'test/stores/postgres.test.ts',
  'test/browser/demo.test.ts',
  'test/browser/pages-a11y.test.ts',
  'test/cli/client-cli.test.ts',
  'test/security/fuzz-decoders.test.ts',
  'test/http/guessing-nat.test.ts',
  'test/reliability/fuzz-opaque-tokens.test.ts',
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

/** The files under `dir`, relative to it. */
function filesUnder(dir) {
  return readdirSync(dir, { recursive: true }).filter((p) => statSync(join(dir, p)).isFile());
}

/** Newest (max) or oldest (min) modification time of `path`, a file, or of the files under it. */
function mtime(path, pick) {
  if (!statSync(path).isDirectory()) return statSync(path).mtimeMs;
  return pick(...filesUnder(path).map((p) => statSync(join(path, p)).mtimeMs));
}

/**
 * Why dist/ may not be what `npm run build` (tsc -p tsconfig.build.json) makes of src/ now, or
 * undefined when it is: dist/cli/main.js exists; every file of dist/ comes from a file of src/
 * (`x.js`, `x.js.map`, `x.d.ts` from `x.ts`: none is left from a source since removed); and no
 * file under src/, nor tsconfig.json or tsconfig.build.json, changed after the oldest file of
 * dist/ was written.
 */
export function distStale(root) {
  const dist = join(root, 'dist');
  if (!existsSync(join(dist, 'cli/main.js'))) return 'dist/cli/main.js is missing';
  const orphan = filesUnder(dist).find((p) => !existsSync(join(root, 'src', p.replace(/(\.js|\.js\.map|\.d\.ts)$/, '.ts'))));
  if (orphan !== undefined) return `dist/${orphan} comes from no file of src/`;
  const built = mtime(dist, Math.min);
  const changed = ['src', 'tsconfig.json', 'tsconfig.build.json'].find((p) => mtime(join(root, p), Math.max) > built);
  return changed === undefined ? undefined : `${changed} is newer than dist/`;
}
