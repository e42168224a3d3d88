/**
 * The user directory of the reference server: registration and the password
 * check behind `grant_type=password`, on top of any {@link UserDirectory}.
 *
 * @module
 */
import { TesseraError } from '../errors.js';
import { encodeBase64url } from '../internal/base64url.js';
import { randomBytes, type ScryptParams, scrypt } from '../internal/crypto.js';
import type { UserDirectory, UserRecord } from '../stores/types.js';
import {
  DEFAULT_SCRYPT,
  hashParams,
  hashPassword,
  MAX_PASSWORD_LENGTH,
  MAX_SCRYPT_N,
  needsRehash,
  verifyPassword,
} from './password.js';
import { isCommonPassword } from './weak-passwords.js';

/** Letters, digits and `.`, `_`, `@`, `+`, `-`; 1-64 characters. Compared case-insensitively. */
const USERNAME_PATTERN = /^[a-z0-9._@+-]{1,64}$/;
/** NIST SP 800-63B §5.1.1.2: memorized secrets of at least 8 characters. */
export const MIN_PASSWORD_LENGTH = 8;

/** Stable codes of {@link UserInputError}: callers decide on these, never on the message. */
export type UserInputErrorCode = 'invalid_username' | 'invalid_password' | 'username_taken';

/** Why a username or password was refused (for the CLI and the register route). */
export class UserInputError extends TesseraError {
  override readonly name = 'UserInputError';
  declare readonly code: UserInputErrorCode;

  constructor(code: UserInputErrorCode, message: string) {
    super(code, message);
  }
}

export interface UserServiceOptions {
  /** scrypt cost of new hashes. Default {@link DEFAULT_SCRYPT}. */
  scrypt?: ScryptParams;
  /** Milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number;
}

export interface UserService {
  /** Adds a user. Throws {@link UserInputError} for a bad name or password, or a taken name. */
  add(username: string, password: string): Promise<UserRecord>;
  /**
   * The user when the password matches; `null` otherwise (unknown user or wrong password alike).
   * A match whose stored hash is weaker than the configured cost is rehashed with it.
   */
  verify(username: string, password: string): Promise<UserRecord | null>;
}

/** Usernames are case-insensitive: "Alice" and "alice" are one account. */
export function normalizeUsername(username: string): string {
  return username.trim().toLowerCase();
}

export function checkUsername(username: string): string {
  const name = normalizeUsername(username);
  if (!USERNAME_PATTERN.test(name)) {
    throw new UserInputError('invalid_username', 'username must be 1-64 characters of letters, digits and . _ @ + -');
  }
  return name;
}

/** Keyboard rows and columns (US QWERTY, German QWERTZ, French AZERTY): a stretch of one, either way, is sequential. */
const KEYBOARD_RUNS = [
  '`1234567890-=',
  'qwertyuiop[]\\',
  "asdfghjkl;'",
  'zxcvbnm,./',
  'qwertyuiopasdfghjklzxcvbnm',
  'qwertzuiopü',
  'yxcvbnm',
  'azertyuiop',
  'qsdfghjklm',
  'wxcvbn',
  '1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/',
  'qazwsxedcrfvtgbyhnujmik,ol.p;/',
];

/**
 * NIST SP 800-63B §5.1.1.2 ("repetitive or sequential characters (e.g. 'aaaaaa',
 * '1234abcd')"): true for a repetition of a unit of up to 4 characters (`aaaaaaaa`,
 * `abababab`, `12341234`), for at most two runs of 3 or more characters that each
 * step by -1, 0 or +1 (`abcdefgh`, `87654321`, `1234abcd`, `aaaabbbb`), and for a
 * stretch of a keyboard row or column either way (`qwertyui`, `poiuytre`, `1qaz2wsx`).
 */
export function isRepetitiveOrSequential(password: string): boolean {
  const text = password.normalize('NFC').toLowerCase();
  const cps = [...text].map((c) => c.codePointAt(0) as number);
  for (let unit = 1; unit <= 4; unit++) if (cps.length > unit && cps.every((c, i) => c === cps[i % unit])) return true;
  const runs: number[] = [];
  for (let i = 0; i < cps.length; ) {
    let j = i;
    const step = (cps[i + 1] ?? Number.NaN) - (cps[i] as number);
    if (Math.abs(step) <= 1) while (j + 1 < cps.length && (cps[j + 1] as number) - (cps[j] as number) === step) j++;
    runs.push(j - i + 1);
    i = j + 1;
  }
  if (runs.length <= 2 && runs.every((n) => n >= 3)) return true;
  const reversed = [...text].reverse().join('');
  return KEYBOARD_RUNS.some((row) => row.includes(text) || row.includes(reversed));
}

