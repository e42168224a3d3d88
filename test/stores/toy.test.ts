/**
 * The open store seam: a store that is not built in (a toy wrapping MemoryStore,
 * defined here) registered in one place, `registerStoreScheme`, passes the store
 * contract suite and is opened by URL through `openStore`, the server's
 * configuration and the CLI, none of which names it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { migrateCommand } from '../../src/cli/migrate.js';
import { serveCommand } from '../../src/cli/serve.js';
import { ConfigError } from '../../src/errors.js';
import { generateSecret } from '../../src/keys.js';
import { parseConfig, SETTINGS, storeConfig } from '../../src/server/config.js';
import { openConfiguredStore, startServer } from '../../src/server/server.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { type BuiltInStore, openStore, registerStoreScheme, storeSchemes } from '../../src/stores/open.js';
import { runStoreContract } from './contract.js';
import { deletePrefix, uniquePrefix } from './harness.js';

/** A MemoryStore under another name, with a schema of one version (the `migrate` capability). */
function toyStore(clock?: () => number): BuiltInStore {
  const inner = new MemoryStore({ clock });
  const extra: Record<string | symbol, unknown> = { kind: 'toy', migrate: async () => 1 };
  return new Proxy(inner, {
    get(target, name) {
      if (name in extra) return extra[name];
      const v = Reflect.get(target, name, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  }) as unknown as BuiltInStore;
}

const opened: string[] = [];
registerStoreScheme({
  schemes: ['toy:'],
  syntax: 'toy:NAME',
  open: async (spec, options) => {
    opened.push(spec);
    return toyStore(options.clock);
  },
});

runStoreContract('toy store registered by scheme', async (clock) => ({
  store: await openStore('toy:contract', { clock: clock.now }),
  realExpiry: false,
  cleanup: async () => {},
}));

test('openStore opens a registered scheme: the opener gets the spec', async () => {
  const store = await openStore('toy:by-url');
  assert.equal(store.kind, 'toy');
  assert.ok(opened.includes('toy:by-url'));
  await store.close();
});

test('the server configuration accepts a registered scheme and opens it', async () => {
  const config = storeConfig({}, { store: 'toy:server' });
  assert.equal(config.store, 'toy:server');
  assert.equal(config.storeFrom, '--store');
  const full = parseConfig({ TESSERA_STORE: 'toy:env', TESSERA_SECRET: generateSecret() });
  assert.equal(full.store, 'toy:env');
  const store = await openConfiguredStore({ store: 'toy:server', storeFrom: '--store', redisPrefix: 'tessera:' });
  assert.equal(store.kind, 'toy');
  await store.close();
});

test('an unknown scheme is refused with every registered syntax named, the toy included', async () => {
  assert.throws(
    () => storeConfig({ TESSERA_STORE: 'nope://x' }),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /^TESSERA_STORE must be memory, sqlite:PATH, .* or toy:NAME, got "nope:\/\/x"$/);
      return true;
    },
  );
  await assert.rejects(openStore('nope://x'), /unknown store "nope:\/\/x"; expected memory, .*toy:NAME/);
  assert.throws(() => storeConfig({}, { store: 'toy:' }), ConfigError, 'a scheme needs something after it');
});

test('tessera migrate uses the migrate capability of a registered store', async () => {
  let out = '';
  const io = { out: (l: string) => (out += `${l}\n`), err: () => {} };
  assert.equal(await migrateCommand(['--store', 'toy:migrate'], io), 0);
  assert.equal(out, 'toy:migrate: schema at version 1\n');
});

test('the help of --store and the serve usage line list the registered scheme', async () => {
  assert.match(SETTINGS.store.help, /toy:NAME/);
  let out = '';
  assert.equal(await serveCommand(['--help'], { out: (l) => (out += `${l}\n`), err: () => {} }), 0);
  assert.match(out.split('\n')[0] ?? '', /--store memory\|.*\|postgres:\/\/\.\.\.\|toy:NAME\]/);
});

test('a scheme is registered once: a second row for it is a ConfigError; removing a row removes the scheme', async () => {
  assert.throws(() => registerStoreScheme({ schemes: ['toy:'], syntax: 'toy:X', open: async () => toyStore() }), ConfigError);
  assert.throws(() => registerStoreScheme({ schemes: ['memory'], syntax: 'memory', open: async () => toyStore() }), ConfigError);
  assert.throws(() => registerStoreScheme({ schemes: ['Bad Scheme'], syntax: 'x', open: async () => toyStore() }), ConfigError);
  const remove = registerStoreScheme({ schemes: ['other:'], syntax: 'other:X', open: async () => toyStore() });
  assert.ok(storeSchemes().some((r) => r.schemes.includes('other:')));
  assert.equal((await openStore('other:1')).kind, 'toy');
  remove();
  await assert.rejects(openStore('other:1'), ConfigError);
});

test("the server keeps its guessing-limiter counters in the store's sharedCounters() client, whatever the store", async (t) => {
  const { Redis } = await import('ioredis');
  const counters = new Redis('redis://127.0.0.1:6379', { lazyConnect: false });
  const prefix = uniquePrefix('toy-counters');
  t.after(async () => {
    await deletePrefix(counters, prefix);
    counters.disconnect();
  });
  const remove = registerStoreScheme({
    schemes: ['toycounters:'],
    syntax: 'toycounters:NAME',
    open: async (_spec, options) => {
      const store = toyStore(options.clock);
      return new Proxy(store, {
        get: (target, name) => (name === 'sharedCounters' ? () => counters : Reflect.get(target, name, target)),
      });
    },
  });
  t.after(remove);
  const config = parseConfig(
    {
      TESSERA_SECRET: generateSecret(),
      TESSERA_STORE: 'toycounters:x',
      TESSERA_REDIS_PREFIX: prefix,
      TESSERA_RATE_LIMIT: '10',
      TESSERA_SCRYPT_N: '1024',
      TESSERA_LOG_LEVEL: 'silent',
    },
    { port: '0' },
  );
  const server = await startServer(config, { note: () => {} });
  try {
    const res = await fetch(`${server.url}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'password', username: 'alice', password: 'wrong' }),
    });
    assert.equal(res.status, 400);
  } finally {
    await server.close();
  }
  const keys = await counters.keys(`${prefix}gl:*`);
  assert.ok(keys.length > 0, 'a failed login is counted in the shared client');
});
