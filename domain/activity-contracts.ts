// The activity interfaces the workflows call. Factories in activities/control and activities/site implement
// them with their dependencies injected; workflows import only these types.
import type { BootArtifacts, SiteModel } from './site-model.ts';
import type { BmcRef, HostPlan, TaskPlan } from './host.ts';
import type { BmcPermitRelease, BmcPermitRequest } from './bmc-semaphore-api.ts';
import type { InstallerLogAnswer, InstallerLogQuery } from './installer-logs.ts';
import type {
  PreparedRollout,
  RolloutInput,
  RolloutPlanPage,
  RolloutPlanPageInput,
  RolloutPlanSummary,
  RolloutReportInput,
} from './rollout.ts';

export interface ControlActivities {
  /**
   * Fetch and validate the revision, render it, and count per group (workflow × site) the hosts that need work
   * against what each host last reached.
   */
  planRollout(input: RolloutInput & { rolloutId: string }): Promise<RolloutPlanSummary>;
  /** The next hosts of one group that need work now, after a given host (bounded page). */
  rolloutPlanPage(input: RolloutPlanPageInput): Promise<RolloutPlanPage>;
  /**
   * Of the given hosts, those whose newest run started at or after `after` (epoch ms) and has closed, with how it
   * closed: a rollout's check for runs that ended without reporting to it. A run that did not complete comes with
   * its error (the host's own, as its report would have said it), when its result can be read.
   */
  closedHostRuns(input: {
    hosts: { site: string; host: string; after: number }[];
  }): Promise<{ site: string; host: string; status: string; error?: string }[]>;
  /** Legacy rollouts only: the whole plan in one payload (grows with the fleet). */
  prepareRollout(input: RolloutInput & { rolloutId: string }): Promise<PreparedRollout>;
  /**
   * The host's boot plan at a revision (from the revision store; re-fetched if missing). With `firstPermit`, also
   * asks the site's BMC semaphore for the permit of the given boot stage's first power cycle (unless that stage
   * runs tasks before shutdown), so a free permit costs the host no call of its own.
   */
  loadHostPlan(input: {
    sot: string;
    revision: string;
    site: string;
    host: string;
    firstPermit?: { holder: string; requestId: string; bootStage: number };
  }): Promise<HostPlan>;
  /** The slice of a revision an agent of `site` serves from (subnets, reservations of every known host). */
  siteModel(input: { sot: string; revision: string; site: string }): Promise<SiteModel>;
  /** Tell running rollouts of the same SoT that `rolloutId` supersedes them; returns their ids. */
  supersedeOlderRollouts(input: { sot: string; rolloutId: string }): Promise<string[]>;
  /** Ask the site's BMC semaphore for a permit: granted now, or queued (a grant signal follows). */
  acquireBmcPermit(input: { site: string; request: BmcPermitRequest }): Promise<{ granted: boolean }>;
  /** Show the rollout's progress on its commit (GitHub check run or status); returns the check run's id. */
  reportRollout(input: RolloutReportInput): Promise<{ checkRunId?: number }>;
}

export interface NetbootGateInput {
  site: string;
  host: string;
  mac: string;
  sot: string;
  revision: string;
  fingerprint: string;
  /** 1-based boot stage the agent should serve; 0 with open=false. */
  bootStage: number;
  hasConfig: boolean;
  open: boolean;
  /** Workflow run the boot belongs to; agents derive the checkpoint token from it. */
  workflowId: string;
  runId: string;
  ipv4?: string;
  subnet?: string;
  hostname?: string;
  /** What to serve for `bootStage` (open gates only). */
  artifacts?: BootArtifacts;
  /**
   * Workflow time the update was decided (epoch ms). An agent that gets updates late or out of order (it was down,
   * its queue held them) keeps the newest; absent in updates from runs before it was sent.
   */
  issuedAt?: number;
  /** The run takes several boot events in one `bootEvents` signal; without it agents send them one by one. */
  eventBatches?: boolean;
}

export interface PowerInput {
  site: string;
  host: string;
  mac: string;
  bmc: BmcRef;
  /** Idempotency key: a retried activity with the same key must not power-cycle twice. */
  opId: string;
  /** The host's netboot gate, applied on this worker first (a single-agent site: gate and power in one call). */
  gate?: NetbootGateInput;
  /** The BMC permit this cycle holds: given back by the activity once the cycle is done (PowerResult says so). */
  permit?: { site: string; release: BmcPermitRelease };
}

export interface PowerResult {
  /** What the BMC reported after the operation (read back). */
  detail: string;
  /** The input's permit was given back (else the workflow gives it back). */
  permitReleased?: boolean;
}

export interface TaskRunInput {
  site: string;
  host: string;
  bmc?: BmcRef;
  phase: 'before_shutdown' | 'validate';
  bootStage: number;
  tasks: TaskPlan[];
  /** The gate's closing, applied on this worker before the tasks run (a single-agent site, its last boot stage). */
  closeGate?: NetbootGateInput;
}

export interface TaskRunResult {
  ok: boolean;
  results: { name: string; ok: boolean; exitCode?: number; attempts: number; log: string; error?: string }[];
}

export interface HeldEventsInput {
  /** The host workflow whose events are wanted. */
  workflowId: string;
}

export interface HeldEventsResult {
  /** Events the agent held for the workflow when asked. */
  held: number;
  /** Of those, still undelivered when the agent gave up waiting (Temporal refusing them). */
  left: number;
}

export interface SiteActivities {
  /** Replace the site model the agent serves from (DHCP reservations, subnets). */
  publishSiteModel(model: SiteModel): Promise<void>;
  setNetbootGate(input: NetbootGateInput): Promise<void>;
  powerCycleToNetwork(input: PowerInput): Promise<PowerResult>;
  /** Powers a failed host off (read back), closing its gate first when the input carries it (`on_failure`). */
  powerOffHost(input: Omit<PowerInput, 'permit'>): Promise<PowerResult>;
  runTasks(input: TaskRunInput): Promise<TaskRunResult>;
  /**
   * Delivers the boot events this worker still holds for a host workflow (queued while Temporal was unreachable)
   * and answers once they are in; asked before a host's step is called stalled.
   */
  deliverHeldEvents(input: HeldEventsInput): Promise<HeldEventsResult>;
  /** The newest installer log lines this agent keeps for a host's run (asked on the agent's own queue). */
  installerLogLines(input: InstallerLogQuery): Promise<InstallerLogAnswer>;
}
