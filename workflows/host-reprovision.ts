// One reprovision of one host: planned → pre-shutdown → power → netboot → installing → validate, per boot
// stage, then provisioned with the netboot gate closed.
//
// The rule for a newer desired revision arriving mid-run (desiredRevisionSignal):
//   * same fingerprint (nothing the host boots changed): the run goes on; only the owner rollout changes;
//   * the host has not been power-cycled yet in this run: the run switches to the new revision at once
//     (continueAsNew from the first boot stage) — nothing was done to the machine, so nothing is wasted;
//   * the host has been power-cycled: the run finishes what it started (interrupting an installer leaves a
//     machine worse off than finishing), reports the fingerprint it reached to the new owner, and that owner
//     (the newer rollout) reprovisions it again because its reached fingerprint is not the desired one.
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  ContinueAsNew,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type {
  ControlActivities,
  NetbootGateInput,
  PowerInput,
  PowerResult,
  SiteActivities,
} from '../domain/activity-contracts.ts';
import {
  bootEventSignal,
  bootEventsSignal,
  desiredRevisionSignal,
  hostFinishedSignal,
  hostStatusQuery,
  netbootGateQuery,
  overrideStageUpdate,
} from '../domain/workflow-api.ts';
import { toEveryAgent } from './agent-fanout.ts';
import { giveBackBmcPermit, waitForBmcPermit, withBmcPermit } from './bmc-permit.ts';
import { bmcPermitLeaseMs, DEFAULT_BMC_CONCURRENCY } from '../domain/bmc-semaphore-api.ts';
import { CHECKPOINT_RANK, nextNetbootStep, rankOf } from './netboot-progress.ts';
import {
  CONTROL_TASK_QUEUE,
  SA_HOST as VaqHost,
  SA_REVISION as VaqRevision,
  SA_SITE as VaqSite,
  SA_STAGE as VaqStage,
  SA_STATE as VaqState,
  agentTaskQueue,
  siteTaskQueue,
} from '../domain/temporal-names.ts';
import type { BootEvent, NetbootStep } from '../domain/boot-events.ts';
import type {
  BootStagePlan,
  DesiredRevision,
  HostFinished,
  HostPlan,
  HostResult,
  HostStatus,
  HostWorkflowInput,
  StageOverride,
  TimelineEntry,
} from '../domain/host.ts';
import { DEFAULT_SELF_NETBOOT_S } from '../domain/host.ts';
import type { HostStage, HostState } from '../domain/host-stages.ts';
import { appendBounded, SeenEvents } from './bounded-history.ts';
import { cmdlineDifference, reportedCmdlineOf } from './cmdline-difference.ts';
import { stallDetail } from './stall-reason.ts';

/**
 * Since this patch a host's history is lean (issue 20): the first BMC permit is asked for with the plan and a free
 * one granted in the answer, the power activity gives it back; on a single-agent site the gate travels with the
 * power and validation activities; boot events may come several to a signal; the stage search attribute is
 * written once per workflow task; the other patches of this file are implied (their markers are not written); the
 * last report to the owner goes out with the run's completion. No local activities: with signals arriving while
 * one ran, a live run and its replay were seen to resolve it in different workflow tasks (a nondeterminism).
 */
export const LEAN_HOST_HISTORY_PATCH = 'lean-host-history';
/** A site with several agents: a silent agent is given 10 s, not 90, to pick up the held-events question. */
export const HELD_QUESTION_SKIPS_SILENT_AGENT_PATCH = 'held-question-skips-silent-agent';
/**
 * Since this patch a run whose owner is the rollout that started it as its child sends that rollout no report
 * when it ends: the rollout learns the end from the child's completion (its result or failure), which Temporal
 * records anyway. A signal, its acknowledgement and the workflow task it woke cost five of the host's history
 * events. Adopted runs (owner not the parent) still report by signal. It implies `lean-host-history` and the
 * held-question patch, so a new run's history carries this one marker.
 */
export const HOST_END_BY_COMPLETION_PATCH = 'host-end-by-completion';
/**
 * Since this patch a failed run powers its host off through the BMC when its plan says `on_failure: power_off`
 * (the default), closing the gate in the same call where one agent serves the site; before, a failed host was left
 * on, looping in its firmware.
 */
export const FAILED_HOST_POWERED_OFF_PATCH = 'failed-host-powered-off';
/**
 * Since this patch a host without a BMC is never power-cycled: each boot stage opens its gate and waits up to
 * `timeouts.self_netboot` for the host to start its netboot by itself (an operator, its own reboot), then follows it
 * as usual, with no power retry. Before, its run failed at the power stage.
 */
export const NO_BMC_SELF_NETBOOT_PATCH = 'no-bmc-self-netboot';
/**
 * Since this patch a run started with `validateOnly` (a workflow its workflow's `validate_on` lists changed) runs the
 * validation of the host's last boot stage and ends: no gate, no power cycle, no netboot.
 */
export const VALIDATE_ONLY_PATCH = 'validate-only-run';
/** The timeline's word, and the status's note, for a host without a BMC waiting for its own netboot. */
export const NO_BMC_WAIT = 'no BMC: waiting for the host to netboot by itself';

class StageFailure extends Error {
  constructor(
    readonly stage: HostStage,
    message: string,
  ) {
    super(message);
  }
}

