/**
 * Soak: a bounded run of mixed login / refresh / /me / logout /
 * logout-all against two real servers on one private Redis (opaque; jwt with
 * --check-revocation), with short token lifetimes (access 5 s, refresh 10 s).
 * The one suite where real time passes: SOAK_SECONDS of load (default 40;
 * `npm run soak` runs 600), then the lifetimes run out.
 *
 * - Memory levels off: every few seconds of the run's second half, each server
 *   runs a full garbage collection and reports its resident set (VmRSS) and
 *   what JS holds (heap used + external) (./soak-probe.mjs, loaded into the
 *   servers with --expose-gc: it says why); over the second half neither grows
 *   by max(16 MiB, 10 %) or more.
 * - Nothing grows forever: after the lifetimes pass, the token-state keys under
 *   each server's prefix (families, opaque records, deny-list, family indexes)
 *   are gone, and the total is back to the baseline plus at most one
 *   "logged out everywhere" epoch per user.
 * - No error but the provoked ones: the load replays consumed refresh tokens
 *   (400, reuse) and uses tokens of ended sessions (401 / 400) on purpose, and
 *   expects exactly those answers; every other request must succeed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { call, PASSWORD, type ServerProcess, serverEnv, startServer, tempDir } from '../support/processes.js';
import { needsRedisServer, RELIABILITY, type RedisProcess, startRedis, waitFor } from './support.js';

const SOAK_SECONDS = Number(process.env.SOAK_SECONDS ?? 40);
const USERS_PER_SERVER = 4;
const ACCESS_TTL = 5;
const REFRESH_TTL = 10;
const PROBE = pathToFileURL(join(import.meta.dirname, 'soak-probe.mjs')).href;
/** How often the second half asks each server for a sample after a full GC: 12 times (4 per third), at most once a second. */
const SETTLED_EVERY_MS = Math.max(1000, (SOAK_SECONDS * 1000) / 2 / 12);

/** One line of ./soak-probe.mjs: the server's memory right after a full collection (rss in KiB, the rest in bytes). */
interface Settled {
  at: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
}

interface Stats {
  requests: number;
  byKind: Record<string, number>;
  provoked: number;
  /** Tokens that ran out while a session was slow (the machine was busy): refused as `expired`, as they must be. */
  naturalExpiries: number;
  unexpected: string[];
}

/** A refusal of a token older than its lifetime (less a second of rounding) is the lifetime at work, not an error. */
function expiredNaturally(stats: Stats, status: number, body: string, issuedAt: number, ttl: number): boolean {
  if (!(status === 400 || status === 401) || !/expired/.test(body) || Date.now() - issuedAt < (ttl - 1) * 1000) return false;
  stats.naturalExpiries++;
  return true;
}

function expect(stats: Stats, kind: string, status: number, wanted: number | number[], body: string): void {
  stats.requests++;
  stats.byKind[kind] = (stats.byKind[kind] ?? 0) + 1;
  const ok = Array.isArray(wanted) ? wanted.includes(status) : status === wanted;
  if (!ok && stats.unexpected.length < 20) stats.unexpected.push(`${kind}: ${status} (wanted ${wanted}) ${body.slice(0, 200)}`);
}

