import type { BootArtifacts } from '../agent/site-model.ts';
import type { RenderedTask } from '../sot/render.ts';

// Data that crosses the workflow boundary (inputs, signals, queries, activity payloads). Plain JSON only:
// it is stored in workflow history. Never put a secret here: BMC credentials travel as references.

/** Netboot steps in the order a booting host goes through them. */
export const NETBOOT_STEPS = ['dhcp', 'tftp', 'ipxe', 'kernel', 'config'] as const;
export type NetbootStep = (typeof NETBOOT_STEPS)[number];

/** What an agent (or a sim host) observes while a host boots. */
export type BootEventKind = 'dhcp' | 'tftp' | 'ipxe' | 'kernel' | 'initrd' | 'config' | 'checkpoint';

export interface BootEvent {
  /** Unique per observation: the workflow drops repeats, so a re-delivered outbox entry counts once. */
  id: string;
  kind: BootEventKind;
  mac: string;
  /** Epoch ms at the observer. */
  at: number;
  /** Who observed it: agent id or `sim`. */
  source: string;
  detail?: string;
}

export type HostStage =
  | 'planned'
  | 'pre-shutdown'
  | 'power'
  | `netboot/${NetbootStep}`
  | 'installing'
  | 'validate'
  | 'provisioned'
  | 'failed'
  | 'cancelled';

export type HostState = 'running' | 'provisioned' | 'failed' | 'cancelled';

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
  /** The site's limit on concurrent BMC operations (policy.bmc_concurrency); absent: the default, 20. */
  bmcConcurrency?: number;
}

export interface HostWorkflowInput {
  sot: string;
  revision: string;
  site: string;
  host: string;
  /** Rollout workflow that waits for this host (told when it finishes), if any. */
  owner?: string;
  /** Carried over by continueAsNew. */
  resume?: HostResumeState;
  /** Continue as new after every boot stage (exercises that path; long histories do it anyway). */
  continueAsNewEachBootStage?: boolean;
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

// ---- rollout ----

export interface SotSource {
  kind: 'dir' | 'git' | 'github';
  /** Folder (dir); local repository or remote URL — file, ssh, https, scp-like (git); `owner/repo` (github). */
  location: string;
  /** git, github: the ref or commit to fetch (remotes and GitHub: the full commit id). */
  ref?: string;
  /** git remotes: the branch to fetch when the remote refuses to serve a commit by its id. */
  branch?: string;
  /** github: REST API base URL (GitHub Enterprise Server); default https://api.github.com. */
  apiUrl?: string;
}

/** Where a rollout reports its progress: a GitHub check run or commit status on the rolled-out commit. */
export interface RolloutReportTarget {
  github: {
    /** `owner/repo`. */
    repo: string;
    sha: string;
    apiUrl?: string;
    mode: 'check-run' | 'status';
    /** Check run name or status context. */
    name: string;
    detailsUrl?: string;
  };
}

/** What a report says: small on purpose, as every report is an activity input kept in history. */
export interface RolloutReportSummary {
  state: RolloutState;
  reason?: string;
  counts: Record<RolloutHostState, number>;
  unchanged: number;
  skipped: number;
  /** Failed hosts (site/host) with their error, at most REPORT_FAILED_LIMIT. */
  failed: { host: string; error?: string }[];
  failedTotal: number;
}

export const REPORT_FAILED_LIMIT = 50;

export interface RolloutReportInput {
  rolloutId: string;
  target: RolloutReportTarget;
  summary: RolloutReportSummary;
  /** Known from an earlier report of this rollout; absent on the first (the activity finds or creates it). */
  checkRunId?: number;
}

export interface RolloutInput {
  sot: string;
  revision: string;
  source: SotSource;
  /** Only these hosts (site/host), e.g. an operator's `reprovision`. */
  only?: string[];
  /** Reprovision even hosts whose last reached fingerprint already matches. */
  force?: boolean;
  /** Report progress to GitHub (push-started rollouts). */
  report?: RolloutReportTarget;
  /** Carried over by continueAsNew. */
  resume?: RolloutResumeState;
}

export interface WorkflowPolicy {
  max_concurrent: number;
  min_standing: number;
  max_fail: number;
  block_deps: string[];
  /** Hosts using this workflow in the whole SoT (for min_standing). */
  total_hosts: number;
}

export interface RolloutHostPlan {
  site: string;
  host: string;
  workflow: string;
  fingerprint: string;
  action: 'reprovision' | 'added';
  reasons: string[];
}

export interface PreparedRollout {
  sot: string;
  revision: string;
  hosts: RolloutHostPlan[];
  policies: Record<string, WorkflowPolicy>;
  sitePolicies: Record<string, { max_concurrent: number }>;
  counts: { unchanged: number; skipped: number; removed: number };
}

export type RolloutHostState =
  'pending' | 'blocked' | 'running' | 'provisioned' | 'failed' | 'cancelled' | 'released' | 'skipped';

export interface RolloutHostProgress {
  site: string;
  host: string;
  workflow: string;
  state: RolloutHostState;
  startedAt?: number;
  finishedAt?: number;
  error?: string;
}

export type RolloutState =
  | 'preparing'
  | 'running'
  | 'paused'
  | 'halted'
  | 'aborting'
  | 'completed'
  | 'failed'
  | 'aborted'
  | 'superseded';

export interface RolloutTimelineEntry {
  at: number;
  kind: string;
  host?: string;
  message: string;
}

export interface RolloutStatus {
  sot: string;
  revision: string;
  state: RolloutState;
  reason?: string;
  hosts: RolloutHostProgress[];
  counts: Record<RolloutHostState, number>;
  unchanged: number;
  skipped: number;
  removed: number;
  supersededBy?: string;
  timeline: RolloutTimelineEntry[];
}

export interface RolloutResumeState {
  prepared: PreparedRollout;
  hosts: RolloutHostProgress[];
  state: RolloutState;
  failures: number;
  timeline: RolloutTimelineEntry[];
  checkRunId?: number;
}

export interface RolloutResult {
  state: RolloutState;
  provisioned: number;
  failed: number;
  cancelled: number;
  notStarted: number;
  failedHosts: string[];
  reason?: string;
}
