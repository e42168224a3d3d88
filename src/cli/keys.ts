/**
 * `tessera keys list|add|promote|remove FILE`: the signing-key rotation of docs/keys.md
 * ("Rotating signing keys") as commands on the JWK Set of `TESSERA_SIGNING_KEY_FILE`, so nobody edits
 * private keys by hand. The file is rewritten whole (a temporary file renamed over it, with
 * the mode of the old one, 0600 for a new one), never half-written; the server reads it at
 * start-up, so each step takes effect when the servers restart.
 *
 * @module
 */
import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { ASYMMETRIC_ALGS, isAsymmetricAlg } from '../tokens/jwk.js';
import { addSigningKey, describeSigningKeys, promoteSigningKey, removeSigningKey } from '../tokens/key-rotation.js';
import { EXIT_OK, type Io, parse, str, UsageError } from './args.js';

export const KEYS_HELP = `Usage:
  tessera keys list FILE
  tessera keys add --alg EdDSA|ES256|RS256 FILE
  tessera keys promote KID FILE
  tessera keys remove KID FILE

FILE is a JWK Set of private keys (TESSERA_SIGNING_KEY_FILE, made by tessera keygen --alg):
its first key signs, every key verifies and is published at /.well-known/jwks.json.

list      one line per key: KID ALG signs|verifies (the signing key first)
add       appends a new key: published, so caches of the JWK Set learn it, but signing
          nothing yet; prints its kid
promote   moves KID first: it signs from the next start; the others keep verifying
remove    removes KID: tokens it signed stop verifying (the signing key too: the next one
          signs then); the only key of the set is never removed

Rotation (docs/keys.md): add, restart, wait longer than the JWK Set's max-age (5 minutes),
promote, restart, wait the longest token lifetime (TESSERA_ACCESS_TTL, and the ID tokens'),
remove the old key, restart. The servers read FILE when they start.

Exit: 0 done, 2 usage error, or a FILE that is not a valid signing key set.`;

const COMMANDS = ['list', 'add', 'promote', 'remove'] as const;

/** Writes `text` to `path` by renaming a temporary file over it: a reader sees the old file or the new one. */
function replaceFile(path: string, text: string): void {
  let mode = 0o600;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    // A new file: 0600, as tessera keygen's output should be saved.
  }
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text, { mode, flag: 'wx' });
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new ConfigError(`cannot write "${path}" (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

function readSet(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read "${path}" (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

export async function keysCommand(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') return (io.out(KEYS_HELP), EXIT_OK);
  if (!(COMMANDS as readonly string[]).includes(sub)) {
    throw new UsageError(`unknown keys command "${sub}" (expected: ${COMMANDS.join(', ')})`);
  }
  const { values, positionals } = parse(rest, sub === 'add' ? { alg: { type: 'string' } } : {});
  if (values.help) return (io.out(KEYS_HELP), EXIT_OK);
  const wanted = sub === 'list' || sub === 'add' ? 'FILE' : 'KID FILE';
  if (positionals.length !== wanted.split(' ').length) throw new UsageError(`tessera keys ${sub} takes ${wanted}`);
  const path = positionals[positionals.length - 1] as string;
  const label = `the signing key set in ${path}`;
  const text = readSet(path);

  if (sub === 'list') {
    for (const k of describeSigningKeys(text, label)) io.out(`${k.kid} ${k.alg} ${k.role}`);
    return EXIT_OK;
  }
  if (sub === 'add') {
    const alg = str(values.alg);
    if (!isAsymmetricAlg(alg)) throw new UsageError(`tessera keys add needs --alg ${ASYMMETRIC_ALGS.join('|')}`);
    const { set, kid } = addSigningKey(text, alg, label);
    replaceFile(path, `${JSON.stringify(set)}\n`);
    io.out(kid);
    return EXIT_OK;
  }
  const kid = positionals[0] as string;
  const before = describeSigningKeys(text, label);
  const set = sub === 'promote' ? promoteSigningKey(text, kid, label) : removeSigningKey(text, kid, label);
  replaceFile(path, `${JSON.stringify(set)}\n`);
  const signer = describeSigningKeys(set, label)[0];
  if (signer && signer.kid !== before[0]?.kid) {
    io.err(
      `tessera: ${signer.kid} (${signer.alg}) signs from the next start${signer.alg === before[0]?.alg ? '' : `: set TESSERA_ACCESS_ALG=${signer.alg}`}`,
    );
  }
  return EXIT_OK;
}
