// The process's OpenTelemetry tracer provider, from the standard OTEL_* environment. Off by default: nothing is
// set up (no provider, no interceptors, no bundle change) unless an OTLP endpoint is configured, and
// OTEL_SDK_DISABLED=true turns it off even then. Spans go out in batches over OTLP/HTTP (JSON); shutdown()
// flushes what is still queued.
import { context, propagation, trace } from '@opentelemetry/api';
import type { Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { detectResourcesSync, envDetectorSync, Resource } from '@opentelemetry/resources';
import type { IResource } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

/** Which vaquero command this process is: the default service name is `vaquero-<role>`. */
export type ProcessRole = 'server' | 'worker' | 'agent' | 'dev';

export interface Tracing {
  serviceName: string;
  /** Where spans go (the traces URL, `…/v1/traces`). */
  endpoint: string;
  resource: IResource;
  /** The provider's processor: the workflow span sink hands workflow spans to it. */
  spanProcessor: SpanProcessor;
  tracer: Tracer;
  /** Flushes queued spans and stops exporting; idempotent. */
  shutdown(): Promise<void>;
}

let active: Tracing | undefined;

/** The tracing this process set up, or undefined when tracing is off. */
export function activeTracing(): Tracing | undefined {
  return active;
}

/** Where the OTEL_* environment sends traces, or undefined when it asks for none. Throws on a setting it cannot honour. */
export function tracesEndpoint(env: NodeJS.ProcessEnv): string | undefined {
  if ((env.OTEL_SDK_DISABLED ?? '').trim().toLowerCase() === 'true') return undefined;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '').trim().toLowerCase();
  if (exporters === 'none') return undefined;
  if (exporters !== '' && exporters !== 'otlp')
    throw new Error(
      `OTEL_TRACES_EXPORTER=${env.OTEL_TRACES_EXPORTER}: vaquero exports traces with otlp only`,
    );
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? '').trim();
  if (protocol !== '' && !protocol.startsWith('http/'))
    throw new Error(
      `OTEL_EXPORTER_OTLP_PROTOCOL=${protocol}: vaquero exports traces over OTLP/HTTP only (http/json)`,
    );
  const signal = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  // The specification: the per-signal endpoint is used as is, the general one gets the signal's path.
  const url = signal ? signal : base ? `${base.replace(/\/+$/, '')}/v1/traces` : undefined;
  if (url === undefined) return undefined;
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http or https');
  } catch (err) {
    throw new Error(`OTLP traces endpoint ${url}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  return url;
}

/**
 * Sets up tracing for this process when the environment asks for it (once per process: a second call returns
 * the first setup). Returns undefined, and sets nothing up, when it does not.
 */
export function startTracing(
  role: ProcessRole,
  env: NodeJS.ProcessEnv = process.env,
  log: (msg: string) => void = () => undefined,
): Tracing | undefined {
  if (active) return active;
  const endpoint = tracesEndpoint(env);
  if (endpoint === undefined) return undefined;
  const serviceName = env.OTEL_SERVICE_NAME?.trim() || `vaquero-${role}`;
  // OTEL_RESOURCE_ATTRIBUTES first, the service name over it (OTEL_SERVICE_NAME wins there by the specification).
  const resource = detectResourcesSync({ detectors: [envDetectorSync] }).merge(
    new Resource({ 'service.name': serviceName }),
  );
  const spanProcessor = new BatchSpanProcessor(new OTLPTraceExporter({ url: endpoint }));
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  // The global provider, an AsyncLocalStorage context manager and the W3C trace-context propagator.
  provider.register();
  let stopping: Promise<void> | undefined;
  active = {
    serviceName,
    endpoint,
    resource,
    spanProcessor,
    tracer: trace.getTracer('vaquero'),
    shutdown() {
      stopping ??= provider.shutdown().then(
        () => {
          trace.disable();
          context.disable();
          propagation.disable();
          active = undefined;
        },
        (err: unknown) => log(`traces: flush failed: ${err instanceof Error ? err.message : String(err)}`),
      );
      return stopping;
    },
  };
  log(`traces: ${serviceName} → ${endpoint}`);
  return active;
}
