/**
 * Scopes (RFC 6749 §3.3): the token grammar, and what a request is granted from what a client
 * may ask for. One rule for the authorization endpoint, the client credentials grant and the
 * client registry.
 *
 * @module
 */

/** RFC 6749 §3.3: scope-token = 1*NQCHAR, NQCHAR = %x21 / %x23-5B / %x5D-7E. */
export const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** The tokens of a space-separated scope (`''` or `undefined`: none). */
export function scopeWords(scope: string | undefined): string[] {
  return (scope ?? '').split(' ').filter(Boolean);
}

/**
 * The scope a request is granted (RFC 6749 §3.3): the asked tokens, each once, when every one is
 * in `allowed`; `whenNone` when none is asked. `malformed` for a token outside the grammar,
 * `exceeds` for one not allowed.
 */
export function grantScope(
  asked: string | undefined,
  allowed: readonly string[],
  whenNone: readonly string[] = allowed,
): { scope: string } | { refused: 'malformed' | 'exceeds' } {
  const words = scopeWords(asked);
  if (words.some((s) => !SCOPE_TOKEN.test(s))) return { refused: 'malformed' };
  if (words.some((s) => !allowed.includes(s))) return { refused: 'exceeds' };
  return { scope: (words.length ? [...new Set(words)] : whenNone).join(' ') };
}
