// Sends each site's model to its agents before any host of a rollout is power-cycled: agents answer DHCP for
// every known host of their site (server mode). Each site's model goes through a child workflow of its own
// (siteModelPublish): a model holds every host of its site, so passing all of them through the rollout would make
// its history, and the workflow task that sends them, grow with the fleet (34 sites of 1,500 hosts made one task
// completion larger than gRPC's 4 MB). Several agents: each serves from its own cache, so each gets the
// model on its own queue; one that is down does not hold the rollout up (it gets the model when it is back, if its
// queue still holds it, and serves its cached one until then; hosts of the rollout carry their own reservation
// with their netboot gate).
import {
  executeChild,
  ParentClosePolicy,
  proxyActivities,
  WorkflowIdReusePolicy,
} from '@temporalio/workflow';
import { CONTROL_TASK_QUEUE } from '../domain/temporal-names.ts';
import type { ControlActivities, SiteActivities } from '../domain/activity-contracts.ts';
import { agentTaskQueue, siteTaskQueue } from '../domain/temporal-names.ts';
import { toEveryAgent } from './agent-fanout.ts';
import { failureMessage } from './rollout-progress.ts';

type Note = (kind: string, message: string) => void;

export interface SiteModelPublishInput {
  sot: string;
  revision: string;
  site: string;
}

/** The child workflow: one site's model, fetched from the control plane and sent to each of its agents. */
export async function siteModelPublish(input: SiteModelPublishInput): Promise<string[]> {
  const control = proxyActivities<ControlActivities>({
    taskQueue: CONTROL_TASK_QUEUE,
    startToCloseTimeout: '10 minutes',
    retry: { maximumAttempts: 5, initialInterval: '2 seconds' },
  });
  const notes: string[] = [];
  await publishOne(control, input.sot, input.revision, input.site, (_kind, message) => notes.push(message));
  return notes;
}

/** Each site's model to its agents, a child workflow per site; what happened goes to `note`. */
export async function publishSiteModelsByChild(
  rolloutId: string,
  sot: string,
  revision: string,
  sites: readonly string[],
  note: Note,
): Promise<void> {
  const results = await Promise.allSettled(
    sites.map((site) =>
      executeChild(siteModelPublish, {
        workflowId: `${rolloutId}/site-model/${site}`,
        taskQueue: CONTROL_TASK_QUEUE,
        args: [{ sot, revision, site }],
        parentClosePolicy: ParentClosePolicy.TERMINATE,
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      }),
    ),
  );
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') for (const m of r.value) note('site-model', m);
    else note('site-model', `site ${sites[i]}: model not published: ${failureMessage(r.reason)}`);
  });
}

async function publishOne(
  control: Pick<ControlActivities, 'siteModel'>,
  sot: string,
  revision: string,
  site: string,
  note: Note,
): Promise<void> {
  const agentSide = (taskQueue: string) =>
    proxyActivities<SiteActivities>({
      taskQueue,
      scheduleToCloseTimeout: '2 minutes',
      startToCloseTimeout: '1 minute',
      retry: { maximumAttempts: 5, initialInterval: '2 seconds' },
    });
  try {
    const model = await control.siteModel({ sot, revision, site });
    const agents = model.agents ?? [];
    if (agents.length <= 1) {
      await agentSide(siteTaskQueue(site)).publishSiteModel(model);
    } else {
      const r = await toEveryAgent(
        agents.map((a) => a.id),
        (a) => agentSide(agentTaskQueue(site, a)).publishSiteModel(model),
        (a, outcome) =>
          note(
            'site-model',
            outcome.ok
              ? `site ${site}: agent ${a} has the model now`
              : `site ${site}: agent ${a} did not take the model: ${failureMessage(outcome.error)}`,
          ),
      );
      if (r.missing.length > 0)
        note('site-model', `site ${site}: agent(s) ${r.missing.join(', ')} not answering yet`);
    }
    note('site-model', `site ${site}: model published (${revision})`);
  } catch (err) {
    note('site-model', `site ${site}: model not published: ${failureMessage(err)}`);
  }
}
