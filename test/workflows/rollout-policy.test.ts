// Rollout policy on a real dev server and real workers: max_fail, max_concurrent (per workflow and per site),
// min_standing and block_deps.
import { WorkflowNotFoundError } from '@temporalio/client';
import type { WorkflowExecutionInfo } from '@temporalio/client';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { hostWorkflowId } from '../../domain/workflow-api.ts';
import type { RolloutStatus } from '../../domain/rollout.ts';
import { writeSot } from '../../testkit/sot.ts';
import { startTestStack } from '../../testkit/stack.ts';
import type { TestStack } from '../../testkit/stack.ts';
import type { Interval } from '../../testkit/workflows.ts';
import {
  hostExecutions,
  maxOverlap,
  rolloutResult,
  rolloutStatus,
  startRollout,
  timelineIntervals,
  waitFor,
} from '../../testkit/workflows.ts';

let stack: TestStack;
before(async () => {
  stack = await startTestStack({ name: 'policy' });
});
after(() => stack?.close());

/** [start, close] of each host workflow run, from the server's own records. */
function executionIntervals(runs: WorkflowExecutionInfo[]): Interval[] {
  return runs.map((wf) => {
    assert.ok(wf.closeTime, `${wf.workflowId} closed`);
    return {
      key: wf.workflowId.split('/').slice(1).join('/'),
      start: wf.startTime.getTime(),
      end: wf.closeTime.getTime(),
    };
  });
}

async function closedHostRuns(site: string, n: number): Promise<WorkflowExecutionInfo[]> {
  return waitFor(`${n} closed host runs of ${site} in visibility`, async () => {
    const runs = await hostExecutions(stack.client, site);
    return runs.length === n && runs.every((r) => r.closeTime) ? runs : undefined;
  });
}

const only = (intervals: Interval[], keys: Iterable<string>) => {
  const set = new Set(keys);
  return intervals.filter((i) => set.has(i.key));
};

test('max_fail 0: the first failure halts the rollout; later hosts never start', async () => {
  const hosts = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6'];
  const sot = await writeSot({
    sot: 'maxfail',
    site: 'maxfail',
    workflows: { one: { boots: ['quick'], policy: { max_concurrent: 1, max_fail: 0 } } },
    hosts: hosts.map((name) => ({
      name,
      workflow: 'one',
      ...(name === 'm2' ? { options: { fail_validation: true } } : {}),
    })),
  });
  await stack.startSimSite(sot.site);
  const r = await startRollout(stack.client, sot);
  const result = await rolloutResult(stack.client, r.workflowId);
  assert.equal(result.state, 'failed');
  assert.match(result.reason ?? '', /max_fail exceeded for workflow one: 1 failed > max_fail 0/);
  assert.deepEqual(result.failedHosts, ['maxfail/m2']);
  assert.equal(result.provisioned, 1);
  assert.equal(result.notStarted, 4);

  const s = await rolloutStatus(stack.client, r.workflowId);
  assert.equal(s.state, 'failed');
  // The status lists the hosts it started (never-started ones are counted, not listed: a fleet's plan is paged).
  assert.deepEqual(s.hosts.map((h) => `${h.host}:${h.state}`).sort(), ['m1:provisioned', 'm2:failed']);
  assert.equal(s.total, 6);
  assert.equal(s.counts.pending, 4);
  assert.match(s.hosts.find((h) => h.host === 'm2')!.error ?? '', /validate task\(s\) failed: sim-validate/);
  assert.deepEqual(
    s.failedHosts?.map((f) => f.host),
    ['maxfail/m2'],
  );
  assert.deepEqual(
    s.timeline.filter((e) => e.kind === 'host-started').map((e) => e.host),
    ['maxfail/m1', 'maxfail/m2'],
  );
  assert.ok(s.timeline.some((e) => e.kind === 'state' && e.message.startsWith('halted: max_fail exceeded')));
  // Never started means no workflow at all on the server.
  for (const h of hosts.slice(2)) {
    await assert.rejects(
      stack.client.workflow.getHandle(hostWorkflowId(sot.site, h)).describe(),
      WorkflowNotFoundError,
    );
  }
  assert.equal((await hostExecutions(stack.client, sot.site)).length, 2);
});

