// One host's reprovision: its plan, the host workflow's input, status and result.
// Data that crosses the workflow boundary (inputs, signals, queries, activity payloads). Plain JSON only:
// it is stored in workflow history. Never put a secret here: BMC credentials travel as references.
import type { HostStage, HostState } from './host-stages.ts';
import type { BootArtifacts } from './site-model.ts';
import type { RenderedTask } from './task-spec.ts';

export interface TimelineEntry {
  /** Epoch ms (workflow time). */
  at: number;
  /** Boot stage index (1-based) the entry belongs to, 0 before the first. */
  bootStage: number;
  stage: HostStage;
  /** Short machine-friendly kind: `stage`, `event`, `power`, `task`, `timeout`, `error`, `revision`, … */
  kind: string;
  message: string;
}

export interface BmcRef {
  driver: 'ipmi' | 'redfish' | 'ssh' | 'container' | 'sim';
  address: string;
  /** Name resolved by the agent's secret store. */
  credentials?: string;
  options: Record<string, unknown>;
}

/** A rendered task container of a boot (see sot/render.ts). */
export type TaskPlan = RenderedTask;

export interface BootStagePlan {
  /** 1-based. */
  index: number;
  boot: string;
  os: string;
  /** Whether the boot fetches a rendered unattended config (so `netboot/config` is awaited). */
  hasConfig: boolean;
  /** What the agent serves for this stage (rendered centrally; the checkpoint token is filled in by the agent). */
  artifacts: BootArtifacts;
  beforeShutdown: TaskPlan[];
  validate: TaskPlan[];
  /** The validate step runs even when the boot lists no validate task: the host's BMC driver validates it itself. */
  validateWithoutTasks?: boolean;
}

export interface StageTimeouts {
  pre_shutdown: number;
  power: number;
  dhcp: number;
  tftp: number;
  ipxe: number;
  kernel: number;
  config: number;
  checkpoint: number;
  validate: number;
  /**
   * A host without a BMC: how long its run waits for the host to start its netboot by itself (an operator or its own
   * reboot starts it). Absent in plans from before it: DEFAULT_SELF_NETBOOT_S.
   */
  self_netboot?: number;
}

/** Seconds a host without a BMC is given to start its netboot by itself when its workflow does not say: one day. */
export const DEFAULT_SELF_NETBOOT_S = 86_400;

/** What a validate-only run of a host re-checks, and why (the rollout's `validate` action). */
export interface ValidateOnly {
  /** The changed workflow named in the host's workflow's `policy.validate_on`. */
  changedWorkflow: string;
}

/** Everything a host workflow needs to reprovision one host at one revision. */
export interface HostPlan {
  sot: string;
  /** Site subnet of the boot interface, for the agent's DHCP answer while the gate is open. */
  subnet: string;
  hostname?: string;
  revision: string;
  site: string;
  host: string;
  workflow: string;
  /** Digest of everything the host boots at this revision (see sot/fingerprint.ts). */
  fingerprint: string;
  mac: string;
  ipv4?: string;
  bmc?: BmcRef;
  stages: BootStagePlan[];
  /** Seconds. */
  timeouts: StageTimeouts;
  powerRetries: number;
  /** What a failed run leaves the host as (the workflow's on_failure); absent in plans from before it: leave. */
  onFailure?: 'power_off' | 'leave';
  /** The site's limit on concurrent BMC operations (policy.bmc_concurrency); absent: the default, 20. */
  bmcConcurrency?: number;
  /**
   * The agents the SoT lists for the host's site (ids). With more than one, each gets the host's gate on its own
   * queue, since each answers DHCP and HTTP from its own cache. Absent in plans made before this was planned.
   */
  agents?: string[];
  /**
   * The BMC permit asked for with the plan (its first power cycle's), when the run asked: granted, or queued (a
   * grant signal follows). Absent when not asked, or when the stage runs tasks before shutdown.
   */
  firstPermit?: { requestId: string; granted: boolean };
}

export interface HostWorkflowInput {
  sot: string;
  revision: string;
  site: string;
  host: string;
  /** Rollout workflow that waits for this host (told when it finishes), if any. */
  owner?: string;
  /**
   * The owner started this run as its child and reads how it ended from the child's completion: the run sends it no
   * report while it is still the owner (a later, adopting owner is told by signal as before).
   */
  ownerReadsCompletion?: boolean;
  /** Carried over by continueAsNew. */
  resume?: HostResumeState;
  /** Continue as new after every boot stage (exercises that path; long histories do it anyway). */
  continueAsNewEachBootStage?: boolean;
  /**
   * Re-run the validation of the host's last boot stage only, no power cycle and no netboot: a workflow its
   * workflow's `policy.validate_on` lists changed, and the host itself boots the same.
   */
  validateOnly?: ValidateOnly;
}

export interface HostResumeState {
  nextBootStage: number;
  timeline: TimelineEntry[];
  powerCycles: number;
  seenEventIds: string[];
  startedAt: number;
}

export interface DesiredRevision {
  revision: string;
  fingerprint: string;
  owner?: string;
}

export interface HostStatus {
  site: string;
  host: string;
  revision: string;
  fingerprint?: string;
  state: HostState;
  stage: HostStage;
  bootStage: number;
  bootStages: number;
  /** Epoch ms when the current stage began. */
  stageSince: number;
  /** Power attempts in the current boot stage (1 = first). */
  attempt: number;
  /** Power cycles over the whole run. */
  powerCycles: number;
  lastError?: string;
  owner?: string;
  pendingRevision?: string;
  /**
   * What the run waits for that no stage name says: `no BMC: waiting for the host to netboot by itself` for a host
   * nothing can power-cycle; `validate only: …` for a validate-only run.
   */
  note?: string;
  timeline: TimelineEntry[];
}

/**
 * An operator's override of a host's current stage (the original Vaquero's /override), for the stages where the
 * workflow waits on the outside world: `complete` treats the awaited boot event(s) as seen, `fail` fails the run.
 */
export interface StageOverride {
  action: 'complete' | 'fail';
  /** When set, the override applies only if the host is still in this stage (guards against a race). */
  stage?: HostStage;
  reason: string;
  /** Who asked (token name), for the timeline. */
  by?: string;
}

export interface HostResult {
  site: string;
  host: string;
  revision: string;
  fingerprint: string;
  state: HostState;
  stage: HostStage;
  error?: string;
  powerCycles: number;
}

/** Sent by a host workflow to its owner rollout. */
export interface HostFinished {
  site: string;
  host: string;
  state: HostState | 'released';
  fingerprint: string;
  revision: string;
  stage: HostStage;
  error?: string;
}
