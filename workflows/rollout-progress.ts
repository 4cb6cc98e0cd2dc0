// The rollout's bookkeeping of its hosts, as pure functions: which host states are final, how many hosts are in
// each, its bounded timeline, and what a failed child run says.
import { ChildWorkflowFailure } from '@temporalio/workflow';
import type { RolloutHostProgress, RolloutHostState, RolloutTimelineEntry } from '../domain/rollout.ts';

const TIMELINE_LIMIT = 5000;

/** States a host does not leave within this rollout. */
export const FINAL_HOST_STATES: ReadonlySet<RolloutHostState> = new Set([
  'provisioned',
  'failed',
  'cancelled',
  'released',
  'blocked',
  'skipped',
]);

export function countByState(hosts: readonly RolloutHostProgress[]): Record<RolloutHostState, number> {
  const c: Record<RolloutHostState, number> = {
    pending: 0,
    blocked: 0,
    running: 0,
    provisioned: 0,
    failed: 0,
    cancelled: 0,
    released: 0,
    skipped: 0,
  };
  for (const h of hosts) c[h.state]++;
  return c;
}

/** Appends, keeping the newest entries (the query answer and the continueAsNew input stay bounded). */
export function appendRolloutTimeline(timeline: RolloutTimelineEntry[], entry: RolloutTimelineEntry): void {
  timeline.push(entry);
  if (timeline.length > TIMELINE_LIMIT) timeline.splice(0, timeline.length - TIMELINE_LIMIT);
}

/** The innermost message of a failed child run (the host workflow's own failure, not the wrapper's). */
export function failureMessage(err: unknown): string {
  let e: unknown = err;
  if (e instanceof ChildWorkflowFailure && e.cause) e = e.cause;
  while (e instanceof Error && (e as { cause?: unknown }).cause instanceof Error) {
    e = (e as { cause?: unknown }).cause;
  }
  return e instanceof Error ? e.message : String(e);
}
