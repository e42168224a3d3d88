/**
 * tessera against oidc-provider (the certified Node OpenID provider), both real
 * servers in child processes, in the same run and the same alternating rounds as
 * bench/http.ts (whose load runs, CPU placement and per-request CPU this reuses).
 *
 *     node --import tsx bench/peers.ts [--quick] [--smoke] [--json] [--group refresh,introspect,me,signin] [--connections N] [--no-pin]
 *
 * Servers: `tessera serve` on the memory store and on a private Redis; oidc-provider 9
 * (bench/servers/oidc-provider.mjs) on its default memory adapter, on a Redis adapter
 * built as the provider's example one, and on the same adapter with single-round-trip
 * scripts and a consume that refuses a second use ("atomic").
 *
 * Groups:
 * - refresh:    `grant_type=refresh_token` at each token endpoint (form body, public client, no
 *               client lookup on either side), rotation on, on memory then on Redis. Pools of
 *               refresh tokens, one chain per connection: each token is used once.
 * - introspect: RFC 7662 introspection of an access token by a confidential client
 *               (client_secret_basic), on Redis.
 * - me:         a protected route given the same Bearer access token over and over: tessera's
 *               `GET /me` (jwt access token, verified-token cache on) against a route of the
 *               oidc-provider server that looks the opaque token up with `provider.AccessToken.find`.
 * - signin:     a whole authorization-code sign-in per iteration (authorize, login form, consent
 *               form, code, token exchange with PKCE), a fresh cookie jar each time, on Redis.
 *
 * How the tokens are minted: tessera's refresh pools with its password grant (as bench/http.ts);
 * oidc-provider's refresh pools, and every access token used, through the authorization code flow
 * of each server, driven by plain fetch with a cookie jar (the same code as the signin group).
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { hiddenFields, Jar, pkce } from '../test/support/forms.js';
import { markdownTable, median } from './harness.js';
import {
  BENCH_USER,
  compare,
  type DrivenRun,
  fillPool,
  formatHttpTable,
  HTTP_CONNECTIONS,
  type HttpRow,
  type LoadOptions,
  passwordLogin,
  pin,
  placeProcesses,
  type RefreshRequestShape,
  type RunContext,
  redisPid,
  refreshRequests,
  startTarget,
  type Target,
  tesseraEnv,
} from './http.js';
import {
  type ChildServer,
  ensureBuilt,
  OIDC_PROVIDER_SERVER,
  type PrivateRedis,
  startPrivateRedis,
  TESSERA_CLI,
} from './procs.js';

const execFileAsync = promisify(execFile);

export type PeerGroup = 'refresh' | 'introspect' | 'me' | 'signin';
export const PEER_GROUPS: readonly PeerGroup[] = ['refresh', 'introspect', 'me', 'signin'];

export interface PeersBenchOptions {
  quick?: boolean;
  /** One short round of each group: checks that everything starts and answers (the smoke test). */
  smoke?: boolean;
  groups?: readonly PeerGroup[];
  connections?: number;
  pin?: boolean;
  /** Used when no redis-server can be started privately. Default REDIS_URL or redis://127.0.0.1:6379. */
  redisUrl?: string;
  log?: (line: string) => void;
}

/** tessera's row against one peer row of the same group and run. */
export interface PeerRatio {
  group: string;
  peer: string;
  /** Median over the rounds of tessera's req/s / the peer's in the same round. */
  reqPerSec: number;
  /** tessera's median server CPU per request / the peer's (below 1: tessera is cheaper). */
  cpuPerReq?: number;
  /** Same for the private redis-server's CPU per request. */
  redisCpuPerReq?: number;
}

export interface PeersResult {
  rows: HttpRow[];
  ratios: PeerRatio[];
  loadAtStart: number[];
  loadAtEnd: number[];
}

/** The redirect URI of both servers' sign-in clients; never fetched (the code is read from the Location). */
const CALLBACK = 'http://127.0.0.1/cb';
/** Concurrent sign-ins of the signin group (each is several requests, a password hash among them). */
const SIGNIN_CONCURRENCY = 8;
const TESSERA_REDIS_PREFIX = 'tessera-peers:';

