/**
 * Prometheus metrics of the reference server (docs/operations.md lists them and
 * what to alert on), through `prom-client`, an optional peer: loaded only when
 * `TESSERA_METRICS_PORT` is set, and served by a listener of its own on that port
 * (`GET /metrics`, Prometheus text format 0.0.4), never on the API's port, so the
 * public side answers nothing about the instance.
 *
 * Counters follow the security events (http/core/events.ts); the request histogram is fed
 * by an onResponse hook on each route (app.ts) holding its route's recorder, and the store
 * histogram by a recorder per operation (store-calls.ts): the request path finds its series by
 * an array index, never by hashing label values. Revocation feed state, lag and revoked-set
 * size are read when scraped; active families are counted by the store, sampled
 * ({@link ACTIVE_FAMILIES_SAMPLE_MS}). Labels take bounded values only (a result, a grant type,
 * a refusal reason, a kind, a route pattern, a status code, a store operation): never a
 * user, a client, an address or a token, each of which would make a series per value.
 *
 * @module
 */
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { Metric, Registry } from 'prom-client';
import { ConfigError } from '../errors.js';
import type { AuthEvent, AuthEventSink } from '../http/core/events.js';
import { isMissingPackage, PEER_MAJORS } from '../internal/peers.js';
import { observeStoreCalls } from './store-calls.js';

/** What the gauges read at scrape time. */
export interface MetricsSources {
  /** The token service's pushed revocations, when it keeps them. */
  revocations?: () => FeedState | undefined;
  /** Sessions in force over every user, counted by the store (sampled: {@link ACTIVE_FAMILIES_SAMPLE_MS}). */
  activeFamilies?: () => Promise<number>;
}

/** The revocation feed of this instance, as the gauges read it. */
export interface FeedState {
  live: boolean;
  size: number;
  dropped: number;
  /** Revocations the feed delivered to this instance. */
  received?: number;
  /** Seconds the feed has been down (0 while up). */
  downSeconds?: number;
}

/**
 * The active-families gauge counts at most this often (ms): a scrape within it answers the last
 * count, one past it waits for a new one (a statement over the families' expiry index; concurrent
 * scrapes share it). A failed count keeps the last value, and the next scrape tries again.
 */
export const ACTIVE_FAMILIES_SAMPLE_MS = 60_000;

/** Records one answer of a route: its status code and duration in seconds. */
export type RouteRecorder = (status: number, seconds: number) => void;
/** Records one store call: its duration in seconds and whether it succeeded. */
export type StoreCallRecorder = (seconds: number, ok: boolean) => void;

export interface ServerMetrics {
  /** Feeds the counters from the security events. */
  readonly events: AuthEventSink;
  /**
   * The recorder of one route pattern (not the URL: a bounded set) and method, resolved once per
   * route: each call records one answer's status and duration (seconds) into a series found by an
   * array index, so a request costs a bucket scan and three additions.
   */
  route(route: string, method: string): RouteRecorder;
  /** The recorder of one store operation, resolved once per operation (see {@link timedStore}). */
  storeOperation(store: string, operation: string): StoreCallRecorder;
  /** Sets what the gauges read. */
  watch(sources: MetricsSources): void;
  /** The exposition text and its content type. */
  render(): Promise<{ contentType: string; body: string }>;
}

/** Request durations: sub-millisecond (a cached `GET /me`) to a slow scrypt behind a queue. */
const REQUEST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Store calls: a local SQLite read to a Redis or PostgreSQL round trip that waits for a failover. */
const STORE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/**
 * Loads prom-client (a ConfigError naming the install line when it is missing) and
 * makes the metrics of one server in a registry of their own.
 */
