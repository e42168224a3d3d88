/**
 * The PostgreSQL store through PgBouncer in transaction mode, as docs/stores.md recommends: a
 * real `pgbouncer` (Debian's, 1.18: before 1.21, so it cannot carry named prepared statements)
 * started on a port of its own with its default settings. The store must connect (PgBouncer
 * refuses the `statement_timeout` startup parameter unless told to ignore it), and rotations from
 * many clients at once must all answer, the named statements that land on another server
 * connection refused by PostgreSQL and run again unnamed.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { createTokenService } from '../../src/refresh/service.js';
import type { TokenPair } from '../../src/refresh/types.js';
import { openPostgresStore } from '../../src/stores/postgres.js';
import { dropSchema, PG_URL, postgresUnavailable, SECRET, skipUnlessAvailable, uniqueSchema } from './harness.js';

const BINARY = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'].find((p) => existsSync(p));
const unavailable = (await postgresUnavailable()) ?? (BINARY ? undefined : 'no pgbouncer (apt-get install pgbouncer)');

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('PostgreSQL store through PgBouncer (transaction mode)', skipUnlessAvailable(unavailable), () => {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-pgbouncer-'));
  let child: ChildProcess | undefined;
  let url = '';
  const schemas: string[] = [];

  before(async () => {
    const target = new URL(PG_URL);
    const port = await freePort();
    writeFileSync(join(dir, 'users.txt'), `"${decodeURIComponent(target.username) || 'postgres'}" ""\n`);
    writeFileSync(
      join(dir, 'pgbouncer.ini'),
      [
        '[databases]',
        `* = host=${target.hostname} port=${target.port || 5432}`,
        '[pgbouncer]',
        'listen_addr = 127.0.0.1',
        `listen_port = ${port}`,
        'auth_type = trust',
        `auth_file = ${join(dir, 'users.txt')}`,
        'pool_mode = transaction',
        // Fewer server connections than the store's pool: clients really move between them.
        'default_pool_size = 3',
        'unix_socket_dir =',
        '',
      ].join('\n'),
    );
    // PgBouncer will not run as root; -u drops to the database's user, who must read the files.
    const root = process.getuid?.() === 0;
    if (root) execFileSync('chown', ['-R', 'postgres', dir]);
    const args = root ? ['-u', 'postgres', join(dir, 'pgbouncer.ini')] : [join(dir, 'pgbouncer.ini')];
    child = spawn(BINARY as string, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    url = `postgres://${target.username || 'postgres'}@127.0.0.1:${port}${target.pathname}`;
    for (let i = 0; ; i++) {
      const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: 500 });
      try {
        await probe.connect();
        await probe.query('SELECT 1');
        await probe.end();
        break;
      } catch (e) {
        await probe.end().catch(() => {});
        if (i > 50 || child.exitCode !== null) throw new Error(`pgbouncer did not start: ${(e as Error).message}\n${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });

  after(async () => {
    child?.kill('SIGTERM');
    for (const s of schemas) await dropSchema(s);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Refusals of named statements PostgreSQL sends back through the pooler (26000, 42P05), counted at the driver. */
  function countRefusals(t: { after(fn: () => void): void }): () => number {
    const proto = pg.Client.prototype as unknown as { query: (...a: unknown[]) => unknown };
    const original = proto.query;
    let refused = 0;
    proto.query = function (this: unknown, ...args: unknown[]) {
      const r = original.apply(this, args);
      if (r instanceof Promise)
        r.catch((e: { code?: string }) => {
          if (e?.code === '26000' || e?.code === '42P05') refused++;
        });
      return r;
    };
    t.after(() => {
      proto.query = original;
    });
    return () => refused;
  }

  async function refreshMany(prepare: boolean | undefined): Promise<{ ok: number; codes: Set<string> }> {
    const schema = uniqueSchema('pgb');
    schemas.push(schema);
    const store = await openPostgresStore(`${url}?schema=${schema}&pool=8${prepare === false ? '&prepare=false' : ''}`, {
      purgeIntervalMs: 0,
    });
    try {
      const tokens = createTokenService({ secret: SECRET, store, access: { revocationPush: false } });
      let pairs: TokenPair[] = await Promise.all(
        Array.from({ length: 24 }, (_, i) => tokens.issue({ sub: `pgb-${i}`, clientId: 'web' })),
      );
      let ok = 0;
      const codes = new Set<string>();
      for (let round = 0; round < 8; round++) {
        pairs = await Promise.all(
          pairs.map(async (p) => {
            try {
              const q = await tokens.refresh(p.refreshToken, { clientId: 'web' });
              ok++;
              return q;
            } catch (e) {
              codes.add((e as { code?: string }).code ?? String(e));
              return p;
            }
          }),
        );
      }
      return { ok, codes };
    } finally {
      await store.close();
    }
  }

  test('with its default settings: the store connects, and 8 rounds of 24 concurrent refreshes all answer; named statements are refused and run again unnamed', async (t) => {
    const refused = countRefusals(t);
    const { ok, codes } = await refreshMany(undefined);
    assert.deepEqual([ok, [...codes]], [24 * 8, []]);
    assert.ok(refused() > 0, 'PgBouncer 1.18 moved a named statement to another server connection at least once');
  });

  test('?prepare=false: no named statement, nothing refused', async (t) => {
    const refused = countRefusals(t);
    const { ok, codes } = await refreshMany(false);
    assert.deepEqual([ok, [...codes], refused()], [24 * 8, [], 0]);
  });
});
