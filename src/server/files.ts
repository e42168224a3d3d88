/**
 * Files at rest of the reference server, by the rules of the SQLite store's own
 * (stores/files.ts): the data directory 0700, the database, its companions and
 * the development secret 0600.
 *
 * @module
 */
export {
  ensurePrivateDir,
  ensurePrivateFile,
  PRIVATE_DIR_MODE,
  PRIVATE_FILE_MODE,
  prepareSqliteFile,
  tightenSqliteFiles,
} from '../stores/files.js';
