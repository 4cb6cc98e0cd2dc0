// The host workflow on a real dev server and real workers: a two-stage happy path, and a host that never
// answers DHCP.
import { reachedOf } from '../../activities/control/last-reached.ts';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { bootEventSignal, hostWorkflowId } from '../../domain/workflow-api.ts';
import type { TimelineEntry } from '../../domain/host.ts';
import { writeSot } from '../../testkit/sot.ts';
import { addBoot, setBmc } from '../activities/power/site-extras.ts';
import { startTestStack } from '../../testkit/stack.ts';
import type { TestStack } from '../../testkit/stack.ts';
import {
  hostExecutions,
  hostStatus,
  keyword,
  powerOps,
  rolloutResult,
  startRollout,
  waitFor,
  withTimeout,
} from '../../testkit/workflows.ts';

let stack: TestStack;
before(async () => {
  stack = await startTestStack({ name: 'host' });
});
after(() => stack?.close());

const BOOT_EVENTS = ['checkpoint', 'config', 'dhcp', 'initrd', 'ipxe', 'kernel', 'tftp'];

/** Checks one boot stage's slice of a host timeline; returns the stage entries it saw. */
function checkBootStage(timeline: TimelineEntry[], bootStage: number): string[] {
  const entries = timeline.filter((e) => e.bootStage === bootStage);
  const stages = entries.filter((e) => e.kind === 'stage').map((e) => e.stage);
  const where = `boot stage ${bootStage}: ${JSON.stringify(entries.map((e) => `${e.kind}:${e.stage}:${e.message.split('\n')[0]}`))}`;
  assert.equal(stages[0], 'planned', where);
  assert.equal(stages[1], 'power', where);
  // Netboot stages follow the power stage; the first is netboot/dhcp unless the DHCP event beat the workflow to it.
  const netboot = [];
  let i = 2;
  while (stages[i]?.startsWith('netboot/')) netboot.push(stages[i++]);
  assert.ok(netboot.length > 0, where);
  const idx = (pred: (e: TimelineEntry) => boolean) => entries.findIndex(pred);
  const firstNetboot = idx((e) => e.kind === 'stage' && e.stage.startsWith('netboot/'));
  const dhcpEvent = idx((e) => e.kind === 'event' && e.message.startsWith('dhcp '));
  if (netboot[0] !== 'netboot/dhcp') assert.ok(dhcpEvent >= 0 && dhcpEvent < firstNetboot, where);
  // Then installing (or the note that the checkpoint came first), then validate, and nothing else.
  const installing = idx((e) => e.kind === 'stage' && e.stage === 'installing');
  const early = idx((e) => e.kind === 'stage' && e.message === 'installing: checkpoint already received');
  assert.ok(installing >= 0 || early >= 0, where);
  assert.deepEqual(
    stages.slice(i),
    [...(installing >= 0 ? ['installing'] : []), 'validate', ...(bootStage === 2 ? ['provisioned'] : [])],
    where,
  );
  // Every boot event of the sim host, once, between the power stage and validate; the unattended config had
  // arrived before the workflow moved on to installing.
  const events = entries.filter((e) => e.kind === 'event');
  assert.deepEqual(events.map((e) => e.message.split(' ')[0]).sort(), BOOT_EVENTS, where);
  const power = idx((e) => e.kind === 'stage' && e.stage === 'power');
  const validate = idx((e) => e.kind === 'stage' && e.stage === 'validate');
  for (const e of events) {
    const at = entries.indexOf(e);
    assert.ok(at > power && at < validate, `${e.message} out of place in ${where}`);
  }
  if (installing >= 0)
    assert.ok(idx((e) => e.kind === 'event' && e.message.startsWith('config ')) < installing, where);
  assert.ok(idx((e) => e.kind === 'event' && e.message.startsWith('checkpoint ')) < validate, where);
  assert.ok(
    entries.some((e) => e.kind === 'task' && e.message.startsWith('validate sim-validate: ok')),
    where,
  );
  return stages;
}

