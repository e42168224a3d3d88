/**
 * `kill -9` of a tessera server on SQLite during refresh load,
 * repeated, then a restart on the same file each time:
 *
 * - the file is intact (PRAGMA integrity_check = ok, the WAL replayed);
 * - every acknowledged revocation holds (a revoker loop runs alongside the
 *   load: a revocation answered 200 must survive, one cut off by the kill may
 *   or may not have committed);
 * - no refresh token whose rotation was acknowledged works again;
 * - a rotation cut off by the kill (request sent, no answer) either committed
 *   (the old token is now consumed: 400) or did not (it still works): both are
 *   honest outcomes, counted and reported, nothing else is accepted.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { call, PASSWORD, type ServerProcess, serverEnv, startServer } from '../support/processes.js';
import { runLoad, type Sample, Session } from './load.js';
import { login, RELIABILITY, type TokenBody } from './support.js';

const KILLS = Number(process.env.RELIABILITY_SQLITE_KILLS ?? 3);
const LOAD_SESSIONS = 6;

const SCHEMES: { name: string; env: Record<string, string> }[] = [
  { name: 'opaque', env: { TESSERA_SCHEME: 'opaque' } },
  { name: 'jwt with --check-revocation', env: { TESSERA_SCHEME: 'jwt', TESSERA_CHECK_REVOCATION: '1' } },
];

for (const scheme of SCHEMES) {
  describe(`kill -9 on SQLite during refresh load: ${scheme.name}`, () => {
    let srv: ServerProcess | undefined;
    after(async () => {
      await srv?.kill();
    });

    test(`${KILLS} kills: file intact, revocations hold, consumed tokens stay consumed`, async () => {
      const env = serverEnv(RELIABILITY, { ...scheme.env, TESSERA_ALLOW_REGISTER: '1' });
      const file = join(env.TESSERA_DATA_DIR as string, 'tessera.db');
      env.TESSERA_STORE = `sqlite:${file}`;
      srv = await startServer(RELIABILITY, env);
      for (const u of ['revoker', ...Array.from({ length: LOAD_SESSIONS }, (_, i) => `load${i}`)]) {
        const r = await call(srv.url, 'POST', '/auth/register', { json: { username: u, password: PASSWORD } });
        assert.equal(r.status, 201, r.text);
      }

      const sessions = Array.from({ length: LOAD_SESSIONS }, (_, i) => new Session(`load${i}`));
      /** Sessions revoked with an acknowledged 200 (must stay revoked), and those cut off by a kill. */
      const revoked: TokenBody[] = [];
      let revocationsCutOff = 0;
      let cutOff = { committed: 0, notCommitted: 0 };
      const samples: Sample[] = [];

      for (let k = 0; k < KILLS; k++) {
        const base = srv.url;
        const load = runLoad({ sessions, bases: [base], sink: (s) => samples.push(s) });
        let revoking = true;
        const revoker = (async () => {
          while (revoking) {
            let t: TokenBody;
            try {
              t = await login(base, 'revoker');
            } catch {
              return; // the server is gone
            }
            try {
              const r = await call(base, 'POST', '/auth/revoke', { form: { token: t.refresh_token } });
              if (r.status === 200) revoked.push(t);
              else revocationsCutOff++;
            } catch {
              revocationsCutOff++;
            }
          }
        })();
        // Kill once the load is well under way (by rotations, not by time: CI machines vary), at a different moment each time.
        const target = sessions.reduce((n, s) => n + s.rotations, 0) + 80 + 40 * k;
        const deadline = Date.now() + 20_000;
        while (sessions.reduce((n, s) => n + s.rotations, 0) < target && Date.now() < deadline) await sleep(20);
        await sleep(Math.floor(Math.random() * 150));
        await srv.kill();
        revoking = false;
        await revoker;
        await load.stop();

        // The file after the crash: WAL replayed, every page consistent.
        const db = new Database(file);
        try {
          assert.equal(db.pragma('integrity_check', { simple: true }), 'ok', 'integrity_check after kill -9');
          assert.equal((db.pragma('foreign_key_check') as unknown[]).length, 0);
          assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
        } finally {
          db.close();
        }

        srv = await startServer(RELIABILITY, env);
        // Rotations cut off by the kill: committed or not, never anything else.
        for (const s of sessions) {
          if (!s.uncertain || s.refresh === '') continue;
          const before = s.consumed.length;
          const status = await s.rotate(srv.url);
          if (status === 200) cutOff.notCommitted++;
          else if (status === 400) cutOff.committed++;
          else assert.fail(`${s.username}: a cut-off rotation's token answered ${status}`);
          assert.ok(s.consumed.length >= before);
        }
      }

      const base = srv.url;
      // Every acknowledged revocation holds.
      for (const t of revoked) {
        assert.equal((await call(base, 'GET', '/me', { token: t.access_token })).status, 401, 'a revoked session authenticated');
        const r = await call(base, 'POST', '/auth/refresh', { json: { refresh_token: t.refresh_token } });
        assert.equal(r.status, 400, 'a revoked session refreshed');
      }
      // Every session still works (its current token was never consumed), and nothing acknowledged as consumed works.
      for (const s of sessions) {
        assert.deepEqual(s.unexplained, [], `${s.username}: refusals the ledger cannot explain`);
        if (s.refresh !== '') assert.equal(await s.rotate(base), 200, `${s.username}: its live session did not survive`);
        for (const t of [...s.consumed.slice(0, 30), ...s.consumed.slice(-30)]) {
          const r = await call(base, 'POST', '/auth/refresh', { json: { refresh_token: t } });
          assert.equal(r.status, 400, `${s.username}: an acknowledged, consumed refresh token was accepted again`);
        }
      }
      const broken = samples.filter((s) => s.status >= 500);
      assert.deepEqual(broken.slice(0, 3), [], '5xx before a kill');
      const rotations = sessions.reduce((n, s) => n + s.rotations, 0);
      assert.ok(rotations >= 80 * KILLS, `only ${rotations} rotations`);
      assert.ok(revoked.length >= KILLS, `only ${revoked.length} revocations`);
      process.stdout.write(
        `# ${scheme.name}: ${KILLS} x kill -9, ${rotations} acknowledged rotations, ${revoked.length} acknowledged revocations held, ` +
          `${revocationsCutOff} revocations cut off, cut-off rotations: ${cutOff.committed} committed, ${cutOff.notCommitted} not\n`,
      );
      cutOff = { committed: 0, notCommitted: 0 };
    });
  });
}
