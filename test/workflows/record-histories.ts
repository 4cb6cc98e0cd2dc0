// Regenerates test/fixtures/histories/*.json: real histories of vaquero's workflows, made by the current code on
// an embedded dev server with real workers and sim hosts, for the replay test (replay.test.ts).
//
//   node --import tsx test/workflows/record-histories.ts RECORDER... [--overwrite]
//
// Each history is saved as `<scenario>@<commit>.json`, with the commit and the patch markers it carries, beside the
// histories of earlier code: replaying those is what proves a change compatible (workflows/PATCHES.md). A recorder
// is named explicitly, and an existing file is never replaced unless --overwrite says so.
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { execFileSync } from 'node:child_process';
import { access, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { abortUpdate, hostWorkflowId, pauseUpdate, resumeUpdate } from '../../domain/workflow-api.ts';
import {
  AGENT_STATUS_MEMO,
  AGENT_STATUS_WORKFLOW_TYPE,
  agentStatusSignal,
  agentStatusWorkflowId,
} from '../../domain/agent-status.ts';
import type { AgentStatusReport } from '../../domain/agent-status.ts';
import { CONTROL_TASK_QUEUE } from '../../domain/temporal-names.ts';
import { bmcSemaphoreStatusQuery, bmcSemaphoreWorkflowId } from '../../domain/bmc-semaphore-api.ts';
import { changeKernel, writeSot } from '../../testkit/sot.ts';
import { addBoot, setBmc } from '../activities/power/site-extras.ts';
import { dropBmc, setSitePolicy, setValidateOn } from './support/sot-edits.ts';
import { startTestStack } from '../../testkit/stack.ts';
import type { TestStack } from '../../testkit/stack.ts';
import {
  hostExecutions,
  hostStatus,
  rolloutResult,
  rolloutStatus,
  startRollout,
  waitFor,
} from '../../testkit/workflows.ts';

export const HISTORIES_DIR = fileURLToPath(new URL('../fixtures/histories', import.meta.url));

/** Set by main: the commit the recording code is at, and whether an existing file may be replaced. */
const recording = { commit: 'unknown', overwrite: false };

/** The patch ids a history's markers carry (what the code that ran it had patched). */
export function patchesIn(json: {
  events?: { markerRecordedEventAttributes?: { details?: unknown } }[];
}): string[] {
  const ids = new Set<string>();
  for (const e of json.events ?? []) {
    const details = JSON.stringify(e.markerRecordedEventAttributes?.details ?? {});
    for (const [, data] of details.matchAll(/"data":"([^"]+)"/g)) {
      const id = /"id":"([^"]+)"/.exec(Buffer.from(data!, 'base64').toString('utf8'))?.[1];
      if (id) ids.add(id);
    }
  }
  return [...ids].sort();
}

async function save(stack: TestStack, name: string, workflowId: string, runId?: string): Promise<void> {
  const history = await stack.client.workflow.getHandle(workflowId, runId).fetchHistory();
  const file = path.join(HISTORIES_DIR, `${name}@${recording.commit}.json`);
  const exists = await access(file).then(
    () => true,
    () => false,
  );
  if (exists && !recording.overwrite)
    throw new Error(`${file} exists: keep it, or pass --overwrite to replace it`);
  const json = JSON.parse(historyToJSON(history)) as Parameters<typeof patchesIn>[0];
  const recordedBy = { commit: recording.commit, patches: patchesIn(json) };
  await writeFile(file, JSON.stringify({ workflowId, recordedBy, history: json }, null, 1) + '\n');
  console.log(
    `${file}: ${workflowId}${runId ? ` (run ${runId})` : ''}, ${history.events?.length ?? 0} events, ` +
      `patches ${recordedBy.patches.join(' ') || 'none'}`,
  );
}

