// Determinism: every saved history (test/fixtures/histories, made by record-histories.ts) replays against the
// current workflow code. A change to workflow code that running workflows would trip over fails here; it needs
// patched()/deprecatePatch(), or new histories when the break is meant.
import type { History } from '@temporalio/common/lib/proto-utils.js';
import type { ReplayWorkerOptions } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { installQuietRuntime } from '../../temporal/runtime.ts';
import { WORKFLOWS_PATH } from '../../workers/workflow-bundle.ts';
import { patchesIn } from './record-histories.ts';
import { assertAllReplay, assertTamperedHistoryFails, loadSavedHistories } from './saved-histories.ts';
import type { SavedHistory } from './saved-histories.ts';

let saved: SavedHistory[];
let options: ReplayWorkerOptions;
before(async () => {
  installQuietRuntime();
  saved = await loadSavedHistories();
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
    'bmc-semaphore-queued',
  ]) {
    // A scenario recorded by older code is `<scenario>.json`; since histories are named by commit, `<scenario>@<commit>`.
    assert.ok(
      names.some((n) => n === want || n.startsWith(`${want}@`)),
      `missing ${want}: run test/workflows/record-histories.ts`,
    );
  }
  for (const s of saved) {
    assert.ok((s.history.events?.length ?? 0) > 5, s.file);
    const type = s.file.startsWith('rollout-')
      ? 'rollout'
      : s.file.startsWith('agent-status-')
        ? 'agentStatus'
        : s.file.startsWith('bmc-semaphore-')
          ? 'bmcSemaphore'
          : 'hostReprovision';
    assert.equal(typeOf(s.history), type, s.file);
    if (s.recordedBy) assert.deepEqual(s.recordedBy.patches, patchesIn(s.json), `${s.file}: its patch set`);
  }
});

test('every saved history replays deterministically against the current workflow code', async () => {
  await assertAllReplay(options, saved);
});

test('the replay catches a history the code would not make (the harness can fail)', async () => {
  await assertTamperedHistoryFails(options, saved);
});
