/**
 * Files at rest: a directory tessera creates is 0700, the SQLite database (with
 * its `-wal` and `-shm` companions) and the reference server's development
 * secret are 0600, whatever the umask and whichever opened them first (the
 * SQLite store itself, `tessera serve`, `tessera user add`). They hold password
 * hashes, sessions and the signing key.
 *
 * @module
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/**
 * Creates `dir` (and missing parents) as 0700; `mkdir`'s mode is filtered by the umask,
 * so each directory created here is chmod-ed afterwards. `own`: the directory is
 * tessera's (the data directory), so an existing one is tightened too.
 */
export function ensurePrivateDir(dir: string, own: boolean): void {
  const created: string[] = [];
  let d = resolve(dir);
  while (!existsSync(d)) {
    created.push(d);
    const up = dirname(d);
    if (up === d) break;
    d = up;
  }
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  for (const c of created) chmodSync(c, PRIVATE_DIR_MODE);
  if (own && (statSync(dir).mode & 0o777) !== PRIVATE_DIR_MODE) chmodSync(dir, PRIVATE_DIR_MODE);
}

/** Creates `path` empty if missing and sets it to 0600 (an existing file too). */
export function ensurePrivateFile(path: string): void {
  if (!existsSync(path)) closeSync(openSync(path, 'a', PRIVATE_FILE_MODE));
  if ((statSync(path).mode & 0o777) !== PRIVATE_FILE_MODE) chmodSync(path, PRIVATE_FILE_MODE);
}

/**
 * Before SQLite opens `path`: its directory 0700 and the file 0600. SQLite creates the
 * `-wal` and `-shm` files with the database file's permissions, so they follow;
 * {@link tightenSqliteFiles} checks them after the open.
 */
export function prepareSqliteFile(path: string, ownDir: boolean): void {
  ensurePrivateDir(dirname(path), ownDir);
  ensurePrivateFile(path);
}

/** After the open: the database and its companions that exist are 0600. */
export function tightenSqliteFiles(path: string): void {
  for (const p of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) {
    if (existsSync(p) && (statSync(p).mode & 0o777) !== PRIVATE_FILE_MODE) chmodSync(p, PRIVATE_FILE_MODE);
  }
}
