// A span per API request when the process traces (temporal/telemetry/tracing.ts): named by method and route
// pattern, a child of the caller's W3C `traceparent` when it sends one, and the active context while the route
// runs, so the Temporal client interceptor puts the workflows a request starts (a rollout, a reprovision, a
// webhook's push) in the request's trace. Probes and scrapes (/live, /ready, /metrics) are not traced.
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Span } from '@opentelemetry/api';
import type { FastifyInstance } from 'fastify';
import { activeTracing } from '../temporal/telemetry/tracing.ts';

const UNTRACED = new Set(['/live', '/ready', '/metrics']);

const spans = new WeakMap<object, Span>();

export function installRequestTracing(app: FastifyInstance): void {
  const tracing = activeTracing();
  if (!tracing) return;
  app.addHook('onRequest', (request, _reply, done) => {
    const route = request.routeOptions.url;
    if (route !== undefined && UNTRACED.has(route)) return done();
    // Only the caller's trace context, never another request's: extract onto the root context.
    const parent = propagation.extract(ROOT_CONTEXT, request.headers);
    const span = tracing.tracer.startSpan(
      `${request.method} ${route ?? 'unmatched'}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': request.method,
          'http.route': route ?? 'unmatched',
          'url.path': request.url.split('?')[0] ?? request.url,
        },
      },
      parent,
    );
    spans.set(request, span);
    // What runs from here (auth, validation, the handler) inherits this context through AsyncLocalStorage.
    context.with(trace.setSpan(parent, span), done);
  });
  app.addHook('onError', async (request, _reply, error) => {
    const span = spans.get(request);
    span?.recordException(error);
  });
  app.addHook('onResponse', async (request, reply) => {
    const span = spans.get(request);
    if (!span) return;
    span.setAttribute('http.response.status_code', reply.statusCode);
    if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
    spans.delete(request);
  });
}