/** One virtual user: sessions of a few refreshes and /me calls, ended by logout (sometimes logout-all), with provocations. */
async function user(base: string, name: string, stats: Stats, until: () => boolean): Promise<void> {
  let round = 0;
  while (!until()) {
    round++;
    const lr = await call(base, 'POST', '/auth/token', { form: { grant_type: 'password', username: name, password: PASSWORD } });
    expect(stats, 'login', lr.status, 200, lr.text);
    if (lr.status !== 200) {
      await sleep(50);
      continue;
    }
    let t = lr.json as { access_token: string; refresh_token: string };
    let issuedAt = Date.now();
    const consumed: string[] = [];
    const rotations = 2 + (round % 5);
    let alive = true;
    for (let i = 0; i < rotations && !until() && alive; i++) {
      for (let j = 0; j < 2; j++) {
        const me = await call(base, 'GET', '/me', { token: t.access_token });
        if (!expiredNaturally(stats, me.status, me.text, issuedAt, ACCESS_TTL)) expect(stats, 'me', me.status, 200, me.text);
      }
      const r = await call(base, 'POST', '/auth/refresh', { json: { refresh_token: t.refresh_token } });
      if (expiredNaturally(stats, r.status, r.text, issuedAt, REFRESH_TTL)) alive = false;
      else expect(stats, 'refresh', r.status, 200, r.text);
      if (r.status !== 200) break;
      consumed.push(t.refresh_token);
      t = r.json;
      issuedAt = Date.now();
      await sleep(5);
    }
    const ended = { ...t };
    // A replay needs a consumed token: a session cut short by the end of the run has none.
    switch (round % 6 === 0 && consumed.length === 0 ? 5 : round % 6) {
      case 0: {
        // Provoked: a replay of a consumed token ends the session (reuse detection).
        const r = await call(base, 'POST', '/auth/refresh', { json: { refresh_token: consumed[0] } });
        expect(stats, 'replay (provoked)', r.status, 400, r.text);
        stats.provoked++;
        break;
      }
      case 3: {
        const r = await call(base, 'POST', '/auth/logout-all', { token: t.access_token });
        expect(stats, 'logout-all', r.status, 204, r.text);
        break;
      }
      case 4: {
        const r = await call(base, 'POST', '/auth/revoke', { form: { token: t.access_token } });
        expect(stats, 'revoke access', r.status, 200, r.text);
        const l = await call(base, 'POST', '/auth/logout', { json: { refresh_token: t.refresh_token } });
        expect(stats, 'logout', l.status, 204, l.text);
        break;
      }
      default: {
        const l = await call(base, 'POST', '/auth/logout', { json: { refresh_token: t.refresh_token } });
        expect(stats, 'logout', l.status, 204, l.text);
      }
    }
    // Provoked: the ended session's tokens are refused.
    const me = await call(base, 'GET', '/me', { token: ended.access_token });
    expect(stats, '/me after logout (provoked)', me.status, 401, me.text);
    const rr = await call(base, 'POST', '/auth/refresh', { json: { refresh_token: ended.refresh_token } });
    expect(stats, 'refresh after logout (provoked)', rr.status, 400, rr.text);
    stats.provoked += 2;
  }
}

interface Target {
  name: string;
  prefix: string;
  env: Record<string, string>;
  srv?: ServerProcess;
  /** Where ./soak-probe.mjs writes the server's samples. */
  probe: string;
  users: string[];
  stats: Stats;
  /** VmRSS read from outside at any moment of the GC cycle: only the peak is reported. */
  rss: { t: number; kib: number }[];
}

