/**
 * The Prometheus metrics of a real `tessera serve`: after a scripted day (day.ts) on
 * PostgreSQL behind a TCP proxy (so the store can go away), every counter moved by
 * exactly what happened, and no series exists that did not; the request histogram
 * counted each token endpoint answer; the store histogram saw the outage. Without
 * TESSERA_METRICS_PORT the process listens on its API port alone.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Counter, Histogram, type Metric, Registry } from 'prom-client';
import {
  ACTIVE_FAMILIES_SAMPLE_MS,
  createServerMetrics,
  type FeedState,
  SeriesCounter,
  SeriesHistogram,
} from '../../src/server/metrics.js';
import { dropSchema, postgresThroughProxy, postgresUnavailable, skipUnlessAvailable, uniqueSchema } from '../stores/harness.js';
import type { TcpProxy } from '../stores/tcp-proxy.js';
import {
  call,
  freePort,
  PASSWORD,
  ROOT,
  runCli,
  type ServerProcess,
  type Suite,
  serverEnv,
  startServer,
} from '../support/processes.js';
import { DAY_ENV, DAY_USER, type DayEvent, type DayResult, runDay } from './day.js';

const SUITE: Suite = { rateLimit: 1000, clockFile: false, dropNodeOptions: true, timeoutMs: 30_000 };

/** Every sample of a metric family: `{label="v",...}` → value. */
function samples(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    out.set(m[2] ?? '', Number(m[3]));
  }
  return out;
}

/** `{a="1",b="2"}` with the labels in the given order, as prom-client writes them. */
function labels(...pairs: [string, string][]): string {
  return pairs.length === 0 ? '' : `{${pairs.map(([k, v]) => `${k}="${v}"`).join(',')}}`;
}

function tally(events: DayEvent[], event: string, key: (e: DayEvent) => string): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of events) {
    if (e.event !== event) continue;
    const k = key(e);
    out.set(k, (out.get(k) ?? 0) + 1);
  }
  return out;
}

/** TCP ports a process listens on (Linux: its socket inodes in /proc/net/tcp{,6}). */
function listeningPorts(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1] as string);
    } catch {
      // closed meanwhile
    }
  }
  const ports = new Set<number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // local_address is ADDR:PORT (hex); st 0A is LISTEN; the inode is column 9.
      if (cols[3] === '0A' && inodes.has(cols[9] as string))
        ports.add(Number.parseInt((cols[1] as string).split(':')[1] as string, 16));
    }
  }
  return [...ports].sort();
}

