// The ceiling Temporal itself sets, for comparison with vaquero's rollouts: per host, the least a host workflow
// could be — one activity on a site task queue, which (as a sim host reports its boot events) signals the
// workflow back, and the workflow ends on that signal. Workflow code: deterministic, no Node built-ins.
import { condition, defineSignal, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { MinimalActivities } from './minimal-activities.ts';

export const MINIMAL_CONTROL_QUEUE = 'bench-minimal-control';
export const MINIMAL_SITE_QUEUE = 'bench-minimal-site';
export const minimalDoneSignal = defineSignal('done');

const { touch } = proxyActivities<MinimalActivities>({
  taskQueue: MINIMAL_SITE_QUEUE,
  startToCloseTimeout: '10 minutes',
});

export async function minimalHost(): Promise<void> {
  let done = false;
  setHandler(minimalDoneSignal, () => void (done = true));
  await touch(workflowInfo().workflowId);
  await condition(() => done);
}
