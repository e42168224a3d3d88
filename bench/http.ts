/**
 * HTTP benchmarks: real listening servers in child processes, load from
 * autocannon (programmatic API) in this process, every figure next to its
 * baseline measured in the same run.
 *
 *     node --import tsx bench/http.ts [--quick] [--json] [--group me|refresh|refresh-pg|metrics] [--connections N] [--no-pin] [--cpu-prof DIR]
 *       [--baseline DIR[,DIR...]]   # other built checkouts' `tessera serve` in the same rounds (GET /me, refresh on Redis and PostgreSQL)
 *
 * Groups (each server is started once; rounds alternate them ABBA-style, so
 * drift and other load hit every server alike; figures are medians of rounds):
 *
 * - `GET /me`: `tessera serve` with its production defaults (NODE_ENV=production,
 *   jwt access tokens, docs, rate limits, SQLite store, log level warn, the
 *   access-token cache) against a bare Fastify route returning a constant (the
 *   floor); the same server with `--access-cache 0` (every request verifies the
 *   MAC and parses the payload); and Fastify + fast-jwt as the peer library, with
 *   (`cache: true`) and without its cache. Every client sends one token over and
 *   over, as a real client does until its token expires.
 * - `POST /auth/refresh`: tessera on Redis and SQLite against a bare Fastify
 *   route that makes one Redis round trip (one EVALSHA) through a plain ioredis
 *   client and answers a token response of the same size (the floor); and the
 *   same floor with ioredis auto-pipelining, which tessera's store uses (one
 *   write for the commands of one tick), to show what that setting is worth. Each refresh consumes its token,
 *   so the load generator keeps a pool of live refresh tokens: every request takes
 *   one, every response puts its successor back (one chain per connection).
 *
 * Besides requests/s and latency, the server's own CPU time per request is read
 * from /proc (Linux): unlike requests/s it does not depend on how much CPU the
 * load generator and other processes left to the server. On Redis, the private
 * redis-server's command counters give the round trips per refresh.
 *
 * @module
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { createTokenService } from '../src/refresh/service.js';
import { openStore } from '../src/stores/open.js';
import { generateSigningJwk, parseSigningKeySet } from '../src/tokens/jwk.js';
import { markdownTable, median, quantile } from './harness.js';
import { type ChildServer, ensureBuilt, PEERS, type PrivateRedis, startPrivateRedis, startServer, TESSERA_CLI } from './procs.js';
import { BENCH_PG_URL, ensureBenchDatabase } from './stores.js';

export type HttpGroup = 'me' | 'refresh' | 'refresh-pg' | 'metrics';

export interface HttpBenchOptions {
  quick?: boolean;
  groups?: readonly HttpGroup[];
  /** Used when no redis-server can be started privately. Default REDIS_URL or redis://127.0.0.1:6379. */
  redisUrl?: string;
  /**
   * Concurrent connections, the same for every server. Default 50: enough to keep a server
   * busy (at autocannon's default of 10, a run on a small shared machine is bound by
   * wake-up latency between the processes more than by the server's work).
   */
  connections?: number;
  /** Pin servers and the load generator to separate CPUs (see cpuPlacement). Default true. */
  pin?: boolean;
  /** Write a V8 CPU profile of every server process into this directory (`node --cpu-prof`). */
  cpuProfDir?: string;
  /**
   * Another checkout of tessera, built (its `dist/cli/main.js`): its `tessera serve` runs in the
   * same rounds as this one's, on the same store, so "not slower than before" is a same-run ratio.
   */
  baselineDirs?: readonly string[];
  log?: (line: string) => void;
}

export interface HttpRow {
  group: string;
  name: string;
  role: 'floor' | 'library' | 'ours' | 'info';
  /** Median over the rounds. */
  reqPerSec: number;
  /** Requests/s of each round. */
  rounds: number[];
  /** Latency over every request of every round (ms). */
  p50Ms: number;
  p99Ms: number;
  /** Median over the rounds of the server process's CPU time per request (µs); Linux only. */
  cpuUsPerReq?: number;
  /** Median over the rounds of the server's CPU time per second of the run: 1 is one core kept busy. */
  cpuBusy?: number;
  /** Redis: commands the server sent per successful request. */
  redisCommandsPerReq?: number;
  /** The store's CPU per request (µs): the private Redis, or every PostgreSQL process. */
  storeCpuUsPerReq?: number;
  /** Non-2xx answers and socket errors, over every round. */
  failures: number;
  /** Median over the rounds of (this row's requests/s) / (the floor's in the same round). */
  vsFloor?: number;
  /** Same for CPU: (the floor's CPU per request) / (this row's), so that 1 is "as cheap as the floor". */
  cpuVsFloor?: number;
}

/** The rows of the servers with TESSERA_METRICS_PORT set, compared with the same server without it. */
const METRICS_ON_ME = 'tessera serve, metrics on';
/** The rows of a baseline checkout, named after its folder. */
const baselineMe = (label: string) => `baseline ${label}: tessera serve (production defaults)`;
const baselineRefresh = (label: string) => `baseline ${label}: tessera serve, Redis`;
const baselineRefreshPg = (label: string) => `baseline ${label}: tessera serve, PostgreSQL`;

/** A baseline checkout (`--baseline DIR`): its folder's name and its built CLI, checked to exist. */
function baselineOf(dir: string): { label: string; cli: string } {
  const cli = join(dir, 'dist', 'cli', 'main.js');
  if (!existsSync(cli)) throw new Error(`--baseline ${dir}: no ${cli} (run npm ci and npm run build there first)`);
  return { label: basename(dir.replace(/\/+$/, '')), cli };
}
const METRICS_ON_REFRESH = 'tessera serve, SQLite, metrics on';

/** The servers' TESSERA_ISSUER (otherwise their listening URL): tokens minted here carry it as iss and aud (RFC 9068). */
export const BENCH_ISSUER = 'http://tessera.bench';
// Random: production mode refuses a low-entropy secret (one byte repeated).
const SECRET = randomBytes(32).toString('base64url');
export const HTTP_CONNECTIONS = 50;

/**
 * CPU time (µs) of every process named `postgres` so far (the server, its backends, the WAL writer
 * and checkpointer), from /proc; undefined where there is none. Only the targets under test use
 * the server while they run, so the difference over a run is theirs.
 */
