// Catching up with Temporal: the gate updates an agent missed (it was down, its queue's tasks expired, a close went
// to another agent) would leave it booting a host that should boot from disk, or not booting one that should
// netboot. At every (re)connection and periodically, the agent asks Temporal:
//   * for each gate it holds open: is that run still going, and which gate does it want now (netbootGateQuery)?
//   * which host runs of its site are going (visibility), and which gate each wants: any it lacks is applied.
// A run that predates the query (no handler) is left as it is, except that an ended run's gate is closed.
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { NetbootGateInput } from '../domain/activity-contracts.ts';
import { HOST_WORKFLOW_TYPE, netbootGateQuery } from '../domain/workflow-api.ts';
import type { ModelCache } from './model-cache.ts';

export interface Reconciled {
  closed: number;
  updated: number;
}

/** Visibility query for the running host runs of one site. */
export function runningHostsOf(site: string): string {
  return `WorkflowType = '${HOST_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running' AND VaqSite = '${site.replace(/'/g, '')}'`;
}

export async function reconcileGates(
  cache: ModelCache,
  client: Client,
  log: Logger,
  site: string,
): Promise<Reconciled> {
  const result: Reconciled = { closed: 0, updated: 0 };
  const wanted = async (workflowId: string): Promise<NetbootGateInput | null | undefined> => {
    try {
      return await client.workflow.getHandle(workflowId).query(netbootGateQuery);
    } catch {
      return undefined; // a run from before the query, or one that just ended: its describe says which
    }
  };
  const apply = async (w: NetbootGateInput, why: string): Promise<void> => {
    const outcome = await cache.set(w);
    if (outcome === 'applied') {
      result.updated++;
      log.info(
        { host: w.host, workflowId: w.workflowId, open: w.open, bootStage: w.bootStage },
        `gate caught up: ${why}`,
      );
    }
  };

  const seen = new Set<string>();
  for (const g of cache.openEntries()) {
    seen.add(g.workflowId);
    // The newest run of the host's workflow id: a continued-as-new run keeps its gate current itself, so only a
    // chain that has ended leaves a gate behind.
    const desc = await client.workflow.getHandle(g.workflowId).describe();
    if (desc.status.name !== 'RUNNING') {
      const { artifacts: _artifacts, ...closedGate } = g;
      await cache.set({ ...closedGate, open: false, bootStage: 0, runId: g.runId });
      log.info(
        { host: g.host, workflowId: g.workflowId, status: desc.status.name },
        'closed a gate left open by an ended run',
      );
      result.closed++;
      continue;
    }
    const w = await wanted(g.workflowId);
    if (w && (w.runId !== g.runId || w.open !== g.open || w.bootStage !== g.bootStage)) {
      await apply(w, 'the run moved on while this agent was away');
    }
  }
  for await (const run of client.workflow.list({ query: runningHostsOf(site) })) {
    if (seen.has(run.workflowId)) continue;
    const w = await wanted(run.workflowId);
    const have = cache.lookup(w?.mac ?? '');
    if (w?.open && (!have || have.runId !== w.runId || !have.open || have.bootStage !== w.bootStage)) {
      await apply(w, 'opened while this agent was away');
    }
  }
  return result;
}
