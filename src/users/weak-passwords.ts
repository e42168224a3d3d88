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

let list: Promise<ReadonlySet<string>> | undefined;

async function load(): Promise<ReadonlySet<string>> {
  const { dictionary } = await import('@zxcvbn-ts/language-common');
  return new Set(dictionary['passwords-common']);
}

/** True when `password` (case-insensitively, surrounding spaces ignored) is a commonly used one. */
export async function isCommonPassword(password: string): Promise<boolean> {
  list ??= load();
  const words = await list;
  const p = password.trim().toLowerCase();
  return words.has(p) || words.has(p.replace(/\s+/g, ''));
}
