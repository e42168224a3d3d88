/**
 * Login timing over HTTP: a login with an unknown username must cost
 * what a login with a known username and a wrong password costs, or response
 * times would enumerate accounts. Measured end to end against a real server,
 * many samples, the cases interleaved in a random order each round (so drift
 * and noise from other processes hit all of them alike), and judged
 * statistically: the ratio of the medians within [0.8, 1.25], and the
 * Mann-Whitney effect size (the probability that a sample of one case is
 * slower than a sample of the other) within [0.3, 0.7]. A server that skipped
 * scrypt for unknown users would give a ratio near 0.01 and an effect size
 * near 0.
 *
 * The users are created with the server's configured scrypt cost
 * (TESSERA_SCRYPT_N, the same for `user add` and for the server's dummy hash):
 * 2^14 here (RELIABILITY_TIMING_SCRYPT_N to change it; the production default,
 * 2^17, takes 0.4 s per login on the CI machine).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, PASSWORD, type ServerProcess, serverEnv, startServer } from '../support/processes.js';
import { addUsers, median, quantile, RELIABILITY } from './support.js';

const SAMPLES = Number(process.env.RELIABILITY_TIMING_SAMPLES ?? 60);
const SCRYPT_N = process.env.RELIABILITY_TIMING_SCRYPT_N ?? String(2 ** 14);

/** P(a random x from `a` is greater than a random y from `b`), ties counting half: the Mann-Whitney U over n*m. */
export function superiority(a: number[], b: number[]): number {
  let u = 0;
  for (const x of a) for (const y of b) u += x > y ? 1 : x === y ? 0.5 : 0;
  return u / (a.length * b.length);
}

/** Normal-approximation z of the Mann-Whitney U (for the report; the assertion uses the effect size). */
function mannWhitneyZ(a: number[], b: number[]): number {
  const n = a.length;
  const m = b.length;
  const u = superiority(a, b) * n * m;
  return (u - (n * m) / 2) / Math.sqrt((n * m * (n + m + 1)) / 12);
}

function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j] as T, xs[i] as T];
  }
  return xs;
}

describe('login timing does not reveal whether a username exists', () => {
  let srv: ServerProcess;
  before(async () => {
    const env = serverEnv(RELIABILITY, { TESSERA_SCRYPT_N: SCRYPT_N, TESSERA_SCHEME: 'jwt' });
    await addUsers(env, ['alice']);
    srv = await startServer(RELIABILITY, env);
  });
  after(async () => {
    await srv?.kill();
  });

  test(`${SAMPLES} interleaved samples per case, scrypt N=${SCRYPT_N}`, async () => {
    const cases = {
      'known user, wrong password': { username: 'alice', password: 'not the password at all' },
      'unknown user': { username: 'mallory', password: 'not the password at all' },
      'unknown user, name that no account can have': { username: 'no such user!', password: 'not the password at all' },
      'known user, right password': { username: 'alice', password: PASSWORD },
    };
    type Name = keyof typeof cases;
    const times = Object.fromEntries(Object.keys(cases).map((k) => [k, [] as number[]])) as Record<Name, number[]>;
    const once = async (name: Name) => {
      const t0 = process.hrtime.bigint();
      const r = await call(srv.url, 'POST', '/auth/token', { form: { grant_type: 'password', ...cases[name] } });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      assert.equal(r.status, name === 'known user, right password' ? 200 : 400, `${name}: ${r.text}`);
      if (r.status === 400) assert.equal(r.json.error_description, 'Invalid username or password');
      return ms;
    };
    // Warm-up: the first requests pay for JIT, connections and the dummy hash.
    for (const name of Object.keys(cases) as Name[]) for (let i = 0; i < 3; i++) await once(name);
    // The successful login (a reference point only) every fourth round: it is not part of the comparison.
    for (let i = 0; i < SAMPLES; i++) {
      const names = (Object.keys(cases) as Name[]).filter((n) => n !== 'known user, right password' || i % 4 === 0);
      for (const name of shuffle(names)) times[name].push(await once(name));
    }

    const wrong = times['known user, wrong password'];
    const report: string[] = [];
    for (const name of Object.keys(cases) as Name[]) {
      const t = times[name];
      report.push(
        `${name}: median ${median(t).toFixed(1)} ms (p10 ${quantile(t, 0.1).toFixed(1)}, p90 ${quantile(t, 0.9).toFixed(1)}), ` +
          `ratio ${(median(t) / median(wrong)).toFixed(3)}, P(slower) ${superiority(t, wrong).toFixed(2)}, z ${mannWhitneyZ(t, wrong).toFixed(2)}`,
      );
    }
    process.stdout.write(`# ${report.join('\n# ')}\n`);

    for (const name of ['unknown user', 'unknown user, name that no account can have'] as Name[]) {
      const ratio = median(times[name]) / median(wrong);
      assert.ok(
        ratio >= 0.8 && ratio <= 1.25,
        `${name}: median ratio ${ratio.toFixed(3)} outside [0.8, 1.25]\n${report.join('\n')}`,
      );
      const p = superiority(times[name], wrong);
      assert.ok(
        p >= 0.3 && p <= 0.7,
        `${name}: P(slower than a wrong password) ${p.toFixed(2)} outside [0.3, 0.7]\n${report.join('\n')}`,
      );
    }
    // The wrong password really ran scrypt: it costs about what a successful login costs.
    const right = median(times['known user, right password']);
    assert.ok(median(wrong) > right * 0.5, `a wrong password (${median(wrong)} ms) is far cheaper than a login (${right} ms)`);
  });

  test('the statistics can tell a difference when there is one', () => {
    // The assertion above must be able to fail: a 5 % difference in medians on noisy samples
    // passes, a skipped hash (40x faster) does not.
    const noisy = (base: number) => Array.from({ length: SAMPLES }, (_, i) => base * (1 + 0.2 * Math.sin(i * 12.9898)));
    const same = superiority(noisy(60), noisy(57));
    assert.ok(same > 0.3 && same < 0.7);
    const skipped = superiority(noisy(1.5), noisy(60));
    assert.ok(skipped < 0.3);
    assert.ok(median(noisy(1.5)) / median(noisy(60)) < 0.8);
  });
});

