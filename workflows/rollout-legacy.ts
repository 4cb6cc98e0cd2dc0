// The legacy rollout, kept for rollouts started before paged plans (patch rollout-paged-plan) and their
// continuations: its plan lists every host in one payload and its state carries every host's progress, so it does
// not scale past a few thousand hosts (issue 20). Do not change it; retire it with the patch (PATCHES.md).
//
// The rollout of one SoT revision: prepare (fetch, validate, plan against what hosts last reached), then start
// host workflows under each workflow's policy and each site's limit, with pause, resume, abort and supersede.
//
// Hosts report back by signal (hostFinishedSignal), which also works for hosts this rollout adopted from an
// older one; for children it started, the child's own completion is a second source, so a host that ends
// without signalling (a bug, a termination) never leaves the rollout waiting forever.
import { toEveryAgent } from './agent-fanout.ts';
import {
  ApplicationFailure,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  ParentClosePolicy,
  deprecatePatch,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
  WorkflowIdReusePolicy,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { ControlActivities, SiteActivities } from '../domain/activity-contracts.ts';
import {
  abortUpdate,
  desiredRevisionSignal,
  hostFinishedSignal,
  hostWorkflowId,
  pauseUpdate,
  resumeUpdate,
  rolloutStatusQuery,
  supersedeUpdate,
} from '../domain/workflow-api.ts';
import { hostReprovision } from './host-reprovision.ts';
import {
  appendRolloutTimeline,
  countByState,
  failureMessage,
  FINAL_HOST_STATES,
} from './rollout-progress.ts';
import { schedule } from './rollout-scheduler.ts';
import { startRolloutReporter, summarizeRollout } from './rollout-reporter.ts';
import {
  CONTROL_TASK_QUEUE,
  SA_REVISION as VaqRevision,
  SA_STATE as VaqState,
  agentTaskQueue,
  siteTaskQueue,
} from '../domain/temporal-names.ts';
import type { HostFinished } from '../domain/host.ts';
import type {
  PreparedRollout,
  RolloutHostProgress,
  RolloutHostState,
  RolloutInput,
  RolloutResult,
  RolloutState,
  RolloutStatus,
  RolloutTimelineEntry,
} from '../domain/rollout.ts';

/** How long a restart waits for the host's previous run, which has reported its end, to close (seconds). */
const CLOSING_RUN_WAIT_S = 60;
/** Child starts per workflow task (each is a command of a few hundred bytes in the task's completion). */
const START_BATCH = 200;
/** Below Temporal's default limit of 2,000 pending child workflows per workflow (limit.numPendingChildExecutions). */
const MAX_RUNNING_HOSTS = 1500;

export async function legacyRollout(input: RolloutInput): Promise<RolloutResult> {
  const info = workflowInfo();
  const selfId = info.workflowId;
  const control = proxyActivities<ControlActivities>({
    taskQueue: CONTROL_TASK_QUEUE,
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout: '1 minute',
    retry: { maximumAttempts: 5, initialInterval: '2 seconds', nonRetryableErrorTypes: ['InvalidSot'] },
  });

  const r = input.resume;
  let state: RolloutState = r?.state ?? 'preparing';
  let reason: string | undefined;
  let supersededBy: string | undefined;
  let prepared: PreparedRollout | undefined = r?.prepared;
  let hosts: RolloutHostProgress[] = r ? r.hosts : [];
  let failures = r?.failures ?? 0;
  const timeline: RolloutTimelineEntry[] = r ? [...r.timeline] : [];
  /** Hosts restarted because they finished at a fingerprint other than ours (adopted from an older run). */
  const restarted = new Set<string>();
  /**
   * Hosts whose run we started as a child and that has not closed yet. A host reports its end by signal just
   * before its run closes; for our children the report is held until the run has closed (child result), so a
   * host keeps its max_concurrent slot until then and the next run never overlaps it.
   */
  const openChildren = new Set<string>();
  const heldReports = new Map<string, HostFinished>();
  deprecatePatch('rollout-host-slot-until-run-closed');
  // Hosts the scheduler picks together are started together (one workflow task for many child starts, not one
  // each), in batches, and never more running than Temporal lets one workflow have pending children.
  const startTogether = patched('rollout-start-hosts-together');
  let dirty = true;

  const key = (site: string, host: string) => `${site}/${host}`;
  const note = (kind: string, message: string, host?: string) => {
    appendRolloutTimeline(timeline, {
      at: Date.now(),
      kind,
      ...(host !== undefined ? { host } : {}),
      message,
    });
  };
  const setState = (s: RolloutState, why?: string) => {
    state = s;
    if (why) reason = why;
    note('state', why ? `${s}: ${why}` : s);
    upsertSearchAttributes([{ key: VaqState, value: s }]);
    dirty = true;
  };
  const counts = () => countByState(hosts);
  const status = (): RolloutStatus => ({
    sot: input.sot,
    revision: input.revision,
    state,
    ...(reason !== undefined ? { reason } : {}),
    hosts: hosts.map((h) => ({ ...h })),
    counts: counts(),
    unchanged: prepared?.counts.unchanged ?? 0,
    skipped: prepared?.counts.skipped ?? 0,
    removed: prepared?.counts.removed ?? 0,
    ...(supersededBy !== undefined ? { supersededBy } : {}),
    timeline: [...timeline],
  });
  // Push-started rollouts show their progress on the commit (GitHub check run or status).
  const reporter = input.report
    ? startRolloutReporter({
        rolloutId: selfId,
        target: input.report,
        ...(r?.checkRunId !== undefined ? { checkRunId: r.checkRunId } : {}),
        summary: () =>
          summarizeRollout(state, reason, hosts, {
            unchanged: prepared?.counts.unchanged ?? 0,
            skipped: prepared?.counts.skipped ?? 0,
          }),
      })
    : undefined;
  const finishHost = (h: RolloutHostProgress, s: RolloutHostState, error?: string) => {
    if (FINAL_HOST_STATES.has(h.state)) return;
    h.state = s;
    h.finishedAt = Date.now();
    if (error) h.error = error;
    note('host-finished', `${s}${error ? `: ${error}` : ''}`, key(h.site, h.host));
    if (s === 'failed') {
      failures++;
      const p = prepared?.policies[h.workflow];
      if (p && countFailed(h.workflow) > p.max_fail && (state === 'running' || state === 'paused')) {
        setState(
          'halted',
          `max_fail exceeded for workflow ${h.workflow}: ${countFailed(h.workflow)} failed > max_fail ${p.max_fail}`,
        );
      }
    }
    dirty = true;
  };
  const countFailed = (wf: string) => hosts.filter((h) => h.workflow === wf && h.state === 'failed').length;
  const byKey = (site: string, host: string) => hosts.find((h) => h.site === site && h.host === host);

  const onHostFinished = (h: RolloutHostProgress, m: HostFinished) => {
    const want = prepared?.hosts.find((p) => p.site === m.site && p.host === m.host)?.fingerprint;
    if (m.state === 'provisioned' && want && m.fingerprint !== want) {
      // An adopted run finished the revision it had started: reprovision it at ours (once).
      if (!restarted.has(key(m.site, m.host))) {
        restarted.add(key(m.site, m.host));
        h.state = 'pending';
        note(
          'host-restart',
          `reached revision ${m.revision}, not ours: reprovisioning again`,
          key(m.site, m.host),
        );
        dirty = true;
        return;
      }
      finishHost(
        h,
        'failed',
        `finished at fingerprint ${m.fingerprint.slice(0, 12)}, expected ${want.slice(0, 12)}`,
      );
      return;
    }
    finishHost(h, m.state === 'released' ? 'released' : m.state === 'running' ? 'failed' : m.state, m.error);
  };

  setHandler(rolloutStatusQuery, status);
  setHandler(hostFinishedSignal, (m: HostFinished) => {
    const h = byKey(m.site, m.host);
    if (!h || h.state !== 'running') return;
    const k = key(m.site, m.host);
    // A released host is no longer ours, whatever its run does next; any other report waits for the close.
    if (m.state !== 'released' && openChildren.has(k)) {
      heldReports.set(k, m);
      return;
    }
    onHostFinished(h, m);
  });
  setHandler(pauseUpdate, (why: string) => {
    // A pause while the rollout prepares holds it before its first host starts (older runs ignored it).
    const pausable =
      state === 'running' || (state === 'preparing' && patched('rollout-pause-while-preparing'));
    if (pausable) setState('paused', why || 'paused by operator');
    return state;
  });
  setHandler(resumeUpdate, () => {
    if (state === 'paused') setState('running', 'resumed by operator');
    return state;
  });
  setHandler(abortUpdate, (why: string) => {
    if (!['completed', 'failed', 'aborted', 'superseded', 'aborting'].includes(state)) {
      setState('aborting', why || 'aborted by operator');
    }
    return state;
  });
  setHandler(supersedeUpdate, (by: string) => {
    if (['completed', 'failed', 'aborted', 'superseded'].includes(state)) return state;
    supersededBy = by;
    note('superseded', `superseded by ${by}: starting no more hosts; running hosts are handed over`);
    setState('superseded', `superseded by ${by}`);
    return state;
  });

  upsertSearchAttributes([
    { key: VaqRevision, value: input.revision },
    { key: VaqState, value: state },
  ]);

  // Agents answer DHCP for every known host of their site (server mode), so each site's reservations go out
  // before any host of the rollout is power-cycled. An agent that cannot be reached in time keeps serving its
  // cached model; hosts of the rollout still carry their own reservation with their netboot gate.
  const publishSiteModels = async (p: PreparedRollout): Promise<void> => {
    const results = await Promise.allSettled(
      Object.keys(p.sitePolicies).map(async (site) => {
        const model = await control.siteModel({ sot: input.sot, revision: input.revision, site });
        const agentSide = (taskQueue: string) =>
          proxyActivities<SiteActivities>({
            taskQueue,
            scheduleToCloseTimeout: '2 minutes',
            startToCloseTimeout: '1 minute',
            retry: { maximumAttempts: 5, initialInterval: '2 seconds' },
          });
        // Several agents: each serves from its own cache, so each gets the model on its own queue.
        const agents = model.agents ?? [];
        if (agents.length > 1 && patched('site-model-to-every-agent')) {
          // An agent that is down does not hold the rollout up: it gets the model when it is back, if its queue
          // still holds it, and serves its cached one until then.
          const r = await toEveryAgent(
            agents.map((a) => a.id),
            (a) => agentSide(agentTaskQueue(site, a)).publishSiteModel(model),
            (a, outcome) =>
              note(
                'site-model',
                outcome.ok
                  ? `site ${site}: agent ${a} has the model now`
                  : `site ${site}: agent ${a} did not take the model: ${failureMessage(outcome.error)}`,
              ),
          );
          if (r.missing.length > 0)
            note('site-model', `site ${site}: agent(s) ${r.missing.join(', ')} not answering yet`);
          return site;
        }
        await agentSide(siteTaskQueue(site)).publishSiteModel(model);
        return site;
      }),
    );
    results.forEach((r, i) => {
      const site = Object.keys(p.sitePolicies)[i];
      note(
        'site-model',
        r.status === 'fulfilled'
          ? `site ${site}: model published (${input.revision})`
          : `site ${site}: model not published: ${failureMessage(r.reason)}`,
      );
    });
  };

  if (!prepared) {
    note('state', 'preparing: fetch, validate, plan');
    try {
      prepared = await control.prepareRollout({ ...input, rolloutId: selfId });
    } catch (err) {
      setState('failed', `prepare failed: ${failureMessage(err)}`);
      await reporter?.flush();
      throw ApplicationFailure.create({
        type: 'RolloutPrepareFailed',
        message: reason ?? 'prepare failed',
        nonRetryable: true,
      });
    }
    hosts = prepared.hosts.map((h) => ({
      site: h.site,
      host: h.host,
      workflow: h.workflow,
      state: 'pending',
    }));
    note(
      'plan',
      `${prepared.hosts.length} host(s) to reprovision, ${prepared.counts.unchanged} unchanged, ${prepared.counts.skipped} skipped, ${prepared.counts.removed} removed`,
    );
    const older = await control.supersedeOlderRollouts({ sot: input.sot, rolloutId: selfId });
    for (const o of older) note('supersede', `superseded ${o}`);
    deprecatePatch('publish-site-models');
    await publishSiteModels(prepared);
    if (state === 'preparing') setState('running');
  }
  const plan = prepared;

  const startHost = async (h: RolloutHostProgress): Promise<void> => {
    const p = plan.hosts.find((x) => x.site === h.site && x.host === h.host)!;
    h.state = 'running';
    h.startedAt = Date.now();
    delete h.error;
    note('host-started', `starting (${p.action}: ${p.reasons.join('; ') || 'new'})`, key(h.site, h.host));
    const id = hostWorkflowId(h.site, h.host);
    const k = key(h.site, h.host);
    for (let waited = 0; ;) {
      try {
        const child = await startChild(hostReprovision, {
          workflowId: id,
          taskQueue: CONTROL_TASK_QUEUE,
          args: [{ sot: input.sot, revision: input.revision, site: h.site, host: h.host, owner: selfId }],
          parentClosePolicy: ParentClosePolicy.ABANDON,
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
        });
        openChildren.add(k);
        const closed = (fallback: () => void) => {
          openChildren.delete(k);
          const m = heldReports.get(k);
          heldReports.delete(k);
          if (h.state !== 'running') return;
          if (m) onHostFinished(h, m);
          // The host could not send its report (a bug, a termination): its run's own outcome is all there is.
          else fallback();
        };
        child.result().then(
          () => closed(() => finishHost(h, 'provisioned')),
          (err: unknown) => closed(() => finishHost(h, 'failed', failureMessage(err))),
        );
        return;
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
      // A restarted host's previous run has reported its end and is closing: wait for it rather than adopt it
      // (it would close without telling us again).
      if (restarted.has(k) && waited < CLOSING_RUN_WAIT_S) {
        await sleep('1 second');
        waited++;
        continue;
      }
      // A run of this host is already going (an older rollout's, or an operator's): adopt it.
      note('host-adopted', 'already running: adopting it with our revision', k);
      try {
        await getExternalWorkflowHandle(id).signal(desiredRevisionSignal, {
          revision: input.revision,
          fingerprint: p.fingerprint,
          owner: selfId,
        });
        return;
      } catch (err) {
        // The run closed between our start and our signal (a failed signal would otherwise fail this rollout).
        note(
          'host-adopt-missed',
          `the run closed before it could be adopted (${failureMessage(err)}): starting a new one`,
          k,
        );
      }
    }
  };

  for (;;) {
    await condition(() => dirty);
    dirty = false;
    const running = hosts.filter((h) => h.state === 'running');
    if (state === 'aborting') {
      for (const h of running) {
        if (h.error === 'cancel requested') continue;
        h.error = 'cancel requested';
        await getExternalWorkflowHandle(hostWorkflowId(h.site, h.host))
          .cancel()
          .catch(() => finishHost(h, 'cancelled', 'cancel requested; host workflow already closed'));
      }
      if (running.length === 0) {
        setState('aborted', reason);
        break;
      }
      continue;
    }
    if (state === 'superseded') {
      // Running hosts finish or are released when the newer rollout adopts them.
      if (running.length === 0) break;
      continue;
    }
    if (state === 'running') {
      const d = schedule({
        hosts,
        policies: plan.policies,
        sitePolicies: plan.sitePolicies,
        ...(startTogether ? { maxRunning: MAX_RUNNING_HOSTS } : {}),
      });
      for (const b of d.block) {
        const h = hosts[b.index]!;
        h.state = 'blocked';
        h.error = b.reason;
        note('host-blocked', b.reason, key(h.site, h.host));
      }
      if (startTogether) {
        for (let b = 0; b < d.start.length; b += START_BATCH)
          await Promise.all(d.start.slice(b, b + START_BATCH).map((i) => startHost(hosts[i]!)));
      } else {
        for (const i of d.start) await startHost(hosts[i]!);
      }
      if (d.start.length > 0 || d.block.length > 0) dirty = true;
    }
    const open = hosts.filter((h) => !FINAL_HOST_STATES.has(h.state));
    if (open.length === 0 && state === 'running') {
      setState(
        failures > 0 ? 'failed' : 'completed',
        failures > 0 ? `${failures} host(s) failed` : undefined,
      );
      break;
    }
    if (state === 'halted' && running.length === 0) {
      setState('failed', reason);
      break;
    }
    if (workflowInfo().continueAsNewSuggested && !dirty) {
      const checkRunId = reporter?.checkRunId();
      await continueAsNew<typeof legacyRollout>({
        ...input,
        resume: {
          prepared: plan,
          hosts,
          state,
          failures,
          timeline,
          ...(checkRunId !== undefined ? { checkRunId } : {}),
        },
      });
    }
  }

  await reporter?.flush();
  const c = counts();
  const result: RolloutResult = {
    state,
    provisioned: c.provisioned,
    failed: c.failed,
    cancelled: c.cancelled,
    notStarted: c.pending + c.blocked,
    failedHosts: hosts.filter((h) => h.state === 'failed').map((h) => key(h.site, h.host)),
    ...(reason !== undefined ? { reason } : {}),
  };
  return result;
}