/**
 * NIST SP 800-63B §5.1.1.2: at least 8 characters (code points), no composition
 * rules, not a commonly used password (the list of `@zxcvbn-ts/language-common`,
 * case-insensitively), not repetitive or sequential ({@link isRepetitiveOrSequential}),
 * nor the username itself. All-whitespace passwords are refused.
 */
export async function checkPassword(password: string, username?: string): Promise<void> {
  if ([...password].length < MIN_PASSWORD_LENGTH) {
    throw new UserInputError('invalid_password', `password must have at least ${MIN_PASSWORD_LENGTH} characters`);
  }
  if (password.length > MAX_PASSWORD_LENGTH) {
    throw new UserInputError('invalid_password', `password must have at most ${MAX_PASSWORD_LENGTH} characters`);
  }
  if (password.trim() === '') throw new UserInputError('invalid_password', 'password must not be only spaces');
  if (username !== undefined && password.trim().toLowerCase() === normalizeUsername(username)) {
    throw new UserInputError('invalid_password', 'password must not be the username');
  }
  if (await isCommonPassword(password)) {
    throw new UserInputError(
      'invalid_password',
      'password is on a list of commonly used passwords; choose another (a few unrelated words work well)',
    );
  }
  if (isRepetitiveOrSequential(password)) {
    throw new UserInputError(
      'invalid_password',
      'password is a repetitive or sequential pattern (like aaaaaaaa, abcdefgh, 12345678 or qwertyui); choose another',
    );
  }
}

/** scrypt's work for a set of parameters, in units of N·r·p (RFC 7914 §2: time and memory grow with N·r, p runs it p times). */
const workOf = (p: ScryptParams) => p.N * p.r * p.p;

/**
 * Runs scrypt with the parameters `params` for `work` more units of N·r·p, as a few
 * calls whose N are powers of two (RFC 7914 §2) summing to it: the top-up that makes a
 * check against a weaker stored hash cost what a check at `params` costs.
 */
async function burn(work: number, params: ScryptParams): Promise<void> {
  let units = Math.floor(work / params.r);
  for (let N = MAX_SCRYPT_N; N >= 2 && units >= 2; N /= 2) {
    if (units < N) continue;
    await scrypt(randomBytes(16), randomBytes(16), { N, r: params.r, p: 1, keyLength: 32 });
    units -= N;
  }
}

export function createUserService(directory: UserDirectory, options: UserServiceOptions = {}): UserService {
  const params = options.scrypt ?? DEFAULT_SCRYPT;
  const clock = options.clock ?? Date.now;

  // An unknown username is checked against a dummy hash made with the configured parameters,
  // so a login costs the configured scrypt work whether or not the user exists. The cost is
  // fixed: nothing a client does (which accounts it logs in to) changes it. A stored hash with
  // weaker parameters (the cost was raised since; it is upgraded at the user's next login) is
  // checked with its own parameters and then topped up to the configured work, so a wrong
  // password costs the same at every account and at none (`burn`). What remains: a successful
  // login to such an account also rehashes (the caller knew the password), and a top-up of
  // several scrypt calls differs from one call by their scheduling (well under 1 ms).
  const dummy = hashPassword(encodeBase64url(randomBytes(24)), params);
  // Made now so the first unknown-user login does not pay for it (and stand out).
  dummy.catch(() => {});

  return {
    async add(username, password) {
      const name = checkUsername(username);
      await checkPassword(password, name);
      const user: UserRecord = {
        id: `u_${encodeBase64url(randomBytes(12))}`,
        username: name,
        passwordHash: await hashPassword(password, params),
        createdAt: clock(),
      };
      if (!(await directory.createUser(user))) throw new UserInputError('username_taken', `user "${name}" already exists`);
      return user;
    },

    async verify(username, password) {
      const name = normalizeUsername(username);
      const tooLong = password.length > MAX_PASSWORD_LENGTH;
      const user = USERNAME_PATTERN.test(name) ? await directory.getUser(name) : null;
      const stored = user ? hashParams(user.passwordHash) : null;
      // Same work on every path: hash against the user's readable hash or the dummy, then decide.
      const ok = await verifyPassword(tooLong ? '' : password, stored ? (user as UserRecord).passwordHash : await dummy);
      if (!ok || !user || !stored || tooLong) {
        if (stored && workOf(stored) < workOf(params)) await burn(workOf(params) - workOf(stored), params);
        return null;
      }
      // OWASP Password Storage: upgrade a hash to the current cost when its password is known.
      if (needsRehash(user.passwordHash, params) && directory.updatePasswordHash) {
        const passwordHash = await hashPassword(password, params);
        if (await directory.updatePasswordHash(user.username, passwordHash)) return { ...user, passwordHash };
      }
      return user;
    },
  };
}
