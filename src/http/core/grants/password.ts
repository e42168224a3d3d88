/**
 * RFC 6749 §4.3: the resource owner password credentials grant, behind the guessing
 * limiter (guessing-limiter.ts, docs/security.md): a try is reserved before the hash is
 * computed and settled after it, so a refused guesser costs no hashing and a concurrent
 * burst has no more passwords checked than the budget allows.
 *
 * @module
 */
import type { UserService } from '../../../users/users.js';
import { HttpError, invalidCredentials } from '../errors.js';
import type { Reservation } from '../guessing-limiter.js';
import { deviceOf } from '../request.js';
import type { Grant } from './types.js';

/** 429 with `Retry-After` (RFC 6585 §4); the code is RFC 6749's "retry later" one (docs/security.md says why). */
export function tooManyAttempts(waitMs: number, what = 'failed attempts'): HttpError {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return new HttpError(429, 'temporarily_unavailable', `Too many ${what} from this client; retry after ${seconds} seconds`, {
    'retry-after': String(seconds),
  });
}

/** The limiter's refusal of a reservation. */
function refused(r: Exclude<Reservation, { ok: true }>): HttpError {
  return tooManyAttempts(r.waitMs, r.reason === 'busy' ? 'password checks in progress' : 'failed attempts');
}

export const passwordGrant: Grant = {
  type: 'password',
  description: 'RFC 6749 §4.3: username and password',
  params: {
    username: { max: 256, required: true, description: 'password grant' },
    password: { max: 1024, required: true, description: 'password grant' },
  },
  refreshCookie: true,
  async handle(ctx) {
    const { users, limiter } = ctx;
    if (!users) throw new HttpError(400, 'unsupported_grant_type', 'The password grant is not enabled');
    const username = ctx.param('username') as string;
    const password = ctx.param('password') as string;
    const address = ctx.req.ip;
    // Reserved before scrypt: a refused guesser costs no hashing and learns nothing, and a
    // concurrent burst has no more passwords checked than the budget allows.
    const reservation = limiter ? await limiter.reserve(address, username) : undefined;
    if (reservation && !reservation.ok) throw refused(reservation);
    let user: Awaited<ReturnType<UserService['verify']>>;
    try {
      user = await ctx.hashing(address, () => users.verify(username, password));
    } catch (e) {
      await reservation?.done('unchecked'); // a full queue or a store outage: no password was checked
      throw e;
    }
    // One answer for an unknown user and a wrong password (no enumeration).
    if (!user) {
      await reservation?.done('failed');
      throw invalidCredentials();
    }
    await reservation?.done('succeeded');
    // preferred_username (OIDC Core §5.1) rides with the family, so GET /me and introspection can name the user.
    return ctx.tokens.issue({
      sub: user.id,
      clientId: ctx.client.clientId,
      claims: { preferred_username: user.username },
      ...(ctx.scope ? { scope: ctx.scope } : {}),
      ...deviceOf(ctx.req),
    });
  },
};