function postgresCpuMicros(): number | undefined {
  let total = 0;
  let seen = false;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // ended meanwhile
    }
    const close = stat.lastIndexOf(')');
    if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') continue;
    const fields = stat.slice(close + 2).split(' ');
    // utime, stime, and the CPU of waited-for children (cutime, cstime: ended backends).
    total += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
    seen = true;
  }
  return seen ? total * 10_000 : undefined;
}

/** CPU time (user + system, µs) of a process so far, from /proc; undefined elsewhere. */
function cpuMicros(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of proc(5) (utime, stime), in clock ticks (USER_HZ, 100 on Linux).
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return undefined;
  }
}

/** The counts of a load run that does not go through autocannon (a multi-request flow). */
export interface DrivenRun {
  ok: number;
  failures: number;
  /** Seconds the run took. */
  duration: number;
  /** Latency of every successful iteration (ms). */
  latencies: number[];
}

/** One target of a load run. */
export interface Target {
  name: string;
  role: HttpRow['role'];
  server: ChildServer;
  /** The autocannon request (pooled refresh tokens install hooks here). */
  request(): Pick<Parameters<typeof autocannon>[0], 'method' | 'headers' | 'body' | 'requests'>;
  /** Called before every load run, untimed (tops up the refresh token pool). */
  prepare?: () => Promise<void>;
  /** Counted on the private Redis. */
  redis?: boolean;
  /** Served by the local PostgreSQL: the CPU of its processes (every backend, the WAL writer) is counted per request. */
  postgres?: boolean;
  /**
   * Load of its own instead of autocannon's (`request` is then not used): runs for
   * `durationSec` with `connections` concurrent clients. Not counted with MONITOR.
   */
  drive?: (durationSec: number, connections: number) => Promise<DrivenRun>;
}

interface RunResult {
  reqPerSec: number;
  ok: number;
  failures: number;
  latencies: number[];
  cpuUsPerReq?: number;
  cpuBusy?: number;
  storeCpuUsPerReq?: number;
}

export interface LoadOptions {
  /** Measured rounds per server (ABBA order), seconds per round, and one warm-up run per server. */
  rounds: number;
  durationSec: number;
  warmupSec: number;
  /** Requests of the untimed MONITOR run that counts Redis round trips. */
  monitorRequests: number;
}

export interface RunContext {
  connections: number;
  cpuProfDir?: string;
  /** The baseline checkouts (`--baseline`), in the order given. */
  baselines?: readonly { label: string; cli: string }[];
  redis?: { client: Redis; pid?: number };
  /** CPU lists (taskset syntax) for the servers and for everything else; absent: no pinning. */
  placement?: { server: string; rest: string; all: string };
}

/**
 * Where processes run. On a small machine the servers, the load generator (this
 * process) and redis-server compete for the same CPUs, and how the scheduler
 * happens to place them moves requests/s by ±10% between rounds. With two or
 * more CPUs and `taskset` (util-linux), every server under test runs alone on
 * the last CPU and everything else on the others, the same for every server:
 * the figure is then the server's own cost, as with a load generator on another
 * machine. `--no-pin` turns it off.
 */
export function cpuPlacement(): RunContext['placement'] {
  const n = availableParallelism();
  if (n < 2) return undefined;
  const placement = { server: String(n - 1), rest: n === 2 ? '0' : `0-${n - 2}`, all: `0-${n - 1}` };
  return pin(process.pid, placement.rest) ? placement : undefined;
}

/** Pins this process (the load generator) apart from the servers (see cpuPlacement), and says where each runs. */
export function placeProcesses(ctx: RunContext, pinned: boolean, label: string, log: (line: string) => void): void {
  if (pinned) ctx.placement = cpuPlacement();
  log(
    ctx.placement
      ? `${label}: servers on CPU ${ctx.placement.server}; load generator and redis-server on CPU ${ctx.placement.rest}`
      : `${label}: no CPU pinning`,
  );
}

/** Sets the CPU affinity of every thread of `pid`; false where taskset is missing or refuses. */
export function pin(pid: number | undefined, cpus: string): boolean {
  if (pid === undefined) return false;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Starts a server under test (placed on the servers' CPU when pinning). */
export async function startTarget(ctx: RunContext, name: string, args: readonly string[], env: NodeJS.ProcessEnv) {
  const server = await startServer(name, nodeArgs(ctx, name, args), env);
  if (ctx.placement) pin(server.child.pid, ctx.placement.server);
  return server;
}

/** One autocannon run against `t` (its `request`), in the shape of a driven run. */
async function autocannonRun(t: Target, durationSec: number, ctx: RunContext, record: boolean): Promise<DrivenRun> {
  const latencies: number[] = [];
  const result = await new Promise<import('autocannon').AutocannonResult>((resolve, reject) => {
    const instance = autocannon(
      { url: t.server.url, connections: ctx.connections, duration: durationSec, sampleInt: 250, timeout: 10, ...t.request() },
      (err, res) => (err ? reject(err) : resolve(res)),
    );
    if (record)
      instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
        if (status < 300) latencies.push(ms);
      });
  });
  return {
    ok: result['2xx'],
    failures: result.non2xx + result.errors + result.timeouts,
    duration: result.duration,
    latencies,
  };
}

async function runLoad(t: Target, durationSec: number, ctx: RunContext, record: boolean): Promise<RunResult> {
  await t.prepare?.();
  const cpu0 = cpuMicros(t.server.child.pid);
  const redisCpu0 = ctx.redis && t.redis ? cpuMicros(ctx.redis.pid) : undefined;
  const pgCpu0 = t.postgres ? postgresCpuMicros() : undefined;
  const result = t.drive ? await t.drive(durationSec, ctx.connections) : await autocannonRun(t, durationSec, ctx, record);
  const cpu1 = cpuMicros(t.server.child.pid);
  const { ok } = result;
  const out: RunResult = {
    reqPerSec: ok / result.duration,
    ok,
    failures: result.failures,
    latencies: record ? result.latencies : [],
  };
  if (cpu0 !== undefined && cpu1 !== undefined && ok > 0) {
    out.cpuUsPerReq = (cpu1 - cpu0) / ok;
    out.cpuBusy = (cpu1 - cpu0) / (result.duration * 1e6);
  }
  if (ctx.redis && t.redis && redisCpu0 !== undefined && ok > 0) {
    const redisCpu1 = cpuMicros(ctx.redis.pid);
    if (redisCpu1 !== undefined) out.storeCpuUsPerReq = (redisCpu1 - redisCpu0) / ok;
  }
  if (pgCpu0 !== undefined && ok > 0) {
    const pgCpu1 = postgresCpuMicros();
    if (pgCpu1 !== undefined) out.storeCpuUsPerReq = (pgCpu1 - pgCpu0) / ok;
  }
  return out;
}

