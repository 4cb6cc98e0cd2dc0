// What the API does to Temporal: start rollouts (explicitly, or automatically on a push, a folder change or a
// branch poll), read and steer rollouts, read and steer hosts. The server keeps no state of its own, so every
// rule that must hold across replicas is enforced by Temporal:
//   * one run per rollout id (`rollout/<sot>/<revision>`): two replicas starting the same revision at once get
//     one run, the other sees WorkflowExecutionAlreadyStarted;
//   * an automatic trigger starts a revision only if it is not already the SoT's newest rollout (running or
//     closed), read fresh from visibility — so a redelivered webhook, a restarted watcher or a second replica
//     starts nothing, while a revert to an older revision (a new newest) still rolls out.
import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/client';
import { startRolloutWorkflow } from '../client/start-rollout.ts';
import { hostRunOf } from '../temporal/visibility-rows.ts';
import { CONTROL_TASK_QUEUE } from '../domain/temporal-names.ts';
import {
  abortUpdate,
  HOST_WORKFLOW_TYPE,
  hostStatusQuery,
  hostWorkflowId,
  overrideStageUpdate,
  pauseUpdate,
  resumeUpdate,
  ROLLOUT_WORKFLOW_TYPE,
  rolloutStatusQuery,
  rolloutWorkflowId,
} from '../domain/workflow-api.ts';
import type { HostStatus, HostWorkflowInput, StageOverride } from '../domain/host.ts';
import type { RolloutInput, RolloutReportTarget, RolloutResult, RolloutStatus } from '../domain/rollout.ts';
import type { GithubConfig, SotConfig } from './config.ts';
import { ApiError } from '../domain/api-error.ts';
import type { FleetIndex, HostRow } from './fleet-index.ts';
import type { ServerMetrics } from './metrics.ts';
import type { SotSources } from './sot-sources.ts';

export type Trigger = 'api' | 'push' | 'watch' | 'poll';

export interface StartResult {
  sot: string;
  revision: string;
  workflowId: string;
  started: boolean;
  /** Why nothing was started. */
  reason?: string;
}

export interface RolloutDetail extends RolloutStatus {
  id: string;
  status: string;
  startedAt: string;
  closedAt?: string;
}

export interface HostDetail extends Omit<HostStatus, 'stageSince' | 'state'> {
  /** The workflow's own state; for a run that ended without recording one, its end (failed, terminated, timed_out). */
  state: HostStatus['state'] | 'terminated' | 'timed_out';
  workflowId: string;
  runId: string;
  stageSince: string;
  secondsInStage: number;
  startedAt: string;
  closedAt?: string;
  /** `workflow`: answered by the host workflow; `index`: no worker could answer, visibility's row only. */
  source: 'workflow' | 'index';
}

/** The memo key of a rollout's run that holds the GitHub delivery which started it. */
const DELIVERY_MEMO = 'githubDelivery';

const ROLLOUT_ID = /^rollout\/([a-z0-9][a-z0-9._-]*)\/([A-Za-z0-9._-]+)$/;

export class FleetOps {
  constructor(
    private readonly client: Client,
    private readonly sources: SotSources,
    private readonly index: FleetIndex,
    private readonly opts: {
      metrics?: ServerMetrics;
      github?: GithubConfig;
      publicUrl?: string;
      log?: (msg: string) => void;
      deadlineMs?: number;
      /** The hosts (`site/host`) of a SoT at a revision, for checking what an operator names. */
      hostsAt?: (
        sot: SotConfig,
        revision: string,
      ) => Promise<ReadonlyMap<string, { neverProvision: boolean }>>;
    } = {},
  ) {}

  /** The newest rollout of a SoT, whatever its state, read fresh from visibility. */
  private async newestRolloutNow(
    sot: string,
  ): Promise<{ id: string; revision: string; status: string } | undefined> {
    let best: { id: string; revision: string; status: string; at: number } | undefined;
    for await (const wf of this.client.workflow.list({
      query: `WorkflowType = '${ROLLOUT_WORKFLOW_TYPE}'`,
    })) {
      const m = ROLLOUT_ID.exec(wf.workflowId);
      if (!m || m[1] !== sot) continue;
      const at = wf.startTime.getTime();
      if (!best || at > best.at)
        best = { id: wf.workflowId, revision: m[2]!, status: wf.status.name.toLowerCase(), at };
    }
    return best && { id: best.id, revision: best.revision, status: best.status };
  }

