import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../src/errors.js';
import { openStore, parseClusterSpec } from '../../src/stores/open.js';
import { tempSqlitePath } from './harness.js';

test('openStore: memory and sqlite:PATH (parent directories created)', async (t) => {
  const memory = await openStore('memory');
  assert.equal(memory.kind, 'memory');
  const file = tempSqlitePath();
  t.after(() => file.remove());
  const path = join(file.path, '..', 'nested', 'dir', 'tokens.db');
  const sqlite = await openStore(`sqlite:${path}`);
  assert.equal(sqlite.kind, 'sqlite');
  assert.ok(existsSync(path));
  await sqlite.close();
  await memory.close();
});

test('openStore: unknown or incomplete specs are ConfigErrors that hide passwords', async () => {
  await assert.rejects(openStore('mysql://x'), ConfigError);
  await assert.rejects(openStore('sqlite:'), ConfigError);
  await assert.rejects(openStore('redis+cluster://'), ConfigError);
  await assert.rejects(openStore('redis+cluster://host-without-port'), ConfigError);
  const e = await openStore('mongodb://user:hunter2@db:27017').catch((err: unknown) => err);
  assert.ok(e instanceof ConfigError);
  assert.ok(!e.message.includes('hunter2'));
});

test('parseClusterSpec: hosts, IPv6, credentials', () => {
  assert.deepEqual(parseClusterSpec('redis+cluster://127.0.0.1:7101,127.0.0.1:7102'), {
    nodes: [
      { host: '127.0.0.1', port: 7101 },
      { host: '127.0.0.1', port: 7102 },
    ],
    username: undefined,
    password: undefined,
  });
  assert.deepEqual(parseClusterSpec('redis+cluster://app:p%40ss@[::1]:7000/'), {
    nodes: [{ host: '::1', port: 7000 }],
    username: 'app',
    password: 'p@ss',
  });
  assert.equal(parseClusterSpec('redis+cluster://:secret@h:1').password, 'secret');
});