export async function createServerMetrics(): Promise<ServerMetrics> {
  let prom: typeof import('prom-client');
  try {
    prom = await import('prom-client');
  } catch (e) {
    if (isMissingPackage(e, 'prom-client')) {
      throw new ConfigError(
        `TESSERA_METRICS_PORT needs prom-client: npm install prom-client@${PEER_MAJORS['prom-client']}; or unset TESSERA_METRICS_PORT`,
      );
    }
    throw e;
  }
  const registry: Registry = new prom.Registry();
  defaultMetrics(prom, registry);
  const counter = (name: string, help: string, labelNames: readonly string[]) => {
    const c = new SeriesCounter(name, help, labelNames);
    registry.registerMetric(c as unknown as Metric);
    return c;
  };

  const signIns = counter(
    'tessera_sign_ins_total',
    'Token endpoint sign-ins (every grant but refresh_token) by grant type and result: ok, failed (wrong password or code), limited (guessing limiter), error (a dependency down)',
    ['grant', 'result'],
  );
  const refreshes = counter(
    'tessera_refreshes_total',
    'Refresh token rotations (POST /auth/refresh and grant_type=refresh_token) by result (ok, refused, error) and refusal reason',
    ['result', 'reason'],
  );
  const refreshOk = refreshes.series('ok', '');
  const reuse = counter(
    'tessera_refresh_reuse_detections_total',
    'Refresh tokens presented again after rotation (RFC 9700 §4.14.2): each one revoked its session; a leaked or stolen token',
    [],
  );
  const revocations = counter(
    'tessera_revocations_total',
    'Sessions or tokens ended, by kind: revoke (RFC 7009), logout, logout_all, reuse, code_replay',
    ['kind'],
  );
  const logouts = counter(
    'tessera_logouts_total',
    'Logout requests answered, by scope: session (POST /auth/logout) or all (POST /auth/logout-all)',
    ['scope'],
  );
  const clientAuth = counter(
    'tessera_client_auth_failures_total',
    'Failed client authentications (401 invalid_client, RFC 6749 §2.3) by reason',
    ['reason'],
  );
  const blocks = counter(
    'tessera_guessing_limit_blocks_total',
    'Requests the guessing limiter refused (429) before checking a password, by scope: sign_in or registration',
    ['scope'],
  );
  const codeReplays = counter(
    'tessera_authorization_code_replays_total',
    'Authorization codes presented a second time (RFC 6749 §4.1.2): the tokens issued from each were revoked',
    [],
  );
  const registrations = counter(
    'tessera_registrations_total',
    'POST /auth/register by result: ok, limited, refused (username taken or a weak password)',
    ['result'],
  );
  const requests = new SeriesHistogram(
    'tessera_http_request_duration_seconds',
    'Requests of the API listener by route pattern, method and status code',
    ['route', 'method', 'status'],
    REQUEST_BUCKETS,
  );
  registry.registerMetric(requests as unknown as Metric);
  const store = new SeriesHistogram(
    'tessera_store_call_duration_seconds',
    'Calls to the store by store kind, operation and outcome (ok, error)',
    ['store', 'operation', 'outcome'],
    STORE_BUCKETS,
  );
  registry.registerMetric(store as unknown as Metric);

  let sources: MetricsSources = {};
  /** A metric read at scrape time from the revocation feed; no sample at all without one (opaque access tokens). */
  const feedMetric = (type: 'gauge' | 'counter', name: string, help: string, read: (f: FeedState) => number | undefined) => {
    const get = () => {
      const f = sources.revocations?.();
      const value = f === undefined ? undefined : read(f);
      return { name, help, type, aggregator: 'sum', values: value === undefined ? [] : [{ labels: {}, value }] };
    };
    registry.registerMetric({ name, help, type, aggregator: 'sum', get, reset() {} } as unknown as Metric);
  };
  feedMetric(
    'gauge',
    'tessera_revocation_feed_up',
    "1 while this instance's revocation push promises delivery; 0 while it is down (every access token is checked against the store meanwhile). Absent with opaque access tokens",
    (f) => (f.live ? 1 : 0),
  );
  feedMetric(
    'gauge',
    'tessera_revocation_feed_down_seconds',
    "Seconds this instance's revocation push has been down (since start-up if it never came up); 0 while up. While down no revocation is late: every access token is checked against the store",
    (f) => f.downSeconds,
  );
  feedMetric(
    'counter',
    'tessera_revocation_feed_events_total',
    'Revocations the push delivered to this instance (replays of those in force when it came up included): instances of one deployment should move together',
    (f) => f.received,
  );
  feedMetric(
    'gauge',
    'tessera_revoked_set_entries',
    'Entries of the in-memory set of pushed revocations (tokens, sessions, users) on this instance',
    (f) => f.size,
  );
  feedMetric(
    'gauge',
    'tessera_revoked_set_dropped',
    'Revocations the full in-memory set could not hold (their tokens are checked against the store instead)',
    (f) => f.dropped,
  );

  let active: { value: number; at: number } | undefined;
  let counting: Promise<void> | undefined;
  const activeName = 'tessera_active_families';
  const activeHelp =
    'Sessions (refresh token families) in force over every user, as the store counted them at most a minute ago. Absent on Redis (no index to count without a scan)';
  registry.registerMetric({
    name: activeName,
    help: activeHelp,
    type: 'gauge',
    aggregator: 'sum',
    async get() {
      const count = sources.activeFamilies;
      if (count !== undefined && (active === undefined || performance.now() - active.at >= ACTIVE_FAMILIES_SAMPLE_MS)) {
        counting ??= count().then(
          (value) => {
            active = { value, at: performance.now() };
            counting = undefined;
          },
          () => {
            counting = undefined;
          },
        );
        await counting;
      }
      const values = active === undefined ? [] : [{ labels: {}, value: active.value }];
      return { name: activeName, help: activeHelp, type: 'gauge', aggregator: 'sum', values };
    },
    reset() {},
  } as unknown as Metric);

  const events: AuthEventSink = {
    emit(e: AuthEvent) {
      switch (e.event) {
        case 'sign_in':
          signIns.inc(e.grant, e.result);
          break;
        case 'refresh':
          if (e.result === 'ok') refreshOk();
          else refreshes.inc(e.result, e.reason ?? '');
          break;
        case 'reuse_detected':
          reuse.inc();
          break;
        case 'revocation':
          revocations.inc(e.kind);
          break;
        case 'logout':
          logouts.inc('session');
          break;
        case 'logout_all':
          logouts.inc('all');
          break;
        case 'client_auth_failed':
          clientAuth.inc(e.reason);
          break;
        case 'limiter_block':
          blocks.inc(e.scope);
          break;
        case 'authorization_code_replay':
          codeReplays.inc();
          break;
        case 'registration':
          registrations.inc(e.result);
          break;
      }
    },
  };

  return {
    events,
    route(route, method) {
      // Indexed by status code: a series per status met, made on its first answer.
      const byStatus: (HistogramSeries | undefined)[] = [];
      return (status, seconds) => {
        let s = byStatus[status];
        if (s === undefined) {
          s = requests.series([route, method, String(status)]);
          byStatus[status] = s;
        }
        s.observe(seconds);
      };
    },
    storeOperation(kind, operation) {
      // Made on the first call of each outcome: an operation that never failed has no error series.
      let ok: HistogramSeries | undefined;
      let error: HistogramSeries | undefined;
      return (seconds, passed) => {
        if (passed) (ok ??= store.series([kind, operation, 'ok'])).observe(seconds);
        else (error ??= store.series([kind, operation, 'error'])).observe(seconds);
      };
    },
    watch(s) {
      sources = s;
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

/**
 * prom-client's default process metrics (`collectDefaultMetrics`' list, each module of which
 * registers itself) but its GC duration histogram: that one's PerformanceObserver calls into
 * JavaScript after every collection, the frequent young-generation ones included, which came to
 * more than half of what the metrics cost a cached `GET /me` (callgrind, BENCHMARKS.md). Heap
 * sizes and event loop lag stay.
 */
function defaultMetrics(prom: typeof import('prom-client'), registry: Registry): void {
  const require = createRequire(import.meta.url);
  for (const name of prom.collectDefaultMetrics.metricsList) {
    if (name === 'gc') continue;
    const register = require(`prom-client/lib/metrics/${name}`) as (r: Registry, config: object) => void;
    register(registry, { eventLoopMonitoringPrecision: 10 });
  }
}

export interface MetricsListener {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The metrics listener: `GET /metrics` (and `HEAD`) on `host:port`, 404 for any other path,
 * 405 for another method. Nothing else of the server is reachable through it.
 */
export async function listenMetrics(metrics: ServerMetrics, host: string, port: number): Promise<MetricsListener> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found: the metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('Method not allowed\n');
      return;
    }
    metrics.render().then(
      ({ contentType, body }) => {
        res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      () => {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('Cannot collect the metrics\n');
      },
    );
  });
  // A scraper keeps its connection; an idle one must not hold shutdown up.
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const actual = typeof address === 'object' && address ? address.port : port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${actual}/metrics`,
    port: actual,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The store's kind for the `store` label: the scheme of its spec (`sqlite`, `redis`, `postgres`, ...), never its address. */
export function storeKind(spec: string): string {
  const m = /^([a-z][a-z0-9+.-]*):/i.exec(spec);
  return m ? (m[1] as string).toLowerCase() : spec === 'memory' ? 'memory' : 'other';
}

/**
 * The store with each call that returns a promise timed into `tessera_store_call_duration_seconds`
 * (operation: the method's name, a bounded set); synchronous members pass untimed. The recorder
 * of an operation is resolved once, on its first call: a call costs two clock reads.
 */
export function timedStore<S extends object>(store: S, kind: string, metrics: Pick<ServerMetrics, 'storeOperation'>): S {
  return observeStoreCalls(store, (name) => {
    const record = metrics.storeOperation(kind, name);
    return {
      start: () => performance.now(),
      // A call that returns no promise (a feed, the shared counters) is no store round trip: not timed.
      end(t0: number, ok: boolean, sync: boolean) {
        if (!sync) record((performance.now() - t0) / 1000, ok);
      },
    };
  });
}

/**
 * One series of a {@link SeriesHistogram}: its label values, per-bucket counts (not cumulative,
 * the last one past every bound), sum and count. Held by its recorder, so an observation is a
 * bucket scan and three additions, with no lookup.
 */
export class HistogramSeries {
  readonly labels: Record<string, string>;
  readonly buckets: Float64Array;
  sum = 0;
  count = 0;
  readonly #bounds: Float64Array;
  constructor(labels: Record<string, string>, bounds: Float64Array) {
    this.labels = labels;
    this.#bounds = bounds;
    this.buckets = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    this.buckets[i] = (this.buckets[i] as number) + 1;
    this.sum += value;
    this.count += 1;
  }
}

/**
 * A histogram read by prom-client's registry as any metric (`get()`, at scrape time), with the
 * same exposition as prom-client's own: the hot paths hold their {@link HistogramSeries} (resolved
 * once per route, status or store operation), where prom-client's `observe` validates and hashes
 * its label object on every call (a measurable share of a cached `GET /me`).
 */
export class SeriesHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly upperBounds: readonly number[];
  readonly #bounds: Float64Array;
  readonly #series = new Map<string, HistogramSeries>();
  /** The series of {@link observe}'s keys. */
  readonly #byKey = new Map<string, HistogramSeries>();
  constructor(name: string, help: string, labelNames: readonly string[], upperBounds: readonly number[]) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
    this.upperBounds = upperBounds;
    this.#bounds = Float64Array.from(upperBounds);
  }

  /** The series of these label values (in `labelNames` order), made on first use. */
  series(values: readonly string[]): HistogramSeries {
    const key = values.join('\u0000');
    let s = this.#series.get(key);
    if (s === undefined) {
      s = new HistogramSeries(Object.fromEntries(this.labelNames.map((n, i) => [n, values[i] ?? ''])), this.#bounds);
      this.#series.set(key, s);
    }
    return s;
  }

  /** One observation by label values; `key` names the values `labels()` gives (called for a new key only). */
  observe(key: string, labels: () => readonly string[], value: number): void {
    let s = this.#byKey.get(key);
    if (s === undefined) {
      s = this.series(labels());
      this.#byKey.set(key, s);
    }
    s.observe(value);
  }

  /** The exposition values: cumulative `_bucket` lines with `le`, then `_sum` and `_count`, per series. */
  get(): { name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: object[] } {
    const values: object[] = [];
    for (const s of this.#series.values()) {
      if (s.count === 0) continue;
      let acc = 0;
      this.upperBounds.forEach((le, i) => {
        acc += s.buckets[i] as number;
        values.push({ metricName: `${this.name}_bucket`, labels: { le, ...s.labels }, value: acc });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...s.labels }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return { name: this.name, help: this.help, type: 'histogram', aggregator: 'sum', values };
  }

  /** Zeroes every series (the recorders keep theirs): as prom-client's `reset`, no series is written until observed again. */
  reset(): void {
    for (const s of this.#series.values()) {
      s.buckets.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}

/**
 * A counter read by prom-client's registry as any metric (`get()`), incremented with its label
 * values in `labelNames` order: a Map lookup per event, where prom-client's `inc` validates and
 * hashes a label object each time. Without labels its one series exists from the start (at 0).
 */
export class SeriesCounter {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly #series = new Map<string, { labels: Record<string, string>; value: number }>();
  constructor(name: string, help: string, labelNames: readonly string[]) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
    if (labelNames.length === 0) this.#series.set('', { labels: {}, value: 0 });
  }

  inc(...values: string[]): void {
    const key = values.length === 0 ? '' : values.length === 1 ? (values[0] as string) : values.join('\u0000');
    const s = this.#series.get(key);
    if (s !== undefined) s.value += 1;
    else this.#series.set(key, { labels: Object.fromEntries(this.labelNames.map((n, i) => [n, values[i] ?? ''])), value: 1 });
  }

  /** The increment of one series, resolved on its first call (for the frequent outcome: no key built per event). */
  series(...values: string[]): () => void {
    let s: { value: number } | undefined;
    return () => {
      if (s !== undefined) s.value += 1;
      else {
        this.inc(...values);
        s = this.#series.get(values.length === 1 ? (values[0] as string) : values.join('\u0000'));
      }
    };
  }

  get(): { name: string; help: string; type: 'counter'; aggregator: 'sum'; values: object[] } {
    const values = [...this.#series.values()].map((s) => ({ labels: s.labels, value: s.value }));
    return { name: this.name, help: this.help, type: 'counter', aggregator: 'sum', values };
  }

  reset(): void {
    for (const s of this.#series.values()) s.value = 0;
  }
}
