/**
 * Shared by the package tests: stages the package in a directory of its own (the
 * shared dist/ is left alone), packs it with `npm pack` as a user would get it,
 * and runs commands in temporary projects.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      {
        cwd,
        timeout: timeoutMs,
        maxBuffer: 16 * 1024 * 1024,
        env: { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' },
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

export const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  files: string[];
  exports: Record<string, unknown>;
  peerDependencies: Record<string, string>;
};

/** The version of a package installed in the project's own node_modules (what our tests ran against). */
export function installedVersion(name: string): string {
  return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

/** A temporary directory, removed by `cleanup`. */
export function workDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Stages the package in `<work>/stage`, packs it into `<work>`, returns the tarball's path.
 * Its dist/ is a copy of the shared one when scripts/run-tests.mjs has made sure that is built
 * from the current src/ (TESSERA_TEST_DIST=1, see test/support/processes.ts), else a build of
 * its own. Install scripts are skipped: `prepare` would rebuild into the shared dist/.
 */
export async function packTessera(work: string): Promise<string> {
  const stage = join(work, 'stage');
  mkdirSync(stage, { recursive: true });
  if (process.env.TESSERA_TEST_DIST === '1') {
    cpSync(join(ROOT, 'dist'), join(stage, 'dist'), { recursive: true });
  } else {
    // Type errors are the typecheck step's business; what matters here is that the
    // emitted package works, so the entry points must exist.
    const tsc = await run(
      process.execPath,
      [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', join(stage, 'dist')],
      ROOT,
    );
    assert.ok(existsSync(join(stage, 'dist/index.js')), `build failed:\n${tsc.stdout}${tsc.stderr}`);
  }
  cpSync(join(ROOT, 'package.json'), join(stage, 'package.json'));
  for (const f of pkg.files) {
    if (f !== 'dist' && !f.startsWith('!') && existsSync(join(ROOT, f)))
      cpSync(join(ROOT, f), join(stage, f), { recursive: true });
  }
  const pack = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', work], stage);
  assert.equal(pack.code, 0, pack.stderr);
  const tarball = join(work, pack.stdout.trim().split('\n').pop() as string);
  assert.ok(existsSync(tarball), `no tarball: ${pack.stdout}`);
  return tarball;
}
