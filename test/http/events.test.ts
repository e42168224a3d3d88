/**
 * The security events of the auth routes (`events` option, http/core/events.ts): each
 * decided outcome is reported once, with who and where as far as known and never a
 * token, a password or a secret; a sink that throws changes no answer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { HttpError } from '../../src/http/core/errors.js';
import { type AuthEvent, observedGrant } from '../../src/http/core/events.js';
import type { Grant, GrantContext } from '../../src/http/core/grants/types.js';
import type { TokenService } from '../../src/refresh/types.js';
import { basicAuth, bearer, form, type Harness, PASSWORD, setup } from './helpers.js';

describe('security events of the routes', () => {
  const seen: AuthEvent[] = [];
  let h: Harness;
  before(async () => {
    h = await setup({ app: { allowRegister: true, events: { emit: (e) => seen.push(e) } } });
  });
  after(() => h.close());

  const token = (params: Record<string, string>, headers: Record<string, string> = {}) => {
    const f = form(params);
    return h.app.inject({ method: 'POST', url: '/auth/token', headers: { ...f.headers, ...headers }, payload: f.payload });
  };
  const take = () => seen.splice(0, seen.length);

  test('a password sign-in names the user, the session, the client and where it came from', async () => {
    take();
    const res = await token({ grant_type: 'password', username: 'alice', password: PASSWORD }, { 'user-agent': 'ua/1' });
    assert.equal(res.statusCode, 200);
    const [e, ...rest] = take();
    assert.equal(rest.length, 0);
    const alice = await h.users.verify('alice', PASSWORD);
    assert.deepEqual(e, {
      event: 'sign_in',
      result: 'ok',
      grant: 'password',
      address: '127.0.0.1',
      user_agent: 'ua/1',
      request_id: e?.request_id,
      client_id: 'tessera',
      session_id: e?.session_id,
      user_id: alice?.id,
      username: 'alice',
    });
    assert.match(String(e?.request_id), /^req-/);
    assert.equal(typeof e?.session_id, 'string');
  });

  test('a wrong password is a failed sign-in with the username as typed, no user id', async () => {
    take();
    assert.equal((await token({ grant_type: 'password', username: 'alice', password: 'nope-nope-nope' })).statusCode, 400);
    const [e] = take();
    assert.equal(e?.event, 'sign_in');
    assert.equal((e as { result: string }).result, 'failed');
    assert.equal((e as { reason?: string }).reason, 'invalid_credentials');
    assert.equal(e?.username, 'alice');
    assert.equal(e?.user_id, undefined);
  });

  test('client authentication failures by reason: a wrong secret, unreadable Basic credentials', async () => {
    take();
    const wrong = await token({ grant_type: 'client_credentials' }, basicAuth('rs', 'not-the-secret'));
    assert.equal(wrong.statusCode, 401);
    const junk = await token({ grant_type: 'client_credentials' }, { authorization: 'Basic %%%' });
    assert.equal(junk.statusCode, 401);
    assert.deepEqual(
      take().map((e) => [e.event, (e as { reason?: string }).reason, e.client_id]),
      [
        ['client_auth_failed', 'bad_secret', 'rs'],
        ['client_auth_failed', 'malformed', undefined],
      ],
    );
  });

  test('client_credentials, refresh, revoke and logout everywhere', async () => {
    const svc = await h.clients.add('svc', { confidential: true, grantTypes: ['client_credentials'] });
    take();
    assert.equal((await token({ grant_type: 'client_credentials' }, basicAuth('svc', svc.secret as string))).statusCode, 200);
    const t = await h.login('bob');
    const r = await h.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: t.refresh_token } });
    assert.equal(r.statusCode, 200);
    const next = r.json() as { refresh_token: string; access_token: string };
    assert.equal(
      (await h.app.inject({ method: 'POST', url: '/auth/logout-all', headers: bearer(t.access_token) })).statusCode,
      204,
    );
    assert.equal(
      (await h.app.inject({ method: 'POST', url: '/auth/revoke', ...form({ token: next.refresh_token }) })).statusCode,
      200,
    );
    const events = take();
    assert.deepEqual(
      events.map((e) => [e.event, (e as { result?: string; kind?: string }).result ?? (e as { kind?: string }).kind ?? null]),
      [
        ['sign_in', 'ok'],
        ['sign_in', 'ok'],
        ['refresh', 'ok'],
        ['logout_all', null],
        ['revocation', 'logout_all'],
        ['revocation', 'revoke'],
      ],
    );
    assert.equal((events[0] as { grant: string }).grant, 'client_credentials');
    const bob = await h.users.verify('bob', PASSWORD);
    assert.equal(events[3]?.user_id, bob?.id);
    const all = JSON.stringify(events);
    for (const s of [t.access_token, t.refresh_token, next.refresh_token, next.access_token, svc.secret as string, PASSWORD]) {
      assert.ok(!all.includes(s), 'no token, password or secret in an event');
    }
  });

  test('registration: ok with the new user, refused for a taken name', async () => {
    take();
    const ok = await h.app.inject({ method: 'POST', url: '/auth/register', payload: { username: 'carol', password: PASSWORD } });
    assert.equal(ok.statusCode, 201);
    const taken = await h.app.inject({
      method: 'POST',
      url: '/auth/register',
      payload: { username: 'carol', password: PASSWORD },
    });
    assert.equal(taken.statusCode, 409);
    const [a, b] = take();
    assert.deepEqual(
      [a?.event, (a as { result: string }).result, a?.username, a?.user_id],
      ['registration', 'ok', 'carol', (ok.json() as { id: string }).id],
    );
    assert.deepEqual([b?.event, (b as { result: string }).result], ['registration', 'refused']);
  });
});

test('a sink that throws changes no answer', async () => {
  const h = await setup({
    app: {
      events: {
        emit() {
          throw new Error('sink down');
        },
      },
    },
  });
  try {
    const t = await h.login();
    const r = await h.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: t.refresh_token } });
    assert.equal(r.statusCode, 200);
    const replay = await h.app.inject({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: t.refresh_token } });
    assert.equal(replay.statusCode, 400);
  } finally {
    await h.close();
  }
});

test('a grant that ends a family while refusing (a replayed authorization code) reports the replay and the revocation', async () => {
  const seen: AuthEvent[] = [];
  const ended: string[] = [];
  const tokens = {
    endFamily: async (sub: string, familyId: string) => (ended.push(`${sub}/${familyId}`), true),
  } as unknown as TokenService;
  const grant: Grant = {
    type: 'authorization_code',
    description: 'test',
    params: {},
    async handle(ctx) {
      await ctx.tokens.endFamily('u1', 'f1');
      throw new HttpError(400, 'invalid_grant', 'The authorization code is invalid, expired or already used');
    },
  };
  const ctx = {
    req: { method: 'POST', path: '/auth/token', headers: {}, body: {}, query: {}, ip: '192.0.2.1', cookies: {} },
    param: () => undefined,
    client: { clientId: 'spa' },
    authenticated: false,
    tokens,
  } as unknown as GrantContext;
  await assert.rejects(
    observedGrant(grant, ctx, (e) => seen.push(e)),
    HttpError,
  );
  assert.deepEqual(ended, ['u1/f1'], 'the grant reached the real service');
  assert.deepEqual(
    seen.map((e) => [
      e.event,
      (e as { result?: string; kind?: string }).result ?? (e as { kind?: string }).kind,
      e.user_id,
      e.session_id,
    ]),
    [
      ['sign_in', 'failed', undefined, undefined],
      ['authorization_code_replay', undefined, 'u1', 'f1'],
      ['revocation', 'code_replay', 'u1', 'f1'],
    ],
  );
  assert.equal(seen[0]?.address, '192.0.2.1');
});