/** A server's way in: where its endpoints are and which client signs in. */
interface Endpoints {
  authorize: string;
  token: string;
  clientId: string;
  /** Extra authorization request parameters. */
  extra: Record<string, string>;
}
const TESSERA_ENDPOINTS: Endpoints = {
  authorize: '/authorize',
  token: '/auth/token',
  clientId: 'web',
  // Consent is remembered per user and client; asked again so that every sign-in shows it, as on a
  // new oidc-provider session (a new grant each time).
  extra: { scope: 'api', prompt: 'consent' },
};
const OP_ENDPOINTS: Endpoints = { authorize: '/auth', token: '/token', clientId: 'bench', extra: { scope: 'api' } };

interface TokenResponse {
  access_token: string;
  refresh_token: string;
}

/**
 * One authorization-code sign-in as a browser makes it, with a fresh cookie jar:
 * follow redirects; fill each HTML form met (a password field: the user's credentials;
 * otherwise the consent form, approved); stop at the redirect to the client with its
 * code, and exchange the code with the PKCE verifier (RFC 6749 §4.1, RFC 7636).
 */
async function signIn(base: string, e: Endpoints): Promise<TokenResponse> {
  const jar = new Jar();
  const { verifier, challenge } = pkce();
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: e.clientId,
    redirect_uri: CALLBACK,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: randomBytes(8).toString('base64url'),
    ...e.extra,
  });
  /** Same origin as `base` whatever host the server names in its links (its issuer). */
  const local = (href: string, from: string) => {
    const u = new URL(href, from);
    return `${base}${u.pathname}${u.search}`;
  };
  let url = `${base}${e.authorize}?${query}`;
  let init: RequestInit = {};
  for (let step = 0; step < 12; step++) {
    const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as object), ...jar.header() } });
    jar.take(res.headers.getSetCookie());
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      await res.arrayBuffer();
      if (location.startsWith(CALLBACK)) {
        const code = new URL(location).searchParams.get('code');
        if (!code) throw new Error(`sign-in refused: ${location}`);
        const token = await fetch(`${base}${e.token}`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'authorization_code',
            code,
            redirect_uri: CALLBACK,
            code_verifier: verifier,
            client_id: e.clientId,
          }),
        });
        const body = (await token.json()) as Partial<TokenResponse>;
        if (token.status !== 200 || !body.access_token || !body.refresh_token) {
          throw new Error(`code exchange answered ${token.status}: ${JSON.stringify(body)}`);
        }
        return body as TokenResponse;
      }
      url = local(location, url);
      init = {};
      continue;
    }
    const html = await res.text();
    if (res.status !== 200) throw new Error(`sign-in: ${url} answered ${res.status}: ${html.slice(0, 200)}`);
    const action = /<form[^>]*action="([^"]*)"/.exec(html)?.[1]?.replace(/&amp;/g, '&');
    const fields = /type="password"/.test(html)
      ? { ...hiddenFields(html), ...BENCH_USER }
      : { ...hiddenFields(html), decision: 'approve' };
    url = action ? local(action, url) : url;
    init = {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    };
  }
  throw new Error(`sign-in: no code after 12 steps (at ${url})`);
}

/** Sign-ins, eight at a time, until `pool` holds `n` refresh tokens. */
async function fillPoolBySignIn(base: string, e: Endpoints, pool: string[], n: number): Promise<void> {
  while (pool.length < n) {
    const batch = await Promise.all(Array.from({ length: Math.min(8, n - pool.length) }, () => signIn(base, e)));
    for (const t of batch) pool.push(t.refresh_token);
  }
}

