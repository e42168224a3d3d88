/**
 * What each feature of the third round costs (issue 30): for each, two `tessera serve` that
 * differ by that feature alone, under autocannon, in the same run, with nothing else in the
 * rounds (http.ts `pairedBlocks`: fresh processes for every block, started in alternating
 * order; the figure is the median of the per-round ratios, on over off).
 *
 *   - metrics on (`--metrics-port 0`): `GET /me` and a refresh on SQLite;
 *   - the guessing limiter (`--rate-limit 20`, the default, against `--rate-limit 0`): a sign-in
 *     with the password grant, four clients at a time, four users (the limiter lets a few
 *     password checks per user and address be in flight; the hash gate bounds them on both
 *     sides alike, and a bench-cheap scrypt cost keeps the limiter's own work visible);
 *   - session metadata (the default `--session-address truncated` and a browser's User-Agent,
 *     against `--session-address off` and no User-Agent): a refresh on SQLite, which writes both
 *     on the session;
 *   - DPoP (RFC 9449 §7): `GET /me` with a DPoP-bound access token and a fresh Ed25519 proof per
 *     request (its signature, its claims, its jti put once into the store's one-time records),
 *     against the same route with a Bearer token. Proofs are made before each run, untimed.
 *
 *     node --import tsx bench/features.ts [--quick] [--json] [--no-pin] [--only TEXT] [--cpu-prof DIR]
 *
 * @module
 */
import { createHash, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { jwkThumbprint } from '../src/tokens/jwk.js';
import { markdownTable } from './harness.js';
import {
  BENCH_ISSUER,
  BENCH_USER,
  bearerHeaders,
  benchAccessToken,
  type FeaturePair,
  HTTP_CONNECTIONS,
  type HttpRow,
  type LoadOptions,
  metricsPairs,
  pairedBlocks,
  placeProcesses,
  REFRESH_SERVE,
  type RunContext,
  sqliteRefreshTarget,
  TESSERA_REFRESH,
  tesseraServer,
} from './http.js';
import { ensureBuilt } from './procs.js';

/** A browser's User-Agent, as a session records it. */
const BROWSER_UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
/** Users of the sign-in pair: one password check in flight per user at a time. */
const SIGN_IN_USERS = 4;

export interface FeatureRow {
  feature: string;
  route: string;
  offReqPerSec: number;
  onReqPerSec: number;
  /** Median of the per-round ratios, on over off. */
  ratio: number;
  /** CPU per request of the server, off over on (1: as cheap as without the feature). */
  cpuRatio?: number;
  rounds: number;
  failures: number;
}

function b64(v: unknown): string {
  return Buffer.from(JSON.stringify(v)).toString('base64url');
}

/** An Ed25519 DPoP key: its thumbprint (RFC 7638), and proofs for `GET {issuer}/me` (RFC 9449 §4.2), each with its own jti. */
function dpopKey() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const { x } = publicKey.export({ format: 'jwk' }) as { x: string };
  const jwk = { kty: 'OKP', crv: 'Ed25519', x };
  const header = b64({ typ: 'dpop+jwt', alg: 'EdDSA', jwk });
  return {
    jkt: jwkThumbprint(jwk),
    prover(accessToken: string): () => string {
      const ath = createHash('sha256').update(accessToken).digest('base64url');
      return () => {
        const payload = b64({
          jti: randomUUID(),
          htm: 'GET',
          htu: `${BENCH_ISSUER}/me`,
          iat: Math.floor(Date.now() / 1000),
          ath,
        });
        const input = `${header}.${payload}`;
        return `${input}.${sign(null, Buffer.from(input), privateKey).toString('base64url')}`;
      };
    },
  };
}

