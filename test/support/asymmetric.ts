/**
 * Helpers for the EdDSA/ES256/RS256 tests: JWK Sets from `generateSigningJwk`, tokens
 * signed here with node:crypto directly (independent of src/internal/signatures.ts),
 * and a stub `fetch` serving a JWK Set that counts its calls.
 */
import { constants, createPrivateKey, sign } from 'node:crypto';
import type { PrivateJwk } from '../../src/tokens/jwk.js';
import type { FetchLike } from '../../src/verify/jwks.js';

export function b64(part: string | object | Uint8Array): string {
  if (part instanceof Uint8Array) return Buffer.from(part).toString('base64url');
  return Buffer.from(typeof part === 'string' ? part : JSON.stringify(part), 'utf8').toString('base64url');
}

/** Signs `header.payload` with a private JWK the way JOSE does (ES256: r||s, or DER with `der`; RS256: PKCS#1 v1.5). */
export function signWith(jwk: PrivateJwk, header: object, payload: object, opts: { der?: boolean } = {}): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${signatureOf(jwk, input, opts)}`;
}

/** The base64url signature of an exact signing input (its UTF-8 bytes) with a private JWK, as {@link signWith} makes it. */
export function signatureOf(jwk: PrivateJwk, input: string, opts: { der?: boolean } = {}): string {
  const key = createPrivateKey({ key: jwk as unknown as import('node:crypto').JsonWebKey, format: 'jwk' });
  const sig =
    jwk.kty === 'EC'
      ? sign('sha256', Buffer.from(input), { key, dsaEncoding: opts.der ? 'der' : 'ieee-p1363' })
      : jwk.kty === 'RSA'
        ? sign('sha256', Buffer.from(input), { key, padding: constants.RSA_PKCS1_PADDING })
        : sign(null, Buffer.from(input), key);
  return sig.toString('base64url');
}

/** The public half of a private JWK (without `d`, and for RSA without `p`, `q`, `dp`, `dq`, `qi`). */
export function publicOf(jwk: PrivateJwk): Omit<PrivateJwk, 'd' | 'p' | 'q' | 'dp' | 'dq' | 'qi'> {
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = jwk;
  return pub;
}

export interface StubFetch {
  fetch: FetchLike;
  calls: string[];
  /** Replace the served set. */
  serve(set: unknown): void;
  /** Make the next fetches fail (HTTP 500) until called with false. */
  fail(on: boolean): void;
  /** Hold fetches until `release()` (to test the single flight). */
  hold(): void;
  release(): void;
}

export function stubFetch(initial: unknown): StubFetch {
  let set = initial;
  let failing = false;
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  const calls: string[] = [];
  return {
    calls,
    serve: (s) => {
      set = s;
    },
    fail: (on) => {
      failing = on;
    },
    hold: () => {
      gate = new Promise((r) => {
        open = r;
      });
    },
    release: () => {
      open?.();
      gate = undefined;
    },
    fetch: async (url) => {
      calls.push(url);
      if (gate) await gate;
      const body = JSON.parse(JSON.stringify(set));
      return failing ? { ok: false, status: 500, json: async () => ({}) } : { ok: true, status: 200, json: async () => body };
    },
  };
}