/** The signin group's load: `concurrency` browsers signing in one after another for `durationSec`. */
function signInDriver(base: string, e: Endpoints, concurrency: number) {
  return async (durationSec: number): Promise<DrivenRun> => {
    const latencies: number[] = [];
    let failures = 0;
    const t0 = performance.now();
    const end = t0 + durationSec * 1000;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < end) {
          const s = performance.now();
          try {
            await signIn(base, e);
            latencies.push(performance.now() - s);
          } catch {
            failures++;
          }
        }
      }),
    );
    return { ok: latencies.length, failures, duration: (performance.now() - t0) / 1000, latencies };
  };
}

const TESSERA_REFRESH: RefreshRequestShape = {
  path: '/auth/token',
  contentType: 'application/x-www-form-urlencoded',
  body: (rt) => new URLSearchParams({ grant_type: 'refresh_token', refresh_token: rt }).toString(),
};
const OP_REFRESH: RefreshRequestShape = {
  path: '/token',
  contentType: 'application/x-www-form-urlencoded',
  body: (rt) => new URLSearchParams({ grant_type: 'refresh_token', refresh_token: rt, client_id: 'bench' }).toString(),
};

/** One refresh with a pool's token, its successor put back: the server is set up as the rows assume. */
async function checkRefresh(name: string, url: string, shape: RefreshRequestShape, pool: string[]): Promise<void> {
  const res = await fetch(`${url}${shape.path}`, {
    method: 'POST',
    headers: { 'content-type': shape.contentType },
    body: shape.body(pool.pop() as string),
  });
  const body = (await res.json()) as Partial<TokenResponse>;
  if (res.status !== 200 || !body.refresh_token)
    throw new Error(`${name}: refresh answered ${res.status}: ${JSON.stringify(body)}`);
  pool.push(body.refresh_token);
}

/** `tessera client add ...` on the Redis store; the printed client. */
async function addTesseraClient(
  redisUrl: string,
  args: readonly string[],
): Promise<{ client_id: string; client_secret?: string }> {
  const { stdout } = await execFileAsync(
    process.execPath,
    [TESSERA_CLI, 'client', 'add', ...args, '--store', redisUrl, '--redis-prefix', TESSERA_REDIS_PREFIX],
    { encoding: 'utf8', env: { ...process.env, ...tesseraEnv() } },
  );
  return JSON.parse(stdout.trim().split('\n').pop() as string);
}

/** Median of tessera's per-round req/s over the peer's, and the ratios of the medians of CPU. */
export function peerRatios(rows: readonly HttpRow[]): PeerRatio[] {
  const out: PeerRatio[] = [];
  for (const group of new Set(rows.map((r) => r.group))) {
    const ours = rows.find((r) => r.group === group && r.role === 'ours');
    if (!ours) continue;
    for (const peer of rows.filter((r) => r.group === group && r.role === 'library')) {
      const ratio: PeerRatio = {
        group,
        peer: peer.name,
        reqPerSec: median(ours.rounds.map((x, i) => x / (peer.rounds[i] as number))),
      };
      if (ours.cpuUsPerReq !== undefined && peer.cpuUsPerReq) ratio.cpuPerReq = ours.cpuUsPerReq / peer.cpuUsPerReq;
      if (ours.storeCpuUsPerReq !== undefined && peer.storeCpuUsPerReq) {
        ratio.redisCpuPerReq = ours.storeCpuUsPerReq / peer.storeCpuUsPerReq;
      }
      out.push(ratio);
    }
  }
  return out;
}

