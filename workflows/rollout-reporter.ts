// Reports a rollout's progress to GitHub (check run or commit status) from inside the rollout workflow. Living in
// the workflow makes the report replica-safe: one rollout, one reporter, whatever number of servers run; its
// state (the check run id) is carried across continueAsNew. Reports are throttled and can never fail the
// rollout: a GitHub outage costs a stale check run, not a halted fleet.
import { condition, proxyActivities } from '@temporalio/workflow';
import type { ControlActivities } from '../domain/activity-contracts.ts';
import { CONTROL_TASK_QUEUE } from '../domain/temporal-names.ts';
import { REPORT_FAILED_LIMIT } from '../domain/rollout.ts';
import { countByState } from './rollout-progress.ts';
import type {
  RolloutHostProgress,
  RolloutReportSummary,
  RolloutReportTarget,
  RolloutState,
} from '../domain/rollout.ts';

/** At most one report per interval: each costs a few history events and a GitHub API call. */
const REPORT_INTERVAL = '15 seconds';
const FINAL_STATES: ReadonlySet<RolloutState> = new Set(['completed', 'failed', 'aborted', 'superseded']);

export interface RolloutReporter {
  /** Resolves once the rollout's final state has been reported (or reporting gave up). */
  flush(): Promise<void>;
  checkRunId(): number | undefined;
}

export function summarizeRollout(
  state: RolloutState,
  reason: string | undefined,
  hosts: readonly RolloutHostProgress[],
  counts: { unchanged: number; skipped: number },
): RolloutReportSummary {
  const c = countByState(hosts);
  const failed: { host: string; error?: string }[] = [];
  for (const h of hosts) {
    if (h.state === 'failed' && failed.length < REPORT_FAILED_LIMIT)
      failed.push({ host: `${h.site}/${h.host}`, ...(h.error !== undefined ? { error: h.error } : {}) });
  }
  return {
    state,
    ...(reason !== undefined ? { reason } : {}),
    counts: c,
    unchanged: counts.unchanged,
    skipped: counts.skipped,
    failed,
    failedTotal: c.failed,
  };
}

export function startRolloutReporter(opts: {
  rolloutId: string;
  target: RolloutReportTarget;
  checkRunId?: number;
  summary: () => RolloutReportSummary;
}): RolloutReporter {
  const acts = proxyActivities<ControlActivities>({
    taskQueue: CONTROL_TASK_QUEUE,
    startToCloseTimeout: '1 minute',
    retry: { maximumAttempts: 3, initialInterval: '2 seconds' },
  });
  let checkRunId = opts.checkRunId;
  const keyOf = (s: RolloutReportSummary) => `${s.state}|${Object.values(s.counts).join(',')}`;
  const loop = async (): Promise<void> => {
    let sent = '';
    for (;;) {
      await condition(() => keyOf(opts.summary()) !== sent);
      const s = opts.summary();
      sent = keyOf(s);
      try {
        const r = await acts.reportRollout({
          rolloutId: opts.rolloutId,
          target: opts.target,
          summary: s,
          ...(checkRunId !== undefined ? { checkRunId } : {}),
        });
        if (r.checkRunId !== undefined) checkRunId = r.checkRunId;
      } catch {
        // Reporting is best effort; the next change tries again.
      }
      if (FINAL_STATES.has(s.state)) return;
      // The final state is reported at once; anything else waits out the interval.
      await condition(() => FINAL_STATES.has(opts.summary().state), REPORT_INTERVAL);
    }
  };
  const done = loop();
  return {
    flush: () => done,
    checkRunId: () => checkRunId,
  };
}
