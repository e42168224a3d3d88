/**
 * Redirect URIs of the authorization code flow: which ones a client may register
 * (RFC 6749 §3.1.2, RFC 8252 §7, RFC 9700 §2.1) and how a presented one is matched
 * against them (RFC 9700 §4.1.1: exact string comparison, no patterns).
 *
 * @module
 */
import { TesseraError } from '../errors.js';

/** RFC 9700 §4.1.1 leaves no room for long open-ended URIs; browsers cut at about 2 KB of URL anyway. */
export const MAX_REDIRECT_URI_LENGTH = 2000;

/** A redirect URI a client may not register. */
export class RedirectUriError extends TesseraError {
  override readonly name = 'RedirectUriError';
  declare readonly code: 'invalid_redirect_uri';
  constructor(message: string) {
    super('invalid_redirect_uri', message);
  }
}

/** RFC 8252 §7.3: the loopback interface literals (not `localhost`, §8.3: it may resolve elsewhere). */
const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['127.0.0.1', '[::1]']);

/** RFC 8252 §7.1: a private-use scheme is a reverse domain name (at least one dot). */
const PRIVATE_USE_SCHEME = /^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+:$/;

function parse(uri: string): URL | undefined {
  try {
    return new URL(uri);
  } catch {
    return undefined;
  }
}

/**
 * Checks a redirect URI for registration and returns it unchanged: an absolute URI
 * (RFC 6749 §3.1.2) without a fragment, of at most {@link MAX_REDIRECT_URI_LENGTH}
 * characters, written as its own canonical form (so exact comparison is meaningful), and
 * `https`, `http` on a loopback literal (RFC 8252 §7.3), `http://localhost` (development),
 * or a reverse-domain private-use scheme (RFC 8252 §7.1). Throws {@link RedirectUriError}.
 */
export function checkRedirectUri(uri: string): string {
  if (typeof uri !== 'string' || uri === '' || uri.length > MAX_REDIRECT_URI_LENGTH)
    throw new RedirectUriError(`a redirect URI is 1 to ${MAX_REDIRECT_URI_LENGTH} characters`);
  const url = parse(uri);
  if (!url) throw new RedirectUriError(`"${uri}" is not an absolute URI (RFC 6749 §3.1.2)`);
  if (uri.includes('#')) throw new RedirectUriError(`"${uri}" has a fragment (RFC 6749 §3.1.2: MUST NOT)`);
  if (url.username !== '' || url.password !== '') throw new RedirectUriError(`"${uri}" carries user information`);
  // Every scheme, private-use ones included: the parser drops tabs and newlines, resolves dot
  // segments and lowercases the scheme, and the browser is sent to what it writes.
  const web = url.protocol === 'https:' || url.protocol === 'http:';
  if (url.href !== uri && !(web && url.href === `${uri}/`))
    throw new RedirectUriError(`"${uri}" is not in canonical form; register "${url.href}"`);
  if (url.protocol === 'https:') return uri;
  if (url.protocol === 'http:') {
    if (LOOPBACK_HOSTS.has(url.hostname) || url.hostname === 'localhost') return uri;
    throw new RedirectUriError(`"${uri}": plain http only on 127.0.0.1, [::1] or localhost (RFC 8252 §7.3, RFC 9700 §2.1)`);
  }
  if (PRIVATE_USE_SCHEME.test(url.protocol)) return uri;
  throw new RedirectUriError(
    `"${uri}": the scheme must be https, http on loopback, or a reverse-domain private-use scheme (RFC 8252 §7.1)`,
  );
}

/**
 * The registered redirect URI that `presented` names, or `undefined`. Exact string
 * comparison (RFC 9700 §4.1.1), with one exception: for a registered `http` URI on a
 * loopback literal, any port matches (RFC 8252 §7.3: a native app picks a free port at
 * run time), the rest of the URI still compared exactly.
 */
export function matchRedirectUri(registered: readonly string[], presented: string): string | undefined {
  if (typeof presented !== 'string' || presented.length > MAX_REDIRECT_URI_LENGTH) return undefined;
  for (const r of registered) if (r === presented) return r;
  const p = presented.startsWith('http://') ? parse(presented) : undefined;
  if (!p || !LOOPBACK_HOSTS.has(p.hostname) || p.username !== '' || p.password !== '' || presented.includes('#'))
    return undefined;
  // The presented URI must be written as registered ones are (checkRedirectUri): the parser's form.
  if (p.href !== presented && p.href !== `${presented}/`) return undefined;
  const rest = withoutPort(presented, p);
  if (rest === undefined) return undefined;
  for (const r of registered) {
    if (!r.startsWith('http://')) continue;
    const u = parse(r);
    if (!u || u.hostname !== p.hostname) continue;
    // Same URI but for the port: the rest compared as strings, exactly.
    if (withoutPort(r, u) === rest) return presented;
  }
  return undefined;
}

/** `uri` as written, its port taken out of the authority; `undefined` when it does not start with the parsed authority. */
function withoutPort(uri: string, u: URL): string | undefined {
  const authority = `http://${u.host}`;
  return uri.startsWith(authority) ? `http://${u.hostname}${uri.slice(authority.length)}` : undefined;
}
