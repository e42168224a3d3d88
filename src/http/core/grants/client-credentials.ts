/**
 * RFC 6749 §4.4: the client credentials grant, for a confidential client acting on its own
 * behalf. The access token's `sub` is the client id (RFC 9068 §2.2), there is no refresh
 * token (§4.4.3), and the scope is at most what the client was registered for (§3.3).
 *
 * @module
 */
import { grantScope, scopeWords } from '../../../oauth-clients/scope.js';
import { HttpError } from '../errors.js';
import type { Grant } from './types.js';

export const clientCredentialsGrant: Grant = {
  type: 'client_credentials',
  description: 'RFC 6749 §4.4: a confidential client on its own behalf; no refresh token',
  params: {
    scope: {
      max: 1024,
      description: 'client_credentials grant: at most the scope the client was registered with (RFC 6749 §3.3)',
    },
  },
  clientAuthentication: 'required',
  clientTypes: ['confidential'],
  async handle(ctx) {
    const granted = grantScope(ctx.param('scope'), scopeWords(ctx.client.scope));
    if ('refused' in granted)
      throw new HttpError(
        400,
        'invalid_scope',
        granted.refused === 'malformed'
          ? 'The scope is malformed (RFC 6749 §3.3)'
          : 'The requested scope exceeds the scope this client is registered for',
      );
    const scope = granted.scope;
    return ctx.tokens.issueAccess({
      sub: ctx.client.clientId,
      clientId: ctx.client.clientId,
      ...(scope ? { scope } : {}),
    });
  },
};
