// Operating a rollout on a real dev server and real workers: pause and resume, abort, and a newer revision
// of the SoT superseding a rollout mid-way.
import type { WorkflowExecutionInfo } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import {
  abortUpdate,
  hostStatusQuery,
  hostWorkflowId,
  pauseUpdate,
  resumeUpdate,
} from '../../domain/workflow-api.ts';
import type { HostStatus } from '../../domain/host.ts';
import { changeKernel, writeSot } from '../../testkit/sot.ts';
import { startTestStack } from '../../testkit/stack.ts';
import type { TestStack } from '../../testkit/stack.ts';
import {
  hostExecutions,
  hostStatus,
  keyword,
  rolloutResult,
  rolloutStatus,
  startRollout,
  waitFor,
} from '../../testkit/workflows.ts';

let stack: TestStack;
before(async () => {
  stack = await startTestStack({ name: 'control' });
});
after(() => stack?.close());

const started = (hosts: { host: string; startedAt?: number }[]) =>
  hosts
    .filter((h) => h.startedAt !== undefined)
    .map((h) => h.host)
    .sort();

test('pause: no new host starts, running ones finish; resume: the rollout completes', async () => {
  const hosts = ['p1', 'p2', 'p3', 'p4'];
  const sot = await writeSot({
    sot: 'pause',
    site: 'pause',
    workflows: { one: { boots: ['quick'], policy: { max_concurrent: 1 } } },
    hosts: hosts.map((name) => ({ name, workflow: 'one' })),
  });
  // A host takes about a second.
  await stack.startSimSite(sot.site, { checkpoint: 600 });
  const r = await startRollout(stack.client, sot);
  const handle = stack.client.workflow.getHandle(r.workflowId);
  await waitFor(
    'a host running',
    async () => (await rolloutStatus(stack.client, r.workflowId)).counts.running === 1,
  );

  assert.equal(await handle.executeUpdate(pauseUpdate, { args: ['test pause'] }), 'paused');
  // Updates and queries are handled in order: what this shows was started before the pause took effect.
  const atPause = await rolloutStatus(stack.client, r.workflowId);
  assert.equal(atPause.state, 'paused');
  assert.equal(atPause.reason, 'test pause');
  const startedAtPause = started(atPause.hosts);
  assert.ok(
    startedAtPause.length >= 1 && startedAtPause.length < hosts.length,
    JSON.stringify(atPause.hosts),
  );
  // A second pause is harmless.
  assert.equal(await handle.executeUpdate(pauseUpdate, { args: ['again'] }), 'paused');

  // The running host finishes while paused.
  const drained = await waitFor('running hosts to finish', async () => {
    const s = await rolloutStatus(stack.client, r.workflowId);
    return s.counts.running === 0 ? s : undefined;
  });
  for (const h of drained.hosts.filter((x) => startedAtPause.includes(x.host)))
    assert.equal(h.state, 'provisioned');

  // Over a window of a few host boots, nothing new starts.
  await delay(3000);
  const later = await rolloutStatus(stack.client, r.workflowId);
  assert.equal(later.state, 'paused');
  assert.deepEqual(started(later.hosts), startedAtPause);
  assert.equal(later.counts.running, 0);
  assert.equal((await hostExecutions(stack.client, sot.site)).length, startedAtPause.length);

  assert.equal(await handle.executeUpdate(resumeUpdate), 'running');
  const result = await rolloutResult(stack.client, r.workflowId);
  assert.equal(result.state, 'completed', JSON.stringify(result));
  assert.equal(result.provisioned, 4);
  const s = await rolloutStatus(stack.client, r.workflowId);
  const states = s.timeline.filter((e) => e.kind === 'state').map((e) => e.message);
  assert.deepEqual(states, [
    'preparing: fetch, validate, plan',
    'running',
    'paused: test pause',
    'running: resumed by operator',
    'completed',
  ]);
  // Nothing started between the pause and the resume.
  const pausedAt = s.timeline.find((e) => e.message === 'paused: test pause')!.at;
  const resumedAt = s.timeline.find((e) => e.message === 'running: resumed by operator')!.at;
  assert.ok(!s.timeline.some((e) => e.kind === 'host-started' && e.at > pausedAt && e.at < resumedAt));
});

