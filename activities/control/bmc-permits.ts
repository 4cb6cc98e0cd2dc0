// Asking a site's BMC semaphore for a permit, and giving it back, from the control worker (host workflows call
// these as local activities): a free permit is granted in the update's answer, so the host's history holds one
// marker instead of the signals, child start and timer of asking from the workflow.
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import { CONTROL_TASK_QUEUE } from '../../domain/temporal-names.ts';
import {
  BMC_SEMAPHORE_WORKFLOW_TYPE,
  bmcAcquireUpdate,
  bmcReleaseSignal,
  bmcSemaphoreWorkflowId,
} from '../../domain/bmc-semaphore-api.ts';
import type {
  BmcPermitRelease,
  BmcPermitRequest,
  BmcSemaphoreInput,
} from '../../domain/bmc-semaphore-api.ts';

export async function acquireBmcPermit(
  client: Client,
  { site, request }: { site: string; request: BmcPermitRequest },
): Promise<{ granted: boolean }> {
  const workflowId = bmcSemaphoreWorkflowId(site);
  try {
    return await client.workflow.getHandle(workflowId).executeUpdate(bmcAcquireUpdate, { args: [request] });
  } catch (err) {
    if (!isNotRunning(err)) throw err;
  }
  // None running (never started, idle-ended, terminated): start one — or find the one another host just
  // started — and ask it.
  const input: BmcSemaphoreInput = { site };
  await client.workflow.start(BMC_SEMAPHORE_WORKFLOW_TYPE, {
    workflowId,
    taskQueue: CONTROL_TASK_QUEUE,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
  return await client.workflow.getHandle(workflowId).executeUpdate(bmcAcquireUpdate, { args: [request] });
}

export async function releaseBmcPermit(
  client: Client,
  { site, release }: { site: string; release: BmcPermitRelease },
): Promise<void> {
  try {
    await client.workflow.getHandle(bmcSemaphoreWorkflowId(site)).signal(bmcReleaseSignal, release);
  } catch (err) {
    // No semaphore running holds nothing to give back.
    if (!isNotRunning(err)) throw err;
  }
}

/** An update or signal to a workflow that is not running fails with "not found" (or, closed, "already completed"). */
function isNotRunning(err: unknown): boolean {
  if (err instanceof WorkflowNotFoundError) return true;
  const msg = err instanceof Error ? err.message : String(err);
  return /workflow execution already completed|not found/i.test(msg);
}