describe(`soak: ${SOAK_SECONDS} s of mixed traffic on Redis with short lifetimes`, needsRedisServer(), () => {
  let redis: RedisProcess;
  const targets: Target[] = [
    { name: 'opaque', prefix: 'soak-o:', env: { TESSERA_SCHEME: 'opaque' }, probe: '', users: [], stats: newStats(), rss: [] },
    {
      name: 'jwt with --check-revocation',
      prefix: 'soak-j:',
      env: { TESSERA_SCHEME: 'jwt', TESSERA_CHECK_REVOCATION: '1' },
      probe: '',
      users: [],
      stats: newStats(),
      rss: [],
    },
  ];
  function newStats(): Stats {
    return { requests: 0, byKind: {}, provoked: 0, naturalExpiries: 0, unexpected: [] };
  }
  const keys = (prefix: string, what = '*') =>
    redis.cli('--scan', '--pattern', `${prefix}${what}`).split('\n').filter(Boolean).length;
  /** Token-state keys: everything under the user hash tags but the logout-all epochs (kept for the absolute session lifetime). */
  const stateKeys = (prefix: string) =>
    redis
      .cli('--scan', '--pattern', `${prefix}{*`)
      .split('\n')
      .filter((k) => k !== '' && !k.includes(':nbf:')).length;
  const listKeys = (prefix: string) =>
    redis
      .cli('--scan', '--pattern', `${prefix}{*`)
      .split('\n')
      .filter((k) => k !== '' && !k.includes(':nbf:'))
      .slice(0, 5)
      .map((k) => `${k} ttl=${redis.cli('pttl', k)}`);

  before(async () => {
    redis = await startRedis();
    await Promise.all(
      targets.map(async (t) => {
        t.probe = join(tempDir('tessera-soak-'), 'memory.jsonl');
        t.srv = await startServer(
          RELIABILITY,
          serverEnv(RELIABILITY, {
            ...t.env,
            TESSERA_STORE: redis.url,
            TESSERA_REDIS_PREFIX: t.prefix,
            TESSERA_ACCESS_TTL: String(ACCESS_TTL),
            TESSERA_REFRESH_TTL: String(REFRESH_TTL),
            TESSERA_ALLOW_REGISTER: '1',
            TESSERA_RATE_LIMIT: '1000000',
            TESSERA_RATE_WINDOW: '2',
            NODE_OPTIONS: `--expose-gc --import ${PROBE}`,
            SOAK_PROBE_FILE: t.probe,
          }),
        );
        for (let i = 0; i < USERS_PER_SERVER; i++) {
          const name = `soak${i}`;
          const r = await call(t.srv.url, 'POST', '/auth/register', { json: { username: name, password: PASSWORD } });
          assert.equal(r.status, 201, r.text);
          t.users.push(name);
        }
      }),
    );
  });
  after(async () => {
    await Promise.all(targets.map((t) => t.srv?.kill()));
    await redis?.kill();
  });

  test('memory levels off, keys return to baseline, no unprovoked error', { timeout: (SOAK_SECONDS + 120) * 1000 }, async () => {
    await waitFor(
      () => targets.every((t) => keys(t.prefix, 'gl:*') === 0),
      10_000,
      'the brute-force counters (registrations count) to expire',
    );
    const baseline = Object.fromEntries(targets.map((t) => [t.prefix, keys(t.prefix)]));
    for (const t of targets) {
      assert.equal(stateKeys(t.prefix), 0);
      assert.equal(baseline[t.prefix], USERS_PER_SERVER, 'the baseline is the user records');
    }

    const start = Date.now();
    const end = start + SOAK_SECONDS * 1000;
    const until = () => Date.now() >= end;
    const sampler = setInterval(() => {
      for (const t of targets) t.rss.push({ t: Date.now() - start, kib: t.srv!.rssKiB() });
    }, 1000);
    // The settled samples (./soak-probe.mjs): the second half only, where the assertion looks.
    const askSettled = () => {
      for (const t of targets) t.srv!.child.kill('SIGUSR2');
    };
    let settler: NodeJS.Timeout | undefined;
    const halfway = setTimeout(
      () => {
        askSettled();
        settler = setInterval(askSettled, SETTLED_EVERY_MS);
      },
      (SOAK_SECONDS * 1000) / 2,
    );
    const peakKeys: Record<string, number> = {};
    const keySampler = setInterval(() => {
      for (const t of targets) peakKeys[t.prefix] = Math.max(peakKeys[t.prefix] ?? 0, stateKeys(t.prefix));
    }, 5000);
    try {
      await Promise.all(targets.flatMap((t) => t.users.map((u) => user(t.srv!.url, u, t.stats, until))));
    } finally {
      clearInterval(sampler);
      clearInterval(keySampler);
      clearTimeout(halfway);
      clearInterval(settler);
    }
    const loadEnded = Date.now();

    // Nothing grows forever: wait out the refresh lifetime (plus Redis's expiry cycle).
    await waitFor(
      () => targets.every((t) => stateKeys(t.prefix) === 0),
      (REFRESH_TTL + 30) * 1000,
      'the token-state keys to expire',
      500,
    ).catch((e) => {
      throw new Error(`${(e as Error).message}; left: ${targets.map((t) => listKeys(t.prefix).join(', ')).join('; ')}`);
    });
    const drained = Date.now() - loadEnded;
    for (const t of targets) {
      const peak = peakKeys[t.prefix] ?? 0;
      assert.ok(peak > 100, `${t.name}: only ${peak} token-state keys at the peak: the key count is not measured`);
    }
    await waitFor(() => targets.every((t) => keys(t.prefix, 'gl:*') === 0), 10_000, 'rate-limit counters to expire');

    const lines: string[] = [];
    for (const t of targets) {
      const s = t.stats;
      const total = keys(t.prefix);
      const epochs = keys(t.prefix, '{*}:nbf:*');
      // Memory, over the second half of the run, from samples taken right after a full collection
      // (./soak-probe.mjs). Read at arbitrary moments, RSS follows the old generation's collection
      // cycle instead (25-50 MiB, collections up to 22 s apart on a busy machine). Two readings,
      // each bound by max(16 MiB, 10 %):
      // - RSS, the trough of the first third vs the trough of the last third: even after a
      //   collection it moves by steps that are no leak (pages not yet handed back; 10-13 MiB
      //   outside the V8 heap let go at some point of a run), and what a leak raises is the floor;
      // - what JS holds, heap used + external (Buffers): steady to ±0.5 MiB once warm, so the
      //   first sample vs the last, the whole half, and no allocator slack to hide a leak in.
      const settled = readFileSync(t.probe, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Settled);
      const half = settled.filter((r) => r.at >= start + (SOAK_SECONDS * 1000) / 2 && r.at <= loadEnded);
      assert.ok(half.length >= 9, `${t.name}: only ${half.length} settled memory samples in the second half`);
      const mib = (bytes: number) => bytes / 2 ** 20;
      const third = Math.floor(half.length / 3);
      const lowest = (rs: Settled[]) => rs.reduce((m, r) => (r.rss < m.rss ? r : m));
      const [firstAt, lastAt] = [lowest(half.slice(0, third)), lowest(half.slice(-third))];
      const [first, last] = [firstAt.rss / 1024, lastAt.rss / 1024];
      const [heldFrom, heldTo] = [half[0] as Settled, half[half.length - 1] as Settled];
      const held = (r: Settled) => mib(r.heapUsed + r.external);
      const peak = Math.max(...t.rss.map((r) => r.kib)) / 1024;
      lines.push(
        `${t.name}: ${s.requests} requests (${(s.requests / SOAK_SECONDS).toFixed(0)}/s; ${JSON.stringify(s.byKind)}), ` +
          `${s.provoked} provoked refusals, ${s.naturalExpiries} natural expiries, after a full GC in the second half: ` +
          `RSS troughs ${first.toFixed(1)} -> ${last.toFixed(1)} MiB, JS heap + external ${held(heldFrom).toFixed(1)} -> ` +
          `${held(heldTo).toFixed(1)} MiB (peak RSS at any time ${peak.toFixed(1)} MiB), keys ${baseline[t.prefix]} -> peak state ${peakKeys[t.prefix]} -> ${total} ` +
          `(${epochs} logout-all epochs), state drained ${(drained / 1000).toFixed(1)} s after the load`,
      );
      assert.deepEqual(s.unexpected, [], `${t.name}: unprovoked errors`);
      assert.ok(s.requests > SOAK_SECONDS * 20, `${t.name}: only ${s.requests} requests`);
      assert.ok(
        last - first < Math.max(16, first * 0.1),
        `${t.name}: RSS after a full GC grew ${(last - first).toFixed(1)} MiB in the second half ` +
          `(V8 heap committed ${mib(firstAt.heapTotal).toFixed(1)} -> ${mib(lastAt.heapTotal).toFixed(1)} MiB)`,
      );
      assert.ok(
        held(heldTo) - held(heldFrom) < Math.max(16, held(heldFrom) * 0.1),
        `${t.name}: JS heap + external after a full GC grew ${(held(heldTo) - held(heldFrom)).toFixed(1)} MiB in the second half ` +
          `(heap used ${mib(heldFrom.heapUsed).toFixed(1)} -> ${mib(heldTo.heapUsed).toFixed(1)}, ` +
          `external ${mib(heldFrom.external).toFixed(1)} -> ${mib(heldTo.external).toFixed(1)} MiB)`,
      );
      assert.ok(
        total <= (baseline[t.prefix] as number) + USERS_PER_SERVER,
        `${t.name}: ${total} keys after the lifetimes passed, baseline ${baseline[t.prefix]}`,
      );
      const { stdout, stderr } = t.srv!.output();
      const errorLines = `${stdout}\n${stderr}`.split('\n').filter((l) => /"level":(50|60)/.test(l));
      assert.deepEqual(errorLines.slice(0, 3), [], `${t.name}: error-level log lines`);
      assert.equal((await call(t.srv!.url, 'GET', '/ready')).status, 200);
    }
    process.stdout.write(`# soak ${SOAK_SECONDS} s\n# ${lines.join('\n# ')}\n`);
  });
});
