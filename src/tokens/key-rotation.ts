/**
 * The steps of a signing-key rotation, as edits of a JWK Set of private keys (the file of
 * `TESSERA_SIGNING_KEY_FILE`, whose first key signs and whose every key verifies and is
 * published at `/.well-known/jwks.json`):
 *
 * 1. {@link addSigningKey}: a new key goes **last**: published, so relying parties and
 *    resource servers that fetch the JWK Set learn it, but it signs nothing yet;
 * 2. {@link promoteSigningKey}: once every cache holds it, it moves **first** and signs; the
 *    old key stays published, so the tokens it signed keep verifying;
 * 3. {@link removeSigningKey}: once the longest lifetime of those tokens has passed, the old
 *    key goes.
 *
 * Every edit starts from a set {@link parseSigningKeySet} accepts and ends with one, so a file
 * the server would refuse is never written. Members of a key this module does not read (an
 * operator's own annotations) are kept as they are.
 *
 * @module
 */
import { ConfigError } from '../errors.js';
import { type AsymmetricAlg, generateSigningJwk, type JwkSet, parseSigningKeySet } from './jwk.js';

/** One key of the set as `tessera keys list` shows it. */
export interface SigningKeyInfo {
  readonly kid: string;
  readonly alg: AsymmetricAlg;
  /** `signs`: the first key; `verifies`: published and verifying, signing nothing. */
  readonly role: 'signs' | 'verifies';
}

type RawSet = JwkSet<Record<string, unknown>>;

/** The set's JWKs (as given) beside their key ids and algorithms (as the server reads them); `set` may be JSON text. */
function read(set: unknown, label: string): { raw: RawSet; info: SigningKeyInfo[] } {
  const parsed = parseSigningKeySet(set, label);
  const info = parsed.keys.map((k, i): SigningKeyInfo => ({ kid: k.kid, alg: k.alg, role: i === 0 ? 'signs' : 'verifies' }));
  return { raw: (typeof set === 'string' ? JSON.parse(set) : set) as RawSet, info };
}

function indexOf(info: readonly SigningKeyInfo[], kid: string, label: string): number {
  const i = info.findIndex((k) => k.kid === kid);
  if (i < 0) throw new ConfigError(`${label} has no key "${kid}" (its keys: ${info.map((k) => k.kid).join(', ')})`);
  return i;
}

/** The keys of a signing key set, signing key first. */
export function describeSigningKeys(set: unknown, label = 'the signing key set'): SigningKeyInfo[] {
  return read(set, label).info;
}

/** Rotation step 1: a new `alg` key appended to the set, published but not signing. */
export function addSigningKey(set: unknown, alg: AsymmetricAlg, label = 'the signing key set'): { set: RawSet; kid: string } {
  const { raw } = read(set, label);
  const jwk = generateSigningJwk(alg);
  const next: RawSet = { ...raw, keys: [...raw.keys, { ...jwk }] };
  read(next, label);
  return { set: next, kid: jwk.kid };
}

/** Rotation step 2: the key `kid` moved first, so it signs; the others keep their order and keep verifying. */
export function promoteSigningKey(set: unknown, kid: string, label = 'the signing key set'): RawSet {
  const { raw, info } = read(set, label);
  const i = indexOf(info, kid, label);
  const keys = [raw.keys[i] as Record<string, unknown>, ...raw.keys.filter((_, j) => j !== i)];
  return { ...raw, keys };
}

/**
 * Rotation step 3 (or a compromised key at once): the key `kid` removed; tokens it signed stop
 * verifying. Removing the signing key makes the next one sign. The last key is never removed:
 * the server needs one to sign with.
 */
export function removeSigningKey(set: unknown, kid: string, label = 'the signing key set'): RawSet {
  const { raw, info } = read(set, label);
  const i = indexOf(info, kid, label);
  if (info.length === 1)
    throw new ConfigError(`"${kid}" is the only key of ${label}; add its successor first (tessera keys add)`);
  return { ...raw, keys: raw.keys.filter((_, j) => j !== i) };
}
