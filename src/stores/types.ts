/**
 * The TokenStore contract. The refresh-engine work completes the token-state
 * part (families, atomic consume, deny-list); the user directory part below is
 * fixed so the HTTP layer can build on it.
 *
 * @module
 */

/** A user of the reference server's password grant. */
export interface UserRecord {
  /** Stable user id, used as `sub`. */
  id: string;
  username: string;
  /** Encoded password hash (scheme, parameters, salt and hash), e.g. `scrypt$N$r$p$salt$hash`. */
  passwordHash: string;
  /** Milliseconds since the epoch. */
  createdAt: number;
}

export interface UserDirectory {
  /** Adds a user; false when the username is taken (atomic). */
  createUser(user: UserRecord): Promise<boolean>;
  getUser(username: string): Promise<UserRecord | null>;
}

export interface TokenStore extends UserDirectory {
  readonly kind: 'memory' | 'sqlite' | 'redis';
  /** Resolves when the backend answers (readiness); rejects with TokenError('store_unavailable'). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
