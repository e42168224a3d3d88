/**
 * DPoP (RFC 9449) at the HTTP edge: the proof of a request checked against the URI this
 * server is known by, and its `jti` accepted once across every instance.
 *
 * Rules kept here:
 * - The URI a proof must name (`htu`, §4.3 check 9) is the configured issuer's base plus the
 *   request's path, never one built from `Host` or `X-Forwarded-Host` (the client's to choose).
 * - One proof per request: a repeated `DPoP` header is refused (§4.3 check 1).
 * - §11.1: a proof's `jti` is put once into the store's one-time records (kind
 *   {@link DPOP_JTI_KIND}), keyed by SHA-256 of the key's thumbprint and the `jti`, for as long as
 *   its `iat` lies within the window; a second use, on this instance or any other sharing the
 *   store, is refused.
 *
 * @module
 */
import { constantTimeEqualString, sha256Base64url } from '../../internal/crypto.js';
import { hmacSha256 } from '../../internal/hmac.js';
import type { OneTimeRecords } from '../../stores/types.js';
import { DEFAULT_DPOP_WINDOW_SECONDS, DPOP_ALGS, DpopError, type VerifiedDpopProof, verifyDpopProof } from '../../tokens/dpop.js';

/** The kind of the one-time records that hold used proof ids. */
export const DPOP_JTI_KIND = 'dpop_jti';

export interface DpopOptions {
  /** Where used proof ids are kept (the token store: every store has one-time records). */
  records: OneTimeRecords;
  /** Seconds either side of the clock within which a proof's `iat` must lie. Default 60. */
  windowSeconds?: number;
  /** Milliseconds since the epoch. Default `Date.now`. */
  clock?: () => number;
  /**
   * Server nonces (RFC 9449 §8): every proof must carry a `nonce` this server issued, else the
   * answer is `use_dpop_nonce` with a fresh one in `DPoP-Nonce`. Nonces are stateless (an HMAC of
   * the time step under `key`, at least 32 bytes, the same on every instance) and good for the
   * current and the previous step of `stepSeconds` (default 300). Default off.
   */
  nonce?: { key: Uint8Array; stepSeconds?: number };
}

export interface DpopChecker {
  /** The algorithms of `dpop_signing_alg_values_supported` (RFC 9449 §5.1). */
  readonly algs: readonly string[];
  /** The nonce to hand out now (`DPoP-Nonce`), when nonces are on. */
  nonce(): string | undefined;
  /**
   * Verifies the `DPoP` header of a request to `path` (the server's own path, no query) with
   * `method`, and records its `jti`. Rejects with DpopError (`invalid_dpop_proof`); with a
   * store outage as the store does.
   */
  check(header: unknown, method: string, path: string, accessToken?: string): Promise<VerifiedDpopProof>;
  /** {@link DpopChecker.check} in two steps: everything but the replay check, synchronously (throws DpopError)... */
  verify(header: unknown, method: string, path: string, accessToken?: string): VerifiedDpopProof;
  /** ...then the replay check: resolves when the proof's jti was not seen before, else rejects with DpopError. */
  record(proof: VerifiedDpopProof): Promise<void>;
}

/** The checker of `options`, for the server known as `issuer` (a function when known only after listen). */
export function createDpopChecker(options: DpopOptions, issuer: () => string | undefined): DpopChecker {
  if (!options || typeof options.records?.putOnce !== 'function')
    throw new TypeError('dpop: `records` must be a store with one-time records (putOnce)');
  const windowSeconds = options.windowSeconds ?? DEFAULT_DPOP_WINDOW_SECONDS;
  if (!Number.isInteger(windowSeconds) || windowSeconds < 1 || windowSeconds > 600)
    throw new TypeError('dpop: `windowSeconds` must be an integer from 1 to 600');
  const clock = options.clock ?? Date.now;
  const { records } = options;
  let lastIssuer: string | undefined;
  let lastBase = '';
  const nonceKey = options.nonce?.key;
  if (options.nonce && !(nonceKey instanceof Uint8Array && nonceKey.length >= 32))
    throw new TypeError('dpop: `nonce.key` must be at least 32 bytes');
  const stepMs = (options.nonce?.stepSeconds ?? 300) * 1000;
  if (!(stepMs >= 1000)) throw new TypeError('dpop: `nonce.stepSeconds` must be at least 1');
  /** RFC 9449 §8: the nonce of a time step: the step, then a MAC of it (unguessable, checked without state). */
  const nonceOf = (step: number): string => {
    const s = step.toString(36);
    return `${s}.${hmacSha256(nonceKey as Uint8Array, `tessera dpop nonce ${s}`)
      .subarray(0, 18)
      .toString('base64url')}`;
  };
  const currentNonce = (): string | undefined => (nonceKey === undefined ? undefined : nonceOf(Math.floor(clock() / stepMs)));
  const nonceValid = (n: string | undefined): boolean => {
    if (n === undefined) return false;
    const step = Math.floor(clock() / stepMs);
    return constantTimeEqualString(n, nonceOf(step)) || constantTimeEqualString(n, nonceOf(step - 1));
  };
  return {
    algs: DPOP_ALGS,
    nonce: currentNonce,
    verify(header, method, path, accessToken) {
      if (Array.isArray(header)) throw new DpopError('invalid_dpop_proof', 'DPoP proof refused: more than one DPoP header');
      const base = issuer();
      if (!base) throw new DpopError('invalid_dpop_proof', 'DPoP proof refused: the server has no issuer to check htu against');
      // The htu a proof for `path` must name: the issuer's base (no trailing slash) plus the path;
      // the base worked out once per issuer (it rarely changes).
      if (base !== lastIssuer) {
        lastIssuer = base;
        lastBase = base.replace(/\/+$/, '');
      }
      const htu = lastBase + path;
      const request = accessToken === undefined ? { htm: method, htu } : { htm: method, htu, accessToken };
      const proof = verifyDpopProof(header, request, { now: clock(), windowSeconds });
      if (nonceKey !== undefined && !nonceValid(proof.nonce))
        throw new DpopError('use_dpop_nonce', 'DPoP proof refused: it must carry the server nonce', currentNonce());
      return proof;
    },
    record(proof) {
      // §11.1: once within the window, on any instance. The record outlives the last moment the
      // proof's iat is acceptable.
      return records
        .putOnce({
          kind: DPOP_JTI_KIND,
          id: sha256Base64url(`${proof.jkt}.${proof.jti}`),
          value: '',
          now: clock(),
          expiresAt: (proof.iat + windowSeconds + 1) * 1000,
        })
        .then((fresh) => {
          if (!fresh) throw new DpopError('invalid_dpop_proof', 'DPoP proof refused: its jti was already used');
        });
    },
    async check(header, method, path, accessToken) {
      const proof = this.verify(header, method, path, accessToken);
      await this.record(proof);
      return proof;
    },
  };
}
