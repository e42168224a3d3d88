/**
 * The list of commonly used passwords that registration refuses (NIST SP
 * 800-63B §5.1.1.2: "passwords obtained from previous breach corpuses"): the
 * ~49,000 most common passwords of the breach corpora that zxcvbn ships, from
 * the maintained `@zxcvbn-ts/language-common` package, not a list typed here.
 * Loaded on first use (about 40 ms, a few MB), so a server that never registers
 * anyone never loads it.
 *
 * @module
 */

import { ConfigError } from '../errors.js';
import { installLine, isMissingPackage } from '../internal/peers.js';

let list: Promise<ReadonlySet<string>> | undefined;

/** The list, or a one-line ConfigError naming the peer to install when the package is missing. */
async function load(): Promise<ReadonlySet<string>> {
  try {
    const { dictionary } = await import('@zxcvbn-ts/language-common');
    return new Set(dictionary['passwords-common']);
  } catch (e) {
    if (!isMissingPackage(e, '@zxcvbn-ts/language-common')) throw e;
    throw new ConfigError(
      `checking new passwords against the common-password list needs @zxcvbn-ts/language-common: ${installLine(['@zxcvbn-ts/language-common'])}`,
    );
  }
}

/** True when `password` (case-insensitively, surrounding spaces ignored) is a commonly used one. */
export async function isCommonPassword(password: string): Promise<boolean> {
  // A failed load is not remembered: the next call tries again (e.g. after an install).
  list ??= load().catch((e: unknown) => {
    list = undefined;
    throw e;
  });
  const words = await list;
  const p = password.trim().toLowerCase();
  return words.has(p) || words.has(p.replace(/\s+/g, ''));
}
