// The replay corpus (test/fixtures/histories, made by record-histories.ts), loaded once for the replay tests: the
// plain replay (replay.test.ts) and the one under a tracing worker (replay-traced.test.ts) run the same checks on it.
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import type { History } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import type { ReplayWorkerOptions } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HISTORIES_DIR = fileURLToPath(new URL('../fixtures/histories', import.meta.url));

export interface SavedHistory {
  file: string;
  workflowId: string;
  /** Histories recorded since they are named by commit say what recorded them. */
  recordedBy?: { commit: string; patches: string[] };
  /** As saved (historyToJSON's form). */
  json: { events?: Record<string, unknown>[] };
  history: History;
}

export async function loadSavedHistories(): Promise<SavedHistory[]> {
  const files = (await readdir(HISTORIES_DIR)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(
    files.map(async (file) => {
      const saved = JSON.parse(await readFile(path.join(HISTORIES_DIR, file), 'utf8')) as {
        workflowId: string;
        recordedBy?: SavedHistory['recordedBy'];
        history: unknown;
      };
      return {
        file,
        workflowId: saved.workflowId,
        ...(saved.recordedBy ? { recordedBy: saved.recordedBy } : {}),
        json: saved.history as SavedHistory['json'],
        history: historyFromJSON(saved.history),
      };
    }),
  );
}

/** Replays every history with these options; each failure is named by its file. */
export async function assertAllReplay(options: ReplayWorkerOptions, saved: SavedHistory[]): Promise<void> {
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
}

/**
 * The harness can fail: the two-stage host history with its first activity renamed (the code schedules
 * loadHostPlan there) is refused as nondeterministic, and the untouched history still replays.
 */
export async function assertTamperedHistoryFails(
  options: ReplayWorkerOptions,
  saved: SavedHistory[],
): Promise<void> {
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
  await Worker.runReplayHistory(options, s.history, s.workflowId);
}