  /** Where a rollout of `sot` reports progress: the commit's check run or status, for GitHub SoTs. */
  reportTarget(sot: SotConfig, revision: string): RolloutReportTarget | undefined {
    const g = this.opts.github;
    if (sot.kind !== 'github' || !g || g.report === 'none') return undefined;
    return {
      github: {
        repo: sot.repo,
        sha: revision,
        apiUrl: g.apiUrl,
        mode: g.report,
        name: `${g.checkName} rollout (${sot.name})`,
        ...(this.opts.publicUrl
          ? { detailsUrl: `${this.opts.publicUrl.replace(/\/$/, '')}/rollouts/${sot.name}/${revision}` }
          : {}),
      },
    };
  }

  private async startRolloutNow(opts: {
    sot: SotConfig;
    revision?: string;
    force?: boolean;
    only?: string[];
    trigger: Trigger;
    /** The GitHub delivery that asks for it: one delivery starts at most one rollout, ever. */
    delivery?: string;
  }): Promise<StartResult> {
    const { sot, trigger } = opts;
    const auto = trigger !== 'api';
    const revision = opts.revision ?? (await this.sources.currentRevision(sot));
    this.sources.checkRevision(sot, revision);
    const workflowId = rolloutWorkflowId(sot.name, revision);
    const base = { sot: sot.name, revision, workflowId };
    if (opts.delivery) {
      // Durable and shared by every replica: the delivery id is kept in the memo of the run it started, in Temporal.
      // A re-sent delivery (same id) must not undo what an operator did since, e.g. a rollback to an older commit.
      for await (const wf of this.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
        if (wf.memo?.[DELIVERY_MEMO] === opts.delivery)
          return {
            ...base,
            started: false,
            reason: `delivery ${opts.delivery} already started ${workflowId}`,
          };
      }
    }
    if (auto) {
      const newest = await this.newestRollout(sot.name);
      if (newest?.revision === revision) {
        return {
          ...base,
          started: false,
          reason: `${revision} is already the newest rollout of ${sot.name} (${newest.status})`,
        };
      }
    }
    const report = this.reportTarget(sot, revision);
    const input: RolloutInput = {
      sot: sot.name,
      revision,
      source: this.sources.sourceFor(sot, revision),
      ...(opts.force ? { force: true } : {}),
      ...(opts.only?.length ? { only: opts.only } : {}),
      ...(report ? { report } : {}),
    };
    const memo = opts.delivery ? { [DELIVERY_MEMO]: opts.delivery } : undefined;
    if (!(await startRolloutWorkflow(this.client, input, memo)).started)
      return { ...base, started: false, reason: `${workflowId} is already running` };
    this.opts.metrics?.rolloutsStarted.inc({ trigger });
    this.opts.log?.(`${trigger}: started ${workflowId}`);
    return { ...base, started: true };
  }

  parseRolloutId(sot: string, revision: string): string {
    const id = rolloutWorkflowId(sot, revision);
    if (!ROLLOUT_ID.test(id))
      throw new ApiError(400, 'bad_rollout_id', `rollout/${sot}/${revision} is not a rollout id`);
    return id;
  }

