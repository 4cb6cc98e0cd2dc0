// A host's installer log lines, for the API and the dashboard: the lines live on the agents that received them (on
// disk, per host run), and the server cannot reach an agent over the network — agents only connect out to
// Temporal. So this short workflow, started by the server on the control queue, asks each agent on its own task
// queue (the same addressing as netboot gates) and returns the newest lines of all, bounded: each answer holds at
// most MAX_LOG_LINES_PER_QUERY lines of MAX_LOG_LINE_BYTES, and so does the result. An agent that is down costs
// its answer only, after a short wait. With no agent named, the site's queue is asked (a site of one agent).
import { proxyActivities } from '@temporalio/workflow';
import type { SiteActivities } from '../domain/activity-contracts.ts';
import { MAX_LOG_LINES_PER_QUERY } from '../domain/installer-logs.ts';
import type { InstallerLogLine } from '../domain/installer-logs.ts';
import { agentTaskQueue, siteTaskQueue } from '../domain/temporal-names.ts';

export interface HostInstallerLogsInput {
  site: string;
  host: string;
  /** The agents that may hold lines of the host (those that saw it boot); none: the site's queue. */
  agents: string[];
  limit: number;
}

export interface HostInstallerLogsResult {
  /** Newest last, at most `limit`. */
  lines: (InstallerLogLine & { agent: string })[];
  /** What each agent asked said: its lines received for the run, or why it did not answer. */
  agents: { agent: string; runId?: string; received?: number; error?: string }[];
}

/** An agent that does not answer in this time is left out (its worker is down, or its queue has none). */
const AGENT_ANSWER_TIMEOUT = '15 seconds';

export async function hostInstallerLogs(input: HostInstallerLogsInput): Promise<HostInstallerLogsResult> {
  const limit = Math.max(0, Math.min(MAX_LOG_LINES_PER_QUERY, Math.floor(input.limit)));
  const asked =
    input.agents.length > 0
      ? input.agents.map((a) => ({ name: a, queue: agentTaskQueue(input.site, a) }))
      : [{ name: `site ${input.site}`, queue: siteTaskQueue(input.site) }];
  const answers = await Promise.allSettled(
    asked.map((a) =>
      proxyActivities<SiteActivities>({
        taskQueue: a.queue,
        scheduleToCloseTimeout: AGENT_ANSWER_TIMEOUT,
        retry: { maximumAttempts: 1 },
      }).installerLogLines({ site: input.site, host: input.host, limit }),
    ),
  );
  const lines: HostInstallerLogsResult['lines'] = [];
  const agents: HostInstallerLogsResult['agents'] = [];
  answers.forEach((r, i) => {
    if (r.status === 'rejected') {
      agents.push({
        agent: asked[i]!.name,
        error: r.reason instanceof Error ? r.reason.message : String(r.reason),
      });
      return;
    }
    const a = r.value;
    agents.push({
      agent: a.agent,
      ...(a.runId !== undefined ? { runId: a.runId } : {}),
      received: a.received,
    });
    for (const l of a.lines) lines.push({ ...l, agent: a.agent });
  });
  lines.sort((x, y) => x.at - y.at);
  return { lines: lines.slice(lines.length - limit), agents };
}
