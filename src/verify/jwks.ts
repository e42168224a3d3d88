/**
 * `createJwksVerifier`: verifies tessera's EdDSA/ES256/RS256 access tokens (or any
 * RFC 9068 JWT access token signed with those algorithms) in a resource server
 * that holds no secret, with the issuer's public keys from its JWK Set URL.
 *
 * - The set is fetched once and cached; it is fetched again when it is older than
 *   `maxAgeMs`, and when a token names a `kid` the cached set lacks (a rotation),
 *   but then at most once per `cooldownMs`, and never with more than one fetch in
 *   flight: a flood of tokens with made-up kids costs one request per cool-down.
 * - The token never picks the algorithm (RFC 8725 §3.1): the key its `kid` names
 *   has one algorithm (from its key type), which must also be in `algorithms`. HS256
 *   (the public key used as an HMAC secret), `none` and a swap between EdDSA, ES256 and RS256 are refused.
 * - Keys named by the token (`jwk`, `jku`, `x5u`, `x5c`) are refused, never fetched.
 * - Then `typ` (RFC 9068 §4: `at+jwt`), `iss`, `aud`, `exp` and `nbf` are checked.
 *
 * A JWKS that cannot be fetched (and no usable cached copy) rejects with a
 * {@link JwksUnavailableError} (a {@link DependencyUnavailableError}, never a TokenError): the
 * token may be fine, the verifier cannot tell; the HTTP guard answers 503 naming the JWK Set.
 *
 * @module
 */
import { ConfigError, JwksUnavailableError, TokenError } from '../errors.js';
import { type ClaimRules, type Claims, checkClaims } from '../tokens/claims.js';
import {
  ASYMMETRIC_ALGS,
  type AsymmetricAlg,
  isAsymmetricAlg,
  parseVerificationJwk,
  type VerificationKey,
} from '../tokens/jwk.js';
import {
  checkJwsType,
  DEFAULT_MAX_TOKEN_LENGTH,
  decodeJwsClaims,
  parseJwsHeader,
  selectVerificationKey,
  splitCompactJws,
} from '../tokens/jwt.js';

/** The subset of `fetch` the verifier uses (inject one in tests). */
export type FetchLike = (
  url: string,
  init: { headers: Record<string, string>; signal: AbortSignal; redirect: 'error' | 'follow' },
) => Promise<{ ok: boolean; status: number; json(): Promise<unknown> }>;

export interface JwksVerifierOptions {
  /** The issuer's JWK Set URL (`jwks_uri` of its RFC 8414 metadata), e.g. `https://auth.example.com/.well-known/jwks.json`. */
  jwksUri: string;
  /** Accepted `iss` values (RFC 9068 §4: MUST match). */
  issuer: string | readonly string[];
  /** Accepted `aud` values: this resource server's identifier (RFC 9068 §4: MUST match). */
  audience: string | readonly string[];
  /** Algorithms accepted (default all three, EdDSA, ES256 and RS256): a key of another algorithm is never used. */
  algorithms?: readonly AsymmetricAlg[];
  /** Required `typ` header (default `at+jwt`, RFC 9068 §4; `application/at+jwt` also passes); false: no check. */
  typ?: string | false;
  /** Tolerated clock skew on `exp` and `nbf`, seconds (default 0). */
  leewaySeconds?: number;
  /** Milliseconds since the epoch (default `Date.now`). */
  clock?: () => number;
  /** Minimum time between two fetches caused by unknown kids (default 30 000 ms). */
  cooldownMs?: number;
  /** Refetch a set older than this on the next verification (default 600 000 ms, 10 minutes). */
  maxAgeMs?: number;
  /** Abort a fetch after this long (default 5000 ms). */
  timeoutMs?: number;
  /** Default the global `fetch`. */
  fetch?: FetchLike;
  maxTokenLength?: number;
}

export interface JwksVerifier {
  /** Verifies an access token and returns its claims; rejects with a `TokenError` (stable `.code`). */
  verify(token: string): Promise<Claims>;
  /** Fetches the set now (respects the single flight, not the cool-down). */
  reload(): Promise<void>;
}

interface CachedSet {
  byKid: Map<string, VerificationKey>;
  keys: VerificationKey[];
  fetchedAt: number;
}

