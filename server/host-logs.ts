// A host's installer log lines, read from the agents that hold them through a short workflow
// (workflows/host-installer-logs.ts): the server reaches agents only through Temporal. Which agents to ask comes
// from the host's own timeline — every boot event names the agent that saw it, and an agent that keeps a host's
// lines has sent its workflow a `log` summary — so a site of several agents is asked only where it matters.
import type { Client } from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { CONTROL_TASK_QUEUE } from '../domain/temporal-names.ts';
import type { TimelineEntry } from '../domain/host.ts';
import type { hostInstallerLogs, HostInstallerLogsResult } from '../workflows/host-installer-logs.ts';

/** `<kind> from <agent>…`, as the host workflow notes each boot event. */
const EVENT_SOURCE = /^[a-z]+ from ([a-z0-9][a-z0-9._-]*)(?::|$)/;

/** The agents named by the timeline's boot events (the sim fleet's `sim` is none). */
export function agentsOfTimeline(timeline: readonly TimelineEntry[]): string[] {
  const agents = new Set<string>();
  for (const e of timeline) {
    if (e.kind !== 'event') continue;
    const m = EVENT_SOURCE.exec(e.message);
    if (m && m[1] !== 'sim') agents.add(m[1]!);
  }
  return [...agents].sort();
}

export async function readHostInstallerLogs(
  client: Client,
  site: string,
  host: string,
  agents: string[],
  limit: number,
): Promise<HostInstallerLogsResult> {
  return client.workflow.execute<typeof hostInstallerLogs>('hostInstallerLogs', {
    taskQueue: CONTROL_TASK_QUEUE,
    workflowId: `host-logs/${site}/${host}/${randomUUID()}`,
    args: [{ site, host, agents, limit }],
    workflowExecutionTimeout: '1 minute',
  });
}
