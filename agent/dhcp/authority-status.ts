// The authoritative-DHCP detector's report (authority.ts) as the site's status shows it (domain/agent-status.ts):
// only what an operator must act on — other servers answering where they should not, and in proxy mode the
// expected server missing — and a key that changes only when that does, so the agent reports changes, not packets.
import type { AgentDhcpStatus, DhcpConflict } from '../../domain/agent-status.ts';
import type { DhcpAuthorityReport } from './authority.ts';

/** Conflicts listed per agent; the rest are counted (the table behind them holds up to 64). */
export const MAX_LISTED_CONFLICTS = 8;

export interface AuthorityStatusOptions {
  /** A server not seen for this long leaves the status (it is gone, or was a one-off). */
  clearAfterMs: number;
  now: number;
}

export function authorityStatus(report: DhcpAuthorityReport, opts: AuthorityStatusOptions): AgentDhcpStatus {
  // In proxy mode the server giving addresses is the one relied on; only other ProxyDHCP servers conflict.
  const conflicting = report.foreignServers.filter(
    (s) => opts.now - s.lastSeen <= opts.clearAfterMs && (report.mode === 'server' || !s.givesAddresses),
  );
  // The most recently seen are listed, in address order: servers alternating their answers change nothing here.
  const listed = conflicting
    .slice(0, MAX_LISTED_CONFLICTS)
    .sort((a, b) => compareIds(a.serverId, b.serverId));
  const conflicts: DhcpConflict[] = listed.map((s) => ({
    serverId: s.serverId,
    source: s.source,
    interface: s.interface,
    givesAddresses: s.givesAddresses,
    firstSeen: new Date(s.firstSeen).toISOString(),
    lastSeen: new Date(s.lastSeen).toISOString(),
  }));
  return {
    mode: report.mode,
    conflicts,
    moreConflicts: conflicting.length - conflicts.length,
    ...(report.mode === 'proxy' && report.missingSince !== undefined
      ? { expectedServerMissingSince: new Date(report.missingSince).toISOString() }
      : {}),
  };
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** What must be reported again when it changes: everything but the times a conflicting server was last seen. */
export function statusKey(status: AgentDhcpStatus | undefined): string {
  if (!status) return 'off';
  return JSON.stringify([
    status.mode,
    status.conflicts.map((c) => [c.serverId, c.source, c.interface, c.givesAddresses, c.firstSeen]),
    status.moreConflicts,
    status.expectedServerMissingSince ?? null,
  ]);
}

/** The newest `lastSeen` among the conflicts (epoch ms), or 0. */
export function newestSighting(status: AgentDhcpStatus | undefined): number {
  return Math.max(0, ...(status?.conflicts ?? []).map((c) => Date.parse(c.lastSeen)));
}