test('two-stage host: every stage in order, provisioned, search attributes set, gate closed', async () => {
  const sot = await writeSot({
    sot: 'happy',
    site: 'happy',
    workflows: { 'two-stage': { boots: ['install', 'configure'], policy: { max_concurrent: 2 } } },
    hosts: [
      { name: 'h1', workflow: 'two-stage' },
      { name: 'h2', workflow: 'two-stage' },
    ],
  });
  // DHCP comes a little later than the other steps, so the workflow is seen waiting for it.
  const sim = await stack.startSimSite(sot.site, { dhcp: 250 });
  const r = await startRollout(stack.client, sot);
  const result = await rolloutResult(stack.client, r.workflowId);
  assert.equal(result.state, 'completed', JSON.stringify(result));
  assert.equal(result.provisioned, 2);

  for (const host of ['h1', 'h2']) {
    const s = await hostStatus(stack.client, sot.site, host);
    assert.equal(s.state, 'provisioned');
    assert.equal(s.stage, 'provisioned');
    assert.equal(s.revision, r.revision);
    assert.equal(s.bootStages, 2);
    assert.equal(s.bootStage, 2);
    assert.equal(s.powerCycles, 2);
    assert.equal(s.owner, r.workflowId);
    assert.equal(s.timeline[0]?.stage, 'planned');
    assert.match(s.timeline[0]!.message, new RegExp(`^planned: revision ${r.revision}, 2 boot stage`));
    checkBootStage(s.timeline, 1);
    checkBootStage(s.timeline, 2);
    assert.equal(s.timeline.at(-1)?.stage, 'provisioned');
    assert.ok(
      !s.timeline.some((e) => e.kind === 'timeout' || e.kind === 'error' || e.kind === 'event-ignored'),
      'a clean run',
    );

    // The agent stops offering a network boot: the host boots from its disk from now on.
    const gate = sim.gate.lookup(sot.macs.get(host)!);
    assert.equal(gate?.open, false, `gate of ${host}`);
    assert.equal(sim.fleet.netboots.get(`${sot.site}/${host}`), 2);
    assert.equal(sim.fleet.powerOns.get(`${sot.site}/${host}`), 2);
  }

  // Visibility (eventually consistent): every host filterable by our search attributes.
  const listed = await waitFor('both hosts listed as provisioned', async () => {
    const all = await hostExecutions(stack.client, sot.site);
    return all.length === 2 && all.every((wf) => keyword(wf, 'VaqStage') === 'provisioned') ? all : undefined;
  });
  for (const wf of listed) {
    const host = wf.workflowId.split('/')[2]!;
    assert.equal(wf.status.name, 'COMPLETED');
    assert.equal(keyword(wf, 'VaqSite'), sot.site);
    assert.equal(keyword(wf, 'VaqHost'), host);
    assert.equal(keyword(wf, 'VaqStage'), 'provisioned');
    assert.equal(keyword(wf, 'VaqState'), 'provisioned');
    assert.equal(keyword(wf, 'VaqRevision'), r.revision);
    // The rollout put what the run aims at in the memo when it started it; the run, having reached it, wrote none.
    const fingerprint = (await hostStatus(stack.client, sot.site, host)).fingerprint;
    assert.deepEqual(wf.memo, { fingerprint, revision: r.revision, sot: sot.sot });
    // And what the plan reads from it: this completed run reached that fingerprint.
    const reached = (await reachedOf(stack.client, [wf.workflowId])).get(`${sot.site}/${host}`);
    assert.equal(reached?.fingerprint, fingerprint);
    assert.equal(reached?.revision, r.revision);
  }
  // And the filter itself works server-side.
  let n = 0;
  for await (const _ of stack.client.workflow.list({
    query: `VaqSite = '${sot.site}' AND VaqHost = 'h2' AND VaqState = 'provisioned'`,
  }))
    n++;
  assert.equal(n, 1);
});

