// Agents' status reports as the visibility listing of their status workflows carries them (their memo; see
// domain/agent-status.ts). Shared by the server's index and the CLI's direct listing.
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { AGENT_STATUS_MEMO, AGENT_STATUS_WORKFLOW_TYPE } from '../domain/agent-status.ts';
import type { AgentStatusReport } from '../domain/agent-status.ts';

/** The listing of every agent's status workflow (one per agent: small, whatever the fleet's size). */
export const AGENT_STATUS_QUERY = `WorkflowType = '${AGENT_STATUS_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'`;

/** The report in a listed status workflow's memo, or undefined when it holds none (or not of this shape). */
export function agentStatusOf(wf: Pick<WorkflowExecutionInfo, 'memo'>): AgentStatusReport | undefined {
  const r = wf.memo?.[AGENT_STATUS_MEMO] as Partial<AgentStatusReport> | undefined;
  if (!r || typeof r.site !== 'string' || typeof r.agent !== 'string' || typeof r.reportedAt !== 'string')
    return undefined;
  if (r.dhcp !== undefined && (typeof r.dhcp !== 'object' || !Array.isArray(r.dhcp.conflicts)))
    return undefined;
  return r as AgentStatusReport;
}

/** Every agent's latest report, in site/agent order. */
export async function listAgentStatuses(client: Client): Promise<AgentStatusReport[]> {
  const out: AgentStatusReport[] = [];
  for await (const wf of client.workflow.list({ query: AGENT_STATUS_QUERY, pageSize: 1000 })) {
    const r = agentStatusOf(wf);
    if (r) out.push(r);
  }
  return sortAgentStatuses(out);
}

export function sortAgentStatuses(list: AgentStatusReport[]): AgentStatusReport[] {
  const key = (r: AgentStatusReport) => `${r.site}\u0000${r.agent}`;
  return list.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/** One line per thing an operator must act on for this agent (empty when its segment looks right). */
export function agentStatusAlerts(r: AgentStatusReport): string[] {
  const d = r.dhcp;
  if (!d) return [];
  const out = d.conflicts.map(
    (c) =>
      `${d.mode === 'server' ? 'DHCP conflict' : 'another ProxyDHCP server'}: ${c.source || c.serverId}` +
      `${c.source && c.source !== c.serverId ? ` (server id ${c.serverId})` : ''}` +
      ` answers on ${c.interface || 'a network the agent does not serve'}, last seen ${c.lastSeen}`,
  );
  if (d.moreConflicts > 0) out.push(`and ${d.moreConflicts} more DHCP servers`);
  if (d.expectedServerMissingSince !== undefined)
    out.push(
      `expected DHCP server missing since ${d.expectedServerMissingSince} (proxy mode gives no addresses)`,
    );
  return out;
}