  private async rolloutNow(id: string): Promise<RolloutDetail> {
    const h = this.client.workflow.getHandle(id);
    const desc = await h.describe();
    if (desc.type !== ROLLOUT_WORKFLOW_TYPE) throw new ApiError(404, 'not_found', `${id} is not a rollout`);
    const meta = {
      id,
      status: desc.status.name.toLowerCase(),
      startedAt: desc.startTime.toISOString(),
      ...(desc.closeTime ? { closedAt: desc.closeTime.toISOString() } : {}),
    };
    try {
      return { ...(await h.query(rolloutStatusQuery)), ...meta };
    } catch (err) {
      if (desc.status.name === 'RUNNING')
        throw new ApiError(503, 'no_worker', `no control worker answers for ${id} right now`, String(err));
    }
    // A closed rollout and no worker to replay it: its result is what is left.
    const m = ROLLOUT_ID.exec(id)!;
    const result = (await h.result().catch(() => undefined)) as RolloutResult | undefined;
    const counts = {
      pending: 0,
      blocked: 0,
      running: 0,
      provisioned: result?.provisioned ?? 0,
      failed: result?.failed ?? 0,
      cancelled: result?.cancelled ?? 0,
      released: 0,
      skipped: 0,
    };
    return {
      ...meta,
      sot: m[1]!,
      revision: m[2]!,
      state: result?.state ?? (meta.status as RolloutStatus['state']),
      ...(result?.reason ? { reason: result.reason } : {}),
      hosts: (result?.failedHosts ?? []).map((k) => {
        const [site, host] = k.split('/') as [string, string];
        return { site, host, workflow: '', state: 'failed' as const };
      }),
      counts,
      unchanged: 0,
      skipped: 0,
      removed: 0,
      timeline: [],
    };
  }

  private async rolloutActionNow(
    id: string,
    action: 'pause' | 'resume' | 'abort',
    reason: string,
  ): Promise<string> {
    const h = this.client.workflow.getHandle(id);
    const desc = await h.describe();
    if (desc.type !== ROLLOUT_WORKFLOW_TYPE) throw new ApiError(404, 'not_found', `${id} is not a rollout`);
    if (desc.status.name !== 'RUNNING')
      throw new ApiError(409, 'conflict', `${id} is ${desc.status.name.toLowerCase()}`);
    if (action === 'pause') return h.executeUpdate(pauseUpdate, { args: [reason] });
    if (action === 'resume') return h.executeUpdate(resumeUpdate, { args: [] });
    return h.executeUpdate(abortUpdate, { args: [reason] });
  }

  private async hostNow(site: string, host: string): Promise<HostDetail> {
    const id = hostWorkflowId(site, host);
    const h = this.client.workflow.getHandle(id);
    // Both at once: a detail costs one round trip's latency, not two.
    const [described, queried] = await Promise.allSettled([h.describe(), h.query(hostStatusQuery)]);
    if (described.status === 'rejected') {
      if (described.reason instanceof WorkflowNotFoundError)
        throw new ApiError(404, 'not_found', `host ${site}/${host} has never been reprovisioned`);
      throw described.reason;
    }
    const desc = described.value;
    const meta = {
      workflowId: id,
      runId: desc.runId,
      startedAt: desc.startTime.toISOString(),
      ...(desc.closeTime ? { closedAt: desc.closeTime.toISOString() } : {}),
    };
    if (queried.status === 'fulfilled') {
      const s = queried.value;
      const end = desc.closeTime?.getTime() ?? Date.now();
      // A closed run still answers with its last state: "running" if it ended without recording one (terminated,
      // timed out, failed by an exception). Its end then says how it ended, as the list does.
      const closedState = desc.closeTime && s.state === 'running' ? hostRunOf(desc)?.state : undefined;
      return {
        ...s,
        ...(closedState ? { state: closedState as HostDetail['state'] } : {}),
        ...meta,
        stageSince: new Date(s.stageSince).toISOString(),
        secondsInStage: Math.max(0, Math.round((end - s.stageSince) / 100) / 10),
        source: 'workflow',
      };
    }
    {
      const row: HostRow | undefined = this.index.getHost(site, host);
      if (!row)
        throw new ApiError(
          503,
          'no_worker',
          `no worker answers for ${id} and this replica has not indexed it yet`,
        );
      return {
        ...meta,
        site,
        host,
        revision: row.revision,
        state: row.state as HostDetail['state'],
        stage: row.stage as HostStatus['stage'],
        bootStage: 0,
        bootStages: 0,
        stageSince: row.stageSince,
        secondsInStage: Math.max(0, Math.round(((row.closedMs ?? Date.now()) - row.stageSinceMs) / 100) / 10),
        attempt: 0,
        powerCycles: 0,
        timeline: [],
        source: 'index',
      };
    }
  }

