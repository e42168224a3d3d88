/**
 * The data directory is resolved once, to an absolute path, and every command
 * that reads or writes it says which one on stderr (one line), so a command run
 * from another working directory never writes to another database silently.
 * Commands run from a directory of their own (cwd set).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { TESSERA_CLI } from '../support/processes.js';

const WORK = mkdtempSync(join(tmpdir(), 'tessera-data-dir-'));
after(() => rmSync(WORK, { recursive: true, force: true }));
const PASSWORD = 'correct horse battery staple';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `tessera ARGS` with `cwd` as the working directory and no TESSERA_* variable but `env`. */
function tessera(cwd: string, args: string[], env: Record<string, string> = {}, input = ''): Promise<Result> {
  const clean: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TESSERA_') && k !== 'REDIS_URL') clean[k] = v;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...TESSERA_CLI, ...args], {
      cwd,
      env: { ...clean, TESSERA_SCRYPT_N: '1024', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tessera ${args.join(' ')} timed out: ${stderr}`));
    }, 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

function dir(name: string): string {
  const d = join(WORK, name);
  mkdirSync(d, { recursive: true });
  return d;
}

describe('the data directory, resolved once and named by every command that uses it', () => {
  test('user add with the default store prints the absolute data directory, then writes there', async () => {
    const cwd = dir('project');
    const r = await tessera(cwd, ['user', 'add', 'alice'], {}, PASSWORD);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, `tessera: data directory ${join(cwd, '.tessera')}\n`);
    assert.match(r.stdout, new RegExp(`^created user alice \\(id \\S+\\) in sqlite:${join(cwd, '.tessera', 'tessera.db')}\\n$`));
  });

  test('from another directory, the line names that other directory (a different database is never silent)', async () => {
    const other = dir('elsewhere');
    const r = await tessera(other, ['client', 'list']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, `tessera: data directory ${join(other, '.tessera')}\n`);
  });

  test('a relative TESSERA_DATA_DIR or --data-dir is printed absolute', async () => {
    const cwd = dir('relative');
    const env = await tessera(cwd, ['migrate'], { TESSERA_DATA_DIR: 'state' });
    assert.equal(env.code, 0, env.stderr);
    assert.equal(env.stderr, `tessera: data directory ${join(cwd, 'state')}\n`);
    assert.match(env.stdout, new RegExp(`^sqlite:${join(cwd, 'state', 'tessera.db')}: schema at version \\d+\\n$`));
    const flag = await tessera(cwd, ['user', 'add', 'bob', '--data-dir', './state'], {}, PASSWORD);
    assert.equal(flag.code, 0, flag.stderr);
    assert.equal(flag.stderr, `tessera: data directory ${join(cwd, 'state')}\n`);
  });

  test('a store given explicitly does not use the data directory: no line; a relative sqlite path is shown absolute', async () => {
    const cwd = dir('explicit');
    const r = await tessera(cwd, ['user', 'add', 'carol', '--store', 'sqlite:./users.db'], {}, PASSWORD);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, new RegExp(`in sqlite:${join(cwd, 'users.db')}\\n$`));
    const mem = await tessera(cwd, ['migrate', '--store', 'memory']);
    assert.equal(mem.code, 0, mem.stderr);
    assert.equal(mem.stderr, '');
  });

  test('serve with the default store and a generated development secret prints the line once', async () => {
    const cwd = dir('serve');
    const child = spawn(process.execPath, [...TESSERA_CLI, 'serve', '--port', '0'], {
      cwd,
      env: Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TESSERA_') && k !== 'NODE_ENV')),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 30_000);
        child.stdout.on('data', (d) => {
          if (String(d).includes('tessera listening on')) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
      });
    } finally {
      child.kill('SIGKILL');
    }
    const lines = stderr.split('\n').filter((l) => l.startsWith('tessera: data directory'));
    assert.deepEqual(lines, [`tessera: data directory ${join(cwd, '.tessera')}`]);
  });
});
