// Keeps a FleetIndex current from Temporal visibility. A full listing at start (and every FULL_SYNC_MS, to drop
// runs past retention); in between, each refresh lists only what can have changed:
//   * running host and rollout workflows (their search attributes — stage, state — move while they run;
//     visibility has no "updated since" filter, and running hosts are bounded by the rollout policies), and
//   * workflows closed since the previous refresh (minus a margin for visibility lag).
// So a host's row is at most one refresh interval (plus visibility lag) old. Running rollouts are also queried
// for their per-host counts.
import { setMaxListeners } from 'node:events';
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { HOST_WORKFLOW_TYPE, ROLLOUT_WORKFLOW_TYPE, rolloutStatusQuery } from '../domain/workflow-api.ts';
import type { FleetIndex, RolloutRow } from './fleet-index.ts';
import { hostRunOf, rolloutRowOf } from '../temporal/visibility-rows.ts';
import { AGENT_STATUS_QUERY, agentStatusOf } from '../temporal/agent-status-rows.ts';
export { hostRunOf, rolloutRowOf };

const FULL_SYNC_MS = 10 * 60_000;
/** Visibility stores are eventually consistent (Elasticsearch: about a second); look back further than that. */
const LAG_MARGIN_MS = 15_000;
/** A rollout's status query: a worker that has not answered by then is busy or gone. */
const CALL_DEADLINE_MS = 5_000;
/** A listing of every host run, page after page (10,000 hosts take a few seconds). */
const LIST_DEADLINE_MS = 60_000;

export interface FleetSyncOptions {
  client: Client;
  index: FleetIndex;
  intervalMs: number;
  log?: (msg: string) => void;
  /** Called after every refresh with its duration (seconds) and whether it failed. */
  onRefresh?: (seconds: number, ok: boolean) => void;
}

export class FleetSync {
  private timer: NodeJS.Timeout | undefined;
  private lastFull = 0;
  private lastStart = 0;
  private running: Promise<void> | undefined;
  private stopped = false;
  /**
   * Ends the calls of the refresh in flight when stop() is called: a stop never waits on Temporal. One per refresh:
   * the SDK adds an abort listener per call and never removes it, so a signal that lived as long as the server
   * would keep every call it ever made.
   */
  private aborted = new AbortController();
  lastError: string | undefined;

  constructor(private readonly opts: FleetSyncOptions) {}

  /** Runs one refresh now (joins one already running). */
  refresh(): Promise<void> {
    this.running ??= this.doRefresh().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  start(): void {
    const tick = async () => {
      await this.refresh().catch(() => undefined);
      if (!this.stopped) this.timer = setTimeout(() => void tick(), this.opts.intervalMs);
    };
    void tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.aborted.abort();
    await this.running?.catch(() => undefined);
  }

  /** A Temporal call of a refresh: abandoned on stop(), and given up after `deadlineMs`. */
  private call<R>(fn: () => Promise<R>, deadlineMs = CALL_DEADLINE_MS): Promise<R> {
    const { client } = this.opts;
    return client.withAbortSignal(this.aborted.signal, () =>
      client.withDeadline(Date.now() + deadlineMs, fn),
    );
  }

  private async list(query: string): Promise<WorkflowExecutionInfo[]> {
    const out: WorkflowExecutionInfo[] = [];
    await this.call(async () => {
      for await (const wf of this.opts.client.workflow.list({ query, pageSize: 1000 })) out.push(wf);
    }, LIST_DEADLINE_MS);
    return out;
  }

  private async doRefresh(): Promise<void> {
    this.aborted = new AbortController();
    // A refresh queries every running rollout at once: more than Node's default 10 listeners is expected here.
    setMaxListeners(0, this.aborted.signal);
    if (this.stopped) this.aborted.abort();
    const t0 = Date.now();
    const { index } = this.opts;
    try {
      const full = !index.synced || t0 - this.lastFull > FULL_SYNC_MS;
      const since = new Date(this.lastStart - LAG_MARGIN_MS).toISOString();
      const changed = full ? '' : ` AND (ExecutionStatus = 'Running' OR CloseTime >= '${since}')`;
      const [hostRuns, rolloutRuns, agentRuns] = await Promise.all([
        this.list(`WorkflowType = '${HOST_WORKFLOW_TYPE}'${changed}`),
        this.list(`WorkflowType = '${ROLLOUT_WORKFLOW_TYPE}'${changed}`),
        // Agents' status reports (one workflow per agent, few): listed whole every refresh.
        this.list(AGENT_STATUS_QUERY),
      ]);
      index.setAgentStatuses(
        agentRuns.map(agentStatusOf).filter((r): r is NonNullable<typeof r> => r !== undefined),
      );
      const initial = !index.synced;
      const keepHosts = new Set<string>();
      for (const wf of hostRuns) {
        const row = hostRunOf(wf);
        if (!row) continue;
        keepHosts.add(`${row.site}/${row.host}`);
        index.upsertHost(row, { initial, now: t0 });
      }
      const keepRollouts = new Set<string>();
      const running: RolloutRow[] = [];
      for (const wf of rolloutRuns) {
        const row = rolloutRowOf(wf);
        if (!row) continue;
        keepRollouts.add(row.id);
        if (row.status === 'running') running.push(row);
        else index.upsertRollout(row, { initial });
      }
      await Promise.all(
        running.map(async (row) => {
          try {
            // A busy or absent worker answers late or never: the row keeps visibility's state for now.
            const s = await this.call(() =>
              this.opts.client.workflow.getHandle(row.id).query(rolloutStatusQuery),
            );
            row.state = s.state;
            row.counts = s.counts;
            row.total = s.total ?? s.hosts.length;
          } catch {
            // No worker to answer right now: visibility's state is the best there is.
          }
          index.upsertRollout(row, { initial });
        }),
      );
      if (full) {
        index.retainHosts(keepHosts);
        index.retainRollouts(keepRollouts);
        this.lastFull = t0;
      }
      this.lastStart = t0;
      index.refreshedAt = Date.now();
      this.lastError = undefined;
      this.opts.onRefresh?.((Date.now() - t0) / 1000, true);
    } catch (err) {
      this.lastError = err instanceof Error ? err.message : String(err);
      // Cut short by stop(): nothing failed.
      if (!this.stopped) this.opts.log?.(`index refresh failed: ${this.lastError}`);
      this.opts.onRefresh?.((Date.now() - t0) / 1000, false);
      throw err;
    }
  }
}