test('a pause while the rollout prepares holds it before its first host starts', async () => {
  const sot = await writeSot({
    sot: 'early',
    site: 'early',
    workflows: { one: { boots: ['quick'], policy: { max_concurrent: 2 } } },
    hosts: ['e1', 'e2'].map((name) => ({ name, workflow: 'one' })),
  });
  // No agent serves the site yet, so preparation waits on publishing its model: the pause lands in `preparing`.
  const r = await startRollout(stack.client, sot);
  const handle = stack.client.workflow.getHandle(r.workflowId);
  assert.equal((await rolloutStatus(stack.client, r.workflowId)).state, 'preparing');
  assert.equal(await handle.executeUpdate(pauseUpdate, { args: ['hold at start'] }), 'paused');

  await stack.startSimSite(sot.site);
  await waitFor('the site model published', async () =>
    (await rolloutStatus(stack.client, r.workflowId)).timeline.some((e) => e.kind === 'site-model'),
  );
  await delay(2000);
  const held = await rolloutStatus(stack.client, r.workflowId);
  assert.equal(held.state, 'paused');
  assert.equal(held.reason, 'hold at start');
  assert.deepEqual(started(held.hosts), []);
  assert.equal((await hostExecutions(stack.client, sot.site)).length, 0);

  assert.equal(await handle.executeUpdate(resumeUpdate), 'running');
  const result = await rolloutResult(stack.client, r.workflowId);
  assert.equal(result.state, 'completed', JSON.stringify(result));
  assert.equal(result.provisioned, 2);
  const states = (await rolloutStatus(stack.client, r.workflowId)).timeline
    .filter((e) => e.kind === 'state')
    .map((e) => e.message);
  assert.deepEqual(states, [
    'preparing: fetch, validate, plan',
    'paused: hold at start',
    'running: resumed by operator',
    'completed',
  ]);
});

test('abort: running hosts are cancelled with their gate closed; the rollout ends aborted', async () => {
  const sot = await writeSot({
    sot: 'abort',
    site: 'abort',
    workflows: { one: { boots: ['quick'], policy: { max_concurrent: 2 }, timeouts: { checkpoint: 120 } } },
    // The installed OS never calls back: hosts stay in `installing` until aborted.
    hosts: ['x1', 'x2', 'x3'].map((name) => ({ name, workflow: 'one', options: { stall_at: 'checkpoint' } })),
  });
  const sim = await stack.startSimSite(sot.site);
  const r = await startRollout(stack.client, sot);
  const handle = stack.client.workflow.getHandle(r.workflowId);
  await waitFor('two hosts installing', async () => {
    const s = await rolloutStatus(stack.client, r.workflowId);
    if (s.counts.running !== 2) return false;
    const st = await Promise.all(['x1', 'x2'].map((h) => hostStatus(stack.client, sot.site, h)));
    return st.every((x) => x.stage === 'installing');
  });
  for (const h of ['x1', 'x2']) assert.equal(sim.gate.lookup(sot.macs.get(h)!)?.open, true);

  assert.equal(await handle.executeUpdate(abortUpdate, { args: ['test abort'] }), 'aborting');
  const result = await rolloutResult(stack.client, r.workflowId);
  assert.equal(result.state, 'aborted');
  assert.equal(result.reason, 'test abort');
  assert.equal(result.cancelled, 2);
  assert.equal(result.notStarted, 1);
  assert.equal(result.provisioned, 0);

  for (const h of ['x1', 'x2']) {
    const hh = stack.client.workflow.getHandle(hostWorkflowId(sot.site, h));
    assert.equal((await hh.describe()).status.name, 'CANCELLED');
    const s: HostStatus = await hh.query(hostStatusQuery);
    assert.equal(s.state, 'cancelled');
    assert.equal(s.stage, 'cancelled');
    assert.ok(
      s.timeline.some((e) => e.kind === 'stage' && e.message === 'cancelled during installing'),
      JSON.stringify(s.timeline),
    );
    assert.equal(sim.gate.lookup(sot.macs.get(h)!)?.open, false, `gate of ${h}`);
  }
  await assert.rejects(
    stack.client.workflow.getHandle(hostWorkflowId(sot.site, 'x3')).describe(),
    WorkflowNotFoundError,
  );
  const status = await rolloutStatus(stack.client, r.workflowId);
  assert.deepEqual(status.hosts.map((h) => `${h.host}:${h.state}`).sort(), ['x1:cancelled', 'x2:cancelled']);
  assert.equal(status.counts.pending, 1, 'x3 never started');
  const listed = await waitFor('cancelled hosts in visibility', async () => {
    const all = await hostExecutions(stack.client, sot.site);
    return all.length === 2 &&
      all.every((wf) => keyword(wf, 'VaqState') === 'cancelled' && wf.status.name === 'CANCELLED')
      ? all
      : undefined;
  });
  assert.equal(listed.length, 2);
  // The rollout workflow itself completed normally: its result says how the rollout ended.
  assert.equal((await handle.describe()).status.name, 'COMPLETED');
});