/**
 * Round trips per request: the commands the server sends to Redis, seen with
 * MONITOR during a short untimed run (MONITOR slows Redis down). Commands that
 * scripts run inside Redis show with source "lua" and are not round trips.
 */
async function roundTripsPerRequest(t: Target, ctx: RunContext, amount: number): Promise<number | undefined> {
  if (!ctx.redis || t.drive) return undefined;
  await t.prepare?.();
  const monitor = await ctx.redis.client.monitor();
  let commands = 0;
  // ioredis can lose track of a MONITOR stream on a saturated machine; the count is then unknown.
  let lost = false;
  monitor.on('error', () => {
    lost = true;
  });
  monitor.on('monitor', (_time: string, _args: string[], source: string) => {
    if (source !== 'lua') commands++;
  });
  const result = await new Promise<import('autocannon').AutocannonResult>((resolve, reject) => {
    autocannon({ url: t.server.url, connections: ctx.connections, amount, timeout: 10, ...t.request() }, (err, res) =>
      err ? reject(err) : resolve(res),
    );
  });
  // Let the last MONITOR lines arrive.
  await new Promise((r) => setTimeout(r, 200));
  monitor.disconnect();
  return result['2xx'] > 0 && !lost ? commands / result['2xx'] : undefined;
}

/**
 * Runs every target `rounds` times, alternating the order (forward, then
 * backward: ABBA), after one warm-up run each. Rows in the targets' order.
 */
export async function compare(
  group: string,
  targets: readonly Target[],
  opts: LoadOptions,
  ctx: RunContext,
  log: (line: string) => void,
): Promise<HttpRow[]> {
  for (const t of targets) {
    log(`http bench: ${group}: warm-up ${t.name}`);
    await runLoad(t, opts.warmupSec, ctx, false);
  }
  const runs = new Map<Target, RunResult[]>(targets.map((t) => [t, []]));
  for (let r = 0; r < opts.rounds; r++) {
    const order = r % 2 === 0 ? targets : [...targets].reverse();
    for (const t of order) {
      const res = await runLoad(t, opts.durationSec, ctx, true);
      runs.get(t)?.push(res);
      log(`http bench: ${group}: round ${r + 1}/${opts.rounds} ${t.name}: ${Math.round(res.reqPerSec)} req/s`);
    }
  }
  const trips = new Map<Target, number | undefined>();
  for (const t of targets) if (t.redis) trips.set(t, await roundTripsPerRequest(t, ctx, opts.monitorRequests));
  const floor = targets.find((t) => t.role === 'floor');
  const floorRuns = floor ? (runs.get(floor) as RunResult[]) : undefined;
  return targets.map((t) => {
    const rs = runs.get(t) as RunResult[];
    const lat = rs.flatMap((x) => x.latencies).sort((a, b) => a - b);
    const cpu = rs.map((x) => x.cpuUsPerReq).filter((x): x is number => x !== undefined);
    const redisCpu = rs.map((x) => x.storeCpuUsPerReq).filter((x): x is number => x !== undefined);
    const row: HttpRow = {
      group,
      name: t.name,
      role: t.role,
      reqPerSec: median(rs.map((x) => x.reqPerSec)),
      rounds: rs.map((x) => x.reqPerSec),
      p50Ms: quantile(lat, 0.5),
      p99Ms: quantile(lat, 0.99),
      failures: rs.reduce((n, x) => n + x.failures, 0),
    };
    if (cpu.length) row.cpuUsPerReq = median(cpu);
    const busy = rs.map((x) => x.cpuBusy).filter((x): x is number => x !== undefined);
    if (busy.length) row.cpuBusy = median(busy);
    if (redisCpu.length) row.storeCpuUsPerReq = median(redisCpu);
    const rt = trips.get(t);
    if (rt !== undefined) row.redisCommandsPerReq = rt;
    if (floorRuns && t !== floor) {
      row.vsFloor = median(rs.map((x, i) => x.reqPerSec / (floorRuns[i] as RunResult).reqPerSec));
      const cpuRatios = rs
        .map((x, i) => ((floorRuns[i] as RunResult).cpuUsPerReq ?? Number.NaN) / (x.cpuUsPerReq ?? Number.NaN))
        .filter((x) => Number.isFinite(x));
      if (cpuRatios.length) row.cpuVsFloor = median(cpuRatios);
    }
    return row;
  });
}

/** Node arguments of a server child: with `cpuProfDir`, a CPU profile named after the server. */
function nodeArgs(ctx: RunContext, name: string, args: readonly string[]): string[] {
  if (!ctx.cpuProfDir) return [...args];
  const slug = name.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-|-$/g, '');
  return ['--cpu-prof', '--cpu-prof-dir', ctx.cpuProfDir, '--cpu-prof-name', `${slug}.cpuprofile`, ...args];
}

/** Environment of every `tessera serve` child: production mode with a configured secret. */
export function tesseraEnv(): NodeJS.ProcessEnv {
  return { NODE_ENV: 'production', TESSERA_SECRET: SECRET, TESSERA_LOG_LEVEL: 'warn', TESSERA_ISSUER: BENCH_ISSUER };
}

/**
 * `Authorization` with an access token the way the server issues them (same secret, same key id):
 * jwt access tokens are verified without store access, so one minted here is as good as a login's.
 */
export async function bearerHeaders(): Promise<{ authorization: string }> {
  return { authorization: `Bearer ${await benchAccessToken()}` };
}

/** An access token as the bench servers issue them; bound to the DPoP key `jkt` when given (RFC 9449 §6). */
export async function benchAccessToken(jkt?: string): Promise<string> {
  const issuer = createTokenService({
    secret: SECRET,
    issuer: BENCH_ISSUER,
    audience: BENCH_ISSUER,
    store: await openStore('memory'),
  });
  return (await issuer.issue({ sub: 'bench-user', scope: 'api', ...(jkt ? { jkt } : {}) })).accessToken;
}

