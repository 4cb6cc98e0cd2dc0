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
    return await askRidingOutFailedTasks(() =>
      client.workflow.getHandle(workflowId).executeUpdate(bmcAcquireUpdate, { args: [request] }),
    );
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

/**
 * The server refuses an update while the semaphore's workflow task is failing or timing out (a starved control
 * worker: seen 13 times in one semaphore's history in a 10,000-host run on an overloaded machine). That passes once
 * a task completes, so the ask is repeated for up to a minute here, on top of the activity's own retries, rather
 * than failing the host's plan.
 */
async function askRidingOutFailedTasks<T>(ask: () => Promise<T>): Promise<T> {
  for (let waitMs = 500, deadline = Date.now() + 60_000; ; waitMs = Math.min(waitMs * 2, 8_000)) {
    try {
      return await ask();
    } catch (err) {
      const msg = `${err instanceof Error ? err.message : String(err)} ${String((err as { cause?: unknown }).cause ?? '')}`;
      if (!/Workflow Task in failed state/i.test(msg) || Date.now() + waitMs > deadline) throw err;
      await new Promise((r) => setTimeout(r, waitMs));
    }
  }
}

/** An update or signal to a workflow that is not running fails with "not found" (or, closed, "already completed"). */
function isNotRunning(err: unknown): boolean {
  if (err instanceof WorkflowNotFoundError) return true;
  const msg = err instanceof Error ? err.message : String(err);
  return /workflow execution already completed|not found/i.test(msg);
}