export function createJwksVerifier(options: JwksVerifierOptions): JwksVerifier {
  if (!options || typeof options.jwksUri !== 'string') throw new ConfigError('createJwksVerifier needs jwksUri');
  let url: URL;
  try {
    url = new URL(options.jwksUri);
  } catch {
    throw new ConfigError('createJwksVerifier: jwksUri is not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError('createJwksVerifier: jwksUri must be http(s)');
  const nonEmpty = (v: unknown) =>
    typeof v === 'string' ? v.length > 0 : Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === 'string' && s);
  // RFC 9068 §4: a resource server MUST check both; there is no "accept any".
  if (!nonEmpty(options.issuer)) throw new ConfigError('createJwksVerifier needs issuer');
  if (!nonEmpty(options.audience)) throw new ConfigError('createJwksVerifier needs audience');
  const algorithms = options.algorithms ?? ASYMMETRIC_ALGS;
  if (algorithms.length === 0 || !algorithms.every(isAsymmetricAlg)) {
    throw new ConfigError(`createJwksVerifier: algorithms must be a non-empty list of ${ASYMMETRIC_ALGS.join(', ')}`);
  }
  const typ = options.typ ?? 'at+jwt';
  const clock = options.clock ?? Date.now;
  const cooldownMs = options.cooldownMs ?? 30_000;
  const maxAgeMs = options.maxAgeMs ?? 600_000;
  const timeoutMs = options.timeoutMs ?? 5000;
  const maxTokenLength = options.maxTokenLength ?? DEFAULT_MAX_TOKEN_LENGTH;
  const doFetch: FetchLike = options.fetch ?? (globalThis.fetch as unknown as FetchLike);
  const rules: ClaimRules = { leewaySeconds: options.leewaySeconds ?? 0, issuer: options.issuer, audience: options.audience };

  let cached: CachedSet | undefined;
  let inFlight: Promise<CachedSet> | undefined;
  /** When the last fetch started (success or not): the cool-down counts from it. */
  let lastFetchAt = Number.NEGATIVE_INFINITY;

  async function fetchSet(): Promise<CachedSet> {
    lastFetchAt = clock();
    let body: unknown;
    const get = () =>
      doFetch(url.href, {
        headers: { accept: 'application/jwk-set+json, application/json' },
        signal: AbortSignal.timeout(timeoutMs),
        // A JWKS that redirects elsewhere is not followed: the keys come from the configured URL.
        redirect: 'error',
      });
    try {
      let res: Awaited<ReturnType<FetchLike>>;
      try {
        res = await get();
      } catch (e) {
        // One retry for a connection failure (a pooled keep-alive connection the issuer closed
        // when it restarted to rotate keys); not for a timeout.
        if ((e as Error)?.name === 'TimeoutError' || (e as Error)?.name === 'AbortError') throw e;
        res = await get();
      }
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      body = await res.json();
    } catch (e) {
      throw new JwksUnavailableError(`cannot fetch the JWK Set at ${url.href}: ${(e as Error).message ?? String(e)}`, {
        cause: e,
      });
    }
    const list =
      typeof body === 'object' && body !== null && Array.isArray((body as { keys?: unknown }).keys)
        ? (body as { keys: unknown[] }).keys
        : undefined;
    if (!list) throw new JwksUnavailableError(`the document at ${url.href} is not a JWK Set`);
    const keys: VerificationKey[] = [];
    const byKid = new Map<string, VerificationKey>();
    for (const jwk of list) {
      // RFC 7517 §5: keys we do not understand (other types, encryption keys) are ignored.
      const k = parseVerificationJwk(jwk);
      if (!k || !algorithms.includes(k.alg) || byKid.has(k.kid)) continue;
      keys.push(k);
      byKid.set(k.kid, k);
    }
    return { keys, byKid, fetchedAt: clock() };
  }

  /** One fetch at a time: concurrent callers share it. A failed fetch keeps the previous set. */
  function load(): Promise<CachedSet> {
    inFlight ??= fetchSet().then(
      (set) => {
        cached = set;
        inFlight = undefined;
        return set;
      },
      (e: unknown) => {
        inFlight = undefined;
        if (cached) return cached;
        throw e;
      },
    );
    return inFlight;
  }

  async function keysFor(kid: string | undefined): Promise<CachedSet> {
    if (cached === undefined || clock() - cached.fetchedAt >= maxAgeMs) return load();
    if (kid !== undefined && !cached.byKid.has(kid) && (inFlight || clock() - lastFetchAt >= cooldownMs)) return load();
    return cached;
  }

  return {
    async reload() {
      await load();
    },
    async verify(token: string): Promise<Claims> {
      const { d1, d2 } = splitCompactJws(token, maxTokenLength);
      const header = parseJwsHeader(token.slice(0, d1));
      // Before any key lookup (and any fetch): an algorithm we do not accept ends here.
      if (!(algorithms as readonly string[]).includes(header.alg)) {
        throw new TokenError('unsupported', `Only ${algorithms.join(', ')} accepted`);
      }
      checkJwsType(header.typ, typ);
      const set = await keysFor(header.kid);
      const key = selectVerificationKey(header, set.byKid, set.keys, algorithms);
      if (!key.verifier.verifyCompact(token, d2)) throw new TokenError('bad_signature');
      const nowSec = Math.floor(clock() / 1000);
      return checkClaims(decodeJwsClaims(token, d1, d2), nowSec, rules, undefined);
    },
  };
}
