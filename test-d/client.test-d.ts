/** `tessera-auth/client`: the browser and Node client (see index.test-d.ts for how these tests work). */
import { AuthError, createClient, type LogoutReason, type Session, type TesseraClient } from 'tessera-auth/client';
import { expectType } from './helpers.js';

const client = createClient({ baseUrl: 'https://api.example', refreshAheadSeconds: 30 });
expectType<TesseraClient>()(client);
expectType<Session | null>()(client.session);
const session = await client.login('alice', 'a long password');
expectType<Session>()(session);
expectType<number>()(session.expiresAt);
const [signedIn] = await client.sessions();
if (signedIn) expectType<string | null>()(signedIn.grant);
const res: Response = await client.fetch('/me');
void res;

const off = client.on('logout', (event) => {
  expectType<LogoutReason>()(event.reason);
  // @ts-expect-error 'timeout' is not a logout reason
  if (event.reason === 'timeout') return;
});
expectType<() => void>()(off);
client.on('refresh', (event) => expectType<Session>()(event.session));
// @ts-expect-error there is no 'login' event
client.on('login', () => {});
// @ts-expect-error the session is read-only: setSession() replaces it
client.session = null;
// @ts-expect-error refreshAheadSeconds is a number of seconds
createClient({ refreshAheadSeconds: '30s' });

declare const e: unknown;
if (e instanceof AuthError) {
  expectType<number>()(e.status);
  expectType<string>()(e.error);
}
