// The ceiling Temporal itself sets, for comparison with vaquero's rollouts: per host, the least a host workflow
// could be — one activity on a site task queue, which (as a sim host reports its boot events) signals the
// workflow back, and the workflow ends on that signal. Workflow code: deterministic, no Node built-ins.
import { condition, defineSignal, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { MinimalActivities } from './minimal-activities.ts';

export const MINIMAL_CONTROL_QUEUE = 'bench-minimal-control';
/** One queue per site, as vaquero's site workers have (one worker per queue and process, as the SDK requires). */
export const minimalSiteQueue = (site: number): string => `bench-minimal-site-${site}`;
export const minimalDoneSignal = defineSignal('done');

export async function minimalHost(site = 0): Promise<void> {
  let done = false;
  setHandler(minimalDoneSignal, () => void (done = true));
  const { touch } = proxyActivities<MinimalActivities>({
    taskQueue: minimalSiteQueue(site),
    startToCloseTimeout: '10 minutes',
  });
  await touch(workflowInfo().workflowId);
  await condition(() => done);
}
