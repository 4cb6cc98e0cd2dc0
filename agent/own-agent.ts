// This agent's own entry in its site's model (the SoT's agents[] item with its agent_id): its DHCP mode and the
// URL booting hosts reach it by. A model cached before it listed every agent names only the first one's.
import type { SiteAgent, SiteModel } from '../domain/site-model.ts';

export function ownAgentEntry(site: SiteModel | undefined, agentId: string): SiteAgent | undefined {
  if (!site) return undefined;
  const own = site.agents?.find((a) => a.id === agentId);
  if (own) return own;
  if (site.agents && site.agents.length > 0) return undefined; // listed, but not this one: no SoT settings apply
  return { id: agentId, httpUrl: site.httpUrl, dhcpMode: site.dhcpMode };
}
