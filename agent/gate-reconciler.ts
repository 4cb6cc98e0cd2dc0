// A gate left open by a run that has ended (its "close" never reached this agent: the agent was down, or it is
// a standby) would keep offering a network boot to a host that should boot from disk. Periodically ask Temporal
// whether each open gate's run is still going, and close the ones that are not.
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { ModelCache } from './model-cache.ts';

export async function reconcileGates(cache: ModelCache, client: Client, log: Logger): Promise<number> {
  let closed = 0;
  for (const g of cache.openEntries()) {
    // The newest run of the host's workflow id: a continued-as-new run keeps its gate current itself, so only a
    // chain that has ended leaves a gate behind.
    const desc = await client.workflow.getHandle(g.workflowId).describe();
    if (desc.status.name !== 'RUNNING') {
      const { artifacts: _artifacts, ...closedGate } = g;
      await cache.set({ ...closedGate, open: false, bootStage: 0 });
      log.info(
        { host: g.host, workflowId: g.workflowId, status: desc.status.name },
        'closed a gate left open by an ended run',
      );
      closed++;
    }
  }
  return closed;
}
