/**
 * RFC 6749 §4.1.3: the authorization code grant, with PKCE (RFC 7636 §4.5, §4.6).
 * The code is consumed before anything else is checked, so a code presented with a wrong
 * verifier, redirect URI or client is spent: nobody gets a second try at it. A code that is
 * presented again after it was exchanged revokes the tokens issued from it (RFC 6749 §4.1.2,
 * RFC 9700 §4.2.4), once. A code whose request named `dpop_jkt` (RFC 9449 §10) is exchanged only
 * with a DPoP proof by that key.
 *
 * @module
 */
import { type AuthorizationCodes, verifyPkceS256 } from '../../../refresh/authorization-codes.js';
import { HttpError } from '../errors.js';
import type { IdTokens } from '../oidc.js';
import { deviceOf } from '../request.js';
import type { Grant } from './types.js';

/** RFC 6749 §5.2 invalid_grant: "invalid, expired, revoked, does not match the redirection URI ..., or was issued to another client". */
function invalidGrant(description: string): HttpError {
  return new HttpError(400, 'invalid_grant', description);
}

/** What the replay record holds: the user and the family of the tokens issued from the code. */
interface Issued {
  s: string;
  f: string;
}

/** OpenID Connect: the ID tokens of a code exchanged with scope `openid` (oidc.ts). */
export interface CodeGrantOidc {
  idTokens: IdTokens;
  issuer(): string | undefined;
  clock(): number;
}

export function authorizationCodeGrant(codes: AuthorizationCodes, oidc?: CodeGrantOidc): Grant {
  return {
    type: 'authorization_code',
    description: 'RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5): code, redirect_uri and code_verifier',
    params: {
      code: { max: 256, required: true, description: 'authorization_code grant: the code from the authorization response' },
      redirect_uri: {
        max: 2000,
        required: true,
        description: 'authorization_code grant: the redirect_uri of the authorization request',
      },
      code_verifier: { max: 128, required: true, description: 'authorization_code grant: the PKCE verifier (RFC 7636 §4.5)' },
    },
    // In cookie mode (a browser app on this origin) the refresh token goes into the HttpOnly cookie.
    refreshCookie: true,
    async handle(ctx) {
      const code = ctx.param('code') as string;
      const grant = await codes.redeem(code);
      if (!grant) {
        const issued = await codes.takeRedeemed(code);
        if (issued !== null) {
          const { s, f } = JSON.parse(issued) as Issued;
          await ctx.tokens.endFamily(s, f);
          ctx.req.log?.warn(
            { event: 'authorization_code_replay' },
            'authorization code used twice; the tokens issued from it were revoked',
          );
        }
        throw invalidGrant('The authorization code is invalid, expired or already used');
      }
      if (grant.clientId !== ctx.client.clientId)
        throw invalidGrant('The authorization code was issued to another client (RFC 6749 §4.1.3)');
      if (grant.redirectUri !== ctx.param('redirect_uri'))
        throw invalidGrant('redirect_uri is not the one of the authorization request (RFC 6749 §4.1.3)');
      if (!verifyPkceS256(ctx.param('code_verifier') as string, grant.codeChallenge))
        throw invalidGrant('code_verifier does not match the code_challenge (RFC 7636 §4.6)');
      // RFC 9449 §10: the thumbprint of the proof's key must match dpop_jkt, else "it MUST reject
      // the request". The code is spent like one presented with a wrong verifier (RFC 6749 §4.1.2).
      if (grant.dpopJkt !== undefined && ctx.dpopJkt !== grant.dpopJkt)
        throw invalidGrant(
          typeof ctx.dpopJkt === 'string'
            ? 'The DPoP proof is by another key than dpop_jkt of the authorization request (RFC 9449 §10)'
            : 'The authorization code is bound to a DPoP key (dpop_jkt): a DPoP proof by that key is required (RFC 9449 §10)',
        );
      const pair = await ctx.tokens.issue({
        sub: grant.sub,
        clientId: grant.clientId,
        ...(grant.username === undefined ? {} : { claims: { preferred_username: grant.username } }),
        ...(grant.scope ? { scope: grant.scope } : {}),
        ...deviceOf(ctx.req),
      });
      const scopes = grant.scope.split(' ');
      const issuer = oidc?.issuer();
      // OIDC Core §3.1.3.3: scope openid makes the answer carry an ID token.
      const idToken =
        oidc && issuer && scopes.includes('openid')
          ? oidc.idTokens.mint({
              issuer,
              sub: grant.sub,
              clientId: grant.clientId,
              authTime: grant.authTime,
              accessToken: pair.accessToken,
              now: Math.floor(oidc.clock() / 1000),
              ...(grant.nonce === undefined ? {} : { nonce: grant.nonce }),
              ...(scopes.includes('profile') && grant.username !== undefined ? { username: grant.username } : {}),
            })
          : undefined;
      const issued: Issued = { s: grant.sub, f: pair.familyId };
      try {
        await codes.markRedeemed(code, JSON.stringify(issued));
      } catch (e) {
        // The pair stands: losing it would end a sign-in that succeeded. Only the replay revocation is lost.
        ctx.req.log?.warn({ event: 'authorization_code_mark_failed', err: String(e) }, 'could not record the exchanged code');
      }
      return idToken === undefined ? pair : { ...pair, idToken };
    },
  };
}