async function featurePairs(dir: string, ctx: RunContext, opts: LoadOptions): Promise<FeaturePair[]> {
  const pairs = metricsPairs(dir, ctx, await bearerHeaders());

  // The guessing limiter: a sign-in (the password grant), with the limiter and without.
  pairs.push({
    group: 'POST /auth/token (password grant), guessing limiter',
    connections: SIGN_IN_USERS,
    async start(on, b, servers) {
      const name = `limiter-${on ? 'on' : 'off'}`;
      const args = on
        ? REFRESH_SERVE.filter((_, i, all) => all[i - 1] !== '--rate-limit' && all[i] !== '--rate-limit')
        : REFRESH_SERVE;
      const server = await tesseraServer(ctx, name, args, join(dir, `${name}-${b}`), servers);
      const users = Array.from({ length: SIGN_IN_USERS }, (_, i) => ({
        username: `${BENCH_USER.username}${i}`,
        password: BENCH_USER.password,
      }));
      for (const u of users) {
        const res = await fetch(`${server.url}/auth/register`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(u),
        });
        if (res.status !== 201) throw new Error(`${name}: register answered ${res.status}`);
      }
      let next = 0;
      return {
        name,
        role: 'info',
        server,
        request: () => ({
          method: 'POST',
          requests: [
            {
              method: 'POST',
              path: '/auth/token',
              headers: { 'content-type': 'application/json' },
              setupRequest: (req: import('autocannon').AutocannonRequest) => {
                req.body = JSON.stringify({ grant_type: 'password', ...users[next++ % users.length] });
                return req;
              },
            },
          ],
        }),
      };
    },
  });

  // Session metadata: what a session keeps of the client (its network and User-Agent), written on every refresh.
  pairs.push({
    group: 'POST /auth/refresh (SQLite), session metadata',
    start: (on, b, servers) =>
      sqliteRefreshTarget(
        ctx,
        dir,
        `session-${on ? 'on' : 'off'}`,
        b,
        servers,
        on ? [] : ['--session-address', 'off'],
        on ? { ...TESSERA_REFRESH, headers: { 'user-agent': BROWSER_UA } } : TESSERA_REFRESH,
      ),
  });

  // DPoP: a bound token and a proof per request, against a Bearer token on the same route.
  const bearer = await bearerHeaders();
  const key = dpopKey();
  const boundToken = await benchAccessToken(key.jkt);
  const proof = key.prover(boundToken);
  // Enough proofs for one run at twice the last run's rate; made afresh before each run
  // (a proof lives 60 s either side of the server's clock, and each is accepted once).
  const runSeconds = Math.max(opts.durationSec, opts.warmupSec);
  pairs.push({
    group: 'GET /me, DPoP proof',
    async start(on, b, servers) {
      const name = `dpop-${on ? 'on' : 'off'}`;
      const server = await tesseraServer(ctx, name, ['serve', '--port', '0'], join(dir, `${name}-${b}`), servers);
      if (!on) {
        const headers = bearer;
        return {
          name,
          role: 'info',
          server,
          request: () => ({ method: 'GET', headers, requests: [{ method: 'GET', path: '/me', headers }] }),
        };
      }
      const proofs: string[] = [];
      let rate = 10_000;
      let made = 0;
      const check = await fetch(`${server.url}/me`, { headers: { authorization: `DPoP ${boundToken}`, dpop: proof() } });
      if (check.status !== 200)
        throw new Error(`${name}: GET /me with a DPoP proof answered ${check.status}: ${await check.text()}`);
      return {
        name,
        role: 'info',
        server,
        prepare: async () => {
          if (made > 0) rate = Math.max(2000, (made - proofs.length) / runSeconds);
          proofs.length = 0;
          const n = Math.ceil(rate * runSeconds * 2);
          for (let i = 0; i < n; i++) proofs.push(proof());
          made = n;
        },
        request: () => ({
          method: 'GET',
          requests: [
            {
              method: 'GET',
              path: '/me',
              setupRequest: (req: import('autocannon').AutocannonRequest) => {
                req.headers = { authorization: `DPoP ${boundToken}`, dpop: proofs.pop() ?? 'no-proof-left' };
                return req;
              },
            },
          ],
        }),
      };
    },
  });
  return pairs;
}

/** Feature rows from {@link pairedBlocks}' off/on rows. */
export function featureRows(rows: readonly HttpRow[]): FeatureRow[] {
  const out: FeatureRow[] = [];
  for (const on of rows.filter((r) => r.role === 'ours')) {
    const off = rows.find((r) => r.group === on.group && r.role === 'floor');
    if (!off) continue;
    const [route, feature] = on.group.split(/, (?=[^,]+$)/) as [string, string];
    out.push({
      feature,
      route,
      offReqPerSec: off.reqPerSec,
      onReqPerSec: on.reqPerSec,
      ratio: on.vsFloor ?? Number.NaN,
      ...(on.cpuVsFloor === undefined ? {} : { cpuRatio: on.cpuVsFloor }),
      rounds: on.rounds.length,
      failures: on.failures + off.failures,
    });
  }
  return out;
}

export function formatFeatureTable(rows: readonly FeatureRow[]): string {
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  return markdownTable(
    [
      'feature',
      'route',
      'off req/s',
      'on req/s',
      'on/off (median of rounds)',
      'CPU per request, off/on',
      'paired rounds',
      'fail',
    ],
    rows.map((r) => [
      r.feature,
      r.route,
      n(r.offReqPerSec),
      n(r.onReqPerSec),
      `${r.ratio.toFixed(3)}x`,
      r.cpuRatio === undefined ? '' : `${r.cpuRatio.toFixed(3)}x`,
      String(r.rounds),
      String(r.failures),
    ]),
  );
}

export async function runFeaturesBench(
  options: {
    quick?: boolean;
    pin?: boolean;
    log?: (line: string) => void;
    connections?: number;
    /** Only the pairs whose group contains this text. */
    only?: string;
    cpuProfDir?: string;
  } = {},
): Promise<FeatureRow[]> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const opts: LoadOptions = options.quick
    ? { rounds: 2, durationSec: 0.6, warmupSec: 0.25, monitorRequests: 0 }
    : { rounds: 6, durationSec: 1.25, warmupSec: 1, monitorRequests: 0 };
  ensureBuilt(log);
  const dir = mkdtempSync(join(tmpdir(), 'tessera-features-bench-'));
  const ctx: RunContext = { connections: options.connections ?? HTTP_CONNECTIONS, cpuProfDir: options.cpuProfDir };
  placeProcesses(ctx, options.pin !== false, 'features bench', log);
  try {
    const pairs = (await featurePairs(dir, ctx, opts)).filter((p) => !options.only || p.group.includes(options.only));
    return featureRows(await pairedBlocks(pairs, opts, ctx, options.quick ? 1 : 2, opts.rounds, log));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const value = (flag: string) => (args.includes(flag) ? args[args.indexOf(flag) + 1] : undefined);
  const rows = await runFeaturesBench({
    quick: args.includes('--quick'),
    pin: !args.includes('--no-pin'),
    only: value('--only'),
    cpuProfDir: value('--cpu-prof'),
  });
  if (args.includes('--json')) console.log(JSON.stringify({ node: process.version, rows }, null, 2));
  else console.log(formatFeatureTable(rows));
}
