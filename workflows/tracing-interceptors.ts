// Workflow interceptors bundled with every workflow (workers/workflow-bundle.ts), traced or not: a workflow is
// traced exactly when its start carried a trace context (a client that traces started it, or a traced parent),
// so whether the OpenTelemetry interceptors run is fixed by its history, never by the worker replaying it. The
// OpenTelemetry interceptors add an extra yield before each command in a history that lacks their SDK flags, so
// turning them on for a workflow started without them breaks its replay (seen on the saved rollout histories
// with updates); decided this way, a process may start or stop tracing with workflows running.
//
// Their module is loaded only when a traced workflow first needs it. The reusable V8 context runs every module a
// workflow imports again for each new workflow, and this one (OpenTelemetry's SDK behind it) was about a tenth of
// the workflow thread's CPU in the 1,000-host orchestration benchmark, where nothing is traced.
import type {
  OpenTelemetryInboundInterceptor,
  OpenTelemetryInternalsInterceptor,
  OpenTelemetryOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/workflow/index.js';
import type {
  WorkflowInboundCallsInterceptor,
  WorkflowInterceptors,
  WorkflowInternalsInterceptor,
  WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';

/** The header the OpenTelemetry interceptors carry a span context in. */
const TRACE_HEADER = '_tracer-data';

interface OtelWorkflowModule {
  OpenTelemetryInboundInterceptor: new () => OpenTelemetryInboundInterceptor;
  OpenTelemetryOutboundInterceptor: new () => OpenTelemetryOutboundInterceptor;
  OpenTelemetryInternalsInterceptor: new () => OpenTelemetryInternalsInterceptor;
}

/** Synchronous, so a traced workflow's interceptors run exactly where they did when the module was imported. */
function otelModule(): OtelWorkflowModule {
  // A require the bundler resolves: a static import would run the module for every workflow.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('@temporalio/interceptors-opentelemetry/lib/workflow/index.js') as OtelWorkflowModule;
}

export const interceptors = (): WorkflowInterceptors => {
  let traced = false;
  let otelIn: OpenTelemetryInboundInterceptor | undefined;
  let otelOut: OpenTelemetryOutboundInterceptor | undefined;
  let otelInternals: OpenTelemetryInternalsInterceptor | undefined;
  const inbound = () => (otelIn ??= new (otelModule().OpenTelemetryInboundInterceptor)());
  const outbound = () => (otelOut ??= new (otelModule().OpenTelemetryOutboundInterceptor)());
  const internals = () => (otelInternals ??= new (otelModule().OpenTelemetryInternalsInterceptor)());

  const tracedInbound: WorkflowInboundCallsInterceptor = {
    execute(input, next) {
      traced = Object.prototype.hasOwnProperty.call(input.headers, TRACE_HEADER);
      return traced ? inbound().execute(input, next) : next(input);
    },
    handleSignal: (input, next) => (traced ? inbound().handleSignal(input, next) : next(input)),
    handleUpdate: (input, next) => (traced ? inbound().handleUpdate(input, next) : next(input)),
    validateUpdate: (input, next) => (traced ? inbound().validateUpdate(input, next) : next(input)),
    handleQuery: (input, next) => (traced ? inbound().handleQuery(input, next) : next(input)),
  };
  const tracedOutbound: WorkflowOutboundCallsInterceptor = {
    scheduleActivity: (input, next) => (traced ? outbound().scheduleActivity(input, next) : next(input)),
    scheduleLocalActivity: (input, next) =>
      traced ? outbound().scheduleLocalActivity(input, next) : next(input),
    startChildWorkflowExecution: (input, next) =>
      traced ? outbound().startChildWorkflowExecution(input, next) : next(input),
    continueAsNew: (input, next) => (traced ? outbound().continueAsNew(input, next) : next(input)),
    signalWorkflow: (input, next) => (traced ? outbound().signalWorkflow(input, next) : next(input)),
    getLogAttributes: (input, next) => (traced ? outbound().getLogAttributes(input, next) : next(input)),
  };
  const tracedInternals: WorkflowInternalsInterceptor = {
    dispose(input, next) {
      // The OpenTelemetry one calls next synchronously; its promise settles with nothing to wait for.
      if (traced) void internals().dispose(input, next);
      else next(input);
    },
  };
  return { inbound: [tracedInbound], outbound: [tracedOutbound], internals: [tracedInternals] };
};