async function meGroup(opts: LoadOptions, ctx: RunContext, dir: string, log: (line: string) => void): Promise<HttpRow[]> {
  const headers = await bearerHeaders();
  // Issue 15: the same route on a server that signs access tokens with EdDSA (Ed25519), with and
  // without the verified-token cache: what a signature verify per request costs over HTTP.
  const edPrivate = { keys: [generateSigningJwk('EdDSA')] };
  const edKeys = parseSigningKeySet(edPrivate);
  const edKeyFile = join(dir, 'eddsa.jwks.json');
  writeFileSync(edKeyFile, JSON.stringify(edPrivate), { mode: 0o600 });
  const edIssuer = createTokenService({
    secret: SECRET,
    issuer: BENCH_ISSUER,
    audience: BENCH_ISSUER,
    access: { signingKeys: edKeys },
    store: await openStore('memory'),
  });
  const edHeaders = { authorization: `Bearer ${(await edIssuer.issue({ sub: 'bench-user', scope: 'api' })).accessToken}` };
  const edEnv = { ...tesseraEnv(), TESSERA_ACCESS_ALG: 'EdDSA', TESSERA_SIGNING_KEY_FILE: edKeyFile };
  const servers: ChildServer[] = [];
  try {
    const start = async (name: string, args: string[], env: NodeJS.ProcessEnv = {}, auth = headers) => {
      const s = await startTarget(ctx, name, args, env);
      servers.push(s);
      // Every server must answer the request we are about to time, with the same body.
      const res = await fetch(`${s.url}/me`, { headers: auth });
      const body = (await res.json()) as { sub?: string };
      if (res.status !== 200 || body.sub !== 'bench-user') throw new Error(`${name}: GET /me answered ${res.status}`);
      return s;
    };
    // Production defaults: everything from `tessera serve` but the port and where its files go.
    const serve = ['serve', '--port', '0'];
    const [tessera, uncached, bare, fastJwt, fastJwtCache, eddsa, eddsaUncached, metrics] = await Promise.all([
      start('tessera', [TESSERA_CLI, ...serve, '--data-dir', join(dir, 'me')], tesseraEnv()),
      start(
        'tessera-no-cache',
        [TESSERA_CLI, ...serve, '--data-dir', join(dir, 'me-no-cache'), '--access-cache', '0'],
        tesseraEnv(),
      ),
      start('bare', [PEERS, 'bare']),
      start('fast-jwt', [PEERS, 'fast-jwt'], { BENCH_SECRET: SECRET }),
      start('fast-jwt-cache', [PEERS, 'fast-jwt-cache'], { BENCH_SECRET: SECRET }),
      start('tessera-eddsa', [TESSERA_CLI, ...serve, '--data-dir', join(dir, 'me-eddsa')], edEnv, edHeaders),
      start(
        'tessera-eddsa-no-cache',
        [TESSERA_CLI, ...serve, '--data-dir', join(dir, 'me-eddsa-no-cache'), '--access-cache', '0'],
        edEnv,
        edHeaders,
      ),
      // The production defaults plus the metrics listener (request histogram, store call timing).
      start(
        'tessera-metrics',
        [TESSERA_CLI, ...serve, '--data-dir', join(dir, 'me-metrics'), '--metrics-port', '0'],
        tesseraEnv(),
      ),
    ]);
    const baselines = await Promise.all(
      (ctx.baselines ?? []).map(async (b) => ({
        name: baselineMe(b.label),
        role: 'info' as const,
        server: await start(`baseline-${b.label}`, [b.cli, ...serve, '--data-dir', join(dir, `me-${b.label}`)], tesseraEnv()),
        request: () => get(),
      })),
    );
    const get = () => ({ method: 'GET', headers, requests: [{ method: 'GET', path: '/me', headers }] });
    const getEd = () => ({ method: 'GET', headers: edHeaders, requests: [{ method: 'GET', path: '/me', headers: edHeaders }] });
    return await compare(
      'GET /me',
      [
        { name: 'floor: bare Fastify, constant body', role: 'floor', server: bare, request: get },
        { name: 'tessera serve (production defaults)', role: 'ours', server: tessera, request: get },
        { name: 'tessera serve --access-cache 0', role: 'info', server: uncached, request: get },
        { name: 'Fastify + fast-jwt verify (cache)', role: 'library', server: fastJwtCache, request: get },
        { name: 'Fastify + fast-jwt verify (no cache)', role: 'library', server: fastJwt, request: get },
        { name: 'tessera serve, EdDSA access tokens', role: 'info', server: eddsa, request: getEd },
        { name: 'tessera serve, EdDSA, --access-cache 0', role: 'info', server: eddsaUncached, request: getEd },
        { name: METRICS_ON_ME, role: 'info', server: metrics, request: get },
        ...baselines,
      ],
      opts,
      ctx,
      log,
    );
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

/** How a refresh request is made: tessera's `POST /auth/refresh` with a JSON body unless told otherwise. */
export interface RefreshRequestShape {
  path: string;
  contentType: string;
  body(refreshToken: string): string;
  /** More request headers (a browser's User-Agent, say). */
  headers?: Record<string, string>;
}

export const TESSERA_REFRESH: RefreshRequestShape = {
  path: '/auth/refresh',
  contentType: 'application/json',
  body: (refreshToken) => JSON.stringify({ refresh_token: refreshToken }),
};

/**
 * A pool of live refresh tokens for one server: a request takes the oldest, its
 * answer brings the successor to the back. Starts with more tokens than connections,
 * so a failed refresh (whose chain ends) does not starve the others; taken in turn,
 * every chain moves at the same pace (none waits long enough to leave a store that
 * evicts, such as oidc-provider's memory adapter).
 */
export function refreshRequests(pool: string[], shape: RefreshRequestShape = TESSERA_REFRESH) {
  return () => ({
    method: 'POST',
    requests: [
      {
        method: 'POST',
        path: shape.path,
        headers: { 'content-type': shape.contentType, ...shape.headers },
        setupRequest: (req: import('autocannon').AutocannonRequest) => {
          req.body = shape.body(pool.shift() ?? 'pool-empty');
          return req;
        },
        onResponse: (status: number, body: string) => {
          if (status !== 200) return;
          const token = (JSON.parse(body) as { refresh_token?: string }).refresh_token;
          if (token) pool.push(token);
        },
      },
    ],
  });
}

/** The user of the benchmarks (registered with `--allow-register`, then signed in with the password grant). */
export const BENCH_USER = { username: 'bench', password: 'bench-password-123' };

function postJson(url: string, path: string, o: Record<string, string>) {
  return fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(o) });
}

