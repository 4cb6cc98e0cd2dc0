// Temporal's OpenTelemetry interceptors, wired only when this process traces (tracing.ts): a client that starts
// or signals a workflow puts its span context in the call's headers; workflows and activities continue that
// trace (the workflow spans leave the sandbox through the `exporter` sink, to the same span processor). With
// tracing off clients and activity workers get nothing, and a workflow worker gets a sink that drops what a
// traced workflow (one started by a tracing process) still makes: the workflow interceptors are in every bundle.
import type { WorkflowClientInterceptor } from '@temporalio/client';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
} from '@temporalio/interceptors-opentelemetry';
import type { InjectedSinks, WorkerInterceptors } from '@temporalio/worker';
import { activeTracing } from './tracing.ts';

/** Spread into `new Client({ … })`: the client interceptor, or nothing when tracing is off. */
export function tracingClientOptions(): { interceptors?: { workflow: WorkflowClientInterceptor[] } } {
  if (!activeTracing()) return {};
  return { interceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor()] } };
}

/** The workflow span sink of a process that does not trace. */
const DROPPING_SINK = {
  exporter: { export: { fn: () => undefined } },
} as unknown as InjectedSinks<Record<string, never>>;

/**
 * Spread into `Worker.create({ … })`: activity interceptors, and for a worker running workflows the sink the
 * workflow spans leave through (one that drops them when tracing is off). The workflow interceptors themselves
 * come with the bundle (workers/workflow-bundle.ts), since a worker given a bundle ignores
 * `interceptors.workflowModules`.
 */
export function tracingWorkerOptions(opts: { workflows: boolean }): {
  interceptors?: WorkerInterceptors;
  sinks?: InjectedSinks<Record<string, never>>;
} {
  const tracing = activeTracing();
  if (!tracing) return opts.workflows ? { sinks: DROPPING_SINK } : {};
  return {
    interceptors: {
      activity: [
        (ctx) => ({
          inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
          outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
        }),
      ],
    },
    ...(opts.workflows
      ? {
          sinks: {
            exporter: makeWorkflowExporter(tracing.spanProcessor, tracing.resource),
          } as unknown as InjectedSinks<Record<string, never>>,
        }
      : {}),
  };
}