test('a host that never answers DHCP: power retried power_retries times, then fails at netboot/dhcp', async () => {
  const sot = await writeSot({
    sot: 'nodhcp',
    site: 'nodhcp',
    workflows: {
      one: { boots: ['quick'], timeouts: { dhcp: 2 }, power_retries: 2, policy: { max_fail: 0 } },
    },
    hosts: [{ name: 'mute', workflow: 'one', options: { never_dhcp: true } }],
  });
  const sim = await stack.startSimSite(sot.site);
  const r = await startRollout(stack.client, sot);
  const result = await rolloutResult(stack.client, r.workflowId);
  assert.equal(result.state, 'failed');
  assert.deepEqual(result.failedHosts, [`${sot.site}/mute`]);

  const handle = stack.client.workflow.getHandle(hostWorkflowId(sot.site, 'mute'));
  const err = await withTimeout(
    'host result',
    handle.result().then(
      () => undefined,
      (e: unknown) => e,
    ),
    30_000,
  );
  assert.ok(err instanceof WorkflowFailedError, String(err));
  assert.ok(err.cause instanceof ApplicationFailure, String(err.cause));
  assert.equal(err.cause.type, 'HostReprovisionFailed');
  assert.equal(err.cause.nonRetryable, true);
  assert.match(
    err.cause.message,
    /^nodhcp\/mute failed at netboot\/dhcp: netboot stalled at netboot\/dhcp: no dhcp within 2s \(attempt 3\/3\); gave up after 3 power cycle\(s\)$/,
  );

  const s = await hostStatus(stack.client, sot.site, 'mute');
  assert.equal(s.state, 'failed');
  assert.equal(s.stage, 'netboot/dhcp');
  assert.equal(s.attempt, 3);
  assert.equal(s.powerCycles, 3);
  assert.match(s.lastError ?? '', /stalled at netboot\/dhcp/);
  const kinds = (k: string) => s.timeline.filter((e) => e.kind === k);
  assert.deepEqual(
    kinds('stage')
      .filter((e) => e.stage === 'power')
      .map((e) => e.message),
    [1, 2, 3].map((a) => `power: set next boot to network and cycle (attempt ${a}/3)`),
  );
  assert.deepEqual(
    kinds('timeout').map((e) => e.message),
    [1, 2, 3].map((a) => `no dhcp within 2s (attempt ${a}/3)`),
  );
  assert.equal(kinds('event').length, 0);
  // on_failure defaults to power_off: the failed host is not left looping in its firmware.
  assert.deepEqual(
    kinds('power')
      .map((e) => e.message)
      .filter((m) => m.startsWith('on_failure')),
    ['on_failure power_off: powered off'],
  );

  // Power operations, counted where they happened: the on-disk log of the site and the sim BMC itself.
  const ops = (await powerOps(stack.dataDir, sot.site)).filter((o) => o.host === `${sot.site}/mute`);
  assert.equal(ops.length, 4, JSON.stringify(ops));
  assert.deepEqual(
    ops.slice(0, 3).map((o) => o.opId.split('/').slice(-2).join('/')),
    ['1/1', '1/2', '1/3'],
  );
  assert.match(ops[3]!.opId, /\/off$/);
  assert.equal(sim.fleet.powerOns.get(`${sot.site}/mute`), 3);
  assert.equal(sim.fleet.powerOf(sot.site, 'mute'), 'off');
  assert.equal(sim.fleet.netboots.get(`${sot.site}/mute`) ?? 0, 0);
  assert.equal(sim.gate.lookup(sot.macs.get('mute')!)?.open, false);

  const [wf] = await waitFor('the failed host in visibility', async () => {
    const all = await hostExecutions(stack.client, sot.site);
    return all.length === 1 && all[0]!.status.name === 'FAILED' && keyword(all[0]!, 'VaqState') === 'failed'
      ? all
      : undefined;
  });
  assert.equal(keyword(wf!, 'VaqStage'), 'netboot/dhcp');
  assert.equal(keyword(wf!, 'VaqHost'), 'mute');
});

