// Which hosts a paged rollout may start now, over groups (the hosts of one SoT workflow at one site) instead of a
// list of every host: the rollout knows each group's counts and holds at most one fetched page of it. Pure and
// deterministic (group order), so it is table-tested on its own and safe inside workflow code. The rules are the
// legacy scheduler's (rollout-scheduler.ts): max_concurrent and min_standing per workflow, block_deps, each site's
// max_concurrent, and a cap on hosts running in the whole rollout; and, given the time (`now`), the maintenance
// windows of the group's workflow and site: outside them a group starts nothing and says what it waits for.
import { windowGate } from '../domain/maintenance-windows.ts';
import type { NextOpening } from '../domain/maintenance-windows.ts';
import type {
  RolloutGroupProgress,
  SiteRolloutPolicy,
  WindowPolicy,
  WorkflowPolicy,
} from '../domain/rollout.ts';

export interface GroupView {
  groups: readonly RolloutGroupProgress[];
  /** Fetched hosts not started yet, per group index (a page at most). */
  queued: readonly number[];
  policies: Readonly<Record<string, WorkflowPolicy>>;
  sitePolicies: Readonly<Record<string, SiteRolloutPolicy>>;
  runningByWorkflow: ReadonlyMap<string, number>;
  runningBySite: ReadonlyMap<string, number>;
  failedByWorkflow: ReadonlyMap<string, number>;
  /** Failed, cancelled or blocked hosts per workflow: a dependant of such a workflow never starts. */
  badByWorkflow: ReadonlyMap<string, number>;
  maxRunning: number;
  /** The workflow's time (epoch ms): maintenance windows apply. Absent: they do not (runs before their patch). */
  now?: number;
}

/** A group that would start hosts but for a closed maintenance window. */
export interface WindowWait {
  group: number;
  /** Whose windows: `workflow <id>` or `site <id>`. */
  of: string;
  timeZone: string;
  /** The window that opens next and when; absent when none ever opens. */
  next?: NextOpening;
}

export interface GroupDecision {
  /** How many queued hosts to start from the front of each group's page. */
  start: { group: number; count: number }[];
  /** Groups that could start a host but have no page: fetch one. */
  fetch: number[];
  /** Groups that can never start (a dependency workflow had a host fail): block what is left of them. */
  block: { group: number; reason: string }[];
  /** Groups held by a closed maintenance window (only when `now` is given and some are). */
  waiting?: WindowWait[];
}

/** A group has nothing left to start: its pages are done and its queue is empty. */
export function groupDone(g: RolloutGroupProgress, queued: number): boolean {
  return g.exhausted && queued === 0;
}

export function scheduleGroups(v: GroupView): GroupDecision {
  const running = new Map(v.runningByWorkflow);
  const bySite = new Map(v.runningBySite);
  let total = 0;
  for (const n of running.values()) total += n;
  // A workflow is unfinished while any of its groups has hosts to start or running.
  const unfinished = new Set<string>();
  v.groups.forEach((g, i) => {
    if (!groupDone(g, v.queued[i] ?? 0)) unfinished.add(g.workflow);
  });
  for (const [wf, n] of running) if (n > 0) unfinished.add(wf);

  const d: GroupDecision = { start: [], fetch: [], block: [] };
  v.groups.forEach((g, i) => {
    const queued = v.queued[i] ?? 0;
    if (groupDone(g, queued)) return;
    const p = v.policies[g.workflow];
    if (!p) return;
    const badDep = p.block_deps.find((dep) => (v.badByWorkflow.get(dep) ?? 0) > 0);
    if (badDep) {
      d.block.push({ group: i, reason: `dependency workflow ${badDep} has hosts that did not finish` });
      return;
    }
    if (p.block_deps.some((dep) => unfinished.has(dep))) return;
    if (v.now !== undefined) {
      const wait = closedWindow(v.now, [
        [`workflow ${g.workflow}`, p],
        [`site ${g.site}`, v.sitePolicies[g.site]],
      ]);
      if (wait) {
        (d.waiting ??= []).push({ group: i, ...wait });
        return;
      }
    }
    const r = running.get(g.workflow) ?? 0;
    const failed = v.failedByWorkflow.get(g.workflow) ?? 0;
    // Hosts standing = not being reprovisioned and not broken by this rollout.
    const standingSlack = p.total_hosts - failed - p.min_standing - r;
    const siteSlack = (v.sitePolicies[g.site]?.max_concurrent ?? Infinity) - (bySite.get(g.site) ?? 0);
    const allowed = Math.min(p.max_concurrent - r, standingSlack, siteSlack, v.maxRunning - total);
    if (allowed <= 0) return;
    if (queued === 0) {
      d.fetch.push(i);
      return;
    }
    const n = Math.min(allowed, queued);
    d.start.push({ group: i, count: n });
    running.set(g.workflow, r + n);
    bySite.set(g.site, (bySite.get(g.site) ?? 0) + n);
    total += n;
  });
  return d;
}

/** The first of these policies whose windows are closed at `now`, with its next opening; undefined: all open. */
function closedWindow(
  now: number,
  policies: [string, WindowPolicy | undefined][],
): Omit<WindowWait, 'group'> | undefined {
  for (const [of, p] of policies) {
    if (!p?.windows?.length) continue;
    const gate = windowGate(p.windows, p.time_zone, now);
    if (gate.open) continue;
    return { of, timeZone: p.time_zone ?? 'UTC', ...(gate.next ? { next: gate.next } : {}) };
  }
  return undefined;
}
