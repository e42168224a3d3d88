/**
 * The user directory of the reference server: registration and the password
 * check behind `grant_type=password`, on top of any {@link UserDirectory}.
 *
 * @module
 */
import { encodeBase64url } from '../internal/base64url.js';
import { randomBytes, type ScryptParams } from '../internal/crypto.js';
import type { UserDirectory, UserRecord } from '../stores/types.js';
import { DEFAULT_SCRYPT, hashPassword, MAX_PASSWORD_LENGTH, verifyPassword } from './password.js';

/** Letters, digits and `.`, `_`, `@`, `+`, `-`; 1-64 characters. Compared case-insensitively. */
const USERNAME_PATTERN = /^[a-z0-9._@+-]{1,64}$/;
export const MIN_PASSWORD_LENGTH = 8;

/** Stable codes of {@link UserInputError}: callers decide on these, never on the message. */
export type UserInputErrorCode = 'invalid_username' | 'invalid_password' | 'username_taken';

/** Why a username or password was refused (for the CLI and the register route). */
export class UserInputError extends Error {
  override readonly name = 'UserInputError';
  readonly code: UserInputErrorCode;

  constructor(code: UserInputErrorCode, message: string) {
    super(message);
    this.code = code;
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
  /** The user when the password matches; `null` otherwise (unknown user or wrong password alike). */
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

export function checkPassword(password: string): void {
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new UserInputError('invalid_password', `password must have at least ${MIN_PASSWORD_LENGTH} characters`);
  }
  if (password.length > MAX_PASSWORD_LENGTH) {
    throw new UserInputError('invalid_password', `password must have at most ${MAX_PASSWORD_LENGTH} characters`);
  }
}

export function createUserService(directory: UserDirectory, options: UserServiceOptions = {}): UserService {
  const params = options.scrypt ?? DEFAULT_SCRYPT;
  const clock = options.clock ?? Date.now;
  // A hash of a random password with the same parameters as real ones. An unknown
  // username is checked against it, so a login costs the same scrypt work whether
  // or not the user exists: response time does not reveal valid usernames.
  let dummy: Promise<string> | undefined;
  const dummyHash = (): Promise<string> => {
    dummy ??= hashPassword(encodeBase64url(randomBytes(24)), params);
    return dummy;
  };
  // Start now so the first unknown-user login does not pay for it (and stand out).
  dummyHash().catch(() => {});

  return {
    async add(username, password) {
      const name = checkUsername(username);
      checkPassword(password);
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
      // Same work on every path: hash against the user's hash or the dummy, then decide.
      const ok = await verifyPassword(tooLong ? '' : password, user?.passwordHash ?? (await dummyHash()));
      return ok && user && !tooLong ? user : null;
    },
  };
}
