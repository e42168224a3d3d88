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
import { sha256Base64url } from '../internal/crypto.js';
import type { OneTimeRecords } from '../stores/types.js';
import { type ClaimRules, type Claims, checkClaims } from '../tokens/claims.js';
import { boundJkt, DEFAULT_DPOP_WINDOW_SECONDS, DpopError, verifyDpopProof } from '../tokens/dpop.js';
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
  /**
   * DPoP (RFC 9449 §7) for {@link JwksVerifier.verifyRequest}: where proof ids are kept once
   * (`records`, a store's one-time records, shared by every instance of the resource server;
   * default a bounded map in this process) and the `iat` window (default 60 s).
   */
  dpop?: { records?: OneTimeRecords; windowSeconds?: number };
}

/** A request to a resource server, as {@link JwksVerifier.verifyRequest} reads it. */
export interface VerifiableRequest {
  method: string;
  /**
   * The request's URL as this resource server is known by (its configured origin plus the path),
   * never one built from `Host`: a DPoP proof must name it (RFC 9449 §4.3; the query is ignored).
   */
  url: string;
  headers: { get(name: string): string | null } | Readonly<Record<string, string | string[] | undefined>>;
}

export interface JwksVerifier {
  /** Verifies an access token and returns its claims; rejects with a `TokenError` (stable `.code`). */
  verify(token: string): Promise<Claims>;
  /** Fetches the set now (respects the single flight, not the cool-down). */
  reload(): Promise<void>;
  /**
   * Verifies the credential of a request (RFC 6750 §2.1, RFC 9449 §7): `Authorization: Bearer`
   * with a token that is not DPoP-bound, or `Authorization: DPoP` with a `DPoP` proof for this
   * method and URL, carrying `ath`, by the key of the token's `cnf.jkt` (and used once). Rejects
   * with a TokenError for the token, a DpopError (`invalid_dpop_proof`, `dpop_key_mismatch`) for
   * the proof.
   */
  verifyRequest(request: VerifiableRequest): Promise<Claims>;
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

  const dpopWindow = options.dpop?.windowSeconds ?? DEFAULT_DPOP_WINDOW_SECONDS;
  const dpopRecords = options.dpop?.records ?? localOnceRecords(clock);

  const verifier: JwksVerifier = {
    async reload() {
      await load();
    },
    async verifyRequest(request: VerifiableRequest): Promise<Claims> {
      const authorization = headerOf(request.headers, 'authorization');
      const m = typeof authorization === 'string' ? /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization) : null;
      if (!m) throw new TokenError('malformed', 'No Bearer or DPoP access token in the Authorization header');
      const token = m[2] as string;
      const claims = await verifier.verify(token);
      const bound = boundJkt(claims);
      if ((m[1] as string).toLowerCase() === 'bearer') {
        // RFC 9449 §7.2: a token bound to a key is no bearer token.
        if (claims.cnf !== undefined)
          throw new TokenError('invalid_claims', 'The access token is DPoP-bound: present it with a proof');
        return claims;
      }
      const now = clock();
      const q = request.url.search(/[?#]/);
      const proof = verifyDpopProof(
        headerOf(request.headers, 'dpop'),
        { htm: request.method, htu: q === -1 ? request.url : request.url.slice(0, q), accessToken: token },
        { now, windowSeconds: dpopWindow },
      );
      if (bound !== undefined && bound !== proof.jkt)
        throw new DpopError('dpop_key_mismatch', 'The DPoP proof is by another key than the access token is bound to');
      if (bound === undefined && claims.cnf !== undefined) throw new TokenError('invalid_claims', 'Unknown confirmation method');
      // RFC 9449 §11.1: a proof is used once within its window.
      const fresh = await dpopRecords.putOnce({
        kind: 'dpop_jti',
        id: sha256Base64url(`${proof.jkt}.${proof.jti}`),
        value: '',
        now,
        expiresAt: (proof.iat + dpopWindow + 1) * 1000,
      });
      if (!fresh) throw new DpopError('invalid_dpop_proof', 'DPoP proof refused: its jti was already used');
      return claims;
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
  return verifier;
}

/** One header of a request, from a Headers object or a Node-style record (a repeated one stays an array: refused). */
function headerOf(headers: VerifiableRequest['headers'], name: string): unknown {
  return typeof headers.get === 'function'
    ? ((headers as { get(name: string): string | null }).get(name) ?? undefined)
    : (headers as Readonly<Record<string, unknown>>)[name];
}

/** Proof ids kept in this process when no store is given: at most this many live at once (then refused: fail closed). */
const LOCAL_ONCE_CAP = 100_000;

/** One-time records in a map, for a single-instance resource server. */
function localOnceRecords(clock: () => number): OneTimeRecords {
  const held = new Map<string, number>();
  return {
    async putOnce({ kind, id, expiresAt }) {
      const now = clock();
      const key = `${kind}:${id}`;
      const until = held.get(key);
      if (until !== undefined && until > now) return false;
      if (held.size >= LOCAL_ONCE_CAP) for (const [k, t] of held) if (t <= now) held.delete(k);
      if (held.size >= LOCAL_ONCE_CAP) throw new DpopError('invalid_dpop_proof', 'Too many DPoP proofs within the window');
      held.set(key, expiresAt);
      return true;
    },
    async consumeOnce() {
      return null;
    },
  };
}
