/** `tessera client add|list|remove` (DESIGN "Clients"): stdout JSON, secrets hashed at rest, exit statuses. */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createClientService } from '../../src/oauth-clients/clients.js';
import { openPostgresStore } from '../../src/stores/postgres.js';
import { SqliteStore } from '../../src/stores/sqlite.js';
import { dropSchema, PG_URL, postgresUnavailable, skipUnlessAvailable, uniqueSchema } from '../stores/harness.js';
import { runCli, type Suite, tempDir } from '../support/processes.js';

const CLI: Suite = { rateLimit: 0, clockFile: false, dropNodeOptions: false, timeoutMs: 20_000 };

describe('tessera client', () => {
  const db = join(tempDir(), 'clients.db');
  const env = { TESSERA_STORE: `sqlite:${db}` };

  test('add prints one JSON object; a confidential secret is printed once and stored only as a hash', async () => {
    const pub = await runCli(CLI, ['client', 'add', 'spa'], env);
    assert.equal(pub.code, 0, pub.stderr);
    assert.deepEqual(JSON.parse(pub.stdout), {
      client_id: 'spa',
      client_type: 'public',
      redirect_uris: [],
      grant_types: ['password', 'refresh_token'],
      scope: '',
      first_party: false,
      dpop_bound_access_tokens: false,
    });
    assert.equal(pub.stdout.trim().split('\n').length, 1);

    const conf = await runCli(CLI, ['client', 'add', 'rs', '--confidential', '--introspect'], env);
    assert.equal(conf.code, 0, conf.stderr);
    const out = JSON.parse(conf.stdout) as Record<string, string>;
    assert.deepEqual(Object.keys(out), [
      'client_id',
      'client_type',
      'client_secret',
      'redirect_uris',
      'grant_types',
      'scope',
      'first_party',
      'dpop_bound_access_tokens',
    ]);
    assert.equal(out.client_type, 'confidential');
    assert.match(out.client_secret as string, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');

    // At rest: a verifier, never the secret (the database file holds no copy of it).
    const wal = `${db}-wal`;
    const raw = readFileSync(db).toString('latin1') + (existsSync(wal) ? readFileSync(wal).toString('latin1') : '');
    assert.ok(!raw.includes(out.client_secret as string));
    const store = new SqliteStore(db);
    try {
      const clients = createClientService(store);
      const rec = await store.getClient('rs');
      assert.match(rec?.secretHash ?? '', /^sha256\$/);
      assert.equal(rec?.introspect, true);
      const ok = await clients.authenticate({ clientId: 'rs', secret: out.client_secret });
      assert.ok(ok.ok && ok.authenticated);
      assert.deepEqual(await clients.authenticate({ clientId: 'rs', secret: 'nope' }), { ok: false, reason: 'bad_secret' });
    } finally {
      await store.close();
    }
  });

  test('list prints one JSON object per client, without secrets; remove deletes', async () => {
    await runCli(CLI, ['client', 'add', 'to-remove', '--confidential'], env);
    const list = await runCli(CLI, ['client', 'list'], env);
    assert.equal(list.code, 0, list.stderr);
    const rows = list.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      rows.map((r) => [r.client_id, r.client_type, r.introspect]),
      [
        ['rs', 'confidential', true],
        ['spa', 'public', false],
        ['to-remove', 'confidential', false],
      ],
    );
    assert.ok(!list.stdout.includes('secret'));
    assert.equal((await runCli(CLI, ['client', 'remove', 'to-remove'], env)).code, 0);
    const again = await runCli(CLI, ['client', 'remove', 'to-remove'], env);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /no client "to-remove"/);
  });

  test('add takes redirect URIs, post-logout URIs, grants, scope, --first-party and --dpop; they are stored and listed', async () => {
    const web = await runCli(
      CLI,
      [
        'client',
        'add',
        'web',
        '--confidential',
        '--redirect-uri',
        'https://web.example.com/cb',
        '--redirect-uri',
        'http://127.0.0.1/cb',
        '--post-logout-redirect-uri',
        'https://web.example.com/bye',
        '--grant',
        'authorization_code',
        '--grant',
        'refresh_token',
        '--grant',
        'client_credentials',
        '--scope',
        'read write',
        '--first-party',
        '--dpop',
      ],
      env,
    );
    assert.equal(web.code, 0, web.stderr);
    assert.equal(web.stdout.trim().split('\n').length, 1);
    const out = JSON.parse(web.stdout) as Record<string, unknown>;
    assert.match(out.client_secret as string, /^[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(
      { ...out, client_secret: undefined },
      {
        client_id: 'web',
        client_type: 'confidential',
        client_secret: undefined,
        redirect_uris: ['https://web.example.com/cb', 'http://127.0.0.1/cb'],
        grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
        scope: 'read write',
        first_party: true,
        dpop_bound_access_tokens: true,
      },
    );

    // A redirect URI alone: the authorization code flow and refresh by default, not first-party.
    const spa = await runCli(CLI, ['client', 'add', 'spa2', '--redirect-uri', 'com.example.app:/oauth'], env);
    assert.equal(spa.code, 0, spa.stderr);
    assert.deepEqual(JSON.parse(spa.stdout), {
      client_id: 'spa2',
      client_type: 'public',
      redirect_uris: ['com.example.app:/oauth'],
      grant_types: ['authorization_code', 'refresh_token'],
      scope: '',
      first_party: false,
      dpop_bound_access_tokens: false,
    });

    const list = await runCli(CLI, ['client', 'list'], env);
    assert.equal(list.code, 0, list.stderr);
    const rows = list.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const listed = rows.find((r) => r.client_id === 'web');
    assert.deepEqual(listed, {
      client_id: 'web',
      client_type: 'confidential',
      redirect_uris: ['https://web.example.com/cb', 'http://127.0.0.1/cb'],
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      scope: 'read write',
      first_party: true,
      dpop_bound_access_tokens: true,
      introspect: false,
      created_at: listed?.created_at,
      post_logout_redirect_uris: ['https://web.example.com/bye'],
    });
    assert.equal(typeof listed?.created_at, 'number');
    assert.ok(!list.stdout.includes('secret'));
  });

  test('a refused redirect URI or scope exits 1 with one line; options that do not go together or an unknown grant exit 2', async () => {
    for (const [args, pattern] of [
      [['--redirect-uri', 'http://web.example.com/cb'], /plain http/],
      [['--redirect-uri', 'https://web.example.com/cb#x'], /fragment/],
      [['--redirect-uri', 'https://u@web.example.com/cb'], /user information/],
      [['--post-logout-redirect-uri', 'myapp:/bye'], /post-logout redirect URI/],
      [['--scope', 'read read'], /twice/],
      [['--scope', 'caf\u00e9'], /RFC 6749 §3\.3/],
    ] as const) {
      const r = await runCli(CLI, ['client', 'add', 'refused', ...args], env);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, pattern);
    }
    for (const [args, pattern] of [
      [['--grant', 'client_credentials'], /needs --confidential/],
      [['--grant', 'authorization_code'], /needs a --redirect-uri/],
      [['--grant', 'implicit'], /unknown grant type "implicit"/],
    ] as const) {
      const r = await runCli(CLI, ['client', 'add', 'refused', ...args], env);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, pattern);
    }
    const list = await runCli(CLI, ['client', 'list'], env);
    assert.ok(!list.stdout.includes('"refused"'), 'nothing refused was stored');
  });

  test('refusals exit 1, usage errors 2', async () => {
    const taken = await runCli(CLI, ['client', 'add', 'spa'], env);
    assert.equal(taken.code, 1);
    assert.match(taken.stderr, /already exists/);
    assert.equal((await runCli(CLI, ['client', 'add', 'bad id!'], env)).code, 1);
    assert.equal((await runCli(CLI, ['client', 'add', 'x', '--introspect'], env)).code, 2, '--introspect needs --confidential');
    assert.equal((await runCli(CLI, ['client', 'add'], env)).code, 2);
    assert.equal((await runCli(CLI, ['client', 'frobnicate'], env)).code, 2);
    const help = await runCli(CLI, ['client', '--help'], env);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /tessera client add CLIENT_ID \[--confidential\] \[--introspect\] \[--first-party\]/);
    assert.match(help.stdout, /\[--redirect-uri URI\]\.\.\. \[--post-logout-redirect-uri URI\]\.\.\./);
    assert.match(help.stdout, /\[--grant authorization_code\|refresh_token\|password\|client_credentials\]\.\.\./);
    assert.match(help.stdout, /\[--scope "a b"\] \[--dpop\]/);
  });
});