/** A token response of the password grant for {@link BENCH_USER}, registered first when `register`. */
export async function passwordLogin(url: string, register = false): Promise<{ access_token: string; refresh_token: string }> {
  if (register) {
    const reg = await postJson(url, '/auth/register', BENCH_USER);
    if (reg.status !== 201 && reg.status !== 409) throw new Error(`register answered ${reg.status}: ${await reg.text()}`);
  }
  const res = await postJson(url, '/auth/token', { grant_type: 'password', ...BENCH_USER });
  const body = (await res.json()) as { access_token?: string; refresh_token?: string };
  if (res.status !== 200 || !body.access_token || !body.refresh_token) throw new Error(`login answered ${res.status}`);
  return { access_token: body.access_token, refresh_token: body.refresh_token };
}

/** Logs in through the HTTP API until `pool` holds `n` refresh tokens (the memory store lives inside the server). */
export async function fillPool(url: string, pool: string[], n: number): Promise<void> {
  if (pool.length === 0) await passwordLogin(url, true).then((t) => pool.push(t.refresh_token));
  // Eight logins at a time (scrypt runs on libuv's pool).
  const login = async () => {
    pool.push((await passwordLogin(url)).refresh_token);
  };
  while (pool.length < n) await Promise.all(Array.from({ length: Math.min(8, n - pool.length) }, login));
}

/**
 * `tessera serve` of the refresh groups: production defaults, except no rate limit (a load test
 * is one client), registration open and a cheap scrypt cost (only for the logins that fill the
 * token pool; a refresh never hashes a password).
 */
export const REFRESH_SERVE = ['serve', '--port', '0', '--rate-limit', '0', '--allow-register', '--scrypt-n', '1024'];

async function refreshGroup(
  opts: LoadOptions,
  ctx: RunContext,
  redis: PrivateRedis,
  dir: string,
  log: (line: string) => void,
): Promise<HttpRow[]> {
  // Token sizes of a real pair, so the floor answers as many bytes as tessera does.
  const sample = await createTokenService({ secret: SECRET, store: await openStore('memory') }).issue({
    sub: 'bench',
    scope: 'api',
  });
  const servers: ChildServer[] = [];
  // A run ends with up to two tokens per connection in flight or taken: lost chains, replaced before the next run.
  const poolSize = ctx.connections * 2 + 8;
  try {
    const tessera = async (
      name: string,
      role: HttpRow['role'],
      store: string,
      extra: string[] = [],
      cli = TESSERA_CLI,
    ): Promise<Target> => {
      const server = await startTarget(ctx, name, [cli, ...REFRESH_SERVE, '--store', store, ...extra], tesseraEnv());
      servers.push(server);
      const pool: string[] = [];
      const prepare = () => fillPool(server.url, pool, poolSize);
      await prepare();
      return { name, role, server, prepare, request: refreshRequests(pool), redis: store.startsWith('redis') };
    };
    let floorIds = 0;
    const floorTarget = async (name: string, role: HttpRow['role'], autoPipelining: boolean): Promise<Target> => {
      const slug = autoPipelining ? 'redis-floor-pipelined' : 'redis-floor';
      const server = await startTarget(ctx, slug, [PEERS, 'redis-floor'], {
        REDIS_URL: redis.url,
        BENCH_AUTO_PIPELINING: autoPipelining ? '1' : '0',
        BENCH_ACCESS_LENGTH: String(sample.accessToken.length),
        BENCH_REFRESH_LENGTH: String(sample.refreshToken.length),
      });
      servers.push(server);
      const pool: string[] = [];
      const prepare = async () => {
        while (pool.length < poolSize) pool.push(`floor-${++floorIds}-${'x'.repeat(40)}`);
      };
      return { name, role, server, prepare, request: refreshRequests(pool), redis: true };
    };
    const [floor, onRedis, onSqlite, pipelinedFloor, sqliteMetrics] = await Promise.all([
      floorTarget('floor: bare Fastify + 1 EVALSHA', 'floor', false),
      tessera('tessera serve, Redis', 'ours', redis.url, ['--redis-prefix', 'tessera-bench:']),
      tessera('tessera serve, SQLite', 'ours', `sqlite:${join(dir, 'refresh.db')}`, ['--data-dir', join(dir, 'refresh')]),
      floorTarget('floor, with auto-pipelining', 'info', true),
      tessera(METRICS_ON_REFRESH, 'info', `sqlite:${join(dir, 'refresh-metrics.db')}`, [
        '--data-dir',
        join(dir, 'refresh-metrics'),
        '--metrics-port',
        '0',
      ]),
    ]);
    const baselines = await Promise.all(
      (ctx.baselines ?? []).map((b) =>
        tessera(baselineRefresh(b.label), 'info', redis.url, ['--redis-prefix', `tessera-bench-${b.label}:`], b.cli),
      ),
    );
    return await compare(
      'POST /auth/refresh',
      [floor, onRedis, onSqlite, pipelinedFloor, sqliteMetrics, ...baselines],
      opts,
      ctx,
      log,
    );
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

/** PostgreSQL of the bench (a schema of its own per server, dropped at the end). */
export const REFRESH_PG_GROUP = 'POST /auth/refresh, PostgreSQL';

/**
 * A refresh on PostgreSQL against its floor: Fastify and one prepared statement from a pool
 * of tessera's default size (bench/servers/peers.mjs pg-floor). tessera's rotation is one
 * statement too (the rotation's UPDATE, prepared; docs/stores.md).
 */
async function refreshPgGroup(opts: LoadOptions, ctx: RunContext, dir: string, log: (line: string) => void): Promise<HttpRow[]> {
  await ensureBenchDatabase(BENCH_PG_URL, log);
  const sample = await createTokenService({ secret: SECRET, store: await openStore('memory') }).issue({
    sub: 'bench',
    scope: 'api',
  });
  const servers: ChildServer[] = [];
  const poolSize = ctx.connections * 2 + 8;
  const schema = (name: string) => `tessera_bench_${name}_${process.pid}`;
  try {
    const floorServer = await startTarget(ctx, 'pg-floor', [PEERS, 'pg-floor'], {
      POSTGRES_URL: BENCH_PG_URL,
      BENCH_PG_SCHEMA: schema('floor'),
      BENCH_ACCESS_LENGTH: String(sample.accessToken.length),
      BENCH_REFRESH_LENGTH: String(sample.refreshToken.length),
    });
    servers.push(floorServer);
    let floorIds = 0;
    const floorPool: string[] = [];
    const floor: Target = {
      name: 'floor: bare Fastify + 1 PostgreSQL statement',
      role: 'floor',
      server: floorServer,
      prepare: async () => {
        while (floorPool.length < poolSize) floorPool.push(`floor-${++floorIds}-${'x'.repeat(40)}`);
      },
      request: refreshRequests(floorPool),
      postgres: true,
    };
    const tessera = async (name: string, label: string, cli = TESSERA_CLI): Promise<Target> => {
      const store = `${BENCH_PG_URL}?schema=${schema(label)}`;
      const server = await startTarget(
        ctx,
        `tessera-serve-PostgreSQL-${label}`,
        [cli, ...REFRESH_SERVE, '--store', store, '--data-dir', join(dir, `refresh-pg-${label}`)],
        tesseraEnv(),
      );
      servers.push(server);
      const pool: string[] = [];
      const target: Target = {
        name,
        role: name.startsWith('baseline') ? 'info' : 'ours',
        server,
        prepare: () => fillPool(server.url, pool, poolSize),
        request: refreshRequests(pool),
        postgres: true,
      };
      await target.prepare?.();
      return target;
    };
    const onPg = await tessera('tessera serve, PostgreSQL', 'tessera');
    const baselines: Target[] = [];
    for (const b of ctx.baselines ?? [])
      baselines.push(await tessera(baselineRefreshPg(b.label), `b_${b.label.replace(/[^a-z0-9_]/g, '_')}`, b.cli));
    return await compare(REFRESH_PG_GROUP, [floor, onPg, ...baselines], opts, ctx, log);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await dropPgSchema(schema('tessera'), log);
    for (const b of ctx.baselines ?? []) await dropPgSchema(schema(`b_${b.label.replace(/[^a-z0-9_]/g, '_')}`), log);
  }
}

async function dropPgSchema(name: string, log: (line: string) => void): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: BENCH_PG_URL });
  try {
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
  } catch (e) {
    log(`http bench: could not drop schema ${name}: ${(e as Error).message}`);
  } finally {
    await client.end().catch(() => {});
  }
}

