/** Test helpers that turn an outcome into a comparable value: the TokenError code, or 'accepted'. */
import { TokenError, type TokenErrorCode } from '../../src/errors.js';

/** The TokenError code `fn` throws, or 'accepted' when it returns. Any other exception propagates. */
export function codeOf(fn: () => unknown): TokenErrorCode | 'accepted' {
  try {
    fn();
    return 'accepted';
  } catch (e) {
    if (e instanceof TokenError) return e.code;
    throw e;
  }
}