describe('tessera client on PostgreSQL', skipUnlessAvailable(await postgresUnavailable()), () => {
  const schema = uniqueSchema('cli');
  const env = { TESSERA_STORE: `${PG_URL}?schema=${schema}` };
  after(() => dropSchema(schema));

  test('add, list and remove through the PostgreSQL store; the secret is stored only as a hash', async () => {
    const conf = await runCli(CLI, ['client', 'add', 'rs', '--confidential', '--introspect'], env);
    assert.equal(conf.code, 0, conf.stderr);
    const { client_secret } = JSON.parse(conf.stdout) as { client_secret: string };
    assert.equal((await runCli(CLI, ['client', 'add', 'spa'], env)).code, 0);
    const taken = await runCli(CLI, ['client', 'add', 'spa'], env);
    assert.equal(taken.code, 1);
    assert.match(taken.stderr, /already exists/);

    const store = await openPostgresStore(PG_URL, { schema, purgeIntervalMs: 0, poolSize: 1 });
    try {
      const { rows } = await store.pool.query(`SELECT secret_hash FROM "${schema}".clients WHERE client_id = 'rs'`);
      assert.match(rows[0]?.secret_hash as string, /^sha256\$/);
      assert.ok(!JSON.stringify(rows).includes(client_secret));
      const clients = createClientService(store);
      const ok = await clients.authenticate({ clientId: 'rs', secret: client_secret });
      assert.ok(ok.ok && ok.authenticated);
      assert.deepEqual(await clients.authenticate({ clientId: 'rs', secret: 'nope' }), { ok: false, reason: 'bad_secret' });
    } finally {
      await store.close();
    }

    const list = await runCli(CLI, ['client', 'list'], env);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(
      list.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { client_id: string }).client_id),
      ['rs', 'spa'],
    );
    assert.ok(!list.stdout.includes('secret'));
    assert.equal((await runCli(CLI, ['client', 'remove', 'spa'], env)).code, 0);
    assert.equal((await runCli(CLI, ['client', 'remove', 'spa'], env)).code, 1);
  });
});