/** The `metrics` group: blocks of fresh server processes, rounds per block. */
const METRICS_BLOCKS = 4;
const METRICS_ROUNDS_PER_BLOCK = 6;
const METRICS_OFF = 'metrics off';
const METRICS_ON = 'metrics on';

/**
 * One feature, off against on: {@link pairedBlocks} starts the two servers of each block with
 * `start(on, block)` (its processes go in `servers`, stopped after the block).
 */
export interface FeaturePair {
  group: string;
  /** Concurrent clients of this pair's runs, when not the run's (a sign-in is a few at a time). */
  connections?: number;
  start(on: boolean, block: number, servers: ChildServer[]): Promise<Target>;
}

/**
 * Servers that differ by one feature, compared with nothing else in the rounds. Two identical
 * servers already differ by a few percent, for the life of their processes (memory layout, JIT,
 * which of them started first: measured with both sides the same), so the servers are started
 * afresh for each of `blocks` blocks, in alternating order, and the figure is the median of
 * every block's paired rounds: per pair, an `off` row (the floor) and an `on` row.
 */
export async function pairedBlocks(
  pairs: readonly FeaturePair[],
  opts: LoadOptions,
  ctx: RunContext,
  blocks: number,
  roundsPerBlock: number,
  log: (line: string) => void,
  names: { off: string; on: string } = { off: 'off', on: 'on' },
): Promise<HttpRow[]> {
  const perBlock: LoadOptions = { ...opts, rounds: roundsPerBlock };
  const byGroup = new Map<string, HttpRow[][]>();
  for (let b = 0; b < blocks; b++) {
    // Started one after the other, the first one alternating between blocks.
    const order = b % 2 === 0 ? [false, true] : [true, false];
    for (const pair of pairs) {
      const servers: ChildServer[] = [];
      try {
        const targets: Target[] = [];
        for (const on of order) {
          const t = await pair.start(on, b, servers);
          targets.push({ ...t, name: on ? names.on : names.off, role: on ? 'ours' : 'floor' });
        }
        log(`http bench: ${pair.group}: block ${b + 1}/${blocks}`);
        const rows = await compare(
          pair.group,
          targets,
          perBlock,
          pair.connections ? { ...ctx, connections: pair.connections } : ctx,
          log,
        );
        byGroup.set(pair.group, [...(byGroup.get(pair.group) ?? []), rows]);
      } finally {
        await Promise.all(servers.map((s) => s.stop()));
      }
    }
  }
  // One row per side and group: every block's rounds, the paired ratios pooled.
  return [...byGroup].flatMap(([group, blockRows]) => {
    const pick = (name: string) => blockRows.map((rows) => rows.find((r) => r.name === name) as HttpRow);
    const offs = pick(names.off);
    const ons = pick(names.on);
    const merged = (rows: HttpRow[], name: string, role: HttpRow['role']): HttpRow => {
      const rounds = rows.flatMap((r) => r.rounds);
      const cpu = rows.map((r) => r.cpuUsPerReq).filter((x): x is number => x !== undefined);
      const busy = rows.map((r) => r.cpuBusy).filter((x): x is number => x !== undefined);
      // The blocks' latencies are not kept: the median of their p50s, the worst of their p99s.
      return {
        group,
        name,
        role,
        rounds,
        reqPerSec: median(rounds),
        p50Ms: median(rows.map((r) => r.p50Ms)),
        p99Ms: Math.max(...rows.map((r) => r.p99Ms)),
        failures: rows.reduce((n, r) => n + r.failures, 0),
        ...(cpu.length ? { cpuUsPerReq: median(cpu) } : {}),
        ...(busy.length ? { cpuBusy: median(busy) } : {}),
      };
    };
    const on = merged(ons, names.on, 'ours');
    on.vsFloor = median(ons.flatMap((r, i) => r.rounds.map((x, j) => x / ((offs[i] as HttpRow).rounds[j] as number))));
    const cpuVs = ons.map((r) => r.cpuVsFloor).filter((x): x is number => x !== undefined);
    if (cpuVs.length) on.cpuVsFloor = median(cpuVs);
    return [merged(offs, names.off, 'floor'), on];
  });
}

/** `tessera serve` with `args`, its files under `dir`, with `--metrics-port 0` when `metrics`. */
export async function tesseraServer(
  ctx: RunContext,
  name: string,
  args: readonly string[],
  home: string,
  servers: ChildServer[],
  env: NodeJS.ProcessEnv = tesseraEnv(),
): Promise<ChildServer> {
  const s = await startTarget(ctx, name, [TESSERA_CLI, ...args, '--data-dir', home], env);
  servers.push(s);
  return s;
}

