/**
 * A scripted day against a real `tessera serve` (test/server/metrics.test.ts and
 * audit.test.ts): sign-ins that succeed and fail, a guessing-limiter block, refreshes
 * by both routes, a replayed refresh token, a logout, a logout everywhere, an RFC 7009
 * revocation, a client that fails to authenticate, and, with a TCP proxy in front of
 * the store, an outage. Each step checks its status code, so what happened is exactly
 * what {@link DayResult.events} lists.
 */
import assert from 'node:assert/strict';
import type { TcpProxy } from '../stores/tcp-proxy.js';
import { call, PASSWORD, type Res } from '../support/processes.js';

/** The server's settings the day counts on: no reuse grace, two wrong passwords per (username, address) before a block. */
export const DAY_ENV = { TESSERA_REUSE_GRACE: '0', TESSERA_LOGIN_LIMIT: '2', TESSERA_RATE_LIMIT: '1000' };
/** The user the day signs in as (created before the server starts). */
export const DAY_USER = 'alice';
export const WRONG_PASSWORD = 'not-alices-password-7';
export const MALLORY_PASSWORD = 'mallory-guesses-this-9';

/** One security event the day caused, as the audit trail names it. */
export interface DayEvent {
  event: string;
  result?: string;
  grant?: string;
  reason?: string;
  kind?: string;
  scope?: string;
  username?: string;
  client_id?: string;
}

export interface DayResult {
  /** Every security event, in order. */
  events: DayEvent[];
  /** Every value that must never appear in a log: the password, the wrong ones, every token. */
  secrets: string[];
  /** Responses of the token endpoint by status (for the request histogram). */
  tokenStatuses: number[];
  /** User id of alice (`sub`). */
  aliceId: string;
  /** Sessions in force at the end of the day (every other one was ended). */
  liveSessions: number;
  /** Revocations the day pushed (reuse, logout, logout everywhere, RFC 7009). */
  pushedRevocations: number;
}

interface Pair {
  access_token: string;
  refresh_token: string;
}

