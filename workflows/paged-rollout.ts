// The rollout of one SoT revision at fleet scale: plan (fetch, validate, count per group what needs work), then
// start host workflows under each workflow's policy and each site's limit, with pause, resume, abort and
// supersede, fetching each group's hosts a page at a time as it reaches them (issue 20). Nothing it holds or
// sends grows with the fleet: its state is per group (the hosts of one SoT workflow at one site) plus the hosts
// running now, bounded lists of failed and recent hosts, and a bounded timeline; it continues as new whenever
// Temporal suggests it, so its history stays small too.
//
// Hosts this rollout adopted from an older one report back by signal (hostFinishedSignal). Since patch
// `host-end-by-completion` a host this rollout started as its child sends no report: its completion (result or
// failure) says how it ended, and a child carried across continueAsNew (no longer this run's child) is found
// closed by a sweep every CARRIED_SWEEP_EVERY. Before it, children reported by signal too, the completion being a
// second source, so a host that ends without signalling never leaves this run waiting.
import {
  ApplicationFailure,
  CancelledFailure,
  ChildWorkflowFailure,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  ParentClosePolicy,
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
import type { ControlActivities } from '../domain/activity-contracts.ts';
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
import {
  CONTROL_TASK_QUEUE,
  SA_REVISION as VaqRevision,
  SA_STATE as VaqState,
} from '../domain/temporal-names.ts';
import type { HostFinished, HostResult } from '../domain/host.ts';
import { ROLLOUT_FAILED_KEPT } from '../domain/rollout.ts';
import type {
  PagedRolloutResume,
  RolloutGroupProgress,
  RolloutHostPlan,
  RolloutHostProgress,
  RolloutHostState,
  RolloutInput,
  RolloutPlanSummary,
  RolloutResult,
  RolloutRunningHost,
  RolloutState,
  RolloutStatus,
  RolloutWorkflowProgress,
  RolloutTimelineEntry,
} from '../domain/rollout.ts';
import { HOST_END_BY_COMPLETION_PATCH, hostReprovision } from './host-reprovision.ts';
import { groupDone, scheduleGroups } from './group-scheduler.ts';
import type { WindowWait } from './group-scheduler.ts';
import { appendRolloutTimeline, failureMessage } from './rollout-progress.ts';
import { startRolloutReporter } from './rollout-reporter.ts';
import { publishSiteModelsByChild } from './site-model-publisher.ts';

/** How long a restart waits for the host's previous run, which has reported its end, to close (seconds). */
const CLOSING_RUN_WAIT_S = 60;
/** Child starts per workflow task (each is a command of a few hundred bytes in the task's completion). */
const START_BATCH = 200;
/** Below Temporal's default limit of 2,000 pending child workflows per workflow (limit.numPendingChildExecutions). */
const MAX_RUNNING_HOSTS = 1500;
/** Hosts per plan page: a page is an activity result in this workflow's history (a few hundred bytes a host). */
const PAGE_SIZE = 100;
/** Finished hosts the status lists (the newest); `counts` covers them all. */
const RECENT_KEPT = 100;
/** Timeline entries kept: the status answer and the continueAsNew input stay well under 512 KB. */
const TIMELINE_KEPT = 200;
/** Characters of a host's error kept in the failed and recent lists (the host's own status has it whole). */
const ERROR_KEPT = 300;
/** How often running hosts that are not this run's children are checked for a run that closed unreported. */
const SWEEP_EVERY = '5 minutes';
/** How often children carried across continueAsNew, which end without a report, are checked (host-end-by-completion). */
const CARRIED_SWEEP_EVERY = '15 seconds';
const SWEEP_BATCH = 200;

/**
 * Patch id: unchanged hosts whose workflow's `validate_on` lists a workflow this rollout changes are fetched with
 * their pages (plan action `validate`) and started in validate-only mode (PATCHES.md).
 */
export const VALIDATE_ON_PATCH = 'rollout-validate-on';
/** Patch id: hosts start only inside their maintenance windows (PATCHES.md). */
export const MAINTENANCE_WINDOWS_PATCH = 'rollout-maintenance-windows';

const FINAL_ROLLOUT: ReadonlySet<RolloutState> = new Set(['completed', 'failed', 'aborted', 'superseded']);

function zeroCounts(): Record<RolloutHostState, number> {
  return {
    pending: 0,
    blocked: 0,
    running: 0,
    provisioned: 0,
    failed: 0,
    cancelled: 0,
    released: 0,
    skipped: 0,
  };
}

export async function pagedRollout(input: RolloutInput): Promise<RolloutResult> {
  const info = workflowInfo();
  const selfId = info.workflowId;
  const endByCompletion = patched(HOST_END_BY_COMPLETION_PATCH);
  const windowsApply = patched(MAINTENANCE_WINDOWS_PATCH);
  const validateOn = patched(VALIDATE_ON_PATCH);
  const control = proxyActivities<ControlActivities>({
    taskQueue: CONTROL_TASK_QUEUE,
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout: '1 minute',
    retry: { maximumAttempts: 5, initialInterval: '2 seconds', nonRetryableErrorTypes: ['InvalidSot'] },
  });
  const pages = proxyActivities<ControlActivities>({
    taskQueue: CONTROL_TASK_QUEUE,
    startToCloseTimeout: '2 minutes',
    retry: { initialInterval: '2 seconds', maximumInterval: '1 minute' },
  });

  const r = input.pagedResume;
  let state: RolloutState = r?.state ?? 'preparing';
  let reason: string | undefined = r?.reason;
  let supersededBy: string | undefined;
  let plan: RolloutPlanSummary | undefined = r?.plan;
  let groups: RolloutGroupProgress[] = r ? r.groups.map((g) => ({ ...g })) : [];
  /** Fetched hosts not started yet, per group (not carried across continueAsNew: refetched after the cursor). */
  let queues: RolloutHostPlan[][] = groups.map(() => []);
  const running = new Map<string, RolloutRunningHost>(
    (r?.running ?? []).map((h) => [key(h.site, h.host), h]),
  );
  const finished = r ? { ...r.finished } : zeroCounts();
  const failedByWorkflow = new Map<string, number>(Object.entries(r?.failedByWorkflow ?? {}));
  const failedHosts = r ? [...r.failedHosts] : [];
  const recent: RolloutHostProgress[] = r ? [...r.recent] : [];
  /** Planned hosts whose pages no longer found them: they reached this revision some other way meanwhile. */
  const noLongerNeeded = () =>
    groups.reduce(
      (n, g, i) =>
        n + (groupDone(g, queues[i]?.length ?? 0) ? Math.max(0, g.planned - g.started - g.blocked) : 0),
      0,
    );
  const timeline: RolloutTimelineEntry[] = r ? [...r.timeline] : [];
  /** Hosts whose run this run started as a child and that has not closed yet (see hostFinishedSignal). */
  const openChildren = new Set<string>();
  const heldReports = new Map<string, HostFinished>();
  let dirty = true;
  /** Groups waiting for a maintenance window now, by group index (the status's `waiting`). */
  let waiting = new Map<number, string>();
  /** The opening a timer is set for (only while a group waits for a window). */
  let windowTimerAt: number | undefined;

  const note = (kind: string, message: string, host?: string) => {
    appendRolloutTimeline(timeline, {
      at: Date.now(),
      kind,
      ...(host !== undefined ? { host } : {}),
      message,
    });
    if (timeline.length > TIMELINE_KEPT) timeline.splice(0, timeline.length - TIMELINE_KEPT);
  };
  const setState = (s: RolloutState, why?: string) => {
    state = s;
    if (why) reason = why;
    note('state', why ? `${s}: ${why}` : s);
    upsertSearchAttributes([{ key: VaqState, value: s }]);
    dirty = true;
  };
  const counts = (): Record<RolloutHostState, number> => {
    const c = { ...finished, running: running.size, pending: 0, blocked: 0 };
    groups.forEach((g, i) => {
      c.blocked += g.blocked;
      const queued = queues[i]?.length ?? 0;
      if (groupDone(g, queued)) return;
      c.pending += Math.max(queued, g.planned - g.started - g.blocked, g.exhausted ? 0 : 1);
    });
    return c;
  };
  const status = (): RolloutStatus => ({
    sot: input.sot,
    revision: input.revision,
    state,
    ...(reason !== undefined ? { reason } : {}),
    hosts: [...[...running.values()].map(progressOf), ...recent],
    ...(plan ? { total: plan.total } : {}),
    failedHosts: [...failedHosts],
    counts: counts(),
    unchanged: (plan?.counts.unchanged ?? 0) + noLongerNeeded(),
    skipped: plan?.counts.skipped ?? 0,
    removed: plan?.counts.removed ?? 0,
    ...(supersededBy !== undefined ? { supersededBy } : {}),
    timeline: [...timeline],
    workflows: workflowProgress(),
    ...(waiting.size > 0 ? { waiting: [...waiting.values()] } : {}),
  });
  // A query's answer only (no history): per SoT workflow, from the groups and the hosts running now.
  const workflowProgress = (): RolloutWorkflowProgress[] => {
    const by = new Map<string, RolloutWorkflowProgress>();
    for (const g of groups) {
      let w = by.get(g.workflow);
      if (!w) {
        const policy = plan?.policies[g.workflow];
        w = {
          workflow: g.workflow,
          planned: 0,
          started: 0,
          running: 0,
          failed: 0,
          ...(policy ? { policy } : {}),
        };
        by.set(g.workflow, w);
      }
      w.planned += g.planned;
      w.started += g.started;
    }
    for (const h of running.values()) {
      const w = by.get(h.workflow);
      if (w) w.running++;
    }
    for (const [workflow, n] of failedByWorkflow) {
      const w = by.get(workflow);
      if (w) w.failed = n;
    }
    for (const [i, why] of waiting) {
      const w = by.get(groups[i]!.workflow);
      if (w && w.waiting === undefined) w.waiting = why;
    }
    return [...by.values()];
  };
  const reporter = input.report
    ? startRolloutReporter({
        rolloutId: selfId,
        target: input.report,
        ...(r?.checkRunId !== undefined ? { checkRunId: r.checkRunId } : {}),
        summary: () => {
          const c = counts();
          return {
            state,
            ...(reason !== undefined ? { reason } : {}),
            counts: c,
            unchanged: (plan?.counts.unchanged ?? 0) + noLongerNeeded(),
            skipped: plan?.counts.skipped ?? 0,
            failed: failedHosts.slice(0, 50),
            failedTotal: c.failed,
          };
        },
      })
    : undefined;

  const finishHost = (h: RolloutRunningHost, s: RolloutHostState, error?: string) => {
    const k = key(h.site, h.host);
    if (running.get(k) !== h) return;
    running.delete(k);
    finished[s]++;
    const done: RolloutHostProgress = {
      site: h.site,
      host: h.host,
      workflow: h.workflow,
      state: s,
      ...(h.startedAt !== undefined ? { startedAt: h.startedAt } : {}),
      finishedAt: Date.now(),
      ...(error ? { error: clip(error) } : {}),
    };
    recent.unshift(done);
    if (recent.length > RECENT_KEPT) recent.length = RECENT_KEPT;
    note('host-finished', `${s}${error ? `: ${error}` : ''}`, k);
    if (s === 'failed') {
      const n = (failedByWorkflow.get(h.workflow) ?? 0) + 1;
      failedByWorkflow.set(h.workflow, n);
      if (failedHosts.length < ROLLOUT_FAILED_KEPT)
        failedHosts.push({ host: k, ...(error ? { error } : {}) });
      const p = plan?.policies[h.workflow];
      if (p && n > p.max_fail && (state === 'running' || state === 'paused')) {
        setState(
          'halted',
          `max_fail exceeded for workflow ${h.workflow}: ${n} failed > max_fail ${p.max_fail}`,
        );
      }
    }
    dirty = true;
  };

  const onHostFinished = (h: RolloutRunningHost, m: HostFinished) => {
    if (m.state === 'provisioned' && m.fingerprint !== h.fingerprint) {
      // An adopted run finished the revision it had started: reprovision it at ours (once).
      if (!h.restarted) {
        h.restarted = true;
        h.restart = true;
        // It boots something else now: a whole reprovision, not a re-validation.
        delete h.validateOnly;
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
        `finished at fingerprint ${m.fingerprint.slice(0, 12)}, expected ${h.fingerprint.slice(0, 12)}`,
      );
      return;
    }
    finishHost(h, m.state === 'released' ? 'released' : m.state === 'running' ? 'failed' : m.state, m.error);
  };

  setHandler(rolloutStatusQuery, status);
  setHandler(hostFinishedSignal, (m: HostFinished) => {
    const k = key(m.site, m.host);
    const h = running.get(k);
    if (!h || h.restart) return;
    // A released host is no longer ours, whatever its run does next; any other report waits for the close.
    if (m.state !== 'released' && openChildren.has(k)) {
      heldReports.set(k, m);
      return;
    }
    onHostFinished(h, m);
  });
  setHandler(pauseUpdate, (why: string) => {
    if (state === 'running' || state === 'preparing') setState('paused', why || 'paused by operator');
    return state;
  });
  setHandler(resumeUpdate, () => {
    if (state === 'paused') setState(plan ? 'running' : 'preparing', 'resumed by operator');
    return state;
  });
  setHandler(abortUpdate, (why: string) => {
    if (!['completed', 'failed', 'aborted', 'superseded', 'aborting'].includes(state)) {
      setState('aborting', why || 'aborted by operator');
    }
    return state;
  });
  setHandler(supersedeUpdate, (by: string) => {
    if (FINAL_ROLLOUT.has(state)) return state;
    supersededBy = by;
    note('superseded', `superseded by ${by}: starting no more hosts; running hosts are handed over`);
    setState('superseded', `superseded by ${by}`);
    return state;
  });

  upsertSearchAttributes([
    { key: VaqRevision, value: input.revision },
    { key: VaqState, value: state },
  ]);

  if (!plan) {
    note('state', 'preparing: fetch, validate, plan');
    try {
      plan = await control.planRollout({ ...input, rolloutId: selfId });
    } catch (err) {
      setState('failed', `prepare failed: ${failureMessage(err)}`);
      await reporter?.flush();
      throw ApplicationFailure.create({
        type: 'RolloutPrepareFailed',
        message: reason ?? 'prepare failed',
        nonRetryable: true,
      });
    }
    groups = plan.groups.map((g) => ({ ...g, started: 0, blocked: 0, exhausted: false }));
    queues = groups.map(() => []);
    note(
      'plan',
      `${plan.total} host(s) to reprovision in ${plan.groups.length} group(s), ${plan.counts.unchanged} unchanged, ${plan.counts.skipped} skipped, ${plan.counts.removed} removed`,
    );
    const older = await control.supersedeOlderRollouts({ sot: input.sot, rolloutId: selfId });
    for (const o of older) note('supersede', `superseded ${o}`);
    await publishSiteModelsByChild(selfId, input.sot, input.revision, Object.keys(plan.sitePolicies), note);
    if (state === 'preparing') setState('running');
  }
  const thePlan = plan;

  const startHost = async (h: RolloutRunningHost): Promise<void> => {
    h.state = 'running';
    h.startedAt = Date.now();
    delete h.error;
    delete h.restart;
    delete h.adopted;
    const id = hostWorkflowId(h.site, h.host);
    const k = key(h.site, h.host);
    for (let waited = 0; ;) {
      try {
        const child = await startChild(hostReprovision, {
          workflowId: id,
          taskQueue: CONTROL_TASK_QUEUE,
          args: [
            {
              sot: input.sot,
              revision: input.revision,
              site: h.site,
              host: h.host,
              owner: selfId,
              ...(endByCompletion ? { ownerReadsCompletion: true } : {}),
              ...(h.validateOnly ? { validateOnly: h.validateOnly } : {}),
            },
          ],
          // What the run aims at: once it completes, what it reached (read by the plan; the host writes no memo then).
          ...(endByCompletion
            ? { memo: { fingerprint: h.fingerprint, revision: input.revision, sot: input.sot } }
            : {}),
          parentClosePolicy: ParentClosePolicy.ABANDON,
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
        });
        openChildren.add(k);
        const closed = (fallback: () => void) => {
          openChildren.delete(k);
          const m = heldReports.get(k);
          heldReports.delete(k);
          if (running.get(k) !== h || h.restart) return;
          if (m) onHostFinished(h, m);
          // The host could not send its report (a bug, a termination): its run's own outcome is all there is.
          else fallback();
        };
        child.result().then(
          (res) =>
            closed(() => (endByCompletion ? onHostFinished(h, endOf(res)) : finishHost(h, 'provisioned'))),
          (err: unknown) =>
            closed(() => {
              if (endByCompletion && isCancelledChild(err)) finishHost(h, 'cancelled', 'cancelled');
              else finishHost(h, 'failed', endByCompletion ? hostFailureOf(err) : failureMessage(err));
            }),
        );
        return;
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
      // A restarted host's previous run has reported its end and is closing: wait for it rather than adopt it.
      if (h.restarted && waited < CLOSING_RUN_WAIT_S) {
        await sleep('1 second');
        waited++;
        continue;
      }
      // A run of this host is already going (an older rollout's, or an operator's): adopt it.
      note('host-adopted', 'already running: adopting it with our revision', k);
      h.adopted = true;
      try {
        await getExternalWorkflowHandle(id).signal(desiredRevisionSignal, {
          revision: input.revision,
          fingerprint: h.fingerprint,
          owner: selfId,
        });
        return;
      } catch (err) {
        note(
          'host-adopt-missed',
          `the run closed before it could be adopted (${failureMessage(err)}): starting a new one`,
          k,
        );
      }
    }
  };

  const fetchPage = async (i: number): Promise<void> => {
    const g = groups[i]!;
    const page = await pages.rolloutPlanPage({
      sot: input.sot,
      revision: input.revision,
      workflow: g.workflow,
      site: g.site,
      ...(g.cursor !== undefined ? { after: g.cursor } : {}),
      limit: PAGE_SIZE,
      ...(input.only ? { only: input.only } : {}),
      ...(input.force ? { force: true } : {}),
      ...(validateOn && thePlan.changedWorkflows?.length
        ? { changedWorkflows: thePlan.changedWorkflows }
        : {}),
    });
    queues[i] = page.hosts;
    if (page.done) g.exhausted = true;
  };

  const tally = () => {
    const byWorkflow = new Map<string, number>();
    const bySite = new Map<string, number>();
    for (const h of running.values()) {
      byWorkflow.set(h.workflow, (byWorkflow.get(h.workflow) ?? 0) + 1);
      bySite.set(h.site, (bySite.get(h.site) ?? 0) + 1);
    }
    const bad = new Map(failedByWorkflow);
    // Cancelled hosts are not counted per workflow; any cancellation means the rollout is being aborted.
    for (const g of groups) if (g.blocked > 0) bad.set(g.workflow, (bad.get(g.workflow) ?? 0) + g.blocked);
    return { byWorkflow, bySite, bad };
  };

  // A host whose run closed without its report (terminated, or a report lost) would hold its slot forever once it
  // is no longer this run's child (after continueAsNew): every SWEEP_EVERY, ask Temporal how the runs of such hosts
  // stand, and finish those that closed.
  let sweepDue = false;
  /** Running hosts started as children of an earlier run of this rollout: they end without a report. */
  const carriedChildren = (): boolean =>
    endByCompletion &&
    [...running.values()].some((h) => !h.adopted && !h.restart && !openChildren.has(key(h.site, h.host)));
  const sweeper = async (): Promise<void> => {
    for (;;) {
      await sleep(carriedChildren() ? CARRIED_SWEEP_EVERY : SWEEP_EVERY);
      sweepDue = true;
      dirty = true;
    }
  };
  void sweeper();
  const sweep = async (): Promise<void> => {
    const orphans = [...running.values()].filter((h) => !openChildren.has(key(h.site, h.host)) && !h.restart);
    for (let b = 0; b < orphans.length; b += SWEEP_BATCH) {
      const batch = orphans.slice(b, b + SWEEP_BATCH);
      const closed = await pages.closedHostRuns({
        // An adopted host's run began before we took it over.
        hosts: batch.map((h) => ({ site: h.site, host: h.host, after: h.adopted ? 0 : (h.startedAt ?? 0) })),
      });
      for (const c of closed) {
        const h = running.get(key(c.site, c.host));
        if (!h || h.restart) continue;
        // A child carried across continueAsNew ends without a report by design (host-end-by-completion).
        const byDesign = endByCompletion && !h.adopted;
        if (!byDesign) note('host-swept', `its run ended ${c.status} without a report`, key(c.site, c.host));
        finishHost(
          h,
          c.status === 'COMPLETED' ? 'provisioned' : c.status === 'CANCELED' ? 'cancelled' : 'failed',
          c.status === 'COMPLETED'
            ? undefined
            : byDesign && c.error !== undefined
              ? c.error
              : `run ended ${c.status.toLowerCase()} without a report`,
        );
      }
    }
  };

  // Say once per wait which groups wait for which window, and set a timer to the earliest opening.
  const waitForWindows = (waits: WindowWait[]) => {
    const now = new Map<number, string>();
    let earliest: number | undefined;
    for (const w of waits) {
      const g = groups[w.group]!;
      const why = w.next
        ? `workflow ${g.workflow} at site ${g.site}: waiting for the maintenance window "${w.next.window.text}" (${w.of}) opening at ${w.next.local} ${w.timeZone} (${new Date(w.next.at).toISOString()})`
        : `workflow ${g.workflow} at site ${g.site}: waiting for a maintenance window (${w.of}), but none of its windows ever opens in ${w.timeZone}`;
      now.set(w.group, why);
      if (waiting.get(w.group) !== why) note('window-wait', why);
      if (w.next && (earliest === undefined || w.next.at < earliest)) earliest = w.next.at;
    }
    for (const [i] of waiting) {
      const g = groups[i]!;
      if (!now.has(i) && !groupDone(g, queues[i]?.length ?? 0))
        note(
          'window-open',
          `workflow ${g.workflow} at site ${g.site}: maintenance window open, starting hosts`,
        );
    }
    waiting = now;
    if (earliest === undefined || (windowTimerAt !== undefined && windowTimerAt <= earliest)) return;
    const at = earliest;
    windowTimerAt = at;
    void sleep(Math.max(1, at - Date.now())).then(() => {
      if (windowTimerAt !== at) return;
      windowTimerAt = undefined;
      dirty = true;
    });
  };

  for (;;) {
    await condition(() => dirty);
    dirty = false;
    if (sweepDue) {
      sweepDue = false;
      await sweep();
    }
    if (state === 'aborting') {
      for (const h of running.values()) {
        if (h.error === 'cancel requested') continue;
        h.error = 'cancel requested';
        await getExternalWorkflowHandle(hostWorkflowId(h.site, h.host))
          .cancel()
          .catch(() => finishHost(h, 'cancelled', 'cancel requested; host workflow already closed'));
      }
      if (running.size === 0) {
        setState('aborted', reason);
        break;
      }
      continue;
    }
    if (state === 'superseded') {
      // Running hosts finish or are released when the newer rollout adopts them.
      if (running.size === 0) break;
      continue;
    }
    if (state === 'running') {
      const again = [...running.values()].filter((h) => h.restart);
      for (let b = 0; b < again.length; b += START_BATCH)
        await Promise.all(again.slice(b, b + START_BATCH).map((h) => startHost(h)));
      const t = tally();
      const d = scheduleGroups({
        groups,
        queued: queues.map((q) => q.length),
        policies: thePlan.policies,
        sitePolicies: thePlan.sitePolicies,
        runningByWorkflow: t.byWorkflow,
        runningBySite: t.bySite,
        failedByWorkflow,
        badByWorkflow: t.bad,
        maxRunning: MAX_RUNNING_HOSTS,
        ...(windowsApply ? { now: Date.now() } : {}),
      });
      if (windowsApply) waitForWindows(d.waiting ?? []);
      for (const b of d.block) {
        const g = groups[b.group]!;
        const n = Math.max(queues[b.group]!.length, g.planned - g.started - g.blocked);
        g.blocked += n;
        g.exhausted = true;
        queues[b.group] = [];
        note('host-blocked', `${n} host(s) of workflow ${g.workflow} at site ${g.site}: ${b.reason}`);
      }
      const starting: RolloutRunningHost[] = [];
      for (const s of d.start) {
        const g = groups[s.group]!;
        for (const p of queues[s.group]!.splice(0, s.count)) {
          const h: RolloutRunningHost = {
            site: p.site,
            host: p.host,
            workflow: p.workflow,
            state: 'running',
            fingerprint: p.fingerprint,
            ...(p.action === 'validate' && p.changedWorkflow !== undefined
              ? { validateOnly: { changedWorkflow: p.changedWorkflow } }
              : {}),
          };
          running.set(key(p.site, p.host), h);
          g.started++;
          g.cursor = p.host;
          note(
            'host-started',
            `starting (${p.action}: ${p.reasons.join('; ') || 'new'})`,
            key(p.site, p.host),
          );
          starting.push(h);
        }
      }
      for (let b = 0; b < starting.length; b += START_BATCH)
        await Promise.all(starting.slice(b, b + START_BATCH).map((h) => startHost(h)));
      if (d.fetch.length > 0) await Promise.all(d.fetch.map((i) => fetchPage(i)));
      if (d.start.length > 0 || d.block.length > 0 || d.fetch.length > 0) dirty = true;
    }
    const allDone = groups.every((g, i) => groupDone(g, queues[i]!.length));
    if (allDone && running.size === 0 && state === 'running') {
      const failures = finished.failed + finished.cancelled;
      setState(
        failures > 0 ? 'failed' : 'completed',
        failures > 0 ? `${failures} host(s) failed` : undefined,
      );
      break;
    }
    if (state === 'halted' && running.size === 0) {
      setState('failed', reason);
      break;
    }
    if (workflowInfo().continueAsNewSuggested) {
      // Reports held for a child's close would be lost with this run (the host does not report twice): take them
      // now. The next run's starts wait for a closing run anyway (startHost).
      for (const [k, m] of heldReports) {
        const h = running.get(k);
        if (h && !h.restart) onHostFinished(h, m);
      }
      heldReports.clear();
      const checkRunId = reporter?.checkRunId();
      const resume: PagedRolloutResume = {
        plan: thePlan,
        // A fetched page is not carried: the next run fetches it again after the group's cursor.
        groups: groups.map((g, i) => (queues[i]!.length > 0 ? { ...g, exhausted: false } : g)),
        running: [...running.values()],
        finished,
        failedByWorkflow: Object.fromEntries(failedByWorkflow),
        failedHosts,
        recent,
        state,
        ...(reason !== undefined ? { reason } : {}),
        timeline,
        ...(checkRunId !== undefined ? { checkRunId } : {}),
      };
      await continueAsNew<typeof pagedRollout>({ ...input, pagedResume: resume });
    }
  }

  await reporter?.flush();
  const c = counts();
  return {
    state,
    provisioned: c.provisioned,
    failed: c.failed,
    cancelled: c.cancelled,
    notStarted: c.pending + c.blocked,
    failedHosts: failedHosts.map((f) => f.host),
    ...(reason !== undefined ? { reason } : {}),
  };
}

/** A child's result as the report it no longer sends (host-end-by-completion). */
function endOf(res: HostResult): HostFinished {
  return {
    site: res.site,
    host: res.host,
    state: res.state,
    fingerprint: res.fingerprint,
    revision: res.revision,
    stage: res.stage,
    ...(res.error !== undefined ? { error: res.error } : {}),
  };
}

function isCancelledChild(err: unknown): boolean {
  return err instanceof ChildWorkflowFailure && err.cause instanceof CancelledFailure;
}

/** A failed host's own error (its HostResult in the failure's details), as its report carried it. */
function hostFailureOf(err: unknown): string {
  const cause = err instanceof ChildWorkflowFailure ? err.cause : undefined;
  if (cause instanceof ApplicationFailure && cause.type === 'HostReprovisionFailed') {
    const r = cause.details?.[0] as Partial<HostResult> | undefined;
    if (typeof r?.error === 'string') return r.error;
  }
  return failureMessage(err);
}

function clip(error: string): string {
  return error.length > ERROR_KEPT ? `${error.slice(0, ERROR_KEPT)}…` : error;
}

function key(site: string, host: string): string {
  return `${site}/${host}`;
}

function progressOf(h: RolloutRunningHost): RolloutHostProgress {
  return {
    site: h.site,
    host: h.host,
    workflow: h.workflow,
    state: h.state,
    ...(h.startedAt !== undefined ? { startedAt: h.startedAt } : {}),
    ...(h.error !== undefined ? { error: h.error } : {}),
  };
}
