// Where a revision came from, read back from Temporal: the SotSource its rollout was started with (the first
// event of `rollout/<sot>/<revision>`). Control workers keep their revision stores on their own disks, so the
// worker that runs a host's activities may not be the one that prepared the rollout; it fetches the revision
// itself, from the same source, instead of failing the host.
import type { Client } from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow/codec-helpers.js';
import { rolloutWorkflowId } from '../../domain/workflow-api.ts';
import type { RolloutInput, SotSource } from '../../domain/rollout.ts';

export async function rolloutSource(
  client: Client,
  sot: string,
  revision: string,
): Promise<SotSource | undefined> {
  let res;
  try {
    res = await client.workflowService.getWorkflowExecutionHistory({
      namespace: client.options.namespace,
      execution: { workflowId: rolloutWorkflowId(sot, revision) },
      maximumPageSize: 1,
    });
  } catch {
    // No such rollout (a host started by hand at a revision nobody rolled out, or one past retention).
    return undefined;
  }
  const started = res.history?.events?.[0]?.workflowExecutionStartedEventAttributes;
  if (!started?.input?.payloads) return undefined;
  const input = await decodeFromPayloadsAtIndex<RolloutInput>(
    client.options.loadedDataConverter,
    0,
    started.input.payloads,
  );
  return input.sot === sot && input.revision === revision ? input.source : undefined;
}
