// Tracing must not change what workflows do. Every bundle holds the tracing interceptors
// (workflows/tracing-interceptors.ts); a workflow started without a trace context never runs the OpenTelemetry
// ones. Every saved history (all recorded without tracing) replays with the product's own bundle, under a worker
// that traces (the span sink registered); and a history changed by one command still fails, so the replay can
// fail here too. The OpenTelemetry interceptors themselves, turned on for those histories, break three of them
// (the rollouts with updates): that is why they run only for workflows started traced.
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import type { History } from '@temporalio/common/lib/proto-utils.js';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import type { WorkflowBundle } from '@temporalio/worker';
import type { ReplayWorkerOptions } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Resource } from '@opentelemetry/resources';
import { makeWorkflowExporter } from '@temporalio/interceptors-opentelemetry';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { installQuietRuntime } from '../../temporal/runtime.ts';
import { WORKFLOWS_PATH, workflowBundle } from '../../workers/workflow-bundle.ts';

const HISTORIES_DIR = fileURLToPath(new URL('../fixtures/histories', import.meta.url));

interface Saved {
  file: string;
  workflowId: string;
  json: { events?: Record<string, unknown>[] };
  history: History;
}

let saved: Saved[];
let options: ReplayWorkerOptions;
const exported = new InMemorySpanExporter();

before(async () => {
  installQuietRuntime();
  const files = (await readdir(HISTORIES_DIR)).filter((f) => f.endsWith('.json')).sort();
  saved = await Promise.all(
    files.map(async (file) => {
      const s = JSON.parse(await readFile(path.join(HISTORIES_DIR, file), 'utf8')) as {
        workflowId: string;
        history: unknown;
      };
      return {
        file,
        workflowId: s.workflowId,
        json: s.history as Saved['json'],
        history: historyFromJSON(s.history),
      };
    }),
  );
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
  const results: string[] = [];
  for await (const r of Worker.runReplayHistories(
    options,
    saved.map((s) => ({ workflowId: s.workflowId, history: s.history })),
  )) {
    results.push(r.error ? `${r.workflowId}: ${r.error.name}: ${r.error.message}` : 'ok');
  }
  assert.deepEqual(
    results.map((r, i) => (r === 'ok' ? 'ok' : `${saved[i]!.file}: ${r}`)),
    saved.map(() => 'ok'),
  );
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
  const s = saved.find((x) => x.file === 'host-two-stage-provisioned.json');
  assert.ok(s);
  const json = structuredClone(s.json);
  const scheduled = json.events?.find((e) => e.activityTaskScheduledEventAttributes)
    ?.activityTaskScheduledEventAttributes as { activityType: { name: string } } | undefined;
  assert.equal(scheduled?.activityType.name, 'loadHostPlan');
  scheduled!.activityType.name = 'somethingElse';
  await assert.rejects(
    Worker.runReplayHistory(options, historyFromJSON(json), s.workflowId),
    DeterminismViolationError,
  );
});