/** A completed rollout of a two-stage host, and that host. */
async function completed(stack: TestStack): Promise<void> {
  const sot = await writeSot({
    sot: 'rec-done',
    site: 'rec-done',
    workflows: { 'two-stage': { boots: ['install', 'configure'] } },
    hosts: [{ name: 'h1', workflow: 'two-stage' }],
  });
  await stack.startSimSite(sot.site);
  const r = await startRollout(stack.client, sot);
  const result = await rolloutResult(stack.client, r.workflowId);
  if (result.state !== 'completed') throw new Error(`rollout ended ${result.state}`);
  await save(stack, 'rollout-completed', r.workflowId);
  await save(stack, 'host-two-stage-provisioned', hostWorkflowId(sot.site, 'h1'));
}

/** A rollout of one host that never answers DHCP: power retried, then failed at netboot/dhcp. */
async function failedMuteHost(
  stack: TestStack,
  name: string,
): Promise<{ rolloutId: string; hostId: string }> {
  const sot = await writeSot({
    sot: name,
    site: name,
    workflows: { one: { boots: ['quick'], power_retries: 1, timeouts: { dhcp: 1 } } },
    hosts: [{ name: 'mute', workflow: 'one', options: { never_dhcp: true } }],
  });
  await stack.startSimSite(sot.site);
  const r = await startRollout(stack.client, sot);
  const result = await rolloutResult(stack.client, r.workflowId);
  if (result.state !== 'failed') throw new Error(`rollout ended ${result.state}`);
  return { rolloutId: r.workflowId, hostId: hostWorkflowId(sot.site, 'mute') };
}

/** A host that never answers DHCP, and its failed rollout. */
async function neverDhcp(stack: TestStack): Promise<void> {
  const ids = await failedMuteHost(stack, 'rec-mute');
  await save(stack, 'rollout-failed', ids.rolloutId);
  await save(stack, 'host-never-dhcp-failed', ids.hostId);
}

/** The same, recorded since the host asks the site for held events before each stall (ask-agent-for-held-events). */
async function stalledAfterAsking(stack: TestStack): Promise<void> {
  await save(stack, 'host-stalled-after-asking', (await failedMuteHost(stack, 'rec-ask')).hostId);
}

/** An aborted rollout and a host it cancelled while installing. */
async function aborted(stack: TestStack): Promise<void> {
  const sot = await writeSot({
    sot: 'rec-abort',
    site: 'rec-abort',
    workflows: { one: { boots: ['quick'], timeouts: { checkpoint: 120 } } },
    hosts: [{ name: 'x1', workflow: 'one', options: { stall_at: 'checkpoint' } }],
  });
  await stack.startSimSite(sot.site);
  const r = await startRollout(stack.client, sot);
  await waitFor(
    'x1 installing',
    async () => (await hostStatus(stack.client, sot.site, 'x1')).stage === 'installing',
  );
  await stack.client.workflow.getHandle(r.workflowId).executeUpdate(abortUpdate, { args: ['recording'] });
  const result = await rolloutResult(stack.client, r.workflowId);
  if (result.state !== 'aborted') throw new Error(`rollout ended ${result.state}`);
  await save(stack, 'rollout-aborted', r.workflowId);
  await save(stack, 'host-cancelled', hostWorkflowId(sot.site, 'x1'));
}

