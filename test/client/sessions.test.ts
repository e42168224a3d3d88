/**
 * `tessera/client` against the reference server (Fastify, injected): sessions(), endSession(id)
 * and revokeOtherSessions(); a device whose session another ended is signed out at its next call.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AuthError, createClient, type FetchLike } from '../../src/client/index.js';
import { type Driver, driver, PASSWORD, type Shared, shared } from '../conformance/adapters.js';

let s: Shared;
let d: Driver;
before(async () => {
  s = await shared();
  d = await driver('fastify', s);
  await s.users.add('devices', PASSWORD);
});
after(async () => {
  await d.close();
  await s.close();
});

/** A device: the client over the injected server, with its own User-Agent. */
function device(userAgent: string) {
  const fetch: FetchLike = async (url, init = {}) => {
    const headers: Record<string, string> = { 'user-agent': userAgent };
    new Headers(init.headers).forEach((v, k) => {
      headers[k] = v;
    });
    const res = await d.call({
      method: init.method ?? 'GET',
      url,
      headers,
      ...(typeof init.body === 'string' ? { payload: init.body } : {}),
    });
    return new Response(res.status === 204 ? null : res.text, { status: res.status, headers: res.headers });
  };
  const client = createClient({ fetch, locks: null, channel: null });
  const logouts: string[] = [];
  client.on('logout', (e) => logouts.push(e.reason));
  return { client, logouts };
}

test('a device lists the sessions, ends another (which is signed out at its next call), then every other', async () => {
  const laptop = device('Laptop/1');
  const phone = device('Phone/1');
  await laptop.client.login('devices', PASSWORD);
  await phone.client.login('devices', PASSWORD);
  const listed = await laptop.client.sessions();
  assert.deepEqual(listed.map((x) => [x.user_agent, x.grant]).sort(), [
    ['Laptop/1', 'password'],
    ['Phone/1', 'password'],
  ]);
  assert.equal(listed.find((x) => x.current)?.user_agent, 'Laptop/1');
  const phoneId = listed.find((x) => x.user_agent === 'Phone/1')?.id as string;

  await laptop.client.endSession(phoneId);
  await assert.rejects(phone.client.sessions(), (e: unknown) => e instanceof AuthError && e.reason === 'revoked');
  assert.equal(phone.client.session, null, 'the phone shows the signed-out state');
  assert.deepEqual(phone.logouts, ['revoked']);
  await assert.rejects(laptop.client.endSession(phoneId), (e: unknown) => e instanceof AuthError && e.status === 404);

  const tablet = device('Tablet/1');
  await tablet.client.login('devices', PASSWORD);
  await laptop.client.revokeOtherSessions();
  await assert.rejects(tablet.client.sessions(), AuthError);
  assert.equal(tablet.client.session, null);
  const left = await laptop.client.sessions();
  assert.deepEqual(
    left.map((x) => [x.user_agent, x.current]),
    [['Laptop/1', true]],
  );

  // Ending its own session signs this device out at once.
  await laptop.client.endSession(left[0]?.id as string);
  assert.equal(laptop.client.session, null);
  assert.deepEqual(laptop.logouts, ['user']);
});
