/**
 * Sessions people can see and end, on Fastify, Express and Hono: GET /auth/sessions,
 * DELETE /auth/sessions/{id} and POST /auth/sessions/revoke-others, with the same answers on
 * each adapter.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SessionJson } from '../../src/refresh/sessions.js';
import { ADAPTERS, type Answer, bearer, type Driver, driver, form, PASSWORD, type Shared, shared } from './adapters.js';

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const FIELDS = ['address', 'client_id', 'created_at', 'current', 'expires_at', 'grant', 'id', 'last_used_at', 'user_agent'];

function assertError(res: Answer, status: number, error: string): void {
  assert.equal(res.status, status, res.text);
  assert.equal(res.json().error, error, res.text);
  assert.equal(res.headers['cache-control'], 'no-store');
}

for (const name of ADAPTERS) {
  describe(`sessions: ${name}`, () => {
    let s: Shared;
    let d: Driver;
    before(async () => {
      s = await shared();
      d = await driver(name, s);
      await s.users.add(`dana-${name}`, PASSWORD);
      await s.users.add(`erin-${name}`, PASSWORD);
    });
    after(async () => {
      await d.close();
      await s.close();
    });

    const signIn = async (username: string, userAgent: string) => {
      const res = await d.call({
        method: 'POST',
        url: '/auth/token',
        ...form({ grant_type: 'password', username, password: PASSWORD }, { 'user-agent': userAgent }),
      });
      assert.equal(res.status, 200, res.text);
      return res.json() as { access_token: string; refresh_token: string };
    };
    const list = async (accessToken: string) => {
      const res = await d.call({ method: 'GET', url: '/auth/sessions', headers: bearer(accessToken) });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers['cache-control'], 'no-store');
      return (res.json() as { sessions: SessionJson[] }).sessions;
    };

    test('GET /auth/sessions lists the caller’s sessions, newest use first, the caller’s own marked current; a refresh moves it up', async () => {
      const dana = `dana-${name}`;
      const laptop = await signIn(dana, 'Firefox/140 (laptop)');
      s.clock.now += 5000;
      const phone = await signIn(dana, 'Safari/18 (phone)');
      await signIn(`erin-${name}`, 'Erin/1');
      const sessions = await list(laptop.access_token);
      assert.equal(sessions.length, 2);
      for (const one of sessions) {
        assert.deepEqual(Object.keys(one).sort(), FIELDS);
        for (const t of [one.created_at, one.last_used_at, one.expires_at]) assert.match(t, RFC3339);
        assert.equal(one.client_id, 'tessera', 'the default public client');
        assert.equal(one.grant, 'password', 'the grant_type that created it');
        assert.match(one.address, /^(127\.0\.0\.0|::)$/, 'the loopback network, truncated');
      }
      assert.deepEqual(
        sessions.map((x) => [x.user_agent, x.current]),
        [
          ['Safari/18 (phone)', false],
          ['Firefox/140 (laptop)', true],
        ],
      );
      assert.ok(Date.parse(sessions[0]!.expires_at) > Date.parse(sessions[0]!.created_at));
      s.clock.now += 5000;
      const refreshed = await d.call({
        method: 'POST',
        url: '/auth/token',
        ...form({ grant_type: 'refresh_token', refresh_token: laptop.refresh_token }, { 'user-agent': 'Firefox/141 (laptop)' }),
      });
      assert.equal(refreshed.status, 200, refreshed.text);
      const after = await list(phone.access_token);
      assert.deepEqual(
        after.map((x) => [x.user_agent, x.current, Date.parse(x.last_used_at) - Date.parse(x.created_at), x.grant]),
        [
          ['Firefox/141 (laptop)', false, 10_000, 'password'],
          ['Safari/18 (phone)', true, 0, 'password'],
        ],
        'a refresh keeps the grant',
      );
      // A session the library started without naming its grant lists grant null.
      const { sub } = (await d.call({ url: '/me', headers: bearer(phone.access_token) })).json() as { sub: string };
      const library = await s.tokens.issue({ sub });
      assert.deepEqual(
        (await list(phone.access_token)).filter((x) => x.id === library.familyId).map((x) => x.grant),
        [null],
      );
      assertError(await d.call({ method: 'GET', url: '/auth/sessions' }), 401, 'unauthorized');
    });

    test("DELETE /auth/sessions/{id} ends one session (204, its tokens refused); another user's or an unknown id is 404", async () => {
      const dana = `dana-${name}`;
      const a = await signIn(dana, 'A');
      const b = await signIn(dana, 'B');
      const erin = await signIn(`erin-${name}`, 'E');
      const bId = (await list(a.access_token)).find((x) => x.user_agent === 'B')?.id as string;
      const erinId = (await list(erin.access_token)).find((x) => x.current)?.id as string;
      const del = (id: string, token: string) =>
        d.call({ method: 'DELETE', url: `/auth/sessions/${encodeURIComponent(id)}`, headers: bearer(token) });
      assertError(await del(erinId, a.access_token), 404, 'not_found');
      assertError(await del('no-such-session', a.access_token), 404, 'not_found');
      assertError(await del(bId, erin.access_token), 404, 'not_found');
      assertError(await d.call({ method: 'DELETE', url: `/auth/sessions/${bId}` }), 401, 'unauthorized');
      const ended = await del(bId, a.access_token);
      assert.equal(ended.status, 204, ended.text);
      assert.equal(ended.text, '');
      assertError(await del(bId, a.access_token), 404, 'not_found');
      // The ended session's tokens are refused; the others live.
      assert.equal((await d.call({ method: 'GET', url: '/auth/sessions', headers: bearer(b.access_token) })).status, 401);
      const refresh = await d.call({ method: 'POST', url: '/auth/refresh', payload: { refresh_token: b.refresh_token } });
      assertError(refresh, 400, 'invalid_grant');
      assert.ok(!(await list(a.access_token)).some((x) => x.id === bId));
      assert.ok(
        (await list(erin.access_token)).some((x) => x.id === erinId),
        "erin's session lives",
      );
    });

    test('the session routes read no body: an empty one under a JSON content type is no error', async () => {
      const t = await signIn(`dana-${name}`, 'json client');
      const json = { ...bearer(t.access_token), 'content-type': 'application/json' };
      assertError(await d.call({ method: 'DELETE', url: '/auth/sessions/nope', headers: json, payload: '' }), 404, 'not_found');
      const id = (await list(t.access_token)).find((x) => x.current)?.id as string;
      const ended = await d.call({ method: 'DELETE', url: `/auth/sessions/${id}`, headers: json, payload: '' });
      assert.equal(ended.status, 204, ended.text);
    });

    test('POST /auth/sessions/revoke-others ends every session of the caller but its own (204)', async () => {
      const dana = `dana-${name}`;
      const keep = await signIn(dana, 'keep');
      const other1 = await signIn(dana, 'other 1');
      const other2 = await signIn(dana, 'other 2');
      const erin = await signIn(`erin-${name}`, 'E');
      assertError(await d.call({ method: 'POST', url: '/auth/sessions/revoke-others' }), 401, 'unauthorized');
      const res = await d.call({ method: 'POST', url: '/auth/sessions/revoke-others', headers: bearer(keep.access_token) });
      assert.equal(res.status, 204, res.text);
      assert.equal(res.text, '');
      for (const gone of [other1, other2]) {
        assert.equal((await d.call({ method: 'GET', url: '/me', headers: bearer(gone.access_token) })).status, 401);
      }
      assert.deepEqual(
        (await list(keep.access_token)).map((x) => [x.user_agent, x.current]),
        [['keep', true]],
      );
      assert.ok((await list(erin.access_token)).length >= 1, "another user's sessions are untouched");
    });
  });
}