test('max_concurrent per workflow and per site is never exceeded, and is reached', async () => {
  const alpha = ['a1', 'a2', 'a3', 'a4'];
  const beta = ['b1', 'b2', 'b3', 'b4'];
  const sot = await writeSot({
    sot: 'conc',
    site: 'conc',
    siteMaxConcurrent: 3,
    workflows: {
      alpha: { boots: ['quick'], policy: { max_concurrent: 2 } },
      beta: { boots: ['quick'], policy: { max_concurrent: 2 } },
    },
    hosts: [
      ...alpha.map((name) => ({ name, workflow: 'alpha' })),
      ...beta.map((name) => ({ name, workflow: 'beta' })),
    ],
  });
  // Hosts take a while (≈1 s), so that overlaps are long enough to be seen.
  await stack.startSimSite(sot.site, { checkpoint: 500 });
  const r = await startRollout(stack.client, sot);
  const result = await rolloutResult(stack.client, r.workflowId);
  assert.equal(result.state, 'completed', JSON.stringify(result));
  assert.equal(result.provisioned, 8);

  const s = await rolloutStatus(stack.client, r.workflowId);
  const fromTimeline = timelineIntervals(s.timeline);
  assert.equal(fromTimeline.length, 8);
  const keys = (names: string[]) => names.map((n) => `${sot.site}/${n}`);
  const runs = executionIntervals(await closedHostRuns(sot.site, 8));
  for (const [what, intervals] of [
    ['rollout timeline', fromTimeline],
    ['host workflow start/close', runs],
  ] as const) {
    assert.equal(maxOverlap(only(intervals, keys(alpha))), 2, `${what}: alpha (max_concurrent 2)`);
    assert.equal(maxOverlap(only(intervals, keys(beta))), 2, `${what}: beta (max_concurrent 2)`);
    assert.equal(maxOverlap(intervals), 3, `${what}: site (max_concurrent 3)`);
  }
});

test('min_standing and block_deps: dependants start after the dependency finished, one at a time', async () => {
  const base = ['base1', 'base2'];
  const app = ['app1', 'app2', 'app3'];
  const sot = await writeSot({
    sot: 'deps',
    site: 'deps',
    workflows: {
      base: { boots: ['quick'], policy: { max_concurrent: 2 } },
      // max_concurrent would allow all three at once; min_standing 2 of 3 allows one.
      app: { boots: ['quick'], policy: { max_concurrent: 3, min_standing: 2, block_deps: ['base'] } },
    },
    // The dependants come first in plan order, so only block_deps holds them back.
    hosts: [
      ...app.map((name) => ({ name, workflow: 'app' })),
      ...base.map((name) => ({ name, workflow: 'base' })),
    ],
  });
  await stack.startSimSite(sot.site, { checkpoint: 300 });
  const r = await startRollout(stack.client, sot);
  const result = await rolloutResult(stack.client, r.workflowId);
  assert.equal(result.state, 'completed', JSON.stringify(result));
  assert.equal(result.provisioned, 5);

  const s: RolloutStatus = await rolloutStatus(stack.client, r.workflowId);
  const keys = (names: string[]) => names.map((n) => `${sot.site}/${n}`);
  const runs = executionIntervals(await closedHostRuns(sot.site, 5));
  for (const [what, intervals] of [
    ['rollout timeline', timelineIntervals(s.timeline)],
    ['host workflow start/close', runs],
  ] as const) {
    const baseRuns = only(intervals, keys(base));
    const appRuns = only(intervals, keys(app));
    assert.equal(baseRuns.length, 2);
    assert.equal(appRuns.length, 3);
    assert.equal(maxOverlap(baseRuns), 2, `${what}: base runs together`);
    assert.equal(maxOverlap(appRuns), 1, `${what}: min_standing keeps two app hosts up`);
    const baseDone = Math.max(...baseRuns.map((i) => i.end));
    for (const a of appRuns)
      assert.ok(a.start >= baseDone, `${what}: ${a.key} started before every base host finished`);
  }
});