export async function runPeersBench(options: PeersBenchOptions = {}): Promise<PeersResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const groups = new Set(options.groups ?? PEER_GROUPS);
  const opts: LoadOptions = options.smoke
    ? { rounds: 1, durationSec: 0.2, warmupSec: 0.1, monitorRequests: 20 }
    : options.quick
      ? { rounds: 2, durationSec: 0.6, warmupSec: 0.25, monitorRequests: 200 }
      : { rounds: 8, durationSec: 1.25, warmupSec: 1, monitorRequests: 500 };
  const connections = options.connections ?? (options.smoke ? 8 : HTTP_CONNECTIONS);
  const loadAtStart = loadavg();
  ensureBuilt(log);
  const dir = mkdtempSync(join(tmpdir(), 'tessera-peers-bench-'));
  const ctx: RunContext = { connections };
  placeProcesses(ctx, options.pin !== false, 'peers bench', log);
  const servers: ChildServer[] = [];
  const rows: HttpRow[] = [];
  let redis: PrivateRedis | undefined;
  let client: Redis | undefined;
  try {
    redis = await startPrivateRedis(options.redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    if (!redis.private) log(`peers bench: no redis-server on PATH; using ${redis.url} (Redis CPU not measured)`);
    client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    if (redis.private) ctx.redis = { client, pid: redisPid(await client.info('server')) };
    if (ctx.placement) pin(ctx.redis?.pid, ctx.placement.rest);
    const redisUrl = redis.url;

    const rsSecret = randomBytes(32).toString('base64url');

    // Refresh, login (scrypt at N = 1024 on both sides) and sign-in as the bench needs them; no rate limit.
    const serve = ['serve', '--port', '0', '--rate-limit', '0', '--allow-register', '--scrypt-n', '1024'];
    /** Each server starts when a group first needs it (the smoke test runs one group). */
    const starting = new Map<string, Promise<ChildServer>>();
    const start = (name: string, args: string[], env: NodeJS.ProcessEnv, ready?: (s: ChildServer) => Promise<unknown>) => () => {
      let s = starting.get(name);
      if (!s) {
        s = startTarget(ctx, name, args, env).then(async (server) => {
          servers.push(server);
          await ready?.(server);
          return server;
        });
        starting.set(name, s);
      }
      return s;
    };
    // The bench user on both tessera servers (the oidc-provider server has it built in).
    const register = (s: ChildServer) => passwordLogin(s.url, true);
    const tesseraMemory = start(
      'tessera-memory',
      [TESSERA_CLI, ...serve, '--store', 'memory', '--data-dir', join(dir, 'memory')],
      tesseraEnv(),
      register,
    );
    let tesseraRsSecret = '';
    const tesseraRedis = start(
      'tessera-redis',
      [TESSERA_CLI, ...serve, '--store', redisUrl, '--redis-prefix', TESSERA_REDIS_PREFIX, '--data-dir', join(dir, 'redis')],
      tesseraEnv(),
      async (s) => {
        await register(s);
        // Clients on its store: a resource server for introspection, a third-party app for sign-in.
        const [rs] = await Promise.all([
          addTesseraClient(redisUrl, ['rs', '--confidential', '--introspect']),
          addTesseraClient(redisUrl, ['web', '--redirect-uri', CALLBACK, '--scope', 'api']),
        ]);
        tesseraRsSecret = rs.client_secret ?? '';
      },
    );
    const opMemory = start('oidc-provider-memory', [OIDC_PROVIDER_SERVER, 'memory'], { BENCH_RS_SECRET: rsSecret });
    const opRedisEnv = (prefix: string) => ({ REDIS_URL: redisUrl, BENCH_REDIS_PREFIX: prefix, BENCH_RS_SECRET: rsSecret });
    const opRedis = start('oidc-provider-redis', [OIDC_PROVIDER_SERVER, 'redis'], opRedisEnv('oidc-example:'));
    const opAtomic = start('oidc-provider-redis-atomic', [OIDC_PROVIDER_SERVER, 'redis-atomic'], opRedisEnv('oidc-atomic:'));

    const poolSize = connections * 2 + 8;
    /** One group's rounds, alternating its targets; its rows appended. */
    const measure = async (group: string, targets: readonly Target[]) => {
      rows.push(...(await compare(group, targets, opts, ctx, log)));
    };
    const tesseraRefresh = async (name: string, started: () => Promise<ChildServer>, onRedis: boolean): Promise<Target> => {
      const server = await started();
      const pool: string[] = [];
      const prepare = () => fillPool(server.url, pool, poolSize);
      await prepare();
      await checkRefresh(name, server.url, TESSERA_REFRESH, pool);
      return { name, role: 'ours', server, prepare, request: refreshRequests(pool, TESSERA_REFRESH), redis: onRedis };
    };
    const opRefresh = async (name: string, started: () => Promise<ChildServer>, onRedis: boolean): Promise<Target> => {
      const server = await started();
      const pool: string[] = [];
      const prepare = () => fillPoolBySignIn(server.url, OP_ENDPOINTS, pool, poolSize);
      await prepare();
      await checkRefresh(name, server.url, OP_REFRESH, pool);
      return { name, role: 'library', server, prepare, request: refreshRequests(pool, OP_REFRESH), redis: onRedis };
    };

    if (groups.has('refresh')) {
      log('peers bench: minting refresh token pools (memory)');
      await measure(
        'refresh, memory',
        await Promise.all([
          tesseraRefresh('tessera serve, memory store', tesseraMemory, false),
          opRefresh('oidc-provider, memory adapter', opMemory, false),
        ]),
      );
      log('peers bench: minting refresh token pools (Redis)');
      await measure(
        'refresh, Redis',
        await Promise.all([
          tesseraRefresh('tessera serve, Redis', tesseraRedis, true),
          opRefresh('oidc-provider, example Redis adapter', opRedis, true),
          opRefresh('oidc-provider, atomic Redis adapter', opAtomic, true),
        ]),
      );
    }

    if (groups.has('introspect')) {
      const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
      const introspect = async (
        name: string,
        role: HttpRow['role'],
        server: ChildServer,
        path: string,
        auth: string,
        token: string,
      ) => {
        const headers = { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' };
        const body = new URLSearchParams({ token }).toString();
        const res = await fetch(`${server.url}${path}`, { method: 'POST', headers, body });
        const answer = (await res.json()) as { active?: boolean };
        if (res.status !== 200 || answer.active !== true)
          throw new Error(`${name}: introspection answered ${res.status}: ${JSON.stringify(answer)}`);
        const request = () => ({ method: 'POST', headers, body, requests: [{ method: 'POST', path, headers, body }] });
        return { name, role, server, request, redis: true } satisfies Target;
      };
      const [tRedis, opRedisServer] = await Promise.all([tesseraRedis(), opRedis()]);
      const [tAt, opAt] = await Promise.all([signIn(tRedis.url, TESSERA_ENDPOINTS), signIn(opRedisServer.url, OP_ENDPOINTS)]);
      await measure('introspection, Redis', [
        await introspect(
          'tessera serve, Redis',
          'ours',
          tRedis,
          '/auth/introspect',
          basic('rs', tesseraRsSecret),
          tAt.access_token,
        ),
        await introspect(
          'oidc-provider, example Redis adapter',
          'library',
          opRedisServer,
          '/token/introspection',
          basic('rs', rsSecret),
          opAt.access_token,
        ),
      ]);
    }

    if (groups.has('me')) {
      const protectedRoute = async (
        name: string,
        role: HttpRow['role'],
        server: ChildServer,
        accessToken: string,
        onRedis: boolean,
      ) => {
        const headers = { authorization: `Bearer ${accessToken}` };
        const res = await fetch(`${server.url}/me`, { headers });
        if (res.status !== 200) throw new Error(`${name}: GET /me answered ${res.status}: ${await res.text()}`);
        const request = () => ({ method: 'GET', headers, requests: [{ method: 'GET', path: '/me', headers }] });
        return { name, role, server, request, redis: onRedis } satisfies Target;
      };
      const [tMemory, opMem, opAtom] = await Promise.all([tesseraMemory(), opMemory(), opAtomic()]);
      const [tAt, opMemAt, opRedisAt] = await Promise.all([
        passwordLogin(tMemory.url),
        signIn(opMem.url, OP_ENDPOINTS),
        signIn(opAtom.url, OP_ENDPOINTS),
      ]);
      await measure('GET /me (access-token validation)', [
        await protectedRoute('tessera serve, memory store', 'ours', tMemory, tAt.access_token, false),
        await protectedRoute('oidc-provider AccessToken.find, memory', 'library', opMem, opMemAt.access_token, false),
        await protectedRoute('oidc-provider AccessToken.find, Redis', 'library', opAtom, opRedisAt.access_token, true),
      ]);
    }

    if (groups.has('signin')) {
      const signInTarget = async (
        name: string,
        role: HttpRow['role'],
        started: () => Promise<ChildServer>,
        e: Endpoints,
      ): Promise<Target> => {
        const server = await started();
        await signIn(server.url, e);
        const request = () => ({ method: 'GET' });
        return { name, role, server, request, redis: true, drive: signInDriver(server.url, e, SIGNIN_CONCURRENCY) };
      };
      await measure('sign-in (authorization code, Redis)', [
        await signInTarget('tessera serve, Redis', 'ours', tesseraRedis, TESSERA_ENDPOINTS),
        await signInTarget('oidc-provider, example Redis adapter', 'library', opRedis, OP_ENDPOINTS),
        await signInTarget('oidc-provider, atomic Redis adapter', 'library', opAtomic, OP_ENDPOINTS),
      ]);
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    client?.disconnect();
    await redis?.stop();
    if (ctx.placement) pin(process.pid, ctx.placement.all);
    rmSync(dir, { recursive: true, force: true });
  }
  return { rows, ratios: peerRatios(rows), loadAtStart, loadAtEnd: loadavg() };
}

export function formatPeerRatios(ratios: readonly PeerRatio[]): string {
  const r = (x: number | undefined) => (x === undefined ? '' : `${x.toFixed(2)}x`);
  return markdownTable(
    ['group', 'peer', 'tessera req/s ÷ peer', 'tessera CPU/req ÷ peer', 'tessera store CPU/req ÷ peer'],
    ratios.map((x) => [x.group, x.peer, r(x.reqPerSec), r(x.cpuPerReq), r(x.redisCpuPerReq)]),
  );
}

/** The targets of the peer comparison on Redis (against the atomic adapter, the fair one, and the example). */
export function peerTargets(ratios: readonly PeerRatio[]): string[] {
  const out: string[] = [];
  for (const x of ratios) {
    if (x.group === 'refresh, Redis') {
      const ok = x.reqPerSec >= 5 && (x.cpuPerReq ?? Infinity) <= 0.2;
      out.push(
        `refresh on Redis vs ${x.peer}: ${x.reqPerSec.toFixed(2)}x the req/s (target >= 5), ${x.cpuPerReq?.toFixed(2) ?? '?'}x the CPU per request (target <= 0.2) ${ok ? 'ok' : 'MISS'}`,
      );
    }
    if (x.group === 'introspection, Redis') {
      out.push(
        `introspection on Redis vs ${x.peer}: ${x.reqPerSec.toFixed(2)}x the req/s (target >= 3) ${x.reqPerSec >= 3 ? 'ok' : 'MISS'}`,
      );
    }
  }
  return out;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const groupAt = args.indexOf('--group');
  const connAt = args.indexOf('--connections');
  const json = args.includes('--json');
  const fmtLoad = (l: number[]) => l.map((x) => x.toFixed(2)).join(', ');
  if (!json) console.log(`node ${process.version}, ${cpus().length} CPUs, load average at start ${fmtLoad(loadavg())}`);
  const result = await runPeersBench({
    quick: args.includes('--quick'),
    smoke: args.includes('--smoke'),
    groups: groupAt >= 0 ? ((args[groupAt + 1] ?? '').split(',') as PeerGroup[]) : undefined,
    connections: connAt >= 0 ? Number(args[connAt + 1]) : undefined,
    pin: !args.includes('--no-pin'),
  });
  if (json) console.log(JSON.stringify({ node: process.version, ...result }, null, 2));
  else {
    console.log(formatHttpTable(result.rows));
    console.log(`\n${formatPeerRatios(result.ratios)}`);
    for (const line of peerTargets(result.ratios)) console.log(`  ${line}`);
    console.log(`\nload average at start ${fmtLoad(result.loadAtStart)}, at end ${fmtLoad(result.loadAtEnd)}`);
  }
}
