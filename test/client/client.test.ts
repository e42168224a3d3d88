import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AuthError, type ChannelLike, createClient, type FetchLike, type LockManagerLike } from '../../src/client/index.js';

/** A fake tessera server: rotating refresh tokens with reuse detection, like the real one. */
function fakeServer(clock: () => number) {
  let n = 0;
  const state = {
    refreshCalls: 0,
    loginCalls: 0,
    currentAccess: '',
    currentRefresh: '',
    revoked: false,
    accessExpiresAt: 0,
    /** The store is down: every refresh is a 503, like the real server's. */
    outage: false,
  };
  const issue = () => {
    n++;
    state.currentAccess = `at-${n}`;
    state.currentRefresh = `rt-${n}`;
    state.accessExpiresAt = clock() + 900_000;
    return { access_token: state.currentAccess, refresh_token: state.currentRefresh, token_type: 'Bearer', expires_in: 900 };
  };
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
  const fetch: FetchLike = async (url, init) => {
    await new Promise((r) => setImmediate(r)); // a network hop: lets concurrent callers pile up
    const path = new URL(url, 'http://x').pathname;
    if (path === '/auth/token') {
      state.loginCalls++;
      state.revoked = false;
      return json(200, issue());
    }
    if (path === '/auth/refresh') {
      state.refreshCalls++;
      const { refresh_token } = JSON.parse(String(init?.body ?? '{}')) as { refresh_token: string };
      if (state.outage) {
        return json(
          503,
          { error: 'temporarily_unavailable', error_description: 'The token store is unavailable; retry later' },
          { 'retry-after': '5' },
        );
      }
      if (state.revoked)
        return json(400, { error: 'invalid_grant', error_description: 'The refresh token was revoked', reason: 'revoked' });
      if (refresh_token !== state.currentRefresh) {
        state.revoked = true;
        return json(400, {
          error: 'invalid_grant',
          error_description: 'Refresh token reused: it was already used once, so its session was revoked',
          reason: 'reused',
        });
      }
      return json(200, issue());
    }
    if (path === '/auth/logout') return json(200, {});
    const auth = new Headers(init?.headers).get('authorization');
    if (auth !== `Bearer ${state.currentAccess}` || clock() >= state.accessExpiresAt || state.revoked) {
      return json(401, { error: 'invalid_token', reason: 'expired' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
    }
    return json(200, { sub: 'alice' });
  };
  return { fetch, state };
}

function manualClock(start = 1_800_000_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('client', () => {
  test('clientId is sent as client_id with the login and every refresh (RFC 6749 §3.2.1)', async () => {
    const clock = manualClock();
    const server = fakeServer(clock.now);
    const bodies: Record<string, unknown>[] = [];
    const recording: FetchLike = async (url, init) => {
      if (init?.body) bodies.push(JSON.parse(String(init.body)) as Record<string, unknown>);
      return server.fetch(url, init);
    };
    const client = createClient({ fetch: recording, clock: clock.now, locks: null, channel: null, clientId: 'spa' });
    await client.login('alice', 'pw');
    clock.advance(900_000);
    assert.equal((await client.fetch('/me')).status, 200);
    assert.deepEqual(
      bodies.map((b) => [b.grant_type ?? 'refresh', b.client_id]),
      [
        ['password', 'spa'],
        ['refresh', 'spa'],
      ],
    );
  });

  test('50 parallel calls with an expired access token cause exactly one refresh', async () => {
    const clock = manualClock();
    const server = fakeServer(clock.now);
    const client = createClient({ fetch: server.fetch, clock: clock.now, locks: null, channel: null });
    await client.login('alice', 'pw');
    clock.advance(901_000);
    const results = await Promise.all(Array.from({ length: 50 }, () => client.fetch('/me')));
    assert.equal(server.state.refreshCalls, 1);
    assert.deepEqual(
      results.map((r) => r.status),
      Array(50).fill(200),
    );
  });

  test('refreshes ahead of expiry, before the server would refuse', async () => {
    const clock = manualClock();
    const server = fakeServer(clock.now);
    const client = createClient({ fetch: server.fetch, clock: clock.now, locks: null, channel: null, refreshAheadSeconds: 30 });
    await client.login('alice', 'pw');
    clock.advance(880_000); // 20 s left, inside the 30 s window
    const res = await client.fetch('/me');
    assert.equal(res.status, 200);
    assert.equal(server.state.refreshCalls, 1);
  });

  test('a 401 invalid_token refreshes once and retries once (no loop)', async () => {
    const clock = manualClock();
    const server = fakeServer(clock.now);
    const client = createClient({ fetch: server.fetch, clock: clock.now, locks: null, channel: null });
    await client.login('alice', 'pw');
    server.state.currentAccess = 'rotated-server-side'; // the server no longer accepts our access token
    const res = await client.fetch('/me');
    // After the refresh the new token is accepted.
    assert.equal(res.status, 200);
    assert.equal(server.state.refreshCalls, 1);
  });

  test('a reused answer ends in exactly one logout event, no retry loop', async () => {
    const clock = manualClock();
    const server = fakeServer(clock.now);
    const client = createClient({ fetch: server.fetch, clock: clock.now, locks: null, channel: null });
    const events: string[] = [];
    client.on('logout', (e) => events.push(e.reason));
    await client.login('alice', 'pw');
    server.state.currentRefresh = 'stolen-and-rotated-by-someone-else';
    clock.advance(901_000);
    const calls = await Promise.allSettled(Array.from({ length: 10 }, () => client.fetch('/me')));
    assert.deepEqual(events, ['reused']);
    assert.equal(server.state.refreshCalls, 1);
    assert.equal(client.session, null);
    for (const c of calls) {
      if (c.status === 'fulfilled') assert.equal(c.value.status, 401);
    }
    await assert.rejects(client.refresh(), (e) => e instanceof AuthError && e.error === 'invalid_grant');
  });

  test('a store outage (503) on refresh is not a logout: the session stays and the next call recovers', async () => {
    const clock = manualClock();
    const server = fakeServer(clock.now);
    const client = createClient({ fetch: server.fetch, clock: clock.now, locks: null, channel: null });
    const events: string[] = [];
    client.on('logout', (e) => events.push(e.reason));
    const first = await client.login('alice', 'pw');
    server.state.outage = true;
    await assert.rejects(
      client.refresh(),
      (e) => e instanceof AuthError && e.status === 503 && e.error === 'temporarily_unavailable' && e.reason === undefined,
    );
    assert.deepEqual(client.session, first, 'the session is kept');
    // The access token expires during the outage: the call fails, the session still stays.
    clock.advance(901_000);
    await assert.rejects(client.fetch('/me'), (e) => e instanceof AuthError && e.status === 503);
    assert.equal(client.session?.refreshToken, first.refreshToken);
    assert.deepEqual(events, []);
    // The store is back: the same refresh token still works.
    server.state.outage = false;
    const res = await client.fetch('/me');
    assert.equal(res.status, 200);
    assert.deepEqual(events, []);
  });

  test("the logout reason is the body's `reason`, never a reading of the English description", async () => {
    const cases: [Record<string, unknown>, string][] = [
      // A description that mentions reuse, with another reason: the reason wins.
      [{ error: 'invalid_grant', error_description: 'The refresh token was already used', reason: 'revoked' }, 'revoked'],
      [{ error: 'invalid_grant', error_description: 'Sitzung beendet', reason: 'reused' }, 'reused'],
      [{ error: 'invalid_grant', error_description: 'x', reason: 'expired' }, 'expired'],
      // Reasons without a logout reason of their own, or none at all: plain invalid_grant.
      [{ error: 'invalid_grant', error_description: 'reuse detected, expired, revoked', reason: 'malformed' }, 'invalid_grant'],
      [{ error: 'invalid_grant', error_description: 'Refresh token reused' }, 'invalid_grant'],
    ];
    for (const [body, expected] of cases) {
      const fetch: FetchLike = async (url) =>
        new URL(url, 'http://x').pathname === '/auth/token'
          ? new Response(JSON.stringify({ access_token: 'a', refresh_token: 'r', expires_in: 900 }), { status: 200 })
          : new Response(JSON.stringify(body), { status: 400 });
      const client = createClient({ fetch, locks: null, channel: null });
      const events: string[] = [];
      client.on('logout', (e) => events.push(e.reason));
      await client.login('alice', 'pw');
      await assert.rejects(client.refresh(), (e) => e instanceof AuthError && e.reason === body.reason);
      assert.deepEqual(events, [expected], JSON.stringify(body));
      assert.equal(client.session, null);
    }
  });

  test('no 5xx or 429 ends the session, whatever its body says', async () => {
    for (const [status, body] of [
      [503, { error: 'temporarily_unavailable', error_description: 'The token store is unavailable; retry later' }],
      [500, { error: 'server_error', error_description: 'Internal server error' }],
      // Even a broken proxy that sends a token-looking body with a 5xx.
      [502, { error: 'invalid_grant', reason: 'reused' }],
      [429, { error: 'slow_down', error_description: 'Too many requests' }],
    ] as const) {
      const fetch: FetchLike = async (url) =>
        new URL(url, 'http://x').pathname === '/auth/token'
          ? new Response(JSON.stringify({ access_token: 'a', refresh_token: 'r', expires_in: 900 }), { status: 200 })
          : new Response(JSON.stringify(body), { status });
      const client = createClient({ fetch, locks: null, channel: null });
      const events: string[] = [];
      client.on('logout', (e) => events.push(e.reason));
      await client.login('alice', 'pw');
      await assert.rejects(client.refresh(), (e) => e instanceof AuthError && e.status === status);
      assert.deepEqual(events, [], String(status));
      assert.notEqual(client.session, null, String(status));
    }
  });

  test('login failure is an AuthError with the server error code', async () => {
    const fetch: FetchLike = async () =>
      new Response(JSON.stringify({ error: 'invalid_grant', error_description: 'Invalid credentials' }), { status: 400 });
    const client = createClient({ fetch, locks: null, channel: null });
    await assert.rejects(
      client.login('a', 'b'),
      (e) => e instanceof AuthError && e.status === 400 && e.error === 'invalid_grant',
    );
  });

  test('cookie mode sends no refresh token body, includes credentials and the CSRF header', async () => {
    const seen: RequestInit[] = [];
    const fetch: FetchLike = async (_url, init) => {
      seen.push(init ?? {});
      return new Response(JSON.stringify({ access_token: 'a2', expires_in: 900, token_type: 'Bearer' }), { status: 200 });
    };
    const client = createClient({
      fetch,
      cookieMode: true,
      csrfHeader: { name: 'x-tessera-csrf', value: '1' },
      locks: null,
      channel: null,
    });
    const s = await client.refresh();
    assert.equal(s.refreshToken, undefined);
    assert.equal(seen[0]?.credentials, 'include');
    assert.equal(new Headers(seen[0]?.headers).get('x-tessera-csrf'), '1');
    assert.deepEqual(JSON.parse(String(seen[0]?.body)), {});
  });

  test('cookie mode reads the tessera_csrf cookie for X-CSRF-Token by default, at each call', async () => {
    const g = globalThis as { document?: { cookie: string } };
    const seen: RequestInit[] = [];
    const fetch: FetchLike = async (_url, init) => {
      seen.push(init ?? {});
      return new Response(JSON.stringify({ access_token: 'a', expires_in: 900, token_type: 'Bearer' }), { status: 200 });
    };
    g.document = { cookie: 'other=1; tessera_csrf=first' };
    try {
      const client = createClient({ fetch, cookieMode: true, locks: null, channel: null });
      await client.refresh();
      g.document.cookie = 'tessera_csrf=second';
      await client.refresh();
    } finally {
      delete g.document;
    }
    assert.deepEqual(
      seen.map((i) => new Headers(i.headers).get('x-csrf-token')),
      ['first', 'second'],
    );
  });
});

/** In-process stand-ins for navigator.locks and BroadcastChannel shared by "tabs". */
function tabsHub() {
  const channels = new Set<{ listeners: ((e: { data: unknown }) => void)[] }>();
  const makeChannel = (): ChannelLike => {
    const me = { listeners: [] as ((e: { data: unknown }) => void)[] };
    channels.add(me);
    return {
      postMessage(data) {
        for (const c of channels)
          if (c !== me) for (const l of c.listeners) queueMicrotask(() => l({ data: structuredClone(data) }));
      },
      addEventListener(_t, l) {
        me.listeners.push(l);
      },
      close() {
        channels.delete(me);
      },
    };
  };
  let tail: Promise<unknown> = Promise.resolve();
  const locks: LockManagerLike = {
    request(_name, cb) {
      const run = tail.then(cb, cb);
      tail = run.catch(() => undefined);
      return run;
    },
  };
  return { makeChannel, locks };
}

describe('client across tabs', () => {
  for (const mode of ['web-locks', 'broadcast-election'] as const) {
    test(`two tabs racing a refresh stay signed in (${mode})`, async () => {
      const clock = manualClock();
      const server = fakeServer(clock.now);
      const hub = tabsHub();
      const mk = () =>
        createClient({
          fetch: server.fetch,
          clock: clock.now,
          channel: hub.makeChannel(),
          locks: mode === 'web-locks' ? hub.locks : null,
        });
      const tab1 = mk();
      const tab2 = mk();
      const logouts: string[] = [];
      tab1.on('logout', (e) => logouts.push(`1:${e.reason}`));
      tab2.on('logout', (e) => logouts.push(`2:${e.reason}`));
      await tab1.login('alice', 'pw');
      await new Promise((r) => setImmediate(r));
      assert.equal(tab2.session?.accessToken, tab1.session?.accessToken, 'tab 2 adopted the login');
      clock.advance(901_000);
      const [a, b] = await Promise.all([tab1.fetch('/me'), tab2.fetch('/me')]);
      assert.equal(a.status, 200);
      assert.equal(b.status, 200);
      assert.equal(server.state.refreshCalls, 1);
      assert.deepEqual(logouts, []);
      tab1.close();
      tab2.close();
    });
  }
});