export async function runDay(url: string, proxy?: TcpProxy): Promise<DayResult> {
  const events: DayEvent[] = [];
  const secrets = new Set<string>([PASSWORD, WRONG_PASSWORD, MALLORY_PASSWORD]);
  const tokenStatuses: number[] = [];
  const keep = (r: Res) => {
    for (const k of ['access_token', 'refresh_token'] as const) {
      const v = r.json?.[k];
      if (typeof v === 'string') {
        secrets.add(v);
        // The signature of a JWT is secret-bearing on its own.
        if (v.split('.').length === 3) secrets.add(v.split('.')[2] as string);
      }
    }
  };
  const token = async (form: Record<string, string>, status: number): Promise<Res> => {
    const r = await call(url, 'POST', '/auth/token', { form, headers: { 'user-agent': 'day-script/1.0' } });
    assert.equal(r.status, status, `${form.grant_type}: ${r.text}`);
    tokenStatuses.push(r.status);
    keep(r);
    return r;
  };
  const signIn = async (username: string, password: string, status: number) =>
    token({ grant_type: 'password', username, password }, status);
  const ok = (username = DAY_USER): DayEvent => ({
    event: 'sign_in',
    result: 'ok',
    grant: 'password',
    username,
    client_id: 'tessera',
  });

  // Morning: alice signs in twice (two sessions), mistypes once.
  const s1 = (await signIn(DAY_USER, PASSWORD, 200)).json as Pair;
  events.push(ok());
  const aliceId = String((await call(url, 'GET', '/me', { token: s1.access_token })).json.sub);
  const s2 = (await signIn(DAY_USER, PASSWORD, 200)).json as Pair;
  events.push(ok());
  await signIn(DAY_USER, WRONG_PASSWORD, 400);
  events.push({ event: 'sign_in', result: 'failed', grant: 'password', reason: 'invalid_credentials', username: DAY_USER });

  // Someone guesses mallory's password: two wrong, then the limiter blocks before checking.
  await signIn('mallory', MALLORY_PASSWORD, 400);
  events.push({ event: 'sign_in', result: 'failed', grant: 'password', reason: 'invalid_credentials', username: 'mallory' });
  await signIn('mallory', MALLORY_PASSWORD, 400);
  events.push({ event: 'sign_in', result: 'failed', grant: 'password', reason: 'invalid_credentials', username: 'mallory' });
  await signIn('mallory', MALLORY_PASSWORD, 429);
  events.push({ event: 'sign_in', result: 'limited', grant: 'password', username: 'mallory' });
  events.push({ event: 'limiter_block', scope: 'sign_in', username: 'mallory' });

  // Refreshes: session 1 by POST /auth/refresh, then by the refresh_token grant.
  const r1 = await call(url, 'POST', '/auth/refresh', { json: { refresh_token: s1.refresh_token } });
  assert.equal(r1.status, 200, r1.text);
  keep(r1);
  events.push({ event: 'refresh', result: 'ok', client_id: 'tessera' });
  const r2 = (await token({ grant_type: 'refresh_token', refresh_token: (r1.json as Pair).refresh_token }, 200)).json as Pair;
  events.push({ event: 'refresh', result: 'ok', client_id: 'tessera' });

  // The first refresh token of session 1 comes back: reuse, the session is revoked.
  const replay = await call(url, 'POST', '/auth/refresh', { json: { refresh_token: s1.refresh_token } });
  assert.equal(replay.status, 400, replay.text);
  assert.equal(replay.json.reason, 'reused');
  events.push({ event: 'refresh', result: 'refused', reason: 'reused' });
  events.push({ event: 'reuse_detected' });
  events.push({ event: 'revocation', kind: 'reuse' });
  // Its successor is dead with the session (revoked, not a second reuse).
  const after = await call(url, 'POST', '/auth/refresh', { json: { refresh_token: r2.refresh_token } });
  assert.equal(after.status, 400, after.text);
  events.push({ event: 'refresh', result: 'refused', reason: after.json.reason as string });

  // Session 2 logs out.
  assert.equal((await call(url, 'POST', '/auth/logout', { json: { refresh_token: s2.refresh_token } })).status, 204);
  events.push({ event: 'logout', client_id: 'tessera' });
  events.push({ event: 'revocation', kind: 'logout' });

  // A third session ends every session (logout everywhere).
  const s3 = (await signIn(DAY_USER, PASSWORD, 200)).json as Pair;
  events.push(ok());
  assert.equal((await call(url, 'POST', '/auth/logout-all', { token: s3.access_token })).status, 204);
  events.push({ event: 'logout_all', username: DAY_USER });
  events.push({ event: 'revocation', kind: 'logout_all' });

  // A fourth session's refresh token is revoked (RFC 7009).
  const s4 = (await signIn(DAY_USER, PASSWORD, 200)).json as Pair;
  events.push(ok());
  assert.equal((await call(url, 'POST', '/auth/revoke', { form: { token: s4.refresh_token } })).status, 200);
  events.push({ event: 'revocation', kind: 'revoke' });

  // A client nobody registered.
  await token({ grant_type: 'password', username: DAY_USER, password: PASSWORD, client_id: 'nosuch' }, 401);
  events.push({ event: 'client_auth_failed', reason: 'unknown_client', client_id: 'nosuch' });

  if (proxy) {
    // The store goes away: a sign-in and a refresh meet it (503, no verdict on either).
    const s5 = (await signIn(DAY_USER, PASSWORD, 200)).json as Pair;
    events.push(ok());
    proxy.refuse();
    try {
      const r = await call(url, 'POST', '/auth/refresh', { json: { refresh_token: s5.refresh_token } });
      assert.equal(r.status, 503, r.text);
      events.push({ event: 'refresh', result: 'error' });
      await signIn(DAY_USER, PASSWORD, 503);
      events.push({ event: 'sign_in', result: 'error', grant: 'password' });
      // Not an event: /ready says what is not ready.
      const ready = await call(url, 'GET', '/ready');
      assert.equal(ready.status, 503, ready.text);
      assert.ok((ready.json.not_ready as string[]).includes('store'), ready.text);
    } finally {
      proxy.restore();
    }
    const deadline = Date.now() + 15_000;
    while ((await call(url, 'GET', '/ready')).status !== 200) {
      assert.ok(Date.now() < deadline, 'the store came back');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  return {
    events,
    secrets: [...secrets].filter((s) => s.length >= 8),
    tokenStatuses,
    aliceId,
    // The outage's session (s5), whose refresh met the outage and was not consumed.
    liveSessions: proxy ? 1 : 0,
    pushedRevocations: events.filter((e) => e.event === 'revocation').length,
  };
}
