// A site worker: the site's activities (netboot gate, BMC power, tasks) on task queue site-<site>.
import { Worker } from '@temporalio/worker';
import type { NativeConnection } from '@temporalio/worker';
import type { SiteActivities } from '../../domain/activity-contracts.ts';
import { siteTaskQueue } from '../../domain/temporal-names.ts';

export interface SiteWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  site: string;
  activities: SiteActivities;
  /** Concurrent activities, BMC calls included. */
  maxConcurrentActivities?: number;
}

export async function createSiteWorker(opts: SiteWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: siteTaskQueue(opts.site),
    activities: opts.activities,
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivities ?? 100,
  });
}
