/**
 * The user directory of the reference server: registration and the password
 * check behind `grant_type=password`, on top of any {@link UserDirectory}.
 *
 * @module
 */
import { TesseraError } from '../errors.js';
import { encodeBase64url } from '../internal/base64url.js';
import { randomBytes, type ScryptParams } from '../internal/crypto.js';
import type { UserDirectory, UserRecord } from '../stores/types.js';
import { DEFAULT_SCRYPT, hashParams, hashPassword, MAX_PASSWORD_LENGTH, needsRehash, verifyPassword } from './password.js';
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

/**
 * NIST SP 800-63B §5.1.1.2: at least 8 characters (code points), no composition
 * rules, and not a commonly used password (the list of `@zxcvbn-ts/language-common`,
 * case-insensitively) nor the username itself. All-whitespace passwords are refused.
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
}

const paramsKey = (p: ScryptParams) => `${p.N}$${p.r}$${p.p}$${p.keyLength}`;
/** How many recent logins of existing users the unknown-user cost follows. */
const RECENT = 256;
/** At most this many parameter sets get a dummy hash (stored parameters are bounded, but not their variety). */
const MAX_DUMMIES = 8;

export function createUserService(directory: UserDirectory, options: UserServiceOptions = {}): UserService {
  const params = options.scrypt ?? DEFAULT_SCRYPT;
  const clock = options.clock ?? Date.now;

  // An unknown username is checked against a dummy hash, so a login costs scrypt work
  // whether or not the user exists. The work must be what an existing user costs: after
  // the configured cost was raised, stored hashes keep their old parameters until their
  // user logs in again, so a dummy with the new cost would be slower than a real check
  // and tell the names apart (issue 12, finding 3). So there is one dummy per parameter
  // set seen in stored hashes, and an unknown user gets one drawn in proportion to the
  // parameters of the last 256 existing users checked: the same distribution of costs.
  const dummies = new Map<string, Promise<string>>();
  const dummyFor = (p: ScryptParams): Promise<string> => {
    const key = paramsKey(p);
    let d = dummies.get(key);
    if (!d) {
      d = hashPassword(encodeBase64url(randomBytes(24)), p);
      if (dummies.size < MAX_DUMMIES) dummies.set(key, d);
    }
    return d;
  };
  const recent: ScryptParams[] = [];
  let next = 0;
  const observe = (p: ScryptParams) => {
    if (!dummies.has(paramsKey(p)) && dummies.size >= MAX_DUMMIES) return;
    // Made now, in the background, so an unknown user never waits for a new dummy.
    dummyFor(p).catch(() => {});
    recent[next] = p;
    next = (next + 1) % RECENT;
  };
  const unknownUserHash = (): Promise<string> => {
    const p = recent.length === 0 ? params : (recent[Math.floor(Math.random() * recent.length)] as ScryptParams);
    return dummyFor(p);
  };
  // Start now so the first unknown-user login does not pay for it (and stand out).
  dummyFor(params).catch(() => {});

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
      if (stored) observe(stored);
      // Same work on every path: hash against the user's hash or a dummy, then decide.
      const ok = await verifyPassword(tooLong ? '' : password, user?.passwordHash ?? (await unknownUserHash()));
      if (!ok || !user || tooLong) return null;
      // OWASP Password Storage: upgrade a hash to the current cost when its password is known.
      if (needsRehash(user.passwordHash, params) && directory.updatePasswordHash) {
        const passwordHash = await hashPassword(password, params);
        if (await directory.updatePasswordHash(user.username, passwordHash)) return { ...user, passwordHash };
      }
      return user;
    },
  };
}
