// Which agent URL a host's artifacts name, and which this agent serves them under. The SoT renders a host's script,
// config and command line with the URL of the first agent serving its subnet; with two agents in a broadcast
// domain the host may be booting through the other one (it answered DHCP first, or the first is down). That agent
// serves the artifacts under its own URL, so the rest of the boot (kernel, config, checkpoint) stays with the
// agent that is there, and maps its own URL back in the command line the installed OS reports, so the workflow
// compares it with exactly what the SoT rendered.
import type { SiteModel } from '../domain/site-model.ts';
import { ownAgentEntry } from './own-agent.ts';

export interface ServedBases {
  /** The base URL the artifacts were rendered with. */
  rendered: string;
  /** The base URL this agent serves them under. */
  own: string;
}

const trim = (u: string) => u.replace(/\/+$/, '');

/** Undefined when there is nothing to rewrite (one agent, or this agent is the one rendered). */
export function servedBases(
  site: SiteModel | undefined,
  agentId: string,
  subnet: string | undefined,
  publicUrl: string | undefined,
): ServedBases | undefined {
  if (!site?.agents || subnet === undefined) return undefined;
  const first = site.agents.find((a) => !a.subnets || a.subnets.includes(subnet));
  const own = publicUrl ?? ownAgentEntry(site, agentId)?.httpUrl;
  if (!first || own === undefined || trim(first.httpUrl) === trim(own)) return undefined;
  return { rendered: trim(first.httpUrl), own: trim(own) };
}

/** `text` with every URL under `from` moved under `to` (a base is replaced only where a path or the end follows). */
export function rebase(text: string, from: string, to: string): string {
  return text.replace(new RegExp(`${escape(from)}(?=[/?#"'\\s]|$)`, 'gm'), to);
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