test('a newer revision mid-rollout supersedes it; every host ends provisioned at the newer revision', async () => {
  const sot = await writeSot({
    sot: 'super',
    site: 'super',
    workflows: {
      // Powered early: finishes the older revision, then is reprovisioned at the newer one.
      fast: { boots: ['quick'], policy: { max_concurrent: 1 } },
      // Drains first (a slow before_shutdown task): not yet powered when the newer revision arrives.
      slow: { boots: ['drained'], policy: { max_concurrent: 1 } },
    },
    hosts: [
      { name: 'f1', workflow: 'fast' },
      { name: 'f2', workflow: 'fast' },
      { name: 's1', workflow: 'slow' },
      { name: 's2', workflow: 'slow' },
    ],
  });
  await stack.startSimSite(sot.site, { task: 1500, checkpoint: 800 });
  const a = await startRollout(stack.client, sot);
  await waitFor('f1 powered and s1 draining', async () => {
    const [f1, s1] = await Promise.all([
      hostStatus(stack.client, sot.site, 'f1'),
      hostStatus(stack.client, sot.site, 's1'),
    ]);
    return f1.powerCycles >= 1 && f1.state === 'running' && s1.stage === 'pre-shutdown';
  });
  await changeKernel(sot.dir, 'tiny', 'v2');
  const b = await startRollout(stack.client, sot);
  assert.notEqual(b.revision, a.revision);
  assert.equal(b.started, true);

  const resultA = await rolloutResult(stack.client, a.workflowId).catch((e: unknown) => {
    throw new Error(`rollout A: ${String(e)} ${String((e as Error).cause)}`);
  });
  assert.equal(resultA.state, 'superseded');
  const statusA = await rolloutStatus(stack.client, a.workflowId);
  assert.equal(statusA.supersededBy, b.workflowId);
  // A started f1 and s1 only; both were handed over to B.
  assert.deepEqual(statusA.hosts.map((h) => `${h.host}:${h.state}`).sort(), ['f1:released', 's1:released']);
  assert.equal(statusA.counts.pending, 2, 'f2 and s2 never started');

  const resultB = await rolloutResult(stack.client, b.workflowId).catch((e: unknown) => {
    throw new Error(`rollout B: ${String(e)} ${String((e as Error).cause)}`);
  });
  assert.equal(resultB.state, 'completed', JSON.stringify(resultB));
  assert.equal(resultB.provisioned, 4);
  const statusB = await rolloutStatus(stack.client, b.workflowId);
  const adopted = statusB.timeline
    .filter((e) => e.kind === 'host-adopted')
    .map((e) => e.host)
    .sort();
  assert.deepEqual(adopted, ['super/f1', 'super/s1']);
  assert.deepEqual(
    statusB.timeline.filter((e) => e.kind === 'host-restart').map((e) => e.host),
    ['super/f1'],
  );

  // Every host's newest run ended provisioned at B; nothing is left running.
  for (const h of ['f1', 'f2', 's1', 's2']) {
    const s = await hostStatus(stack.client, sot.site, h);
    assert.equal(s.state, 'provisioned', h);
    assert.equal(s.revision, b.revision, h);
    assert.equal(s.owner, b.workflowId, h);
  }
  const f1 = await hostStatus(stack.client, sot.site, 'f1');
  const s1 = await hostStatus(stack.client, sot.site, 's1');
  assert.ok(
    s1.timeline.some(
      (e) => e.kind === 'revision' && e.message.includes('arrived before the power stage: switching to it'),
    ),
  );
  assert.equal(s1.powerCycles, 1, 's1 was switched before it was ever powered');
  const runs = await waitFor('every host run closed', async () => {
    const all = await hostExecutions(stack.client, sot.site);
    return all.length >= 5 && all.every((wf) => wf.status.name !== 'RUNNING') ? all : undefined;
  });
  const runsOf = (h: string): WorkflowExecutionInfo[] =>
    runs
      .filter((wf) => wf.workflowId === hostWorkflowId(sot.site, h))
      .sort((x, y) => x.startTime.getTime() - y.startTime.getTime());
  // f1: its run at A completed (finishing what it had started), then a new run at B.
  const f1Runs = runsOf('f1');
  assert.deepEqual(
    f1Runs.map((wf) => `${wf.status.name}:${keyword(wf, 'VaqRevision')}`),
    [`COMPLETED:${a.revision}`, `COMPLETED:${b.revision}`],
  );
  const firstF1 = await stack.client.workflow
    .getHandle(hostWorkflowId(sot.site, 'f1'), f1Runs[0]!.runId)
    .query(hostStatusQuery);
  assert.ok(
    firstF1.timeline.some(
      (e) => e.kind === 'revision' && e.message.includes('arrived after power-on: finishing'),
    ),
  );
  assert.notEqual(firstF1.fingerprint, f1.fingerprint);
  // s1: one chain, continued as new at B.
  assert.deepEqual(
    runsOf('s1').map((wf) => wf.status.name),
    ['CONTINUED_AS_NEW', 'COMPLETED'],
  );
  for (const h of ['f2', 's2'])
    assert.deepEqual(
      runsOf(h).map((wf) => keyword(wf, 'VaqRevision')),
      [b.revision],
    );

  // The proof that every host reached B's fingerprint: planning B again finds nothing to do.
  const again = await startRollout(stack.client, sot);
  assert.equal(again.workflowId, b.workflowId);
  const resultAgain = await rolloutResult(stack.client, again.workflowId);
  assert.equal(resultAgain.state, 'completed');
  assert.equal(resultAgain.provisioned, 0);
  assert.equal((await rolloutStatus(stack.client, again.workflowId)).unchanged, 4);
});
