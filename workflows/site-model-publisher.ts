// Sends each site's model to its agents before any host of a rollout is power-cycled: agents answer DHCP for
// every known host of their site (server mode). Several agents: each serves from its own cache, so each gets the
// model on its own queue; one that is down does not hold the rollout up (it gets the model when it is back, if its
// queue still holds it, and serves its cached one until then; hosts of the rollout carry their own reservation
// with their netboot gate).
import { proxyActivities } from '@temporalio/workflow';
import type { ControlActivities, SiteActivities } from '../domain/activity-contracts.ts';
import { agentTaskQueue, siteTaskQueue } from '../domain/temporal-names.ts';
import { toEveryAgent } from './agent-fanout.ts';
import { failureMessage } from './rollout-progress.ts';

type Note = (kind: string, message: string) => void;

export async function publishSiteModels(
  control: Pick<ControlActivities, 'siteModel'>,
  sot: string,
  revision: string,
  sites: readonly string[],
  note: Note,
): Promise<void> {
  const agentSide = (taskQueue: string) =>
    proxyActivities<SiteActivities>({
      taskQueue,
      scheduleToCloseTimeout: '2 minutes',
      startToCloseTimeout: '1 minute',
      retry: { maximumAttempts: 5, initialInterval: '2 seconds' },
    });
  const results = await Promise.allSettled(
    sites.map(async (site) => {
      const model = await control.siteModel({ sot, revision, site });
      const agents = model.agents ?? [];
      if (agents.length <= 1) {
        await agentSide(siteTaskQueue(site)).publishSiteModel(model);
        return;
      }
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
    }),
  );
  results.forEach((r, i) =>
    note(
      'site-model',
      r.status === 'fulfilled'
        ? `site ${sites[i]}: model published (${revision})`
        : `site ${sites[i]}: model not published: ${failureMessage(r.reason)}`,
    ),
  );
}
