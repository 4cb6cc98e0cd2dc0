// One SoT revision's rollout: where it comes from, its plan and policies, its progress and result.
// Data that crosses the workflow boundary (inputs, signals, queries, activity payloads). Plain JSON only:
// it is stored in workflow history. Never put a secret here: BMC credentials travel as references.

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
