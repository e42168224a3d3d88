/**
 * Opaque tokens: 256 random bits that mean nothing without the store (scheme 3
 * of the original three-scheme design, with UUIDs replaced by full-entropy tokens).
 *
 *     tsa_<43 chars: 32 random bytes><8 chars: user shard>   (access)
 *     tsr_<43 chars: 32 random bytes><8 chars: user shard>   (refresh)
 *
 * - The prefix tells secret scanners (and people) what leaked.
 * - The shard is a 6-byte hash of the user id. The Redis store puts every key of
 *   one user in one hash slot (`{shard}`), so one script serves a refresh on Redis
 *   Cluster too; the shard must therefore be readable from the token. It reveals
 *   nothing the token's holder cannot already learn by introspecting it.
 * - The store keeps only SHA-256 of the token, never the token: a dump of the
 *   store yields nothing that authenticates.
 *
 * @module
 */
import { TokenError } from '../errors.js';
import { isBase64url } from '../internal/base64url.js';
import { randomBase64url, sha256Base64url } from '../internal/crypto.js';
import type { TokenType } from './claims.js';

export const OPAQUE_PREFIX: Record<TokenType, string> = { access: 'tsa_', refresh: 'tsr_' };
const RANDOM_CHARS = 43;
const SHARD_CHARS = 8;
const TOKEN_LENGTH = 4 + RANDOM_CHARS + SHARD_CHARS;

/** Recent users' shards: every refresh needs one, and a SHA-256 costs ~25x a Map lookup. */
const shards = new Map<string, string>();
const MAX_REMEMBERED_SHARDS = 10_000;

/** The shard (Redis hash tag) of a user: 6 bytes of SHA-256, base64url. */
export function userShard(sub: string): string {
  let shard = shards.get(sub);
  if (shard === undefined) {
    // 6 bytes are exactly 8 base64url characters, so this is the first 6 bytes of the digest.
    shard = sha256Base64url(`tessera shard\0${sub}`).slice(0, 8);
    // Bounded: forgetting them all at once is cheaper than tracking which is oldest.
    if (shards.size >= MAX_REMEMBERED_SHARDS) shards.clear();
    shards.set(sub, shard);
  }
  return shard;
}

export function generateOpaqueToken(type: TokenType, shard: string): string {
  return OPAQUE_PREFIX[type] + randomBase64url(32) + shard;
}

export interface ParsedOpaqueToken {
  type: TokenType;
  shard: string;
}

/** Checks the shape of an opaque token (no store access); `malformed` otherwise. */
export function parseOpaqueToken(token: string): ParsedOpaqueToken {
  if (typeof token !== 'string' || token.length !== TOKEN_LENGTH) throw new TokenError('malformed');
  const prefix = token.slice(0, 4);
  const type: TokenType | undefined =
    prefix === OPAQUE_PREFIX.access ? 'access' : prefix === OPAQUE_PREFIX.refresh ? 'refresh' : undefined;
  if (!type) throw new TokenError('malformed');
  const random = token.slice(4, 4 + RANDOM_CHARS);
  const shard = token.slice(4 + RANDOM_CHARS);
  if (!isBase64url(random) || !isBase64url(shard)) throw new TokenError('malformed');
  return { type, shard };
}

/** The storage key of a token: SHA-256, base64url. Tokens have 256 bits of entropy, so no salt is needed. */
export function hashOpaqueToken(token: string): string {
  return sha256Base64url(token);
}

/** True when the string has the shape of a tessera opaque token (cheap, no store access). */
export function looksOpaque(token: string): boolean {
  return typeof token === 'string' && token.length === TOKEN_LENGTH && (token.startsWith('tsa_') || token.startsWith('tsr_'));
}
