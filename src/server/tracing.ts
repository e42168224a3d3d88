/**
 * OpenTelemetry traces of the reference server through `@opentelemetry/api` alone, an
 * optional peer: the application (or `node --import` of an SDK setup) installs the SDK
 * and its exporter, registered before the server starts; tessera installs none. Without the
 * package nothing is loaded; with it but without a registered SDK (whose spans would all be
 * no-ops) no hook, event sink or store wrapper is added either.
 *
 * Spans: one SERVER span per token endpoint request (`POST /auth/token`, named
 * `tessera.token`) and per refresh (`POST /auth/refresh`, `tessera.refresh`), with the
 * route, the status code, and the outcome the security events report (`tessera.grant`,
 * `tessera.result`, `tessera.reason`); and one CLIENT span per store call (`tessera.store.<operation>`, `db.system.name`), a child of the
 * request's span where the SDK has a context manager (the request runs in its span's
 * context). The same rule as the metrics' labels: never a token, a user, a client secret;
 * no user id either (traces are often shipped further than the audit trail).
 *
 * @module
 */
import type { Span, Tracer } from '@opentelemetry/api';
import type {
  FastifyInstance,
  FastifyRequest,
  onRequestAbortHookHandler,
  onRequestHookHandler,
  onResponseHookHandler,
} from 'fastify';
import type { AuthEvent, AuthEventSink } from '../http/core/events.js';
import { isMissingPackage } from '../internal/peers.js';
import { observeStoreCalls } from './store-calls.js';

/** The routes that get a span, and the span's name. */
/** A route's own hooks of one kind, as a list. */
function hooksOf<H>(own: H | H[] | undefined): H[] {
  return own === undefined ? [] : Array.isArray(own) ? own : [own];
}

const TRACED: Readonly<Record<string, string>> = {
  'POST /auth/token': 'tessera.token',
  'POST /auth/refresh': 'tessera.refresh',
};

export interface ServerTracing {
  /** Puts each event's outcome on the span of its request. */
  readonly events: AuthEventSink;
  /** Adds the hooks that start and end the spans. */
  install(app: FastifyInstance): void;
  /** The store with a span per asynchronous call. */
  traceStore<S extends object>(store: S, kind: string): S;
}

/**
 * Tracing through `@opentelemetry/api` when the application installed it and registered an SDK
 * (a tracer provider that records) before the server started; else `undefined`: no tracing, and
 * without the package nothing loaded.
 */
export async function loadTracing(name = 'tessera'): Promise<ServerTracing | undefined> {
  let api: typeof import('@opentelemetry/api');
  try {
    api = await import('@opentelemetry/api');
  } catch (e) {
    if (isMissingPackage(e, '@opentelemetry/api')) return undefined;
    throw e;
  }
  const tracer = api.trace.getTracer(name);
  // With the API alone (no SDK registered before the server starts) every span is a no-op: then
  // the server adds no hook, no event sink and no store wrapper, so the token and refresh routes
  // cost what they cost without the package. The probe span is never ended, so never exported.
  if (!tracer.startSpan('tessera.probe').isRecording()) return undefined;
  return createTracing(api, tracer);
}

function createTracing(api: typeof import('@opentelemetry/api'), tracer: Tracer): ServerTracing {
  const errorCode = api.SpanStatusCode.ERROR;
  /** Spans of requests in flight, by request id (the events carry it). */
  const open = new Map<string, Span>();

  const events: AuthEventSink = {
    emit(e: AuthEvent) {
      const span = e.request_id === undefined ? undefined : open.get(e.request_id);
      if (!span) return;
      const r = e as { result?: string; grant?: string; reason?: string };
      const attrs: Record<string, string> = { 'tessera.event': e.event };
      if (r.result !== undefined) attrs['tessera.result'] = r.result;
      if (r.grant !== undefined) attrs['tessera.grant'] = r.grant;
      if (r.reason !== undefined) attrs['tessera.reason'] = r.reason;
      // A reuse detection follows its refresh event: it adds a span event, the refresh's attributes stay.
      if (e.event === 'reuse_detected' || e.event === 'revocation') span.addEvent(`tessera.${e.event}`, attrs);
      else span.setAttributes(attrs);
    },
  };

  const end = (request: FastifyRequest, status: number | undefined) => {
    const span = open.get(request.id);
    if (!span) return;
    open.delete(request.id);
    if (status !== undefined) {
      span.setAttribute('http.response.status_code', status);
      if (status >= 500) span.setStatus({ code: errorCode });
    }
    span.end();
  };

  return {
    events,
    traceStore(store, kind) {
      return observeStoreCalls(store, (name) => {
        const spanName = `tessera.store.${name}`;
        const options = { kind: api.SpanKind.CLIENT, attributes: { 'db.system.name': kind, 'db.operation.name': name } };
        return {
          start: () => tracer.startSpan(spanName, options),
          end(span: Span, ok: boolean) {
            if (!ok) span.setStatus({ code: errorCode });
            span.end();
          },
        };
      });
    },

    install(app) {
      // Hooks on the traced routes only, added as each route is: every other route (GET /me, the
      // hot one) runs no hook of ours, and no hook reads `request.routeOptions` (an object per read).
      app.addHook('onRoute', (route) => {
        const methods = Array.isArray(route.method) ? route.method : [route.method];
        const name = methods.map((m) => TRACED[`${m} ${route.url}`]).find((n) => n !== undefined);
        if (name === undefined) return;
        const url = route.url;
        const start: onRequestHookHandler = (request, _reply, done) => {
          const span = tracer.startSpan(name, {
            kind: api.SpanKind.SERVER,
            attributes: { 'http.request.method': request.method, 'http.route': url },
          });
          open.set(request.id, span);
          // The rest of the request (hooks, handler, their promises) runs in the span's context,
          // so the store calls' spans are its children (with a context manager registered).
          api.context.with(api.trace.setSpan(api.context.active(), span), done);
        };
        const finish: onResponseHookHandler = (request, reply, done) => {
          end(request, reply.statusCode);
          done();
        };
        const abort: onRequestAbortHookHandler = (request, done) => {
          end(request, undefined);
          done();
        };
        route.onRequest = [...hooksOf(route.onRequest), start];
        route.onResponse = [...hooksOf(route.onResponse), finish];
        route.onRequestAbort = [...hooksOf(route.onRequestAbort), abort];
      });
    },
  };
}
