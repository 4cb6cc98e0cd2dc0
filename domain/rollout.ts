// One SoT revision's rollout: where it comes from, its plan and policies, its progress and result.
// Data that crosses the workflow boundary (inputs, signals, queries, activity payloads). Plain JSON only:
// it is stored in workflow history. Never put a secret here: BMC credentials travel as references.
import type { ValidateOnly } from './host.ts';

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
  /** Carried over by continueAsNew (a legacy rollout's state). */
  resume?: RolloutResumeState;
  /** Carried over by continueAsNew (a paged rollout's state). */
  pagedResume?: PagedRolloutResume;
}

/** Maintenance windows of a policy (domain/maintenance-windows.ts); absent: hosts may start any time. */
export interface WindowPolicy {
  /** "Sat 22:00-Sun 04:00": hosts start only while one is open (paged rollouts started since its patch). */
  windows?: string[];
  /** IANA zone of the windows; default UTC. */
  time_zone?: string;
}

/** A site's limits in a rollout: hosts running at once at the site, and its maintenance windows. */
export interface SiteRolloutPolicy extends WindowPolicy {
  max_concurrent: number;
}

export interface WorkflowPolicy extends WindowPolicy {
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
  /** `validate`: it boots the same, but a workflow its workflow's `validate_on` lists changed: validation only. */
  action: 'reprovision' | 'added' | 'validate';
  reasons: string[];
  /** For `validate`: the changed workflow. */
  changedWorkflow?: string;
}

/**
 * What a rollout plans: which hosts need work, counted per group (the hosts of one SoT workflow at one site), not
 * listed. The hosts themselves are fetched a page at a time as the rollout reaches them (RolloutPlanPage), so no
 * payload and no history grows with the fleet.
 */
export interface RolloutPlanSummary {
  sot: string;
  revision: string;
  groups: RolloutGroupPlan[];
  /** Hosts to reprovision, all groups together. */
  total: number;
  policies: Record<string, WorkflowPolicy>;
  sitePolicies: Record<string, SiteRolloutPolicy>;
  counts: { unchanged: number; skipped: number; removed: number };
  /**
   * Workflows this rollout changes (a host of theirs boots something new): hosts of workflows whose `validate_on`
   * lists one re-validate. Decided once, at the plan: the pages ask with it. Absent in plans from before it.
   */
  changedWorkflows?: string[];
}

export interface RolloutGroupPlan {
  workflow: string;
  site: string;
  /** Hosts of the group that needed work when the rollout was planned. */
  planned: number;
}

export interface RolloutPlanPageInput {
  sot: string;
  revision: string;
  workflow: string;
  site: string;
  /** The page starts after this host (id within the site); absent: at the group's first host. */
  after?: string;
  limit: number;
  only?: string[];
  force?: boolean;
  /** The plan's changedWorkflows: unchanged hosts that re-validate because of them come back as `validate`. */
  changedWorkflows?: string[];
}

export interface RolloutPlanPage {
  /** Hosts after `after` that need work now, in host order, at most `limit`. */
  hosts: RolloutHostPlan[];
  /** The scan reached the group's last host: no host after the last one returned needs work. */
  done: boolean;
}

/** The legacy rollout's plan: every host in one payload (kept for rollouts started before paged plans). */
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
  /**
   * Hosts running now and the most recently finished ones (bounded: a fleet's rollout does not list every host;
   * `counts` covers them all). Rollouts started before paged plans list every host.
   */
  hosts: RolloutHostProgress[];
  /** Hosts the rollout planned to reprovision (absent from rollouts started before paged plans). */
  total?: number;
  /** Failed hosts with their error, at most ROLLOUT_FAILED_KEPT (paged rollouts). */
  failedHosts?: { host: string; error?: string }[];
  counts: Record<RolloutHostState, number>;
  unchanged: number;
  skipped: number;
  removed: number;
  supersededBy?: string;
  timeline: RolloutTimelineEntry[];
  /** Per SoT workflow (paged rollouts): hosts planned, started, running now and failed, and its policy. */
  workflows?: RolloutWorkflowProgress[];
  /** Groups whose hosts wait for a maintenance window to open (paged rollouts), one line each. */
  waiting?: string[];
}

export interface RolloutWorkflowProgress {
  workflow: string;
  planned: number;
  started: number;
  running: number;
  failed: number;
  policy?: WorkflowPolicy;
  /** Its hosts wait for a maintenance window: why and until when. */
  waiting?: string;
}

/** What a paged rollout carries across continueAsNew: bounded by running hosts and the SoT's groups, never the fleet. */
export interface PagedRolloutResume {
  plan: RolloutPlanSummary;
  groups: RolloutGroupProgress[];
  running: RolloutRunningHost[];
  finished: Record<RolloutHostState, number>;
  failedByWorkflow: Record<string, number>;
  failedHosts: { host: string; error?: string }[];
  recent: RolloutHostProgress[];
  state: RolloutState;
  reason?: string;
  timeline: RolloutTimelineEntry[];
  checkRunId?: number;
}

export interface RolloutGroupProgress {
  workflow: string;
  site: string;
  planned: number;
  started: number;
  blocked: number;
  /** The last host started or blocked; the next page starts after it. */
  cursor?: string;
  /** No host after `cursor` needs work. */
  exhausted: boolean;
}

export interface RolloutRunningHost extends RolloutHostProgress {
  fingerprint: string;
  /** Its adopted run finished at another fingerprint: start it again at ours (once). */
  restart?: boolean;
  restarted?: boolean;
  /** Its run was already going when the rollout took it over (an older rollout's or an operator's). */
  adopted?: boolean;
  /** Started to re-run its validation only (plan action `validate`, validate-on patch). */
  validateOnly?: ValidateOnly;
}

/** Failed hosts a paged rollout names (status, result); `counts.failed` has them all. */
export const ROLLOUT_FAILED_KEPT = 100;

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
