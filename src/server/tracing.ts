/**
 * OpenTelemetry traces of the reference server through `@opentelemetry/api` alone, an
 * optional peer: the application (or `node --import` of an SDK setup) installs the SDK
 * and its exporter; tessera installs none. Without the package nothing is loaded and no
 * hook is added; with it but without an SDK the API's tracer is a no-op.
 *
 * Spans: one SERVER span per token endpoint request (`POST /auth/token`, named
 * `tessera.token`) and per refresh (`POST /auth/refresh`, `tessera.refresh`), with the
 * route, the status code, and the outcome the security events report (`tessera.grant`,
 * `tessera.result`, `tessera.reason`). The same rule as the metrics' labels: never a
 * token, a user, a client secret; no user id either (traces are often shipped further
 * than the audit trail).
 *
 * @module
 */
import type { Span, Tracer } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuthEvent, AuthEventSink } from '../http/core/events.js';
import { isMissingPackage } from '../internal/peers.js';

/** The routes that get a span, and the span's name. */
const TRACED: Readonly<Record<string, string>> = {
  'POST /auth/token': 'tessera.token',
  'POST /auth/refresh': 'tessera.refresh',
};

export interface ServerTracing {
  /** Puts each event's outcome on the span of its request. */
  readonly events: AuthEventSink;
  /** Adds the hooks that start and end the spans. */
  install(app: FastifyInstance): void;
}

/** `@opentelemetry/api` if the application installed it, else `undefined` (no tracing, nothing loaded). */
export async function loadTracing(name = 'tessera'): Promise<ServerTracing | undefined> {
  let api: typeof import('@opentelemetry/api');
  try {
    api = await import('@opentelemetry/api');
  } catch (e) {
    if (isMissingPackage(e, '@opentelemetry/api')) return undefined;
    throw e;
  }
  return createTracing(api.trace.getTracer(name), api.SpanKind.SERVER, api.SpanStatusCode.ERROR);
}

function createTracing(tracer: Tracer, serverKind: number, errorCode: number): ServerTracing {
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
    install(app) {
      app.addHook('onRequest', (request, _reply, done) => {
        const route = request.routeOptions.url;
        const name = route === undefined ? undefined : TRACED[`${request.method} ${route}`];
        if (name !== undefined) {
          open.set(
            request.id,
            tracer.startSpan(name, {
              kind: serverKind,
              attributes: { 'http.request.method': request.method, 'http.route': route as string },
            }),
          );
        }
        done();
      });
      app.addHook('onResponse', (request, reply, done) => {
        end(request, reply.statusCode);
        done();
      });
      app.addHook('onRequestAbort', (request, done) => {
        end(request, undefined);
        done();
      });
    },
  };
}