/** A rollout superseded mid-way; the newer one adopts a powered host (restarted after) and an unpowered one. */
async function superseded(stack: TestStack): Promise<void> {
  const sot = await writeSot({
    sot: 'rec-super',
    site: 'rec-super',
    workflows: { fast: { boots: ['quick'] }, slow: { boots: ['drained'] } },
    hosts: [
      { name: 'f1', workflow: 'fast' },
      { name: 's1', workflow: 'slow' },
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
  const ra = await rolloutResult(stack.client, a.workflowId);
  const rb = await rolloutResult(stack.client, b.workflowId);
  if (ra.state !== 'superseded' || rb.state !== 'completed')
    throw new Error(`rollouts ended ${ra.state}, ${rb.state}`);
  const sb = await rolloutStatus(stack.client, b.workflowId);
  if (!sb.timeline.some((e) => e.kind === 'host-restart'))
    throw new Error('f1 was not restarted: record again');
  await save(stack, 'rollout-superseded', a.workflowId);
  await save(stack, 'rollout-superseding', b.workflowId);
  const runs = (await hostExecutions(stack.client, sot.site)).sort(
    (x, y) => x.startTime.getTime() - y.startTime.getTime(),
  );
  const f1 = runs.filter((w) => w.workflowId === hostWorkflowId(sot.site, 'f1'));
  const s1 = runs.filter((w) => w.workflowId === hostWorkflowId(sot.site, 's1'));
  if (f1.length !== 2 || s1.length !== 2 || s1[0]!.status.name !== 'CONTINUED_AS_NEW')
    throw new Error('unexpected host runs: record again');
  await save(stack, 'host-adopted-finishing-older', f1[0]!.workflowId, f1[0]!.runId);
  await save(stack, 'host-switched-before-power', s1[0]!.workflowId, s1[0]!.runId);
  await save(stack, 'host-switched-continued', s1[1]!.workflowId, s1[1]!.runId);
}

/** A rollout whose policy lets all its hosts start at once (started together, one workflow task). */
async function startedTogether(stack: TestStack): Promise<void> {
  const sot = await writeSot({
    sot: 'rec-together',
    site: 'rec-together',
    workflows: { 'one-stage': { boots: ['install'], policy: { max_concurrent: 4 } } },
    hosts: ['h1', 'h2', 'h3', 'h4'].map((name) => ({ name, workflow: 'one-stage' })),
  });
  await stack.startSimSite(sot.site);
  const r = await startRollout(stack.client, sot);
  const result = await rolloutResult(stack.client, r.workflowId);
  if (result.state !== 'completed') throw new Error(`rollout ended ${result.state}`);
  await save(stack, 'rollout-started-together', r.workflowId);
}

/** A rollout paused while it prepared (its site had no agent yet), then resumed: it completes. */
async function pausedWhilePreparing(stack: TestStack): Promise<void> {
  const sot = await writeSot({
    sot: 'rec-early',
    site: 'rec-early',
    workflows: { 'one-stage': { boots: ['install'] } },
    hosts: [{ name: 'h1', workflow: 'one-stage' }],
  });
  const r = await startRollout(stack.client, sot);
  const handle = stack.client.workflow.getHandle(r.workflowId);
  const state = await handle.executeUpdate(pauseUpdate, { args: ['hold'] });
  if (state !== 'paused') throw new Error(`pause while preparing answered ${state}`);
  await stack.startSimSite(sot.site);
  await waitFor('the site model published', async () =>
    (await rolloutStatus(stack.client, r.workflowId)).timeline.some((e) => e.kind === 'site-model'),
  );
  await handle.executeUpdate(resumeUpdate);
  const result = await rolloutResult(stack.client, r.workflowId);
  if (result.state !== 'completed') throw new Error(`rollout ended ${result.state}`);
  await save(stack, 'rollout-paused-while-preparing', r.workflowId);
}

/** A site whose SoT lists two agents: gates and the site model go to each agent's own queue. */
async function twoAgents(stack: TestStack): Promise<void> {
  const sot = await writeSot({
    sot: 'rec-duo',
    site: 'rec-duo',
    agents: ['rec-duo-a', 'rec-duo-b'],
    workflows: { one: { boots: ['install'] } },
    hosts: [{ name: 'h1', workflow: 'one' }],
  });
  await stack.startSimSite(sot.site, {}, ['rec-duo-a', 'rec-duo-b']);
  const r = await startRollout(stack.client, sot);
  const result = await rolloutResult(stack.client, r.workflowId);
  if (result.state !== 'completed') throw new Error(`rollout ended ${result.state}`);
  await save(stack, 'rollout-two-agents', r.workflowId);
  await save(stack, 'host-two-agents-provisioned', hostWorkflowId(sot.site, 'h1'));
}

/**
 * A site whose SoT lists two agents, one of them never running, and a host that never answers DHCP: each stalled
 * step asks both agents for held events, and the silent one is given up on at its queue (held-question-skips-
 * silent-agent); power retried, then failed at netboot/dhcp.
 */
async function twoAgentsOneSilent(stack: TestStack): Promise<void> {
  const sot = await writeSot({
    sot: 'rec-half',
    site: 'rec-half',
    agents: ['rec-half-a', 'rec-half-b'],
    workflows: { one: { boots: ['quick'], power_retries: 1, timeouts: { dhcp: 1 } } },
    hosts: [{ name: 'mute', workflow: 'one', options: { never_dhcp: true } }],
  });
  await stack.startSimSite(sot.site, {}, ['rec-half-a']);
  const r = await startRollout(stack.client, sot);
  const result = await rolloutResult(stack.client, r.workflowId);
  if (result.state !== 'failed') throw new Error(`rollout ended ${result.state}`);
  await save(stack, 'host-two-agents-one-silent-failed', hostWorkflowId(sot.site, 'mute'));
}

/** A host whose tasks no worker of its site can run: failed at pre-shutdown, gate closed (any-failure-closes-gate). */
async function tasksWithoutRunner(stack: TestStack): Promise<void> {
  const sot = await writeSot({
    sot: 'rec-norunner',
    site: 'rec-norunner',
    workflows: { tasked: { boots: ['drained-real'] } },
    hosts: [{ name: 'r1', workflow: 'tasked' }],
  });
  await setBmc(sot, 'r1', { driver: 'ipmi', address: '127.0.0.1:9', credentials: 'none' });
  await addBoot(sot, 'drained-real', {
    os: 'tiny',
    before_shutdown: [{ name: 'drain', image: 'localhost/none:1', command: ['/bin/true'], timeout_s: 10 }],
  });
  await stack.startSimSite(sot.site);
  const r = await startRollout(stack.client, sot);
  const result = await rolloutResult(stack.client, r.workflowId);
  if (result.state !== 'failed') throw new Error(`rollout ended ${result.state}`);
  await save(stack, 'host-failed-without-task-runner', hostWorkflowId(sot.site, 'r1'));
}

/**
 * A paged rollout that continued as new (its own stack: the server is told to suggest continue-as-new early): its
 * first run, and one that began from a carried state with hosts running.
 */
async function pagedContinued(): Promise<void> {
  const own = await startTestStack({
    name: 'record-paged',
    // Saved in clear, like the main recording stack's.
    codec: { off: true },
    dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 60 },
  });
  try {
    const sot = await writeSot({
      sot: 'rec-paged',
      site: 'rec-paged',
      workflows: { 'one-stage': { boots: ['install'], policy: { max_concurrent: 3 } } },
      hosts: Array.from({ length: 12 }, (_, i) => ({ name: `p${i + 1}`, workflow: 'one-stage' })),
    });
    await own.startSimSite(sot.site);
    const r = await startRollout(own.client, sot);
    const result = await rolloutResult(own.client, r.workflowId);
    if (result.state !== 'completed') throw new Error(`rollout ended ${result.state}`);
    const runs: { runId: string; start: number }[] = [];
    for await (const wf of own.client.workflow.list({ query: `WorkflowId = '${r.workflowId}'` }))
      runs.push({ runId: wf.runId, start: wf.startTime.getTime() });
    runs.sort((a, b) => a.start - b.start);
    if (runs.length < 3) throw new Error(`only ${runs.length} run(s): it should have continued as new`);
    await save(own, 'rollout-paged-first-run', r.workflowId, runs[0]!.runId);
    await save(own, 'rollout-paged-continued', r.workflowId, runs[1]!.runId);
  } finally {
    await own.close();
  }
}

/**
 * A paged rollout whose workflow's maintenance window is closed when it starts: it waits (a timer to the opening),
 * then starts its host in the window opening the next whole UTC minute (rollout-maintenance-windows).
 */
async function windowWaited(stack: TestStack): Promise<void> {
  const first = Math.ceil((Date.now() + 1) / 60_000) * 60_000;
  const at = (x: number) => {
    const d = new Date(x);
    return `${['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][d.getUTCDay()]} ${d.toISOString().slice(11, 16)}`;
  };
  const sot = await writeSot({
    sot: 'rec-window',
    site: 'rec-window',
    workflows: { win: { boots: ['quick'], policy: { windows: [`${at(first)}-${at(first + 60_000)}`] } } },
    hosts: [{ name: 'h1', workflow: 'win' }],
  });
  await stack.startSimSite(sot.site);
  const r = await startRollout(stack.client, sot);
  const result = await rolloutResult(stack.client, r.workflowId, 5 * 60_000);
  if (result.state !== 'completed') throw new Error(`rollout ended ${result.state}`);
  const s = await rolloutStatus(stack.client, r.workflowId);
  if (!s.timeline.some((e) => e.kind === 'window-wait'))
    throw new Error('the rollout never waited for its window');
  await save(stack, 'rollout-window-waited', r.workflowId);
}

/**
 * An agent's status workflow (workflows/agent-status.ts): reports signalled with start, as an agent sends them, until
 * the run continues as new (after 250), then two more on the new run. Both runs are saved.
 */
async function agentStatusReports(stack: TestStack): Promise<void> {
  const site = 'rec-agent';
  const agent = 'a1';
  const workflowId = agentStatusWorkflowId(site, agent);
  const report = (i: number): AgentStatusReport => ({
    site,
    agent,
    reportedAt: new Date(Date.UTC(2026, 11, 4, 10, 0, i)).toISOString(),
    dhcp: {
      mode: 'server',
      conflicts:
        i % 2 === 0
          ? []
          : [
              {
                serverId: '10.0.0.2',
                source: '10.0.0.2',
                interface: 'eth0',
                givesAddresses: true,
                firstSeen: '2026-12-04T10:00:00.000Z',
                lastSeen: new Date(Date.UTC(2026, 11, 4, 10, 0, i)).toISOString(),
              },
            ],
      moreConflicts: 0,
    },
  });
  const send = (i: number) =>
    stack.client.workflow.signalWithStart(AGENT_STATUS_WORKFLOW_TYPE, {
      workflowId,
      taskQueue: CONTROL_TASK_QUEUE,
      args: [{ site, agent }],
      memo: { [AGENT_STATUS_MEMO]: report(i) },
      signal: agentStatusSignal,
      signalArgs: [report(i)],
    });
  const first = await send(0);
  const firstRun = first.signaledRunId;
  // One at a time, each after the workflow took the one before: the run counts reports, not workflow tasks.
  for (let i = 1; i < 250; i++) await send(i);
  await waitFor('the status run continued as new', async () => {
    const d = await stack.client.workflow.getHandle(workflowId).describe();
    return d.runId !== firstRun;
  });
  await send(250);
  await send(251);
  await waitFor('the new run took both reports', async () => {
    const d = await stack.client.workflow.getHandle(workflowId).describe();
    const r = d.memo?.[AGENT_STATUS_MEMO] as AgentStatusReport | undefined;
    return r?.reportedAt === report(251).reportedAt;
  });
  await save(stack, 'agent-status-continued', workflowId, firstRun);
  await save(stack, 'agent-status-reports', workflowId);
}

/**
 * A second rollout that changes workflow `base`, listed in `checker`'s validate_on: the rollout starts checker's
 * unchanged host validate-only (rollout-validate-on), and that host's run only validates (validate-only-run).
 */
async function validateOnly(stack: TestStack): Promise<void> {
  const sot = await writeSot({
    sot: 'rec-validate-on',
    site: 'rec-validate-on',
    workflows: { base: { boots: ['install'] }, checker: { boots: ['quick'] } },
    hosts: [
      { name: 'b1', workflow: 'base' },
      { name: 'c1', workflow: 'checker' },
    ],
  });
  await setValidateOn(sot, 'checker', ['base']);
  await stack.startSimSite(sot.site);
  const first = await startRollout(stack.client, sot);
  if ((await rolloutResult(stack.client, first.workflowId)).state !== 'completed')
    throw new Error('first rollout did not complete');
  await changeKernel(sot.dir, 'installer', 'v2');
  const r = await startRollout(stack.client, sot);
  const result = await rolloutResult(stack.client, r.workflowId);
  if (result.state !== 'completed') throw new Error(`rollout ended ${result.state}`);
  const c1 = await hostStatus(stack.client, sot.site, 'c1');
  if (c1.powerCycles !== 0 || c1.revision !== r.revision) throw new Error('c1 was not validated only');
  await save(stack, 'rollout-validate-on', r.workflowId);
  await save(stack, 'host-validate-only-provisioned', hostWorkflowId(sot.site, 'c1'));
}

/** A host without a BMC: its run opens the gate, waits for the host's own netboot, and is provisioned (no-bmc-self-netboot). */
async function noBmcSelfNetboot(stack: TestStack): Promise<void> {
  const sot = await writeSot({
    sot: 'rec-no-bmc',
    site: 'rec-no-bmc',
    workflows: { self: { boots: ['quick'] } },
    hosts: [{ name: 'n1', workflow: 'self' }],
  });
  await dropBmc(sot, ['n1']);
  const sim = await stack.startSimSite(sot.site);
  const mac = sot.macs.get('n1')!;
  const r = await startRollout(stack.client, sot);
  await waitFor('n1 waiting for its own netboot', async () => {
    const s = await hostStatus(stack.client, sot.site, 'n1').catch(() => undefined);
    return s?.stage === 'netboot/dhcp' && sim.gate.lookup(mac)?.open === true;
  });
  sim.fleet.netbootBySelf(sot.site, 'n1', mac);
  const result = await rolloutResult(stack.client, r.workflowId);
  if (result.state !== 'completed') throw new Error(`rollout ended ${result.state}`);
  await save(stack, 'host-no-bmc-self-netboot-provisioned', hostWorkflowId(sot.site, 'n1'));
}

/**
 * A site's BMC semaphore with hosts queued on it: six hosts at once, bmc_concurrency 2, slow BMC calls, so permits
 * are granted at once (by update), queued and granted later (by signal), and given back. The run is saved open.
 */
async function bmcSemaphoreQueued(stack: TestStack): Promise<void> {
  const hosts = ['q1', 'q2', 'q3', 'q4', 'q5', 'q6'];
  const sot = await writeSot({
    sot: 'rec-bmc-queue',
    site: 'rec-bmc-queue',
    siteMaxConcurrent: hosts.length,
    workflows: { one: { boots: ['quick'], policy: { max_concurrent: hosts.length } } },
    hosts: hosts.map((name) => ({ name, workflow: 'one' })),
  });
  await setSitePolicy(sot, { bmc_concurrency: 2 });
  await stack.startSimSite(sot.site, { bmc: 100 });
  const r = await startRollout(stack.client, sot);
  const result = await rolloutResult(stack.client, r.workflowId, 180_000);
  if (result.state !== 'completed') throw new Error(`rollout ended ${result.state}`);
  const semaphore = stack.client.workflow.getHandle(bmcSemaphoreWorkflowId(sot.site));
  const status = await semaphore.query(bmcSemaphoreStatusQuery);
  if (status.granted !== hosts.length || status.maxHeld !== 2 || status.held.length > 0)
    throw new Error(`semaphore ${JSON.stringify(status)}`);
  await save(stack, 'bmc-semaphore-queued', semaphore.workflowId);
}

const RECORDERS: Record<string, (stack: TestStack) => Promise<void>> = {
  bmcSemaphoreQueued,
  agentStatusReports,
  validateOnly,
  noBmcSelfNetboot,
  windowWaited,
  pagedContinued,
  completed,
  neverDhcp,
  aborted,
  superseded,
  startedTogether,
  pausedWhilePreparing,
  stalledAfterAsking,
  twoAgents,
  twoAgentsOneSilent,
  tasksWithoutRunner,
};

/** The recorders named on the command line: never all of them by default, so no saved history is remade by accident. */
async function main(args: string[]): Promise<void> {
  const only = args.filter((a) => a !== '--overwrite');
  recording.overwrite = args.includes('--overwrite');
  if (only.length === 0) throw new Error(`name the recorders to run: ${Object.keys(RECORDERS).join(', ')}`);
  for (const name of only)
    if (!RECORDERS[name]) throw new Error(`no recorder ${name} (${Object.keys(RECORDERS).join(', ')})`);
  recording.commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8' }).trim();
  await mkdir(HISTORIES_DIR, { recursive: true });
  // Saved in clear: a history encrypted with this stack's key could never be replayed once the stack is gone.
  const stack = await startTestStack({ name: 'record', codec: { off: true } });
  try {
    for (const name of only) await RECORDERS[name]!(stack);
  } finally {
    await stack.close();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
