/**
 * The extra claims of a family (the login's `client_id`, `preferred_username`, and any
 * claims given to `issue`), as the formats read them back: from a self-contained token's
 * claims (an access token carries them at the top level, a refresh token under `ext`) or
 * from the store's JSON. Shared by every format, so each answers the same.
 *
 * @module
 */
import { clientOfClaims } from '../../stores/state.js';
import type { Claims } from '../../tokens/claims.js';
import { boundJkt } from '../../tokens/dpop.js';
import type { Introspection } from '../types.js';

/** The client a family's extra claims bind it to (`''` for none, RFC 9068 `client_id`). */
export function clientOf(extra: Claims | undefined): string {
  const c = extra?.client_id;
  return typeof c === 'string' ? c : '';
}

/** A family's extra claims as the store keeps them: JSON or `''`. Unreadable JSON is no claims. */
export function parseExtra(json: string | undefined): Claims {
  if (json === undefined || json === '') return {};
  try {
    const c = JSON.parse(json) as unknown;
    return typeof c === 'object' && c !== null && !Array.isArray(c) ? (c as Claims) : {};
  } catch {
    return {};
  }
}

/** The `ext` claim of a self-contained refresh token (its family's extra claims). */
export function extOf(claims: Claims): Claims {
  const ext = claims.ext;
  return typeof ext === 'object' && ext !== null && !Array.isArray(ext) ? (ext as Claims) : {};
}

/**
 * RFC 7009 §2.1: "the authorization server first validates the client credentials ... and
 * then verifies whether the token was issued to the client making the revocation request".
 * True when `clientId` is given and the token is bound to another client. A token bound to
 * no client (library use) belongs to anyone.
 */
export function isForeign(extra: Claims | string | undefined, clientId: string | undefined): boolean {
  if (clientId === undefined) return false;
  const owner = typeof extra === 'string' ? clientOfClaims(extra) : clientOf(extra);
  return owner !== '' && owner !== clientId;
}

/** RFC 7662 §2.2 members from the extra claims: `client_id`, `username` and (RFC 9449 §6.2) `cnf`. */
export function describeExtra(out: Introspection, extra: Claims): Introspection {
  const client = clientOf(extra);
  if (client !== '') out.client_id = client;
  if (typeof extra.preferred_username === 'string') out.username = extra.preferred_username;
  // RFC 9449 §6.2: the key a DPoP-bound token is bound to.
  const jkt = boundJkt(extra);
  if (jkt !== undefined) out.cnf = { jkt };
  return out;
}
