// A site worker: the site's activities (netboot gate, BMC power, tasks) on one task queue: site-<site>, or an
// agent's own queue.
import { Worker } from '@temporalio/worker';
import type { NativeConnection } from '@temporalio/worker';
import type { DataConverter } from '@temporalio/common';
import type { SiteActivities } from '../../domain/activity-contracts.ts';
import { tracingWorkerOptions } from '../../temporal/telemetry/temporal-tracing.ts';

export interface SiteWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  /** site-<site> (every agent and sim site), or an agent's own queue (agentTaskQueue). */
  taskQueue: string;
  activities: SiteActivities;
  /** The payload codec: required, so no worker is made without it. */
  dataConverter: DataConverter;
  /** Concurrent activities, BMC calls included. */
  maxConcurrentActivities?: number;
  /** How long shutdown waits for activities in flight before cancelling them (default: Temporal's, 0). */
  shutdownGraceTime?: string;
  /** How long shutdown waits for activities that ignore cancellation before giving up on them (default: no limit). */
  shutdownForceTime?: string;
}

export async function createSiteWorker(opts: SiteWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    dataConverter: opts.dataConverter,
    activities: opts.activities,
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivities ?? 100,
    ...(opts.shutdownGraceTime !== undefined ? { shutdownGraceTime: opts.shutdownGraceTime } : {}),
    ...(opts.shutdownForceTime !== undefined ? { shutdownForceTime: opts.shutdownForceTime } : {}),
    ...tracingWorkerOptions({ workflows: false }),
  });
}
