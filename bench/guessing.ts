/**
 * A login from one address while another address bursts wrong passwords: how much
 * slower does it answer than on an idle server?
 *
 *     node --import tsx bench/guessing.ts [--quick] [--scrypt-n N] [--rounds N]   (about 10 minutes; --quick: 3)
 *
 * `tessera serve` from dist/ (SQLite, `TESSERA_TRUST_PROXY=1` so the client address
 * comes from X-Forwarded-For: every request here leaves from 127.0.0.1), users added
 * with `tessera user add` at TESSERA_SCRYPT_N (default 2^15: the production 2^17 needs
 * 128 MiB per hash). Each round: the victim (one address) logs in on the idle server;
 * then one address sends a burst of 200 concurrent wrong passwords over 50 accounts
 * (a fresh address each round, so each burst meets a full budget: the worst case of
 * one address) and the victim logs in again, 30 ms into the burst (its 200 requests are
 * still being parsed and refused: the event loop's share) or 300 ms into it (the
 * refusals answered, the 16 admitted guesses hashing: the limiter's share). Idle and loaded samples
 * alternate, so the machine's other load hits both alike. Scenarios:
 *
 * - `defaults`: the default limits: per burst, a (username, address) has 2 checks in
 *   flight and the address 16; the rest are refused before any hash (429);
 * - `limiter off` (TESSERA_RATE_LIMIT=0): only the hash queue is left (as many hashes
 *   at once as CPUs, at most 4; 64 waiting, served in turn per address; 503 beyond).
 *
 * Figures: the victim's median and p90 login time idle and during a burst, with the ratio
 * of the medians (the goal: at most 2), the victim's logins refused during a burst, the
 * attacker's answers by status (0: connection error), and its guesses checked (answered
 * 400) per burst.
 *
 * @module
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { markdownTable, median, quantile } from './harness.js';
import { ensureBuilt, ROOT, startServer, TESSERA_CLI } from './procs.js';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const quick = args.includes('--quick');
const SCRYPT_N = flag('--scrypt-n', 2 ** 15);
const ROUNDS = flag('--rounds', quick ? 6 : 25);
const BURST = 200;
const ACCOUNTS = 50;
const PASSWORD = 'correct horse battery staple';
const SECRET = Buffer.alloc(32, 9).toString('base64url');

interface Scenario {
  name: string;
  env: Record<string, string>;
}
const SCENARIOS: Scenario[] = [
  { name: 'defaults', env: {} },
  { name: 'limiter off', env: { TESSERA_RATE_LIMIT: '0' } },
];
const VICTIM = '198.51.100.2';
/** When the victim logs in: 30 ms into a burst (its requests still being parsed), or 300 ms (its refusals answered, its hashes running). */
type Delay = 30 | 300;

async function login(url: string, address: string, username: string, password: string): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`${url}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-forwarded-for': address },
    body: new URLSearchParams({ grant_type: 'password', username, password }).toString(),
  });
  await res.arrayBuffer();
  return { status: res.status, ms: performance.now() - t0 };
}

async function run(scenario: Scenario, dir: string) {
  const env = {
    TESSERA_SECRET: SECRET,
    TESSERA_STORE: `sqlite:${join(dir, `${scenario.name.replace(/\s/g, '-')}.db`)}`,
    TESSERA_SCRYPT_N: String(SCRYPT_N),
    TESSERA_TRUST_PROXY: '1',
    TESSERA_LOG_LEVEL: 'error',
    TESSERA_PORT: '0',
    ...scenario.env,
  };
  for (const name of ['victim', ...Array.from({ length: ACCOUNTS }, (_, i) => `target${i}`)]) {
    const r = spawnSync(process.execPath, [TESSERA_CLI, 'user', 'add', name], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      input: `${PASSWORD}\n`,
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`tessera user add ${name}: ${r.stderr}`);
  }
  const server = await startServer(`tessera (${scenario.name})`, [TESSERA_CLI, 'serve'], env);
  try {
    await login(server.url, VICTIM, 'victim', PASSWORD); // warm-up (the dummy hash, the JIT)
    const idle: number[] = [];
    const loaded: Record<Delay, number[]> = { 30: [], 300: [] };
    const refused: number[] = [];
    const statuses = new Map<number, number>();
    const errors: string[] = [];
    for (let round = 0; round < 2 * ROUNDS; round++) {
      const delay: Delay = round % 2 === 0 ? 30 : 300;
      // Idle and loaded samples alternate, so the machine's other load hits both alike.
      const quiet = await login(server.url, VICTIM, 'victim', PASSWORD);
      if (quiet.status === 200) idle.push(quiet.ms);
      // One burst from one address (a fresh one each round, so every burst meets a fresh budget).
      const from = `203.0.${113 + Math.floor(round / 250)}.${(round % 250) + 1}`;
      const burst = Array.from({ length: BURST }, (_, i) =>
        login(server.url, from, `target${i % ACCOUNTS}`, `guess-${round}-${i}`).then(
          (r) => statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1),
          (e: Error) => {
            statuses.set(0, (statuses.get(0) ?? 0) + 1);
            const m = String((e.cause as Error | undefined)?.message ?? e.message);
            if (!errors.includes(m)) errors.push(m);
          },
        ),
      );
      await new Promise((done) => setTimeout(done, delay));
      const during = await login(server.url, VICTIM, 'victim', PASSWORD);
      if (during.status === 200) loaded[delay].push(during.ms);
      else refused.push(during.status);
      await Promise.all(burst);
    }
    if (errors.length) process.stderr.write(`${scenario.name}: attacker errors: ${errors.join('; ')}\n`);
    return { idle, loaded, refused, statuses };
  } finally {
    await server.stop();
  }
}

async function main() {
  ensureBuilt((line) => process.stderr.write(`${line}\n`));
  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-guessing-'));
  const rows: string[][] = [];
  try {
    for (const s of SCENARIOS) {
      process.stderr.write(`scenario: ${s.name}\n`);
      const r = await run(s, dir);
      const idle = median(r.idle);
      const at = (d: Delay) => {
        const m = median(r.loaded[d]);
        return `${m.toFixed(0)} (p90 ${quantile(
          [...r.loaded[d]].sort((a, b) => a - b),
          0.9,
        ).toFixed(0)}), ${(m / idle).toFixed(2)}x`;
      };
      const answers = [...r.statuses.entries()]
        .sort(([a], [b]) => a - b)
        .map(([status, n]) => `${status}: ${n}`)
        .join(', ');
      const checked = (r.statuses.get(400) ?? 0) / (2 * ROUNDS);
      rows.push([
        s.name,
        `${idle.toFixed(0)} (p90 ${quantile(
          [...r.idle].sort((a, b) => a - b),
          0.9,
        ).toFixed(0)})`,
        at(30),
        at(300),
        r.refused.length ? `${r.refused.length} (${[...new Set(r.refused)].join(', ')})` : '0',
        answers,
        checked.toFixed(1),
      ]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(
    `scrypt N=${SCRYPT_N}, ${availableParallelism()} CPUs, ${2 * ROUNDS} bursts of ${BURST} over ${ACCOUNTS} accounts, ${ROUNDS} victim logins idle and at each delay\n\n`,
  );
  process.stdout.write(
    markdownTable(
      [
        'scenario',
        'victim idle, ms',
        'victim 30 ms into a burst, ms',
        'victim 300 ms into a burst, ms',
        'victim refused',
        "attacker's answers",
        'guesses checked per burst',
      ],
      rows,
    ),
  );
  process.stdout.write('\n');
}

await main();
