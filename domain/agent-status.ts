// What an agent tells the centre about its segment, for the site's status (GET /sites, the dashboard, `vaquero
// status`): today the authoritative-DHCP detector's findings (agent/dhcp/authority.ts). Each agent keeps one small
// workflow, `agent-status/<site>/<agent>`, on the control queue: the agent signals it (signal-with-start) only when
// what it reports changes, the workflow keeps the latest report in its memo, and the server reads every agent's
// memo with one visibility listing per index refresh (no query, so no worker needs to be up to answer).
import { defineSignal } from '@temporalio/workflow';

export const AGENT_STATUS_WORKFLOW_TYPE = 'agentStatus';
/** The memo key holding the latest AgentStatusReport. */
export const AGENT_STATUS_MEMO = 'agentStatus';

export const agentStatusWorkflowId = (site: string, agent: string): string => `agent-status/${site}/${agent}`;

/** Another DHCP server answering where it should not, as the agent last saw it. Times are ISO strings. */
export interface DhcpConflict {
  /** Its server identifier (option 54), else its source address. */
  serverId: string;
  /** The address its answers came from ('' when only a client's REQUEST named it). */
  source: string;
  /** The agent's interface on whose network it answers ('' when none). */
  interface: string;
  /** Whether it hands out addresses (false: another ProxyDHCP server). */
  givesAddresses: boolean;
  firstSeen: string;
  lastSeen: string;
}

export interface AgentDhcpStatus {
  mode: 'server' | 'proxy';
  /**
   * Other servers answering on the agent's segments: in server mode every one (two servers answer the same
   * clients), in proxy mode other ProxyDHCP servers (the address-giving server is the one a proxy relies on).
   * The most recently seen few, in server-id order; `moreConflicts` counts the rest.
   */
  conflicts: DhcpConflict[];
  moreConflicts: number;
  /** Proxy mode: since when the expected DHCP server has not answered the hosts' DISCOVERs; absent while it does. */
  expectedServerMissingSince?: string;
}

export interface AgentStatusReport {
  site: string;
  agent: string;
  /** When the agent made this report (it reports changes only, and refreshes `lastSeen` now and then). */
  reportedAt: string;
  /** Absent when the agent's DHCP is off. */
  dhcp?: AgentDhcpStatus;
}

export interface AgentStatusInput {
  site: string;
  agent: string;
  /** The latest report (carried across continue-as-new). */
  report?: AgentStatusReport;
}

export const agentStatusSignal = defineSignal<[AgentStatusReport]>('agentStatus');