test('docs/operations.md lists every tessera metric; its alert rules and the Grafana dashboard name no other', async () => {
  const { body } = await (await createServerMetrics()).render();
  const registered = new Set([...body.matchAll(/^# HELP (tessera_\w+) /gm)].map((m) => m[1] as string));
  const docs = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
  const listed = new Set([...docs.matchAll(/^\| `(tessera_\w+)` \|/gm)].map((m) => m[1] as string));
  assert.deepEqual([...listed].sort(), [...registered].sort());
  const dashboard = readFileSync(join(ROOT, 'examples/grafana-dashboard.json'), 'utf8');
  JSON.parse(dashboard);
  for (const [where, text] of [
    ['docs/operations.md', docs],
    ['examples/grafana-dashboard.json', dashboard],
  ] as const) {
    const named = [...text.matchAll(/\btessera_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|count|sum)$/, ''));
    for (const n of named) assert.ok(registered.has(n), `${where} names ${n}, which no metric is`);
  }
});

test("the request histogram writes what prom-client's own histogram writes for the same observations", async () => {
  const buckets = [0.001, 0.01, 0.1, 1];
  const theirs = new Registry();
  const ours = new Registry();
  const h = new Histogram({ name: 'h_seconds', help: 'h', labelNames: ['route', 'status'], buckets, registers: [theirs] });
  const s = new SeriesHistogram('h_seconds', 'h', ['route', 'status'], buckets);
  ours.registerMetric(s as unknown as Metric);
  for (const [route, status, v] of [
    ['/me', '200', 0.0004],
    ['/me', '200', 0.01],
    ['/auth/token', '400', 0.3],
    ['/me', '200', 7],
    ['/me', '401', 0.001],
  ] as const) {
    h.observe({ route, status }, v);
    s.observe(`${route} ${status}`, () => [route, status], v);
  }
  assert.equal(await ours.metrics(), await theirs.metrics());
});

test("the counters write what prom-client's own counters write for the same increments", async () => {
  const theirs = new Registry();
  const ours = new Registry();
  const plain = new Counter({ name: 'a_total', help: 'a', registers: [theirs] });
  const labelled = new Counter({ name: 'b_total', help: 'b', labelNames: ['result', 'reason'], registers: [theirs] });
  const a = new SeriesCounter('a_total', 'a', []);
  const b = new SeriesCounter('b_total', 'b', ['result', 'reason']);
  ours.registerMetric(a as unknown as Metric);
  ours.registerMetric(b as unknown as Metric);
  assert.equal(await ours.metrics(), await theirs.metrics(), 'before any increment');
  for (const [result, reason] of [
    ['ok', ''],
    ['refused', 'reused'],
    ['ok', ''],
    ['refused', 'expired'],
  ] as const) {
    labelled.inc({ result, reason });
    b.inc(result, reason);
  }
  plain.inc();
  a.inc();
  assert.equal(await ours.metrics(), await theirs.metrics());
});

test('the revocation feed gauges are read at scrape time, and absent without a feed (opaque access tokens)', async () => {
  const m = await createServerMetrics();
  let feed: { live: boolean; size: number; dropped: number } | undefined;
  m.watch({ revocations: () => feed });
  const text = async () => (await m.render()).body;
  assert.equal(samples(await text(), 'tessera_revocation_feed_up').size, 0);
  feed = { live: true, size: 3, dropped: 0 };
  assert.deepEqual(samples(await text(), 'tessera_revocation_feed_up'), new Map([['', 1]]));
  assert.deepEqual(samples(await text(), 'tessera_revoked_set_entries'), new Map([['', 3]]));
  feed.live = false;
  assert.deepEqual(samples(await text(), 'tessera_revocation_feed_up'), new Map([['', 0]]));
});

test('the feed lag and delivery metrics are read at scrape time, and absent without a feed', async () => {
  const m = await createServerMetrics();
  let feed: FeedState | undefined;
  m.watch({ revocations: () => feed });
  const text = async () => (await m.render()).body;
  assert.equal(samples(await text(), 'tessera_revocation_feed_down_seconds').size, 0);
  assert.equal(samples(await text(), 'tessera_revocation_feed_events_total').size, 0);
  feed = { live: false, size: 0, dropped: 0, received: 4, downSeconds: 12.5 };
  const body = await text();
  assert.deepEqual(samples(body, 'tessera_revocation_feed_down_seconds'), new Map([['', 12.5]]));
  assert.deepEqual(samples(body, 'tessera_revocation_feed_events_total'), new Map([['', 4]]));
  assert.match(body, /^# TYPE tessera_revocation_feed_events_total counter$/m);
});

test('active families: counted by the store at most once per sampling period, the last count kept when one fails', async () => {
  const m = await createServerMetrics();
  const text = async () => (await m.render()).body;
  assert.equal(samples(await text(), 'tessera_active_families').size, 0, 'no sample without a store that counts');
  let calls = 0;
  let answer: () => Promise<number> = async () => 7;
  m.watch({
    activeFamilies: () => {
      calls++;
      return answer();
    },
  });
  const [a, b] = await Promise.all([text(), text()]);
  assert.deepEqual(samples(a, 'tessera_active_families'), new Map([['', 7]]));
  assert.deepEqual(samples(b, 'tessera_active_families'), new Map([['', 7]]));
  assert.equal(calls, 1, 'concurrent scrapes share one count');
  answer = async () => 9;
  assert.deepEqual(samples(await text(), 'tessera_active_families'), new Map([['', 7]]), 'within the period: the last count');
  assert.equal(calls, 1);
  assert.ok(ACTIVE_FAMILIES_SAMPLE_MS >= 10_000, 'a scrape every 15 s does not count each time');
});

test('active families: a failed first count leaves no sample, and the next scrape counts again', async () => {
  const m = await createServerMetrics();
  let fail = true;
  m.watch({
    activeFamilies: async () => {
      if (fail) throw new Error('store down');
      return 3;
    },
  });
  const first = await m.render();
  assert.equal(samples(first.body, 'tessera_active_families').size, 0);
  fail = false;
  assert.deepEqual(samples((await m.render()).body, 'tessera_active_families'), new Map([['', 3]]));
});

test('without TESSERA_METRICS_PORT the process listens on its API port alone; /metrics is not an API route', async () => {
  const env = serverEnv(SUITE, { TESSERA_STORE: 'memory' });
  const srv = await startServer(SUITE, env);
  try {
    assert.deepEqual(listeningPorts(srv.pid), [srv.port]);
    assert.equal((await call(srv.url, 'GET', '/metrics')).status, 404);
    assert.ok(!srv.output().stderr.includes('metrics at'), srv.output().stderr);
  } finally {
    await srv.stop();
  }
});

test('TESSERA_METRICS_PORT equal to the API port is refused at start-up', async () => {
  const port = await freePort();
  const env = serverEnv(SUITE, { TESSERA_STORE: 'memory', TESSERA_METRICS_PORT: String(port) });
  const r = await runCli(SUITE, ['serve', '--host', '127.0.0.1', '--port', String(port)], env);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /TESSERA_METRICS_PORT must differ from --port/);
});

describe('metrics after a scripted day (PostgreSQL behind a TCP proxy)', skipUnlessAvailable(await postgresUnavailable()), () => {
  let proxy: TcpProxy;
  let srv: ServerProcess;
  let metricsPort: number;
  let day: DayResult;
  let text: string;
  const schema = uniqueSchema('metrics');

  before(async () => {
    const through = await postgresThroughProxy(schema);
    proxy = through.proxy;
    metricsPort = await freePort();
    const env = serverEnv(SUITE, { ...DAY_ENV, TESSERA_STORE: through.store, TESSERA_METRICS_PORT: String(metricsPort) });
    const created = await runCli(SUITE, ['user', 'add', DAY_USER], env, PASSWORD);
    assert.equal(created.code, 0, created.stderr);
    srv = await startServer(SUITE, env);
    day = await runDay(srv.url, proxy);
    const scrape = await call(`http://127.0.0.1:${metricsPort}`, 'GET', '/metrics');
    assert.equal(scrape.status, 200);
    assert.match(String(scrape.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    text = scrape.text;
  });
  after(async () => {
    await srv?.stop();
    await proxy?.close();
    await dropSchema(schema);
  });

  test('the metrics listener serves /metrics only, on its own port', async () => {
    assert.deepEqual(listeningPorts(srv.pid), [srv.port, metricsPort].sort());
    assert.match(srv.output().stderr, new RegExp(`tessera: metrics at http://127\\.0\\.0\\.1:${metricsPort}/metrics`));
    assert.equal((await call(`http://127.0.0.1:${metricsPort}`, 'GET', '/')).status, 404);
    assert.equal((await call(`http://127.0.0.1:${metricsPort}`, 'POST', '/metrics')).status, 405);
    assert.equal((await call(srv.url, 'GET', '/metrics')).status, 404, 'never on the API port');
  });

  test('sign-ins by grant and result: exactly those of the day', () => {
    const want = tally(day.events, 'sign_in', (e) => labels(['grant', e.grant as string], ['result', e.result as string]));
    assert.deepEqual(samples(text, 'tessera_sign_ins_total'), want);
  });

  test('refreshes by result and reason, reuse detections, revocations by kind', () => {
    const want = tally(day.events, 'refresh', (e) =>
      labels(['result', e.result as string], ['reason', e.result === 'ok' ? '' : (e.reason ?? '')]),
    );
    assert.deepEqual(samples(text, 'tessera_refreshes_total'), want);
    assert.deepEqual(samples(text, 'tessera_refresh_reuse_detections_total'), new Map([['', 1]]));
    assert.deepEqual(
      samples(text, 'tessera_revocations_total'),
      tally(day.events, 'revocation', (e) => labels(['kind', e.kind as string])),
    );
  });

  test('logouts, client authentication failures and guessing-limit blocks', () => {
    assert.deepEqual(
      samples(text, 'tessera_logouts_total'),
      new Map([
        [labels(['scope', 'session']), 1],
        [labels(['scope', 'all']), 1],
      ]),
    );
    assert.deepEqual(samples(text, 'tessera_client_auth_failures_total'), new Map([[labels(['reason', 'unknown_client']), 1]]));
    assert.deepEqual(samples(text, 'tessera_guessing_limit_blocks_total'), new Map([[labels(['scope', 'sign_in']), 1]]));
    assert.deepEqual(samples(text, 'tessera_authorization_code_replays_total'), new Map([['', 0]]));
  });

  test('the request histogram counted every token endpoint answer by status', () => {
    const counts = samples(text, 'tessera_http_request_duration_seconds_count');
    const byStatus = new Map<number, number>();
    for (const s of day.tokenStatuses) byStatus.set(s, (byStatus.get(s) ?? 0) + 1);
    for (const [status, n] of byStatus) {
      assert.equal(
        counts.get(labels(['route', '/auth/token'], ['method', 'POST'], ['status', String(status)])),
        n,
        `POST /auth/token ${status}`,
      );
    }
    for (const key of counts.keys()) assert.doesNotMatch(key, /route="\/auth\/token\?|alice|mallory/, 'route patterns only');
  });

  test('the store histogram saw the outage; the revocation feed and revoked set are reported', () => {
    const store = samples(text, 'tessera_store_call_duration_seconds_count');
    const failed = [...store].filter(([k]) => k.includes('outcome="error"'));
    assert.ok(failed.length > 0, `store calls failed during the outage: ${[...store.keys()].join(' ')}`);
    for (const [k] of store) assert.match(k, /^\{store="postgres",operation="\w+",outcome="(ok|error)"\}$/);
    const feed = samples(text, 'tessera_revocation_feed_up');
    assert.equal(feed.size, 1);
    assert.ok([0, 1].includes(feed.get('') as number));
    assert.ok((samples(text, 'tessera_revoked_set_entries').get('') ?? -1) >= 0);
  });

  test('active families: the sessions the day left in force; the feed delivered every revocation, and says how long it is down', () => {
    assert.deepEqual(samples(text, 'tessera_active_families'), new Map([['', day.liveSessions]]));
    // A feed that went down in the outage replays the revocations in force when it is back up.
    const received = samples(text, 'tessera_revocation_feed_events_total').get('') ?? -1;
    assert.ok(received >= day.pushedRevocations, `${received} revocations delivered of ${day.pushedRevocations}`);
    const down = samples(text, 'tessera_revocation_feed_down_seconds').get('');
    const up = samples(text, 'tessera_revocation_feed_up').get('');
    assert.ok(up === 1 ? down === 0 : (down ?? 0) > 0, `up ${up}, down for ${down} s`);
  });

  test('no user id, username, address or token in any series', () => {
    for (const s of [...day.secrets, day.aliceId, DAY_USER, 'mallory', '127.0.0.1']) {
      assert.ok(!text.includes(s), `the metrics name ${s.slice(0, 8)}…`);
    }
  });
});
