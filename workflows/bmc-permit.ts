// The host workflow's side of the per-site BMC semaphore (workflows/bmc-semaphore.ts): ask for a permit, wait
// for the grant, run the BMC work, release — the release also on failure and cancellation, and a request
// withdrawn when the wait itself is cancelled. Histories made before the semaphore existed replay unchanged
// (the patch below).
import {
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  ParentClosePolicy,
  deprecatePatch,
  patched,
  setHandler,
  startChild,
  workflowInfo,
  WorkflowIdReusePolicy,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { CONTROL_TASK_QUEUE } from '../domain/temporal-names.ts';
import { bmcSemaphore } from './bmc-semaphore.ts';
import type { BmcPermitRelease, BmcPermitRequest } from '../domain/bmc-semaphore-api.ts';
import {
  bmcAcquireSignal,
  bmcGrantSignal,
  bmcReleaseSignal,
  bmcSemaphoreWorkflowId,
  DEFAULT_BMC_CONCURRENCY,
} from '../domain/bmc-semaphore-api.ts';

export const BMC_SEMAPHORE_PATCH = 'bmc-site-semaphore';
export const BMC_RELEASE_NO_WAIT_PATCH = 'bmc-release-no-wait';
/** How often a waiting host repeats its request, in case the semaphore ended or was terminated meanwhile. */
const RE_REQUEST_MS = 10 * 60_000;

export interface BmcPermitOptions {
  site: string;
  /** The site's policy.bmc_concurrency; default 20. */
  limit?: number;
  /** Unique per BMC operation (the power activity's opId). */
  requestId: string;
  /** Longer than the BMC work can take, retries included. */
  leaseMs: number;
}

export async function withBmcPermit<T>(opts: BmcPermitOptions, work: () => Promise<T>): Promise<T> {
  deprecatePatch(BMC_SEMAPHORE_PATCH);
  const granted = new Set<string>();
  setHandler(bmcGrantSignal, (g) => {
    granted.add(g.requestId);
  });
  const req: BmcPermitRequest = {
    holder: workflowInfo().workflowId,
    requestId: opts.requestId,
    limit: opts.limit ?? DEFAULT_BMC_CONCURRENCY,
    leaseMs: opts.leaseMs,
  };
  const semaphoreId = bmcSemaphoreWorkflowId(opts.site);
  try {
    await request(opts.site, semaphoreId, req);
    while (!(await condition(() => granted.has(req.requestId), RE_REQUEST_MS)))
      await request(opts.site, semaphoreId, req);
    return await work();
  } finally {
    // Also when cancelled: a permit (or a place in the queue) must never outlive the work it was for.
    const released = CancellationScope.nonCancellable(() =>
      getExternalWorkflowHandle(semaphoreId)
        .signal(bmcReleaseSignal, { holder: req.holder, requestId: req.requestId })
        .catch(() => undefined),
    );
    // Not awaited since this patch: the signal goes out with this workflow task's commands and the host moves
    // on at once (waiting for the server's acknowledgement delayed the netboot stage by a round trip).
    if (!patched(BMC_RELEASE_NO_WAIT_PATCH)) await released;
  }
}

/** Signals the request; starts the site's semaphore with it when none is running. */
async function request(site: string, semaphoreId: string, req: BmcPermitRequest): Promise<void> {
  try {
    await getExternalWorkflowHandle(semaphoreId).signal(bmcAcquireSignal, req);
    return;
  } catch {
    // Not running: start it below.
  }
  try {
    // Abandoned, and started outside our cancellation scope: the semaphore outlives this host workflow.
    await CancellationScope.nonCancellable(async () => {
      const child = await startChild(bmcSemaphore, {
        workflowId: semaphoreId,
        taskQueue: CONTROL_TASK_QUEUE,
        args: [{ site, initial: req }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      });
      child.result().catch(() => undefined);
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    // Another host started it a moment ago.
    await getExternalWorkflowHandle(semaphoreId).signal(bmcAcquireSignal, req);
  }
}

/**
 * Since `lean-host-history`: waits for the permit the host asked for with its plan (`asked`), or asks now
 * through a control activity; the semaphore grants a free one in its answer, a busy site by signal later. The
 * power activity gives it back (see giveBackBmcPermit for when it cannot). A wait that is cancelled gives back its
 * place in the queue.
 */
export async function waitForBmcPermit(opts: {
  site: string;
  request: BmcPermitRequest;
  asked?: { granted: boolean };
  ask(input: { site: string; request: BmcPermitRequest }): Promise<{ granted: boolean }>;
}): Promise<void> {
  const granted = new Set<string>();
  setHandler(bmcGrantSignal, (g) => {
    granted.add(g.requestId);
  });
  const id = opts.request.requestId;
  try {
    const first = opts.asked ?? (await opts.ask({ site: opts.site, request: opts.request }));
    if (first.granted) return;
    // Asked again now and then, in case the semaphore ended or was terminated while this host waited.
    while (!(await condition(() => granted.has(id), RE_REQUEST_MS))) {
      if ((await opts.ask({ site: opts.site, request: opts.request })).granted) return;
    }
  } catch (err) {
    void giveBackBmcPermit(opts.site, { holder: opts.request.holder, requestId: id });
    throw err;
  }
}

/**
 * Gives a permit (or a place in the queue) back by signal, sent with this workflow task's commands; await it when
 * the run ends or continues as new in the same task (a signal not awaited then may never go out).
 */
export function giveBackBmcPermit(site: string, release: BmcPermitRelease): Promise<void> {
  return CancellationScope.nonCancellable(() =>
    getExternalWorkflowHandle(bmcSemaphoreWorkflowId(site))
      .signal(bmcReleaseSignal, release)
      .catch(() => undefined),
  );
}
