// Determinism: every saved history (test/fixtures/histories, made by record-histories.ts) replays against the
// current workflow code. A change to workflow code that running workflows would trip over fails here; it needs
// patched()/deprecatePatch(), or new histories when the break is meant.
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import type { History } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import type { ReplayWorkerOptions } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { installQuietRuntime } from '../../temporal/runtime.ts';
import { WORKFLOWS_PATH } from '../../workers/workflow-bundle.ts';
import { patchesIn } from './record-histories.ts';

const HISTORIES_DIR = fileURLToPath(new URL('../fixtures/histories', import.meta.url));

interface Saved {
  file: string;
  workflowId: string;
  /** Histories recorded since they are named by commit say what recorded them. */
  recordedBy?: { commit: string; patches: string[] };
  /** As saved (historyToJSON's form). */
  json: { events?: Record<string, unknown>[] };
  history: History;
}

async function loadAll(): Promise<Saved[]> {
  const files = (await readdir(HISTORIES_DIR)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(
    files.map(async (file) => {
      const saved = JSON.parse(await readFile(path.join(HISTORIES_DIR, file), 'utf8')) as {
        workflowId: string;
        recordedBy?: Saved['recordedBy'];
        history: unknown;
      };
      return {
        file,
        workflowId: saved.workflowId,
        ...(saved.recordedBy ? { recordedBy: saved.recordedBy } : {}),
        json: saved.history as Saved['json'],
        history: historyFromJSON(saved.history),
      };
    }),
  );
}

let saved: Saved[];
let options: ReplayWorkerOptions;
before(async () => {
  installQuietRuntime();
  saved = await loadAll();
  options = { workflowsPath: WORKFLOWS_PATH, replayName: 'vaquero-replay-test' };
});

const typeOf = (h: History) => h.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name;

test('the saved histories cover both workflows and the paths that matter', () => {
  const names = saved.map((s) => s.file.replace(/\.json$/, ''));
  for (const want of [
    'rollout-completed',
    'rollout-failed',
    'rollout-aborted',
    'rollout-superseded',
    'rollout-superseding',
    'rollout-started-together',
    'rollout-paused-while-preparing',
    'host-two-stage-provisioned',
    'host-never-dhcp-failed',
    'host-stalled-after-asking',
    'host-cancelled',
    'host-adopted-finishing-older',
    'host-switched-before-power',
    'host-switched-continued',
  ]) {
    // A scenario recorded by older code is `<scenario>.json`; since histories are named by commit, `<scenario>@<commit>`.
    assert.ok(
      names.some((n) => n === want || n.startsWith(`${want}@`)),
      `missing ${want}: run test/workflows/record-histories.ts`,
    );
  }
  for (const s of saved) {
    assert.ok((s.history.events?.length ?? 0) > 5, s.file);
    assert.equal(typeOf(s.history), s.file.startsWith('rollout-') ? 'rollout' : 'hostReprovision', s.file);
    if (s.recordedBy) assert.deepEqual(s.recordedBy.patches, patchesIn(s.json), `${s.file}: its patch set`);
  }
});

test('every saved history replays deterministically against the current workflow code', async () => {
  const results: string[] = [];
  for await (const r of Worker.runReplayHistories(
    options,
    saved.map((s) => ({ workflowId: s.workflowId, history: s.history })),
  )) {
    results.push(r.error ? `${r.workflowId}: ${r.error.name}: ${r.error.message}` : 'ok');
  }
  assert.equal(results.length, saved.length);
  assert.deepEqual(
    results.map((r, i) => (r === 'ok' ? 'ok' : `${saved[i]!.file}: ${r}`)),
    saved.map(() => 'ok'),
  );
});

test('the replay catches a history the code would not make (the harness can fail)', async () => {
  const s = saved.find((x) => x.file === 'host-two-stage-provisioned.json');
  assert.ok(s);
  // The same history, except that its first activity was another one: the code schedules loadHostPlan there.
  const json = structuredClone(s.json);
  const scheduled = json.events?.find((e) => e.activityTaskScheduledEventAttributes)
    ?.activityTaskScheduledEventAttributes as { activityType: { name: string } } | undefined;
  assert.equal(scheduled?.activityType.name, 'loadHostPlan');
  scheduled!.activityType.name = 'somethingElse';
  await assert.rejects(
    Worker.runReplayHistory(options, historyFromJSON(json), s.workflowId),
    DeterminismViolationError,
  );
  // And the untouched history still replays with the same options.
  await Worker.runReplayHistory(options, s.history, s.workflowId);
});
