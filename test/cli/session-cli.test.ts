/** `tessera session list|revoke|revoke-all`: JSON lines on stdout, exit statuses, and revocations every instance hears. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SESSION_HELP } from '../../src/cli/session.js';
import { generateSecret } from '../../src/keys.js';
import { createTokenService } from '../../src/refresh/service.js';
import { SqliteStore } from '../../src/stores/sqlite.js';
import { createUserService } from '../../src/users/users.js';
import { codeOf } from '../stores/contract.js';
import { runCli, type Suite, tempDir } from '../support/processes.js';

const CLI: Suite = { rateLimit: 0, clockFile: false, dropNodeOptions: false, timeoutMs: 20_000 };
const FIELDS = ['id', 'client_id', 'created_at', 'last_used_at', 'expires_at', 'user_agent', 'address', 'current', 'grant'];

describe('tessera session', () => {
  const db = join(tempDir(), 'sessions.db');
  const env = { TESSERA_STORE: `sqlite:${db}` };
  // A running instance on the same file: it hears revocations through the store's push.
  let store: SqliteStore;
  let tokens: ReturnType<typeof createTokenService>;
  let laptop: Awaited<ReturnType<typeof tokens.issue>>;
  let phone: Awaited<ReturnType<typeof tokens.issue>>;
  let erin: Awaited<ReturnType<typeof tokens.issue>>;

  before(async () => {
    store = new SqliteStore(db, { pollIntervalMs: 50 });
    const users = createUserService(store, { scrypt: { N: 1024, r: 8, p: 1, keyLength: 32 } });
    const dana = await users.add('dana', 'correct horse battery staple');
    const e = await users.add('erin', 'correct horse battery staple');
    tokens = createTokenService({ secret: generateSecret(), store });
    laptop = await tokens.issue({
      sub: dana.id,
      clientId: 'web',
      userAgent: 'Firefox/140',
      address: '198.51.100.7',
      grant: 'authorization_code',
    });
    phone = await tokens.issue({ sub: dana.id, userAgent: 'Safari/18', address: '2001:db8:1:2::3' });
    erin = await tokens.issue({ sub: e.id });
  });
  after(async () => {
    tokens.close();
    await store.close();
  });

  const list = async (name: string) => {
    const r = await runCli(CLI, ['session', 'list', name], env);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  };

  test('list prints one JSON object per session, with the fields of GET /auth/sessions', async () => {
    const lines = await list('dana');
    assert.equal(lines.length, 2);
    for (const l of lines) {
      assert.deepEqual(Object.keys(l), FIELDS);
      assert.equal(l.current, false);
      for (const t of ['created_at', 'last_used_at', 'expires_at']) assert.match(l[t] as string, /^\d{4}-\d\d-\d\dT[\d:.]+Z$/);
    }
    const byId = new Map(lines.map((l) => [l.id, l]));
    const fields = (l: Record<string, unknown> | undefined) => [l?.client_id, l?.user_agent, l?.address, l?.grant];
    assert.deepEqual(fields(byId.get(laptop.familyId)), ['web', 'Firefox/140', '198.51.100.0', 'authorization_code']);
    assert.deepEqual(fields(byId.get(phone.familyId)), ['', 'Safari/18', '2001:db8:1::', null], 'grant null: none recorded');
    const unknown = await runCli(CLI, ['session', 'list', 'nobody'], env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no user "nobody"/);
  });

  test('revoke ends one session: every running instance refuses its tokens within a second; again, or an unknown id, is refused', async () => {
    assert.equal(await codeOf(tokens.authenticate(phone.accessToken)), 'ok');
    const r = await runCli(CLI, ['session', 'revoke', phone.familyId], env);
    assert.equal(r.code, 0, r.stderr);
    const ended = performance.now();
    while ((await codeOf(tokens.authenticate(phone.accessToken))) !== 'revoked') {
      assert.ok(performance.now() - ended < 1000, 'refused within a second');
      await new Promise((res) => setTimeout(res, 20));
    }
    assert.equal(await codeOf(tokens.refresh(phone.refreshToken)), 'revoked');
    assert.equal(await codeOf(tokens.authenticate(laptop.accessToken)), 'ok');
    assert.deepEqual(
      (await list('dana')).map((l) => l.id),
      [laptop.familyId],
    );
    for (const id of [phone.familyId, 'no-such-session']) {
      const again = await runCli(CLI, ['session', 'revoke', id], env);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /no live session/);
    }
  });

  test("revoke-all ends every session of the user and no one else's", async () => {
    const r = await runCli(CLI, ['session', 'revoke-all', 'dana'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await list('dana'), []);
    assert.equal((await list('erin')).length, 1);
    assert.equal(await codeOf(tokens.refresh(laptop.refreshToken)), 'revoked');
    assert.equal(await codeOf(tokens.authenticate(erin.accessToken)), 'ok');
  });

  test('help and usage errors', async () => {
    const help = await runCli(CLI, ['session', '--help'], env);
    assert.equal(help.code, 0);
    assert.equal(help.stdout.trim(), SESSION_HELP);
    for (const args of [
      ['session', 'list'],
      ['session', 'end', 'x'],
      ['session', 'revoke', 'a', 'b'],
      ['session', 'list', 'dana', '--bogus'],
    ]) {
      const r = await runCli(CLI, args, env);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    }
  });
});
