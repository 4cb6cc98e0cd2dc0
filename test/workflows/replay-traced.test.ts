// Tracing must not change what workflows do. Every bundle holds the tracing interceptors
// (workflows/tracing-interceptors.ts); a workflow started without a trace context never runs the OpenTelemetry
// ones. Every saved history (all recorded without tracing) replays with the product's own bundle, under a worker
// that traces (the span sink registered); and a history changed by one command still fails, so the replay can
// fail here too. The OpenTelemetry interceptors themselves, turned on for those histories, break three of them
// (the rollouts with updates): that is why they run only for workflows started traced.
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import type { ReplayWorkerOptions, WorkflowBundle } from '@temporalio/worker';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Resource } from '@opentelemetry/resources';
import { makeWorkflowExporter } from '@temporalio/interceptors-opentelemetry';
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { installQuietRuntime } from '../../temporal/runtime.ts';
import { WORKFLOWS_PATH, workflowBundle } from '../../workers/workflow-bundle.ts';
import { assertAllReplay, assertTamperedHistoryFails, loadSavedHistories } from './saved-histories.ts';
import type { SavedHistory } from './saved-histories.ts';

let saved: SavedHistory[];
let options: ReplayWorkerOptions;
const exported = new InMemorySpanExporter();

before(async () => {
  installQuietRuntime();
  saved = await loadSavedHistories();
  // The bundle `vaquero server|worker|dev` run (no prebuilt one named).
  const { code } = (await workflowBundle({})) as WorkflowBundle;
  assert.match(code, /OpenTelemetryInboundInterceptor/, 'the bundle holds the workflow interceptors');
  options = {
    workflowBundle: { code },
    replayName: 'vaquero-replay-traced-test',
    sinks: {
      exporter: makeWorkflowExporter(
        new SimpleSpanProcessor(exported),
        new Resource({ 'service.name': 'replay' }),
      ),
    },
  };
});

test('every saved history replays with the product bundle, tracing interceptors in it, under a tracing worker', async () => {
  assert.ok(saved.length > 10, `${saved.length} histories`);
  await assertAllReplay(options, saved);
  // A replay exports nothing: the sink is not called while replaying, so a recovering worker sends no spans twice.
  assert.equal(exported.getFinishedSpans().length, 0);
});

test('the OpenTelemetry interceptors alone, on for workflows started untraced, would break replays', async () => {
  const noop = () => undefined;
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    workflowInterceptorModules: ['@temporalio/interceptors-opentelemetry/lib/workflow-interceptors'],
    logger: { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop },
  });
  const failed: string[] = [];
  for await (const r of Worker.runReplayHistories(
    { ...options, workflowBundle: { code } },
    saved.map((s) => ({ workflowId: s.workflowId, history: s.history })),
  )) {
    if (r.error) failed.push(r.workflowId);
  }
  // What the guard in workflows/tracing-interceptors.ts is for; if the SDK stops needing it, this says so.
  assert.ok(failed.length > 0, 'every history replayed with the bare OpenTelemetry interceptors');
});

test('with the interceptors on, a history the code would not make still fails its replay', async () => {
  await assertTamperedHistoryFails(options, saved);
});