export async function hostReprovision(input: HostWorkflowInput): Promise<HostResult> {
  const info = workflowInfo();
  const byCompletion = patched(HOST_END_BY_COMPLETION_PATCH);
  const lean = byCompletion || patched(LEAN_HOST_HISTORY_PATCH);
  /** The other patches of this file: implied by the lean one, so a lean history carries one marker. */
  const since = (patch: string): boolean => lean || patched(patch);
  const control = proxyActivities<ControlActivities>({
    taskQueue: CONTROL_TASK_QUEUE,
    // Rendering one revision takes about a second for hundreds of hosts; a lost worker is noticed within two minutes.
    startToCloseTimeout: '2 minutes',
    retry: { maximumAttempts: 10, initialInterval: '1 second', maximumInterval: '30 seconds' },
  });
  // Asking for a BMC permit later than with the plan (a retry, a later stage): quick, and the semaphore may be starting.
  const permits = proxyActivities<ControlActivities>({
    taskQueue: CONTROL_TASK_QUEUE,
    startToCloseTimeout: '30 seconds',
    retry: { maximumAttempts: 10, initialInterval: '1 second', maximumInterval: '15 seconds' },
  });
  const firstStage = Math.max(1, input.resume?.nextBootStage || 1);
  /** A power cycle's idempotency key, also its BMC permit's request id. */
  const opIdOf = (bootStage: number, attempt: number) =>
    `${info.workflowId}/${info.runId}/${bootStage}/${attempt}`;
  // Answer status queries from the first moment, also while the plan loads (an operator, the API or a test may
  // ask at any time); the full handler below replaces this one. Queries write nothing to history.
  const startedAt = Date.now();
  setHandler(hostStatusQuery, () => ({
    site: input.site,
    host: input.host,
    revision: input.revision,
    state: 'running',
    stage: 'planned',
    bootStage: 0,
    bootStages: 0,
    stageSince: startedAt,
    attempt: 0,
    powerCycles: input.resume?.powerCycles ?? 0,
    ...(input.owner !== undefined ? { owner: input.owner } : {}),
    timeline: input.resume ? [...input.resume.timeline] : [],
  }));
  const plan: HostPlan = await control.loadHostPlan({
    sot: input.sot,
    revision: input.revision,
    site: input.site,
    host: input.host,
    ...(lean
      ? { firstPermit: { holder: info.workflowId, requestId: opIdOf(firstStage, 1), bootStage: firstStage } }
      : {}),
  });
  const siteQueue = siteTaskQueue(plan.site);
  /** The permit asked for with the plan, until its power cycle takes it over: given back if the run ends first. */
  let firstPermit = plan.firstPermit?.requestId;
  const giveBackFirstPermit = async (): Promise<void> => {
    if (firstPermit === undefined) return;
    const requestId = firstPermit;
    firstPermit = undefined;
    await giveBackBmcPermit(plan.site, { holder: info.workflowId, requestId });
  };
  const gate = proxyActivities<SiteActivities>({
    taskQueue: siteQueue,
    // A gate update takes milliseconds: a short limit means a worker that died holding one costs seconds, not a
    // minute, before another worker of the site retries it.
    startToCloseTimeout: '10 seconds',
    retry: { maximumAttempts: 20, initialInterval: '1 second', maximumInterval: '15 seconds' },
  });
  // BMC calls are capped at 5 minutes and heartbeat; a flaky BMC gets a few quick retries, each of them safe
  // because the driver deduplicates by opId.
  const power = proxyActivities<SiteActivities>({
    taskQueue: siteQueue,
    startToCloseTimeout: `${Math.min(plan.timeouts.power, 300)} seconds`,
    heartbeatTimeout: '30 seconds',
    retry: {
      maximumAttempts: 4,
      initialInterval: '1 second',
      backoffCoefficient: 2,
      maximumInterval: '20 seconds',
    },
  });
  // A failed host's power off: one retry, as the BMC may be what failed, and the run's end waits for it.
  const powerOff = proxyActivities<SiteActivities>({
    taskQueue: siteQueue,
    startToCloseTimeout: `${Math.min(plan.timeouts.power, 300)} seconds`,
    heartbeatTimeout: '30 seconds',
    retry: { maximumAttempts: 2, initialInterval: '1 second' },
  });
  // The agent waits up to 20 s for the events to go out; a site without a polling worker costs at most 90 s.
  const heldEvents = proxyActivities<SiteActivities>({
    taskQueue: siteQueue,
    startToCloseTimeout: '40 seconds',
    scheduleToCloseTimeout: '90 seconds',
    retry: { maximumAttempts: 2, initialInterval: '2 seconds' },
  });

  // A site with several agents: gates and the held-events question go to each agent's own queue (each serves
  // from its own cache); with one, through the site's queue as before.
  const agents = plan.agents ?? [];
  const everyAgent = agents.length > 1 && since('gate-to-every-agent');
  const agentSide = (agent: string, base: 'gate' | 'held') =>
    proxyActivities<SiteActivities>({
      taskQueue: agentTaskQueue(plan.site, agent),
      ...(base === 'gate'
        ? {
            // Waits in the agent's queue while it is down; the agent's reconciler catches up after that.
            scheduleToCloseTimeout: '3 minutes',
            startToCloseTimeout: '10 seconds',
            retry: { initialInterval: '1 second', maximumInterval: '15 seconds' },
          }
        : {
            startToCloseTimeout: '40 seconds',
            scheduleToCloseTimeout: '90 seconds',
            retry: { maximumAttempts: 2, initialInterval: '2 seconds' },
          }),
    });
  /** The gate this run wants the site's agents to have, for agents that catch up (netbootGateQuery). */
  let wantedGate: NetbootGateInput | null = null;
  setHandler(netbootGateQuery, () => wantedGate);

  const resume = input.resume;
  const timeline: TimelineEntry[] = resume ? [...resume.timeline] : [];
  const seen = new SeenEvents(resume?.seenEventIds ?? []);
  let owner = input.owner;
  let stage: HostStage = 'planned';
  let state: HostState = 'running';
  let bootStage = resume ? resume.nextBootStage : 0;
  let stageSince = Date.now();
  let attempt = 0;
  let powerCycles = resume?.powerCycles ?? 0;
  let poweredThisRun = false;
  let lastError: string | undefined;
  let reached = 0;
  let attemptStartedAt = 0;
  /** The last boot file or answer an agent refused this host in this power attempt (`tftp ipxe.efi: file not found`). */
  let refusedThisAttempt: string | undefined;
  /** The kernel command line the installed OS reported with its checkpoint in this power attempt, if any. */
  let reportedCmdline: string | undefined;
  let pending: DesiredRevision | undefined;
  let switchTo: DesiredRevision | undefined;
  /** Set by an operator's `fail` override; the stage waits below end on it. */
  let forcedFailure: string | undefined;
  /** What the run waits for that its stage does not say (HostStatus.note). */
  let statusNote: string | undefined;
  /** A validate-only run (validate_on, VALIDATE_ONLY_PATCH): set before it validates. */
  let validatingOnly = false;

  const note = (kind: string, message: string): void => {
    appendBounded(timeline, { at: Date.now(), bootStage, stage, kind, message });
  };
  /** Site, host, revision and state: written once, with the first stage written (lean) or at once. */
  let firstAttributes: SearchAttributeUpdatePair[] = [];
  /** Lean: the first attributes when no upsert has carried them yet. */
  const unwritten = (): SearchAttributeUpdatePair[] => (stageWritten === undefined ? firstAttributes : []);
  /** The stage value in the search attributes (lean: written before the run waits, once per workflow task). */
  let stageWritten: HostStage | undefined = lean ? undefined : 'planned';
  const enter = (next: HostStage, message?: string): void => {
    stage = next;
    stageSince = Date.now();
    note('stage', message ?? next);
    if (!lean) upsertSearchAttributes([{ key: VaqStage, value: next }]);
  };
  /** Lean: the stage the run waits in reaches the search attributes; the stages it passed through meanwhile don't. */
  const writeStage = (): void => {
    if (!lean || stage === stageWritten) return;
    const first = unwritten();
    stageWritten = stage;
    upsertSearchAttributes([...first, { key: VaqStage, value: stage }]);
  };
  const status = (): HostStatus => ({
    site: plan.site,
    host: plan.host,
    revision: plan.revision,
    fingerprint: plan.fingerprint,
    state,
    stage,
    bootStage,
    bootStages: plan.stages.length,
    stageSince,
    attempt,
    powerCycles,
    ...(lastError !== undefined ? { lastError } : {}),
    ...(owner !== undefined ? { owner } : {}),
    ...(pending !== undefined ? { pendingRevision: pending.revision } : {}),
    ...(statusNote !== undefined ? { note: statusNote } : {}),
    timeline: [...timeline],
  });
  const tellOwner = async (msg: HostFinished, to = owner): Promise<void> => {
    if (!to) return;
    try {
      await getExternalWorkflowHandle(to).signal(hostFinishedSignal, msg);
    } catch {
      // The owner may have closed (aborted, superseded): nobody waits for this host any more.
    }
  };
  /**
   * The run's last word to its owner. A newer rollout that adopts this run while it is being said becomes the
   * owner and is told too: the run closes right after, and nobody else would tell that rollout how it ended.
   */
  const tellOwnerFinally = async (msg: HostFinished): Promise<void> => {
    // The rollout that started this run as its child learns the end from the child's completion (byCompletion).
    if (byCompletion && input.ownerReadsCompletion === true && owner === input.owner) return;
    for (let told: string | undefined; told !== owner;) {
      told = owner;
      await tellOwner(msg, told);
    }
  };

  setHandler(hostStatusQuery, status);
  const onBootEvent = (ev: BootEvent): void => {
    if (!seen.firstSighting(ev.id)) return;
    if (ev.mac.toLowerCase() !== plan.mac) {
      note('event-ignored', `${ev.kind} from ${ev.source} for ${ev.mac}: not this host's boot MAC`);
      return;
    }
    if (state !== 'running' || attemptStartedAt === 0) {
      note('event-ignored', `${ev.kind} from ${ev.source}: no network boot expected now`);
      return;
    }
    note('event', `${ev.kind} from ${ev.source}${ev.detail ? `: ${ev.detail}` : ''}`);
    if (ev.kind === 'checkpoint') reportedCmdline = reportedCmdlineOf(ev.detail);
    // What the host asked for and was refused names the cause of a stall better than its timeout can. (No history
    // from before agents sent `refused` events holds one, so older runs replay unchanged.)
    if (ev.kind === 'refused' && ev.detail) refusedThisAttempt = ev.detail;
    reached = Math.max(reached, rankOf(ev.kind));
  };
  setHandler(bootEventSignal, onBootEvent);
  // Agents send the events they hold for a run together: one signal, one workflow task, each event in it.
  setHandler(bootEventsSignal, (events: BootEvent[]) => {
    for (const ev of events) onBootEvent(ev);
  });
  setHandler(desiredRevisionSignal, (d: DesiredRevision) => {
    const previousOwner = owner;
    if (d.owner) owner = d.owner;
    if (previousOwner && previousOwner !== owner) {
      void tellOwner(
        {
          site: plan.site,
          host: plan.host,
          state: 'released',
          fingerprint: plan.fingerprint,
          revision: plan.revision,
          stage,
        },
        previousOwner,
      );
    }
    if (d.fingerprint === plan.fingerprint) {
      note('revision', `revision ${d.revision} boots the same as ${plan.revision}: carrying on`);
    } else if (validatingOnly && state === 'running') {
      // Nothing to switch: the run only validates what the host runs; the new owner judges the result.
      pending = d;
      note('revision', `revision ${d.revision} arrived during a validate-only run: finishing it first`);
    } else if (!poweredThisRun && reached === 0 && state === 'running') {
      switchTo = d;
      note('revision', `revision ${d.revision} arrived before the power stage: switching to it`);
    } else {
      pending = d;
      note('revision', `revision ${d.revision} arrived after power-on: finishing ${plan.revision} first`);
    }
  });

  // Only the stages that wait on boot events can be overridden: the others run an activity, which an update
  // cannot interrupt (cancel the run instead).
  setHandler(
    overrideStageUpdate,
    (o: StageOverride) => {
      const at = stage;
      const who = o.by ? ` by ${o.by}` : ' by an operator';
      note('override', `${o.action} ${at}${who}: ${o.reason}`);
      if (o.action === 'fail') forcedFailure = `failed${who} at ${at}: ${o.reason}`;
      else
        reached = Math.max(
          reached,
          at === 'installing' ? CHECKPOINT_RANK : rankOf(at.slice('netboot/'.length) as NetbootStep),
        );
      return status();
    },
    {
      validator: (o: StageOverride) => {
        if (state !== 'running') throw new Error(`the host is ${state}: nothing to override`);
        if (o.stage && o.stage !== stage) throw new Error(`the host is in stage ${stage}, not ${o.stage}`);
        if (attemptStartedAt === 0 || !(stage === 'installing' || stage.startsWith('netboot/'))) {
          throw new Error(`stage ${stage} cannot be overridden (only netboot/* and installing)`);
        }
      },
    },
  );

  // Lean: written with the first stage the run waits in (writeStage), one upsert instead of two.
  firstAttributes = [
    { key: VaqSite, value: plan.site },
    { key: VaqHost, value: plan.host },
    { key: VaqRevision, value: plan.revision },
    { key: VaqState, value: 'running' },
  ];
  if (!lean) upsertSearchAttributes([...firstAttributes, { key: VaqStage, value: 'planned' }]);
  note(
    'stage',
    `planned: revision ${plan.revision}, ${plan.stages.length} boot stage(s), fingerprint ${plan.fingerprint.slice(0, 12)}`,
  );

  /** The gate this run wants now; also what the agents' reconcilers catch up with (netbootGateQuery). */
  const gateUpdate = (open: boolean, s?: BootStagePlan): NetbootGateInput => {
    const update: NetbootGateInput = {
      site: plan.site,
      host: plan.host,
      mac: plan.mac,
      sot: plan.sot,
      revision: plan.revision,
      fingerprint: plan.fingerprint,
      bootStage: open && s ? s.index : 0,
      hasConfig: open && s ? s.hasConfig : false,
      open,
      workflowId: info.workflowId,
      runId: info.runId,
      ...(plan.ipv4 !== undefined ? { ipv4: plan.ipv4 } : {}),
      subnet: plan.subnet,
      ...(plan.hostname !== undefined ? { hostname: plan.hostname } : {}),
      ...(open && s ? { artifacts: s.artifacts } : {}),
      ...(everyAgent ? { issuedAt: Date.now() } : {}),
      ...(lean ? { eventBatches: true } : {}),
    };
    wantedGate = update;
    return update;
  };
  /**
   * Lean, one agent: the gate travels with the site activity that needs it (opened by the power activity, closed
   * by the last validation's), not in an activity of its own.
   */
  const gateWithActivities = lean && !everyAgent;
  let gateClosed = false;
  const setGate = async (open: boolean, s?: BootStagePlan): Promise<void> => {
    const update = gateUpdate(open, s);
    gateClosed = !open;
    writeStage();
    if (!everyAgent) {
      await gate.setNetbootGate(update);
      return;
    }
    const what = open ? 'open' : 'close';
    const r = await toEveryAgent(
      agents,
      (a) => agentSide(a, 'gate').setNetbootGate(update),
      (a, outcome) =>
        note(
          'gate',
          outcome.ok
            ? `agent ${a} has the gate (${what}) now`
            : `agent ${a} did not get the gate (${what}): ${errorMessage(outcome.error)}; it catches up when it is back`,
        ),
    );
    if (r.missing.length > 0)
      note(
        'gate',
        `gate ${what}: agent(s) ${r.missing.join(', ')} not answering yet; going on with ${[...r.answered.keys()].join(', ')}`,
      );
  };

  const switchIfAsked = async (): Promise<void> => {
    if (!switchTo) return;
    await giveBackFirstPermit();
    await setGate(false);
    await continueAsNew<typeof hostReprovision>({
      sot: input.sot,
      revision: switchTo.revision,
      site: input.site,
      host: input.host,
      ...(owner !== undefined ? { owner } : {}),
      ...(input.continueAsNewEachBootStage !== undefined
        ? { continueAsNewEachBootStage: input.continueAsNewEachBootStage }
        : {}),
      resume: {
        nextBootStage: 1,
        timeline,
        powerCycles,
        seenEventIds: seen.toArray(),
        startedAt: resume?.startedAt ?? Date.now(),
      },
    });
  };

  /**
   * Asks the site's agent for this host's events it still holds before a wait is called timed out. After a
   * Temporal outage longer than the wait, the timer fires as the server returns, before the agent's queue has
   * drained: without asking, a host that booted would be power-cycled again (or failed).
   */
  const progressWasHeld = async (progressed: () => boolean): Promise<boolean> => {
    if (!since('ask-agent-for-held-events')) return false;
    try {
      const r = everyAgent
        ? await askEveryAgentForHeldEvents()
        : await heldEvents.deliverHeldEvents({ workflowId: info.workflowId });
      if (r.held > 0) {
        note(
          'events',
          `the site's agent held ${r.held} event(s) of this host${r.left > 0 ? `; ${r.left} still undelivered` : ''}`,
        );
      }
    } catch (err) {
      if (isCancellation(err)) throw err;
      note('events', `could not ask the site's agent for held events: ${errorMessage(err)}`);
    }
    return progressed();
  };

  const askEveryAgentForHeldEvents = async (): Promise<{ held: number; left: number }> => {
    // An agent that is down (no worker polls its queue) holds nothing it could send now, and waiting out the
    // question's 90 s cost that much on every stalled step of every host of the site before its retry. Since
    // this patch, an agent that has not picked the question up within 10 s is taken as down; one that is up but
    // busy delivering still gets the whole 40 s (the deadline counts from the pick-up).
    const skipSilent = byCompletion || patched(HELD_QUESTION_SKIPS_SILENT_AGENT_PATCH);
    const r = await toEveryAgent(
      agents,
      (a) =>
        (skipSilent ? heldQuestionTo(a) : agentSide(a, 'held')).deliverHeldEvents({
          workflowId: info.workflowId,
        }),
      () => undefined,
      { waitForAll: true },
    );
    if (skipSilent && r.missing.length > 0)
      note(
        'events',
        `agent(s) ${r.missing.join(', ')} did not answer the held-events question (${r.missing.map((a) => errorMessage(r.failed.get(a))).join('; ')}); going on with ${[...r.answered.keys()].join(', ')}`,
      );
    let held = 0;
    let left = 0;
    for (const x of r.answered.values()) {
      held += x.held;
      left += x.left;
    }
    return { held, left };
  };
  const heldQuestionTo = (agent: string) =>
    proxyActivities<SiteActivities>({
      taskQueue: agentTaskQueue(plan.site, agent),
      scheduleToStartTimeout: '10 seconds',
      startToCloseTimeout: '40 seconds',
      scheduleToCloseTimeout: '90 seconds',
      retry: { maximumAttempts: 2, initialInterval: '2 seconds' },
    });

  /**
   * Follows the netboot step by step. `selfStart`: a host without a BMC, whose first step may take as long as
   * `timeouts.self_netboot` (nobody here starts it), and which a newer revision may still switch until it starts.
   */
  const waitNetboot = async (
    s: BootStagePlan,
    selfStart = false,
  ): Promise<'done' | { stalledAt: HostStage; after: number }> => {
    for (;;) {
      const step = nextNetbootStep(reached, s.hasConfig);
      if (step === 'done') return 'done';
      const from = reached;
      const next: HostStage = `netboot/${step}`;
      if (stage !== next) enter(next);
      const waitingForStart = selfStart && from === 0;
      const timeout = waitingForStart
        ? (plan.timeouts.self_netboot ?? DEFAULT_SELF_NETBOOT_S)
        : plan.timeouts[step];
      writeStage();
      let moved = await condition(
        () => reached > from || forcedFailure !== undefined || (waitingForStart && switchTo !== undefined),
        `${timeout} seconds`,
      );
      if (waitingForStart && reached === 0 && switchTo !== undefined) await switchIfAsked();
      if (!moved) moved = await progressWasHeld(() => reached > from);
      if (forcedFailure !== undefined) throw new StageFailure(next, forcedFailure);
      if (!moved) return { stalledAt: next, after: timeout };
      if (waitingForStart) statusNote = undefined;
    }
  };

  /** A host without a BMC: no power step; the gate opens and the run waits for the host's own netboot, once. */
  const selfNetboot = async (s: BootStagePlan): Promise<void> => {
    // Opened at the stage's start unless the power activity would have carried it (lean, one agent).
    if (gateWithActivities && s.beforeShutdown.length === 0) await setGate(true, s);
    note('power', NO_BMC_WAIT);
    statusNote = NO_BMC_WAIT;
    attempt = 1;
    reached = 0;
    reportedCmdline = undefined;
    refusedThisAttempt = undefined;
    attemptStartedAt = Date.now();
    const outcome = await waitNetboot(s, true);
    statusNote = undefined;
    if (outcome === 'done') return;
    const step = outcome.stalledAt.slice('netboot/'.length);
    const refused = stallDetail({ step, timeline, since: attemptStartedAt, refused: refusedThisAttempt });
    const msg =
      reached === 0
        ? `the host did not start a netboot within ${outcome.after}s (no BMC: nothing here can power-cycle it)`
        : `no ${step} within ${outcome.after}s${refused} (no BMC: no power retry)`;
    note('timeout', msg);
    lastError = msg;
    throw new StageFailure(outcome.stalledAt, `netboot stalled at ${outcome.stalledAt}: ${msg}`);
  };

  /** Validate-only (validate_on): the last boot stage's validation, with the host left running as it is. */
  const validateOnlyRun = async (why: string): Promise<void> => {
    const s = plan.stages[plan.stages.length - 1]!;
    bootStage = s.index;
    // Never opened: the host keeps booting from its disk.
    gateClosed = true;
    statusNote = `validate only: workflow ${why} changed (validate_on); no power cycle, no netboot`;
    enter('validate', statusNote);
    const selfValidating = s.validateWithoutTasks === true;
    if (s.validate.length === 0 && !selfValidating)
      note('validate', `boot ${s.boot} has no validate tasks: nothing to run`);
    await runTasks(s, 'validate');
  };

  const runTasks = async (
    s: BootStagePlan,
    phase: 'before_shutdown' | 'validate',
    closeGate = false,
  ): Promise<void> => {
    const tasks = phase === 'validate' ? s.validate : s.beforeShutdown;
    // Some hosts validate themselves, so their validate step runs even without tasks: the plan says which. Histories
    // from before the plan said so decided by the driver's name (retire per workflows/PATCHES.md).
    if (tasks.length === 0) {
      if (phase !== 'validate') return;
      const selfValidating = since('validate-without-tasks-from-plan')
        ? s.validateWithoutTasks === true
        : plan.bmc?.driver === 'sim';
      if (!selfValidating) return;
    }
    const limit = phase === 'validate' ? plan.timeouts.validate : plan.timeouts.pre_shutdown;
    // A driver's own check (no tasks) takes moments: since host-end-by-completion its stage is not worth an event of
    // its own in the search attributes; tasks (which can run for minutes) are.
    const worthWriting = !(byCompletion && tasks.length === 0);
    const act = proxyActivities<SiteActivities>({
      taskQueue: siteQueue,
      startToCloseTimeout: `${limit} seconds`,
      heartbeatTimeout: '1 minute',
      // Task retries are the task's own (`retries`), counted inside the activity; this only covers a lost worker.
      retry: { maximumAttempts: 3 },
    });
    if (worthWriting) writeStage();
    const close = closeGate ? gateUpdate(false) : undefined;
    const res = await act.runTasks({
      site: plan.site,
      host: plan.host,
      ...(plan.bmc !== undefined ? { bmc: plan.bmc } : {}),
      phase,
      bootStage: s.index,
      tasks,
      ...(close ? { closeGate: close } : {}),
    });
    if (close) gateClosed = true;
    for (const r of res.results) {
      note(
        'task',
        `${phase} ${r.name}: ${r.ok ? 'ok' : 'failed'}${r.exitCode !== undefined ? ` (exit ${r.exitCode})` : ''}${r.error ? `: ${r.error}` : ''}${r.log ? `\n${r.log}` : ''}`,
      );
    }
    if (!res.ok) {
      const failed = res.results.filter((r) => !r.ok).map((r) => r.name);
      throw new StageFailure(
        phase === 'validate' ? 'validate' : 'pre-shutdown',
        `${phase} task(s) failed: ${failed.join(', ')}`,
      );
    }
  };

  const runBootStage = async (s: BootStagePlan): Promise<void> => {
    bootStage = s.index;
    attempt = 0;
    reached = 0;
    attemptStartedAt = 0;
    enter('planned', `boot stage ${s.index}/${plan.stages.length}: boot ${s.boot} (os ${s.os})`);
    if (!gateWithActivities || s.beforeShutdown.length > 0) await setGate(true, s);
    if (s.beforeShutdown.length > 0) {
      enter('pre-shutdown');
      await runTasks(s, 'before_shutdown');
    }
    await switchIfAsked();
    if (!plan.bmc && patched(NO_BMC_SELF_NETBOOT_PATCH)) await selfNetboot(s);
    else await powerAndNetboot(s);
    await installAndValidate(s);
  };

  /** The power stage and the netboot it starts, with power retries. */
  const powerAndNetboot = async (s: BootStagePlan): Promise<void> => {
    if (!plan.bmc) throw new StageFailure('power', 'host has no BMC interface: it cannot be power-cycled');
    const attempts = plan.powerRetries + 1;
    for (attempt = 1; ; attempt++) {
      // The site's workers may have lost the gate since it was opened (a sim site or an agent without its cache
      // restarted): open it again before any power cycle that does not follow its opening at once.
      if (
        !gateWithActivities &&
        (attempt > 1 || s.beforeShutdown.length > 0) &&
        since('reopen-gate-before-power')
      )
        await setGate(true, s);
      enter('power', `power: set next boot to network and cycle (attempt ${attempt}/${attempts})`);
      reached = 0;
      reportedCmdline = undefined;
      refusedThisAttempt = undefined;
      attemptStartedAt = Date.now();
      poweredThisRun = true;
      try {
        const opId = opIdOf(s.index, attempt);
        const bmc = plan.bmc;
        // One of the site's BMC permits (policy.bmc_concurrency), held for the activity and all its retries.
        const leaseMs = bmcPermitLeaseMs(plan.timeouts.power);
        const request = {
          site: plan.site,
          ...(plan.bmcConcurrency !== undefined ? { limit: plan.bmcConcurrency } : {}),
          requestId: opId,
          leaseMs,
        };
        writeStage();
        const cycle = (permit?: PowerInput['permit']) =>
          power.powerCycleToNetwork({
            site: plan.site,
            host: plan.host,
            mac: plan.mac,
            bmc,
            opId,
            ...(gateWithActivities ? { gate: gateUpdate(true, s) } : {}),
            ...(permit ? { permit } : {}),
          });
        let r: PowerResult;
        if (lean) {
          const release = { holder: info.workflowId, requestId: opId };
          const asked = firstPermit === opId;
          // From here the wait and the power cycle give it back.
          if (asked) firstPermit = undefined;
          await waitForBmcPermit({
            site: plan.site,
            request: { ...release, limit: request.limit ?? DEFAULT_BMC_CONCURRENCY, leaseMs },
            ...(asked && plan.firstPermit ? { asked: plan.firstPermit } : {}),
            ask: (x) => permits.acquireBmcPermit(x),
          });
          try {
            r = await cycle({ site: plan.site, release });
          } catch (err) {
            void giveBackBmcPermit(plan.site, release);
            throw err;
          }
          if (!r.permitReleased) void giveBackBmcPermit(plan.site, release);
        } else {
          r = await withBmcPermit(request, () => cycle());
        }
        powerCycles++;
        note('power', `power cycled: ${r.detail}`);
      } catch (err) {
        if (isCancellation(err)) throw err;
        throw new StageFailure('power', `BMC power cycle failed: ${errorMessage(err)}`);
      }
      const outcome = await waitNetboot(s);
      if (outcome === 'done') break;
      const step = outcome.stalledAt.slice('netboot/'.length);
      const refused = stallDetail({ step, timeline, since: attemptStartedAt, refused: refusedThisAttempt });
      const msg = `no ${step} within ${outcome.after}s (attempt ${attempt}/${attempts})${refused}`;
      note('timeout', msg);
      lastError = msg;
      if (attempt >= attempts) {
        throw new StageFailure(
          outcome.stalledAt,
          `netboot stalled at ${outcome.stalledAt}: ${msg}; gave up after ${attempt} power cycle(s)`,
        );
      }
    }
  };

  /** The checkpoint and the validation that end a boot stage. */
  const installAndValidate = async (s: BootStagePlan): Promise<void> => {
    if (reached < CHECKPOINT_RANK) {
      enter('installing');
      writeStage();
      let done = await condition(
        () => reached >= CHECKPOINT_RANK || forcedFailure !== undefined,
        `${plan.timeouts.checkpoint} seconds`,
      );
      if (!done) done = await progressWasHeld(() => reached >= CHECKPOINT_RANK);
      if (forcedFailure !== undefined) throw new StageFailure('installing', forcedFailure);
      if (!done)
        throw new StageFailure(
          'installing',
          `no checkpoint from the installed OS within ${plan.timeouts.checkpoint}s`,
        );
    } else {
      note('stage', 'installing: checkpoint already received');
    }
    enter('validate');
    if (reportedCmdline !== undefined && since('validate-reported-cmdline')) {
      const diff = cmdlineDifference(s.artifacts.cmdline, reportedCmdline, s.artifacts.kernel);
      if (diff)
        throw new StageFailure('validate', `booted kernel command line differs from the SoT: ${diff}`);
      note('validate', 'booted kernel command line matches the SoT');
    }
    // The last stage's validation closes the gate first: the netboot is over, and a reboot while validating
    // must boot the installed system.
    await runTasks(s, 'validate', gateWithActivities && s.index === plan.stages.length);
    attemptStartedAt = 0;
  };

  /** The run's end in the search attributes: one upsert when lean (the stage went with enter() before). */
  const stateAndStage = (final: 'provisioned' | 'cancelled'): void => {
    if (!lean) {
      upsertSearchAttributes([{ key: VaqState, value: final }]);
      return;
    }
    const first = unwritten();
    stageWritten = stage;
    upsertSearchAttributes([...first, { key: VaqState, value: final }, { key: VaqStage, value: stage }]);
  };

  const finish = (final: HostState, finalStage: HostStage, error?: string): HostResult => ({
    site: plan.site,
    host: plan.host,
    revision: plan.revision,
    fingerprint: plan.fingerprint,
    state: final,
    stage: finalStage,
    ...(error !== undefined ? { error } : {}),
    powerCycles,
  });

  try {
    const validateOnly =
      input.validateOnly !== undefined && resume === undefined && patched(VALIDATE_ONLY_PATCH);
    validatingOnly = validateOnly;
    if (validateOnly) await validateOnlyRun(input.validateOnly!.changedWorkflow);
    const first = validateOnly ? plan.stages.length + 1 : Math.max(1, bootStage || 1);
    for (let i = first; i <= plan.stages.length; i++) {
      await runBootStage(plan.stages[i - 1]!);
      if (
        i < plan.stages.length &&
        (input.continueAsNewEachBootStage || workflowInfo().continueAsNewSuggested)
      ) {
        await continueAsNew<typeof hostReprovision>({
          ...input,
          ...(owner !== undefined ? { owner } : {}),
          // An owner that adopted this run did not start it: it reads no completion of it.
          ...(input.ownerReadsCompletion === true && owner !== input.owner
            ? { ownerReadsCompletion: false }
            : {}),
          resume: {
            nextBootStage: i + 1,
            timeline,
            powerCycles,
            seenEventIds: seen.toArray(),
            startedAt: resume?.startedAt ?? Date.now(),
          },
        });
      }
    }
    if (!gateClosed) await setGate(false);
    state = 'provisioned';
    enter('provisioned', `provisioned at revision ${plan.revision} after ${powerCycles} power cycle(s)`);
    stateAndStage('provisioned');
    // Since host-end-by-completion the rollout puts what its child aims at in the memo when it starts it: a
    // completed run reached that, and the memo needs no write (an event) at the end. Other starters' runs, and a run
    // that switched revisions, still write it.
    const aimed = (info.memo ?? {}) as { fingerprint?: unknown; revision?: unknown; sot?: unknown };
    const memoSaysIt =
      byCompletion &&
      aimed.fingerprint === plan.fingerprint &&
      aimed.revision === plan.revision &&
      aimed.sot === plan.sot;
    if (!memoSaysIt) upsertMemo({ reached: plan.fingerprint, revision: plan.revision, sot: plan.sot });
    await tellOwnerFinally({
      site: plan.site,
      host: plan.host,
      state,
      fingerprint: plan.fingerprint,
      revision: plan.revision,
      stage,
    });
    return finish('provisioned', 'provisioned');
  } catch (err) {
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(async () => {
        await giveBackFirstPermit();
        state = 'cancelled';
        lastError = 'cancelled';
        enter('cancelled', `cancelled during ${stage}`);
        stateAndStage('cancelled');
        await setGate(false);
        await tellOwnerFinally({
          site: plan.site,
          host: plan.host,
          state,
          fingerprint: plan.fingerprint,
          revision: plan.revision,
          stage: 'cancelled',
          error: 'cancelled',
        });
      });
      throw err;
    }
    // Anything else that ends the run (an activity that failed for good: no task runner on the site's agents, a
    // plan that cannot load) fails it at the stage it was in, like a stage failure: recorded, gate closed, owner
    // told. Histories from before failed the run there and then (retire per workflows/PATCHES.md).
    if (err instanceof ContinueAsNew) throw err;
    if (!(err instanceof StageFailure) && !since('any-failure-closes-gate')) throw err;
    await giveBackFirstPermit();
    const failure = err instanceof StageFailure ? err : new StageFailure(stage, errorMessage(err));
    const failedAt = failure.stage;
    lastError = failure.message;
    state = 'failed';
    note('error', `failed at ${failedAt}: ${failure.message}`);
    stage = failedAt;
    // VaqStage keeps the stage it failed at, so "failed at netboot/dhcp" is one filter away in the UI.
    const first = unwritten();
    stageWritten = failedAt;
    upsertSearchAttributes([
      ...first,
      { key: VaqState, value: 'failed' },
      { key: VaqStage, value: failedAt },
    ]);
    // Only a host this run power-cycled: a run that failed before touching it (its plan or permit could not be had)
    // must not turn off a machine that was running its OS.
    if (
      plan.onFailure === 'power_off' &&
      plan.bmc &&
      poweredThisRun &&
      patched(FAILED_HOST_POWERED_OFF_PATCH)
    ) {
      const off = !everyAgent ? gateUpdate(false) : undefined;
      try {
        const r = await powerOff.powerOffHost({
          site: plan.site,
          host: plan.host,
          mac: plan.mac,
          bmc: plan.bmc,
          opId: `${info.workflowId}/${info.runId}/off`,
          ...(off ? { gate: off } : {}),
        });
        if (off) gateClosed = true;
        note('power', `on_failure power_off: ${r.detail}`);
      } catch (offErr) {
        if (isCancellation(offErr)) throw offErr;
        note('power', `on_failure power_off: the host could not be powered off: ${errorMessage(offErr)}`);
      }
    }
    if (!gateClosed || !patched(FAILED_HOST_POWERED_OFF_PATCH)) await setGate(false);
    await tellOwnerFinally({
      site: plan.site,
      host: plan.host,
      state,
      fingerprint: plan.fingerprint,
      revision: plan.revision,
      stage: failedAt,
      error: failure.message,
    });
    throw ApplicationFailure.create({
      type: 'HostReprovisionFailed',
      message: `${plan.site}/${plan.host} failed at ${failedAt}: ${failure.message}`,
      nonRetryable: true,
      details: [finish('failed', failedAt, failure.message)],
    });
  }
}

function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    return cause instanceof Error ? cause.message : err.message;
  }
  return String(err);
}