/**
 * A refresh target on SQLite for a {@link FeaturePair}: `tessera serve` with the refresh groups'
 * flags and `args`, its database and files under `dir` per block, its pool of refresh tokens
 * filled by logins before each run.
 */
export async function sqliteRefreshTarget(
  ctx: RunContext,
  dir: string,
  name: string,
  block: number,
  servers: ChildServer[],
  args: readonly string[],
  shape?: RefreshRequestShape,
): Promise<Target> {
  const store = ['--store', `sqlite:${join(dir, `${name}-${block}.db`)}`];
  const server = await tesseraServer(ctx, name, [...REFRESH_SERVE, ...store, ...args], join(dir, `${name}-${block}`), servers);
  const pool: string[] = [];
  const prepare = () => fillPool(server.url, pool, ctx.connections * 2 + 8);
  await prepare();
  return { name, role: 'info', server, prepare, request: refreshRequests(pool, shape) };
}

/** `GET /me` with `--metrics-port` and without: the metrics group's first pair, and a row of bench/features.ts. */
export function metricsPairs(dir: string, ctx: RunContext, headers: { authorization: string }): FeaturePair[] {
  const get = () => ({ method: 'GET', headers, requests: [{ method: 'GET', path: '/me', headers }] });
  const metrics = (on: boolean) => (on ? ['--metrics-port', '0'] : []);
  return [
    {
      group: 'GET /me, metrics',
      async start(on, b, servers) {
        const name = `me-${on ? 'on' : 'off'}`;
        const server = await tesseraServer(
          ctx,
          name,
          ['serve', '--port', '0', ...metrics(on)],
          join(dir, `${name}-${b}`),
          servers,
        );
        return { name, role: 'info', server, request: get };
      },
    },
    {
      group: 'POST /auth/refresh (SQLite), metrics',
      start: (on, b, servers) => sqliteRefreshTarget(ctx, dir, `refresh-${on ? 'on' : 'off'}`, b, servers, metrics(on)),
    },
  ];
}

/** Metrics on against off (docs/operations.md: at most 3 % of the requests/s): {@link pairedBlocks} of {@link metricsPairs}. */
async function metricsGroup(opts: LoadOptions, ctx: RunContext, dir: string, log: (line: string) => void): Promise<HttpRow[]> {
  const quick = opts.rounds < 8;
  return pairedBlocks(
    metricsPairs(dir, ctx, await bearerHeaders()),
    opts,
    ctx,
    quick ? 1 : METRICS_BLOCKS,
    quick ? opts.rounds : METRICS_ROUNDS_PER_BLOCK,
    log,
    { off: METRICS_OFF, on: METRICS_ON },
  );
}

