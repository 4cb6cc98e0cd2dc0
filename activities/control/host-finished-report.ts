// A host run's last word to its rollout, sent from the control worker (host workflows call it as a local
// activity): the report is in the signal's target before the run completes, at the cost of one marker in the
// host's history, where signalling from the workflow costs two events and a workflow task.
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import { hostFinishedSignal } from '../../domain/workflow-api.ts';
import type { HostFinished } from '../../domain/host.ts';

export async function reportHostFinished(
  client: Client,
  { to, finished }: { to: string; finished: HostFinished },
): Promise<void> {
  try {
    await client.workflow.getHandle(to).signal(hostFinishedSignal, finished);
  } catch (err) {
    // The rollout has closed (aborted, superseded, done): nobody waits for this host any more.
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
}
