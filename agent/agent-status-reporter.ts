// Sends this agent's status (domain/agent-status.ts) to its workflow when it changes: checked every few seconds
// from the DHCP service's authority report, sent only when what an operator must act on changed (a conflicting
// server appeared or left, the expected server went missing or came back), plus a refresh of a continuing
// conflict's last-seen time at most every `refreshMs`. A server not seen for `clearAfterMs` leaves the report, so
// the site's status clears by itself. The first check after a start always sends (it replaces what an earlier
// process of this agent left). A failed send is tried again at the next check; one send at a time.
import type { AgentDhcpStatus, AgentStatusReport } from '../domain/agent-status.ts';
import type { DhcpAuthorityReport } from './dhcp/authority.ts';
import { authorityStatus, newestSighting, statusKey } from './dhcp/authority-status.ts';

export interface AgentStatusReporterOptions {
  site: string;
  agent: string;
  /** The DHCP service's authority report; undefined when DHCP is off. */
  read: () => DhcpAuthorityReport | undefined;
  send: (report: AgentStatusReport) => Promise<void>;
  /** A failed send (Temporal unreachable): retried at the next check. */
  onError?: (err: unknown) => void;
  checkEveryMs?: number;
  /** Default 15 minutes. */
  clearAfterMs?: number;
  /** Default 10 minutes. */
  refreshMs?: number;
  now?: () => number;
}

export interface AgentStatusReporter {
  /** One check now (and a send if due); resolves when it is done. */
  check(): Promise<void>;
  stop(): void;
}

export function startAgentStatusReporter(opts: AgentStatusReporterOptions): AgentStatusReporter {
  const now = opts.now ?? Date.now;
  const clearAfterMs = opts.clearAfterMs ?? 15 * 60_000;
  const refreshMs = opts.refreshMs ?? 10 * 60_000;
  let sentKey: string | undefined;
  let sentSighting = 0;
  let running: Promise<void> | undefined;
  let stopped = false;

  const due = (status: AgentDhcpStatus | undefined): boolean => {
    if (statusKey(status) !== sentKey) return true;
    const seen = newestSighting(status);
    return seen > sentSighting && seen - sentSighting >= refreshMs;
  };

  const once = async (): Promise<void> => {
    const t = now();
    const authority = opts.read();
    const dhcp = authority ? authorityStatus(authority, { clearAfterMs, now: t }) : undefined;
    if (!due(dhcp)) return;
    const report: AgentStatusReport = {
      site: opts.site,
      agent: opts.agent,
      reportedAt: new Date(t).toISOString(),
      ...(dhcp ? { dhcp } : {}),
    };
    try {
      await opts.send(report);
      sentKey = statusKey(dhcp);
      sentSighting = newestSighting(dhcp);
    } catch (err) {
      opts.onError?.(err);
    }
  };

  const check = (): Promise<void> => {
    if (stopped) return Promise.resolve();
    running ??= once().finally(() => {
      running = undefined;
    });
    return running;
  };

  const timer = setInterval(() => void check(), opts.checkEveryMs ?? 5_000);
  timer.unref();
  return {
    check,
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
