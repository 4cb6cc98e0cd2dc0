// Which pending hosts a rollout may start now. Pure and deterministic (plan order), so it is table-tested
// on its own and safe inside workflow code.
import type { RolloutHostProgress, WorkflowPolicy } from '../domain/rollout.ts';

export interface SchedulerView {
  hosts: readonly RolloutHostProgress[];
  policies: Readonly<Record<string, WorkflowPolicy>>;
  sitePolicies: Readonly<Record<string, { max_concurrent: number }>>;
  /** Hosts running at once in the whole rollout, whatever the policies allow (Temporal's pending-children limit). */
  maxRunning?: number;
}

export interface ScheduleDecision {
  start: number[];
  /** Pending hosts that can never start (a dependency workflow had a host fail): mark them blocked. */
  block: { index: number; reason: string }[];
}

// 'skipped' is final too (as in rollout.ts): such a host has nothing left to do and must not hold dependants back.
const DONE_OK = new Set(['provisioned', 'released', 'skipped']);
const DONE_BAD = new Set(['failed', 'cancelled']);

export function schedule(view: SchedulerView): ScheduleDecision {
  const runningByWorkflow = new Map<string, number>();
  const failedByWorkflow = new Map<string, number>();
  const runningBySite = new Map<string, number>();
  let runningTotal = 0;
  const unfinishedByWorkflow = new Map<string, number>();
  const badByWorkflow = new Map<string, number>();
  for (const h of view.hosts) {
    if (h.state === 'running') {
      inc(runningByWorkflow, h.workflow);
      inc(runningBySite, h.site);
      runningTotal++;
    }
    if (h.state === 'failed') inc(failedByWorkflow, h.workflow);
    if (DONE_BAD.has(h.state) || h.state === 'blocked') inc(badByWorkflow, h.workflow);
    if (!DONE_OK.has(h.state) && !DONE_BAD.has(h.state) && h.state !== 'blocked')
      inc(unfinishedByWorkflow, h.workflow);
  }
  const start: number[] = [];
  const block: ScheduleDecision['block'] = [];
  view.hosts.forEach((h, index) => {
    if (h.state !== 'pending') return;
    const p = view.policies[h.workflow];
    if (!p) return;
    const badDep = p.block_deps.find((dep) => (badByWorkflow.get(dep) ?? 0) > 0);
    if (badDep) {
      block.push({ index, reason: `dependency workflow ${badDep} has hosts that did not finish` });
      return;
    }
    if (p.block_deps.some((dep) => (unfinishedByWorkflow.get(dep) ?? 0) > 0)) return;
    const running = runningByWorkflow.get(h.workflow) ?? 0;
    if (running >= p.max_concurrent) return;
    // Hosts standing = not being reprovisioned and not broken by this rollout.
    const standingAfter = p.total_hosts - (running + 1) - (failedByWorkflow.get(h.workflow) ?? 0);
    if (standingAfter < p.min_standing) return;
    const siteLimit = view.sitePolicies[h.site]?.max_concurrent ?? Infinity;
    if ((runningBySite.get(h.site) ?? 0) >= siteLimit) return;
    if (runningTotal >= (view.maxRunning ?? Infinity)) return;
    start.push(index);
    runningTotal++;
    inc(runningByWorkflow, h.workflow);
    inc(runningBySite, h.site);
  });
  return { start, block };
}

function inc(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}