  private async overrideStageNow(site: string, host: string, o: StageOverride): Promise<HostStatus> {
    const h = this.client.workflow.getHandle(hostWorkflowId(site, host));
    const desc = await h.describe();
    if (desc.status.name !== 'RUNNING')
      throw new ApiError(
        409,
        'conflict',
        `host ${site}/${host} is not being reprovisioned (${desc.status.name.toLowerCase()})`,
      );
    return h.executeUpdate(overrideStageUpdate, { args: [o] });
  }

  /**
   * Starts a host workflow per host at the revision of its SoT's newest rollout. Every named host must be in the SoT
   * at that revision (else 404 naming those that are not), and none may be `never_provision` unless `force` says so
   * (else 409 naming them): nothing starts unless all of them can.
   */
  private async reprovisionNow(
    hosts: readonly string[],
    sotName: string | undefined,
    force = false,
  ): Promise<{ host: string; workflowId: string; started: boolean; revision?: string; error?: string }[]> {
    const sots = this.sources.list();
    const sot = sotName ? this.sources.get(sotName) : sots.length === 1 ? sots[0]! : undefined;
    if (!sot) throw new ApiError(400, 'sot_required', 'several SoTs are configured: name one in "sot"');
    const newest = await this.newestRollout(sot.name);
    if (!newest) throw new ApiError(409, 'no_rollout', `SoT ${sot.name} has no rollout yet: start one first`);
    if (this.opts.hostsAt) {
      const known = await this.opts.hostsAt(sot, newest.revision);
      const unknown = hosts.filter((k) => !known.has(k));
      if (unknown.length > 0)
        throw new ApiError(
          404,
          'host_unknown',
          `not in SoT ${sot.name} at ${newest.revision}: ${unknown.join(', ')}`,
          { hosts: unknown },
        );
      const frozen = hosts.filter((k) => known.get(k)?.neverProvision);
      if (frozen.length > 0 && !force)
        throw new ApiError(
          409,
          'never_provision',
          `never_provision is set for ${frozen.join(', ')}: send "force": true to reprovision them anyway`,
          { hosts: frozen },
        );
    }
    const out = [];
    for (const key of hosts) {
      const [site, host] = key.split('/') as [string, string];
      const workflowId = hostWorkflowId(site, host);
      const input: HostWorkflowInput = { sot: sot.name, revision: newest.revision, site, host };
      try {
        await this.client.workflow.start(HOST_WORKFLOW_TYPE, {
          taskQueue: CONTROL_TASK_QUEUE,
          workflowId,
          args: [input],
        });
        out.push({ host: key, workflowId, started: true, revision: newest.revision });
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        out.push({ host: key, workflowId, started: false, error: 'already being reprovisioned' });
      }
    }
    return out;
  }

  /** Every Temporal call of an API request is bounded: an unreachable Temporal is a 503, not a hung request. */
  private within<T>(fn: () => Promise<T>): Promise<T> {
    return this.client.withDeadline(Date.now() + (this.opts.deadlineMs ?? 15_000), fn);
  }

  newestRollout(...a: Parameters<FleetOps['newestRolloutNow']>) {
    return this.within(() => this.newestRolloutNow(...a));
  }

  startRollout(...a: Parameters<FleetOps['startRolloutNow']>) {
    return this.within(() => this.startRolloutNow(...a));
  }

  rollout(...a: Parameters<FleetOps['rolloutNow']>) {
    return this.within(() => this.rolloutNow(...a));
  }

  rolloutAction(...a: Parameters<FleetOps['rolloutActionNow']>) {
    return this.within(() => this.rolloutActionNow(...a));
  }

  host(...a: Parameters<FleetOps['hostNow']>) {
    return this.within(() => this.hostNow(...a));
  }

  overrideStage(...a: Parameters<FleetOps['overrideStageNow']>) {
    return this.within(() => this.overrideStageNow(...a));
  }

  reprovision(...a: Parameters<FleetOps['reprovisionNow']>) {
    return this.within(() => this.reprovisionNow(...a));
  }
}