export async function runHttpBench(options: HttpBenchOptions = {}): Promise<HttpRow[]> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const groups = options.groups ?? ['me', 'refresh', 'refresh-pg'];
  const opts: LoadOptions = options.quick
    ? { rounds: 2, durationSec: 0.6, warmupSec: 0.25, monitorRequests: 200 }
    : { rounds: 8, durationSec: 1.25, warmupSec: 1, monitorRequests: 500 };
  ensureBuilt(log);
  const dir = mkdtempSync(join(tmpdir(), 'tessera-http-bench-'));
  const ctx: RunContext = {
    connections: options.connections ?? HTTP_CONNECTIONS,
    cpuProfDir: options.cpuProfDir,
    baselines: (options.baselineDirs ?? []).map(baselineOf),
  };
  placeProcesses(ctx, options.pin !== false, 'http bench', log);
  const rows: HttpRow[] = [];
  let redis: PrivateRedis | undefined;
  let client: Redis | undefined;
  try {
    if (groups.includes('me')) rows.push(...(await meGroup(opts, ctx, dir, log)));
    if (groups.includes('refresh')) {
      redis = await startPrivateRedis(options.redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
      if (!redis.private) log(`http bench: no redis-server on PATH; using ${redis.url} (round trips per refresh not counted)`);
      client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
      // An 'error' without a listener ends the process (ioredis reports a reply it cannot match,
      // seen once on a saturated machine); the figures that needed the reply are then missing.
      client.on('error', (e: Error) => log(`http bench: Redis client: ${e.message}`));
      try {
        await client.connect();
      } catch (e) {
        log(`http bench: refresh skipped (Redis: ${(e as Error).message})`);
        return rows;
      }
      if (redis.private) ctx.redis = { client, pid: redisPid(await client.info('server')) };
      if (ctx.placement) pin(ctx.redis?.pid, ctx.placement.rest);
      rows.push(...(await refreshGroup(opts, ctx, redis, dir, log)));
    }
    if (groups.includes('refresh-pg')) rows.push(...(await refreshPgGroup(opts, ctx, dir, log)));
    if (groups.includes('metrics')) rows.push(...(await metricsGroup(opts, ctx, dir, log)));
  } finally {
    client?.disconnect();
    await redis?.stop();
    if (ctx.placement) pin(process.pid, ctx.placement.all);
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

export function redisPid(info: string): number | undefined {
  const m = /^process_id:(\d+)/m.exec(info);
  return m ? Number(m[1]) : undefined;
}

export function formatHttpTable(rows: readonly HttpRow[]): string {
  const header = [
    'group',
    'server',
    'req/s',
    'rounds',
    'p50',
    'p99',
    'CPU/req',
    'server busy',
    'store CPU/req',
    'vs floor',
    'CPU vs floor',
    'Redis round trips/req',
    'fail',
  ];
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  const ms = (x: number) => (Number.isNaN(x) ? '' : `${x.toFixed(2)} ms`);
  const r = (x: number | undefined) => (x === undefined ? '' : `${x.toFixed(2)}x`);
  const table = rows.map((row) => [
    row.group,
    row.name,
    n(row.reqPerSec),
    row.rounds.map((x) => (x / 1000).toFixed(1)).join(' ') + 'k',
    ms(row.p50Ms),
    ms(row.p99Ms),
    row.cpuUsPerReq === undefined ? '' : `${row.cpuUsPerReq.toFixed(0)} µs`,
    row.cpuBusy === undefined ? '' : `${(row.cpuBusy * 100).toFixed(0)}%`,
    row.storeCpuUsPerReq === undefined ? '' : `${row.storeCpuUsPerReq.toFixed(0)} µs`,
    r(row.vsFloor),
    r(row.cpuVsFloor),
    row.redisCommandsPerReq === undefined ? '' : row.redisCommandsPerReq.toFixed(2),
    String(row.failures),
  ]);
  return markdownTable(header, table);
}

/** The targets of issue 5 that these rows decide. */
export function httpTargets(rows: readonly HttpRow[]): string[] {
  const out: string[] = [];
  const me = rows.find((r) => r.group === 'GET /me' && r.role === 'ours');
  if (me?.vsFloor !== undefined) {
    out.push(
      `GET /me: ${me.vsFloor.toFixed(2)}x the bare route's req/s (target >= 0.85) ${me.vsFloor >= 0.85 ? 'ok' : 'MISS'}` +
        ` (CPU per request: ${me.cpuVsFloor?.toFixed(2) ?? '?'}x the floor's speed)`,
    );
  }
  const onRedis = rows.find((r) => r.group === 'POST /auth/refresh' && r.name.includes('Redis'));
  if (onRedis?.vsFloor !== undefined) {
    out.push(
      `refresh on Redis: ${onRedis.vsFloor.toFixed(2)}x the one-round-trip floor's req/s (target >= 0.75) ${onRedis.vsFloor >= 0.75 ? 'ok' : 'MISS'}`,
    );
  }
  const onPg = rows.find((r) => r.group === REFRESH_PG_GROUP && r.role === 'ours');
  if (onPg?.vsFloor !== undefined) {
    out.push(
      `refresh on PostgreSQL: ${onPg.vsFloor.toFixed(2)}x the one-statement floor's req/s (target >= 0.75) ${onPg.vsFloor >= 0.75 ? 'ok' : 'MISS'}` +
        ` (CPU per request: ${onPg.cpuVsFloor?.toFixed(2) ?? '?'}x the floor's speed)`,
    );
  }
  const pipelined = rows.find((r) => r.group === 'POST /auth/refresh' && r.name.includes('auto-pipelining'));
  if (onRedis && pipelined) {
    const vs = median(onRedis.rounds.map((x, i) => x / (pipelined.rounds[i] as number)));
    out.push(`refresh on Redis: ${vs.toFixed(2)}x the floor with auto-pipelining (information; no target)`);
  }
  if (onRedis?.redisCommandsPerReq !== undefined) {
    const c = onRedis.redisCommandsPerReq;
    out.push(
      `refresh on Redis: ${c.toFixed(3)} Redis commands per refresh (target: exactly 1) ${Math.abs(c - 1) < 0.01 ? 'ok' : 'MISS'}`,
    );
  }
  /** Row `a` against row `b`: the median of the per-round req/s ratios, and the CPU-per-request ratio. */
  const paired = (a: string, b: string): { group: string; vs: number; cpu: string } | undefined => {
    const x = rows.find((r) => r.name === a);
    const y = rows.find((r) => r.name === b);
    if (!x || !y) return undefined;
    const vs = median(x.rounds.map((v, i) => v / (y.rounds[i] as number)));
    const cpu =
      x.cpuUsPerReq !== undefined && y.cpuUsPerReq ? ` (CPU per request: ${(x.cpuUsPerReq / y.cpuUsPerReq).toFixed(3)}x)` : '';
    return { group: x.group, vs, cpu };
  };
  // --baseline: this checkout against each other one, and each later baseline against the
  // first (e.g. the code after a change against the code before it), same run, round by round.
  const labels = rows.flatMap((r) => /^baseline (.+): tessera serve \(production defaults\)$/.exec(r.name)?.[1] ?? []);
  for (const [name, first] of [
    [(l: string) => baselineMe(l), 'tessera serve (production defaults)'],
    [(l: string) => baselineRefresh(l), 'tessera serve, Redis'],
  ] as const) {
    for (const [i, label] of labels.entries()) {
      const p = paired(first, name(label));
      if (p) out.push(`${p.group}: this checkout ${p.vs.toFixed(3)}x the req/s of ${label}, same run${p.cpu}`);
      const q = i === 0 ? undefined : paired(name(label), name(labels[0] as string));
      if (q) out.push(`${q.group}: ${label} ${q.vs.toFixed(3)}x the req/s of ${labels[0]}, same run${q.cpu}`);
    }
  }
  // docs/operations.md: metrics on costs at most 3 % of the requests/s, same run, round by round
  // (the metrics group: many rounds of the two servers alone; the other groups: their rows).
  for (const r of rows.filter((x) => x.name === METRICS_ON && x.vsFloor !== undefined)) {
    const cpu = r.cpuVsFloor === undefined ? '' : ` (CPU per request: ${(1 / r.cpuVsFloor).toFixed(3)}x)`;
    out.push(
      `${r.group}: ${(r.vsFloor as number).toFixed(3)}x the req/s without, ${r.rounds.length} paired rounds (target >= 0.97) ${(r.vsFloor as number) >= 0.97 ? 'ok' : 'MISS'}${cpu}`,
    );
  }
  for (const [on, off] of [
    [METRICS_ON_ME, 'tessera serve (production defaults)'],
    [METRICS_ON_REFRESH, 'tessera serve, SQLite'],
  ] as const) {
    const p = paired(on, off);
    if (p)
      out.push(
        `${p.group} with metrics on: ${p.vs.toFixed(3)}x the req/s without (target >= 0.97) ${p.vs >= 0.97 ? 'ok' : 'MISS'}${p.cpu}`,
      );
  }
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const groupAt = args.indexOf('--group');
  const groups = groupAt >= 0 ? ((args[groupAt + 1] ?? '').split(',') as HttpGroup[]) : undefined;
  const profAt = args.indexOf('--cpu-prof');
  const connAt = args.indexOf('--connections');
  const baseAt = args.indexOf('--baseline');
  const rows = await runHttpBench({
    quick: args.includes('--quick'),
    connections: connAt >= 0 ? Number(args[connAt + 1]) : undefined,
    groups,
    cpuProfDir: profAt >= 0 ? args[profAt + 1] : undefined,
    baselineDirs: baseAt >= 0 ? (args[baseAt + 1] ?? '').split(',').filter(Boolean) : undefined,
    pin: !args.includes('--no-pin'),
  });
  if (args.includes('--json')) console.log(JSON.stringify({ node: process.version, rows }, null, 2));
  else {
    console.log(formatHttpTable(rows));
    for (const line of httpTargets(rows)) console.log(`  ${line}`);
  }
}
