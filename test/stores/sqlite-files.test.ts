/**
 * The SQLite store's files at rest, without the reference server: a directory it
 * creates is 0700 and the database with its `-wal` and `-shm` companions 0600,
 * whatever the umask (the files hold password hashes and sessions).
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createTokenService } from '../../src/refresh/service.js';
import { openStore } from '../../src/stores/open.js';
import { SqliteStore } from '../../src/stores/sqlite.js';
import { SECRET } from './harness.js';

const root = mkdtempSync(join(tmpdir(), 'tessera-sqlite-files-'));
after(() => rmSync(root, { recursive: true, force: true }));

const mode = (p: string) => statSync(p).mode & 0o777;

/** Runs `fn` with a permissive umask, so modes come from the store, not from the environment. */
async function withUmask<T>(mask: number, fn: () => Promise<T>): Promise<T> {
  const old = process.umask(mask);
  try {
    return await fn();
  } finally {
    process.umask(old);
  }
}

test('new SqliteStore(path): missing directories 0700, the database, -wal and -shm 0600 under umask 000', async () => {
  const dir = join(root, 'a', 'b');
  const path = join(dir, 'tessera.db');
  await withUmask(0o000, async () => {
    const store = new SqliteStore(path);
    // A write, so that the WAL and its index exist.
    await createTokenService({ secret: SECRET, store }).issue({ sub: 'alice' });
    assert.equal(mode(join(root, 'a')), 0o700);
    assert.equal(mode(dir), 0o700);
    for (const p of [path, `${path}-wal`, `${path}-shm`]) assert.equal(mode(p), 0o600, p);
    await store.close();
  });
});

test("openStore('sqlite:...') gives the same modes, through the store itself", async () => {
  const dir = join(root, 'opened');
  const path = join(dir, 'tessera.db');
  await withUmask(0o022, async () => {
    const store = await openStore(`sqlite:${path}`);
    await createTokenService({ secret: SECRET, store }).issue({ sub: 'alice' });
    assert.equal(mode(dir), 0o700);
    for (const p of [path, `${path}-wal`, `${path}-shm`]) assert.equal(mode(p), 0o600, p);
    await store.close();
  });
});

test('an existing directory is left as it is; an existing world-readable database is tightened to 0600', async () => {
  const dir = join(root, 'shared');
  mkdirSync(dir);
  chmodSync(dir, 0o755);
  const path = join(dir, 'tessera.db');
  writeFileSync(path, '');
  chmodSync(path, 0o644);
  const store = new SqliteStore(path);
  assert.equal(mode(dir), 0o755, 'a directory the store did not create is not its to change');
  assert.equal(mode(path), 0o600);
  await store.close();
});

test(':memory: is no path: no file and no directory named after it', async () => {
  const cwd = process.cwd();
  process.chdir(root);
  try {
    const store = new SqliteStore(':memory:');
    await createTokenService({ secret: SECRET, store }).issue({ sub: 'alice' });
    await store.close();
    assert.deepEqual(
      readdirSync(root).filter((n) => n.includes('memory')),
      [],
    );
  } finally {
    process.chdir(cwd);
  }
});
