// One agent's status report (domain/agent-status.ts), kept durable for the server's site status. The lightest
// path from an agent to the server that survives either of them restarting: agents talk only to Temporal, and the
// server already lists workflows every index refresh. A signal arrives only when the agent's report changes (or
// refreshes a conflict's last-seen time every few minutes), the workflow writes it to its memo, which visibility
// hands to the server's listing; after MAX_REPORTS reports (or when Temporal suggests it) it continues as new with
// the latest report, so its history never grows with time. No timers: between reports it costs nothing.
import { condition, continueAsNew, setHandler, upsertMemo, workflowInfo } from '@temporalio/workflow';
import { AGENT_STATUS_MEMO, agentStatusSignal } from '../domain/agent-status.ts';
import type { AgentStatusInput, AgentStatusReport } from '../domain/agent-status.ts';

/** Reports per run: about three events each, so a run's history stays under a thousand events. */
const MAX_REPORTS = 250;

export async function agentStatus(input: AgentStatusInput): Promise<void> {
  let latest: AgentStatusReport | undefined = input.report;
  let received = 0;
  setHandler(agentStatusSignal, (report) => {
    latest = report;
    received++;
  });
  let written = 0;
  if (latest) upsertMemo({ [AGENT_STATUS_MEMO]: latest });
  for (;;) {
    await condition(() => received > written);
    written = received;
    upsertMemo({ [AGENT_STATUS_MEMO]: latest });
    if (written >= MAX_REPORTS || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof agentStatus>({
        site: input.site,
        agent: input.agent,
        ...(latest ? { report: latest } : {}),
      });
    }
  }
}