test('tasks no worker of the site can run: the host fails at pre-shutdown, says why, and its gate is closed', async () => {
  const sot = await writeSot({
    sot: 'no-runner',
    site: 'no-runner',
    workflows: { tasked: { boots: ['drained-real'] } },
    hosts: [{ name: 'r1', workflow: 'tasked' }],
  });
  // A host with a real BMC: the sim site has simulated tasks for sim hosts only, and no container engine.
  await setBmc(sot, 'r1', { driver: 'ipmi', address: '127.0.0.1:9', credentials: 'none' });
  await addBoot(sot, 'drained-real', {
    os: 'tiny',
    before_shutdown: [{ name: 'drain', image: 'localhost/none:1', command: ['/bin/true'], timeout_s: 10 }],
  });
  const site = await stack.startSimSite(sot.site);
  const r = await startRollout(stack.client, sot);
  const result = await rolloutResult(stack.client, r.workflowId);
  assert.deepEqual(result.failedHosts, [`${sot.site}/r1`]);
  const err = await withTimeout(
    'host result',
    stack.client.workflow
      .getHandle(hostWorkflowId(sot.site, 'r1'))
      .result()
      .then(
        () => undefined,
        (e: unknown) => e,
      ),
    30_000,
  );
  assert.ok(err instanceof WorkflowFailedError);
  assert.match(String((err.cause as ApplicationFailure).message), /failed at pre-shutdown: no task runner/);
  const st = await hostStatus(stack.client, sot.site, 'r1');
  assert.equal(st.state, 'failed');
  assert.ok(
    st.timeline.some((e) => e.kind === 'error' && /pre-shutdown: no task runner/.test(e.message)),
    JSON.stringify(st.timeline),
  );
  assert.equal(site.gate.lookup(sot.macs.get('r1')!)?.open, false, 'the gate is closed');
});

test('two agents listed, one never running: a stalled step asks both for held events and names the silent one', async () => {
  const sot = await writeSot({
    sot: 'halfsite',
    site: 'halfsite',
    agents: ['halfsite-a', 'halfsite-b'],
    workflows: {
      one: { boots: ['quick'], timeouts: { dhcp: 1 }, power_retries: 0, policy: { max_fail: 0 } },
    },
    hosts: [{ name: 'mute', workflow: 'one', options: { never_dhcp: true } }],
  });
  await stack.startSimSite(sot.site, {}, ['halfsite-a']);
  const r = await startRollout(stack.client, sot);
  const result = await rolloutResult(stack.client, r.workflowId);
  assert.equal(result.state, 'failed');

  const s = await hostStatus(stack.client, sot.site, 'mute');
  const notes = s.timeline.filter((e) => e.kind === 'events').map((e) => e.message);
  // Given up on at its queue (nothing polls it), not after the question's whole 90 s: a schedule-to-start timeout.
  assert.deepEqual(
    notes,
    [
      'agent(s) halfsite-b did not answer the held-events question (activity ScheduleToStart timeout); going on with halfsite-a',
    ],
    JSON.stringify(s.timeline),
  );
  assert.match(s.lastError ?? '', /no dhcp within 1s/);
});

test('a stalled step names what an agent refused the host', async () => {
  const sot = await writeSot({
    sot: 'refused',
    site: 'refused',
    workflows: { one: { boots: ['quick'], timeouts: { tftp: 3 }, power_retries: 0, on_failure: 'leave' } },
    hosts: [{ name: 'r1', workflow: 'one', options: { stall_at: 'tftp' } }],
  });
  await stack.startSimSite(sot.site);
  const r = await startRollout(stack.client, sot);
  await waitFor(
    'r1 waiting for tftp',
    async () => (await hostStatus(stack.client, sot.site, 'r1')).stage === 'netboot/tftp',
  );
  // What an agent sends when its TFTP server refused the file this host asked for.
  const handle = stack.client.workflow.getHandle(hostWorkflowId(sot.site, 'r1'));
  await handle.signal(bootEventSignal, {
    id: 'refused/test/1',
    kind: 'refused',
    mac: sot.macs.get('r1')!,
    at: Date.now(),
    source: 'agent-a',
    detail: 'tftp ipxe-arm64.efi: file not found',
    runId: (await handle.describe()).runId,
  });
  const result = await rolloutResult(stack.client, r.workflowId);
  assert.equal(result.state, 'failed');
  const s = await hostStatus(stack.client, sot.site, 'r1');
  assert.equal(s.stage, 'netboot/tftp');
  assert.match(
    s.lastError ?? '',
    /no tftp within 3s \(attempt 1\/1\); the agent refused tftp ipxe-arm64\.efi: file not found/,
  );
  // The refusal is on the timeline as it came, and did not move the boot forward.
  assert.ok(s.timeline.some((e) => e.kind === 'event' && e.message.startsWith('refused from agent-a')));
  // on_failure: leave — no power off.
  assert.ok(!s.timeline.some((e) => e.message.startsWith('on_failure')));
});
