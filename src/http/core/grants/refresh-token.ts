/**
 * RFC 6749 §6: the refresh_token grant. The guessing limiter never sees a refresh:
 * refresh tokens carry 256 bits (or a MAC) and cannot be guessed, and an invalid,
 * expired or already-rotated one must not cost anyone behind the same address a login
 * or a refresh (docs/security.md).
 *
 * @module
 */
import type { RefreshOptions, TokenPair, TokenService } from '../../../refresh/types.js';
import { isDpopError } from '../../../tokens/dpop.js';
import { badRequest, isTokenRefusal, refreshTokenError } from '../errors.js';
import { MAX_TOKEN_LENGTH } from '../limits.js';
import { type CoreLogger, deviceOf } from '../request.js';
import type { Grant } from './types.js';

/** Rotates a refresh token; a refusal becomes the 400 `invalid_grant` of RFC 6749 §5.2 (with its `reason`). */
export async function rotate(
  tokens: TokenService,
  refreshToken: string,
  log: CoreLogger | undefined,
  by: RefreshOptions,
): Promise<TokenPair> {
  try {
    return await tokens.refresh(refreshToken, by);
  } catch (e) {
    // A store outage is not a verdict on the token, nor is a wider scope (InvalidScopeError,
    // 400 invalid_scope): the error mapping answers those.
    if (isTokenRefusal(e)) {
      // A replayed refresh token means it leaked (RFC 9700 §4.14.2): worth an operator's attention;
      // so is another client's refresh token (RFC 6749 §6), refused and not consumed.
      if (e.code === 'reused')
        log?.warn({ event: 'refresh_token_reuse' }, 'refresh token reuse detected; its session was revoked');
      else if (e.code === 'wrong_client')
        log?.warn({ event: 'refresh_token_wrong_client' }, 'refresh token presented by another client');
      else log?.debug({ code: e.code }, 'refresh token refused');
      throw refreshTokenError(e);
    }
    // RFC 9449 §5: a DPoP-bound refresh token presented without its key (stolen, most likely);
    // refused before the rotation, so its owner's session goes on.
    if (isDpopError(e) && e.code === 'dpop_key_mismatch')
      log?.warn({ event: 'refresh_token_dpop_mismatch' }, 'DPoP-bound refresh token presented without its key');
    throw e;
  }
}

/** RFC 6749 §6: the client, and a narrower scope when asked for. */
function refreshBy(clientId: string, scope: string | undefined): RefreshOptions {
  const s = scope?.trim().split(/\s+/).filter(Boolean).join(' ');
  return s ? { clientId, scope: s } : { clientId };
}

export const refreshTokenGrant: Grant = {
  type: 'refresh_token',
  description: 'RFC 6749 §6: a refresh token, optionally a narrower scope',
  params: {
    refresh_token: { max: MAX_TOKEN_LENGTH, required: true, description: 'refresh_token grant' },
    scope: {
      max: 1024,
      description: 'refresh_token grant: a narrower scope for the new access token (RFC 6749 §6); password grant: ignored',
    },
  },
  async handle(ctx) {
    const token = ctx.param('refresh_token');
    // RFC 6749 §6: refresh_token is REQUIRED; an empty one is none.
    if (!token) throw badRequest('grant_type=refresh_token needs refresh_token');
    return rotate(ctx.tokens, token, ctx.req.log, {
      ...refreshBy(ctx.client.clientId, ctx.param('scope')),
      ...deviceOf(ctx.req),
    });
  },
};
