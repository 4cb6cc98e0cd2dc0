// Smoke run of the orchestration benchmark (bench/orchestration.ts): a rollout of a few sim hosts and as many
// minimal workflows, each on a fresh embedded Temporal server. Checks that both completed and the result is
// complete, never how long they took.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ORCHESTRATION_SMOKE, runOrchestration } from '../../bench/orchestration.ts';
import { assertMeasured, assertWellFormed, benchContext } from './support/well-formed.ts';

test('the orchestration benchmark completes a rollout and the minimal workflows and reports every row', async () => {
  const ctx = benchContext('orchestration');
  try {
    const r = await runOrchestration(ORCHESTRATION_SMOKE, ctx);
    assertWellFormed(r, 'orchestration', ['temporal-minimal']);
    assert.deepEqual(r.notes, [], 'every host and every minimal workflow completed');
    for (const metric of [
      'hosts',
      'apply → first power call',
      'peak RSS, worker process',
      'peak RSS, Temporal server',
      'history events of one host',
      'history bytes of one host',
      'history events of every workflow, per host',
    ])
      assertMeasured(r.rows, metric);
  } finally {
    ctx.remove();
  }
});