/**
 * After TESSERA_SCRYPT_N was raised, stored hashes keep the
 * old cost until their user logs in again. An unknown user must then cost what
 * those users cost, not the new N (which was 618 ms vs 147 ms in the review).
 * Users are added at N/4; the server runs at N; nobody logs in successfully, so
 * no hash is upgraded during the measurement.
 */
describe('login timing after the scrypt cost was raised', () => {
  let srv: ServerProcess;
  const oldN = String(Number(SCRYPT_N) / 4);
  before(async () => {
    const env = serverEnv(RELIABILITY, { TESSERA_SCRYPT_N: oldN, TESSERA_SCHEME: 'jwt' });
    await addUsers(env, ['alice', 'bob']);
    srv = await startServer(RELIABILITY, { ...env, TESSERA_SCRYPT_N: SCRYPT_N });
  });
  after(async () => {
    await srv?.kill();
  });

  test(`${SAMPLES} interleaved samples per case, users at N=${Number(SCRYPT_N) / 4}, server at N=${SCRYPT_N}`, async () => {
    const cases = {
      'known user, wrong password': { username: 'alice', password: 'not the password at all' },
      'other known user, wrong password': { username: 'bob', password: 'not the password at all' },
      'unknown user': { username: 'mallory', password: 'not the password at all' },
    };
    type Name = keyof typeof cases;
    const times = Object.fromEntries(Object.keys(cases).map((k) => [k, [] as number[]])) as Record<Name, number[]>;
    const once = async (name: Name) => {
      const t0 = process.hrtime.bigint();
      const r = await call(srv.url, 'POST', '/auth/token', { form: { grant_type: 'password', ...cases[name] } });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      assert.equal(r.status, 400, `${name}: ${r.text}`);
      return ms;
    };
    for (const name of Object.keys(cases) as Name[]) for (let i = 0; i < 3; i++) await once(name);
    for (let i = 0; i < SAMPLES; i++)
      for (const name of shuffle(Object.keys(cases) as Name[])) times[name].push(await once(name));
    const wrong = times['known user, wrong password'];
    const ratio = median(times['unknown user']) / median(wrong);
    const p = superiority(times['unknown user'], wrong);
    const report = (Object.keys(cases) as Name[]).map((n) => `${n}: median ${median(times[n]).toFixed(1)} ms`).join('; ');
    process.stdout.write(`# ${report}; ratio ${ratio.toFixed(3)}, P(slower) ${p.toFixed(2)}\n`);
    assert.ok(ratio >= 0.8 && ratio <= 1.25, `unknown user: median ratio ${ratio.toFixed(3)} outside [0.8, 1.25]; ${report}`);
    assert.ok(p >= 0.3 && p <= 0.7, `unknown user: P(slower) ${p.toFixed(2)} outside [0.3, 0.7]; ${report}`);
  });
});
