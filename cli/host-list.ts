// The fleet as Temporal sees it: the newest run of every host workflow, from visibility (search attributes),
// enriched by a query for the hosts that are still running.
import type { Client } from '@temporalio/client';
import { hostRunOf } from '../temporal/visibility-rows.ts';
import type { HostRun } from '../temporal/visibility-rows.ts';
import { HOST_WORKFLOW_TYPE, hostStatusQuery } from '../domain/workflow-api.ts';

/** A host as `vaquero status` lists it: visibility's row (with ISO times), and for running hosts what they say. */
export interface HostRow extends Omit<HostRun, 'startedMs' | 'closedMs'> {
  startedAt: string;
  closedAt?: string;
  /** Running hosts only. */
  secondsInStage?: number;
  attempt?: number;
  bootStage?: number;
  bootStages?: number;
  lastError?: string;
}

export async function listHosts(
  client: Client,
  opts: { site?: string; query?: boolean } = {},
): Promise<HostRow[]> {
  let q = `WorkflowType = '${HOST_WORKFLOW_TYPE}'`;
  if (opts.site) q += ` AND VaqSite = '${opts.site.replace(/'/g, '')}'`;
  const newest = new Map<string, HostRow>();
  for await (const wf of client.workflow.list({ query: q })) {
    const run = hostRunOf(wf);
    if (!run) continue;
    const prev = newest.get(run.workflowId);
    if (prev && prev.startedAt >= wf.startTime.toISOString()) continue;
    const { startedMs: _s, closedMs: _c, ...rest } = run;
    newest.set(run.workflowId, {
      ...rest,
      startedAt: wf.startTime.toISOString(),
      ...(wf.closeTime ? { closedAt: wf.closeTime.toISOString() } : {}),
    });
  }
  const rows = [...newest.values()].sort((a, b) => (a.site + '/' + a.host < b.site + '/' + b.host ? -1 : 1));
  if (opts.query !== false) {
    await Promise.all(
      rows
        .filter((r) => r.state === 'running' && !r.closedAt)
        .map(async (r) => {
          try {
            const s = await client.workflow.getHandle(r.workflowId).query(hostStatusQuery);
            r.stage = s.stage;
            r.state = s.state;
            r.revision = s.revision;
            r.secondsInStage = Math.round((Date.now() - s.stageSince) / 100) / 10;
            r.attempt = s.attempt;
            r.bootStage = s.bootStage;
            r.bootStages = s.bootStages;
            if (s.lastError !== undefined) r.lastError = s.lastError;
          } catch {
            // No worker to answer right now: visibility's view is the best there is.
          }
        }),
    );
  }
  return rows;
}
