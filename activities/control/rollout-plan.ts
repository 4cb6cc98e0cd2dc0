// A rollout's plan, made to be paged: `planRollout` counts, per group (the hosts of one SoT workflow at one site),
// the hosts that need work; `rolloutPlanPage` returns the next few hosts of a group after a given one, judged
// against what they have reached by then. Neither answer grows with the fleet, so a rollout of any size keeps
// every payload and its history small (issue 20). A host is judged when its page is fetched, not only when the
// rollout was planned: one that reached the revision some other way in between is no longer started.
import type { Client } from '@temporalio/client';
import type {
  RolloutGroupPlan,
  RolloutHostPlan,
  RolloutInput,
  RolloutPlanPage,
  RolloutPlanPageInput,
  RolloutPlanSummary,
  SiteRolloutPolicy,
  WindowPolicy,
  WorkflowPolicy,
} from '../../domain/rollout.ts';
import { hostWorkflowId } from '../../domain/workflow-api.ts';
import { configOf, configurations } from '../../sot/model.ts';
import { newHostHold, validateOnReason } from '../../sot/plan.ts';
import { lastReached, reachedOf } from './last-reached.ts';
import type { Reached } from './last-reached.ts';
import type { PreparedHost, PreparedRevision } from './prepared-revisions.ts';

export const DEFAULT_SITE_MAX_CONCURRENT = 20;
/** Hosts whose last run is looked up in one visibility query while a page is made. */
const LOOKUP_BATCH = 200;

/** The group's hosts in page order (host id), cached per prepared revision. */
const groupOrder = new WeakMap<PreparedRevision, Map<string, PreparedHost[]>>();

export function groupKey(workflow: string, site: string): string {
  return `${workflow}@${site}`;
}

function groupsOf(rev: PreparedRevision): Map<string, PreparedHost[]> {
  let groups = groupOrder.get(rev);
  if (!groups) {
    groups = new Map();
    for (const h of rev.hosts.values()) {
      const k = groupKey(h.entity.spec.workflow, h.entity.site);
      let list = groups.get(k);
      if (!list) groups.set(k, (list = []));
      list.push(h);
    }
    for (const list of groups.values()) list.sort((a, b) => cmp(a.entity.id, b.entity.id));
    groupOrder.set(rev, groups);
  }
  return groups;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Why a host vaquero never ran is kept out of this rollout: it has a BMC and its site's `policy.force_provision` is
 * off (sot/plan.ts newHostHold). An operator's force overrides it; a host with any run of its own is never held.
 */
export function heldNewHost(
  rev: PreparedRevision,
  h: PreparedHost,
  last: Reached | undefined,
  force: boolean,
): string | undefined {
  if (force || last) return undefined;
  return newHostHold(rev.model.sites.get(h.entity.site)?.spec, h.entity.site, h.entity.spec);
}

/** Whether a host needs work, and why; undefined when it has reached the fingerprint already. */
export function planHost(
  h: PreparedHost,
  last: Reached | undefined,
  force: boolean,
): RolloutHostPlan | undefined {
  if (!force && last?.fingerprint === h.fingerprint) return undefined;
  return {
    site: h.entity.site,
    host: h.entity.id,
    workflow: h.entity.spec.workflow,
    fingerprint: h.fingerprint,
    action: last ? 'reprovision' : 'added',
    reasons: reasonsFor(last, force),
  };
}

/**
 * A host that boots what it last reached, re-validated because a workflow its workflow's `validate_on` lists changes
 * in this rollout (`changed`); undefined otherwise.
 */
export function validateHost(
  rev: PreparedRevision,
  h: PreparedHost,
  last: Reached | undefined,
  changed: ReadonlySet<string>,
): RolloutHostPlan | undefined {
  if (changed.size === 0 || last?.fingerprint !== h.fingerprint) return undefined;
  const validateOn = configOf(rev.model, h.entity).workflows.get(h.entity.spec.workflow)?.spec.policy
    ?.validate_on;
  const why = validateOnReason(validateOn, changed);
  if (why === undefined) return undefined;
  return {
    site: h.entity.site,
    host: h.entity.id,
    workflow: h.entity.spec.workflow,
    fingerprint: h.fingerprint,
    action: 'validate',
    reasons: [why],
    changedWorkflow: validateOn!.find((w) => changed.has(w))!,
  };
}

/** Workflows a host of which boots something other than what it last completed: what validate_on reacts to. */
function changedWorkflowsOf(
  rev: PreparedRevision,
  reached: ReadonlyMap<string, Reached>,
  only: ReadonlySet<string> | undefined,
): Set<string> {
  const changed = new Set<string>();
  for (const [key, h] of rev.hosts) {
    if (h.entity.spec.never_provision || (only && !only.has(key))) continue;
    const last = reached.get(key);
    if (last?.fingerprint !== undefined && last.fingerprint !== h.fingerprint)
      changed.add(h.entity.spec.workflow);
  }
  return changed;
}

export function reasonsFor(last: Reached | undefined, force: boolean): string[] {
  if (force) return ['forced by operator'];
  if (!last) return ['never provisioned by vaquero'];
  if (last.running) return ['a reprovision is running at another revision'];
  if (!last.fingerprint) return [`last run ended ${last.status.toLowerCase()}`];
  return [`boot changed since revision ${last.revision ?? '?'}`];
}

/** Each workflow's rollout policy with its host total in the whole SoT (min_standing counts against it). */
export function policiesOf(rev: PreparedRevision): Record<string, WorkflowPolicy> {
  const totals = new Map<string, number>();
  for (const h of rev.hosts.values()) {
    if (h.entity.spec.never_provision) continue;
    totals.set(h.entity.spec.workflow, (totals.get(h.entity.spec.workflow) ?? 0) + 1);
  }
  const policies: Record<string, WorkflowPolicy> = {};
  // A workflow only a release tag or a cluster's configuration defines takes its policy from there; the SoT's own
  // definition wins when both have it (the rollout schedules by workflow id).
  for (const [id, wf] of configurations(rev.model).flatMap((c) => [...c.workflows])) {
    if (policies[id]) continue;
    const p = wf.spec.policy ?? {};
    policies[id] = {
      max_concurrent: p.max_concurrent ?? 1,
      min_standing: p.min_standing ?? 0,
      max_fail: p.max_fail ?? 0,
      block_deps: p.block_deps ?? [],
      total_hosts: totals.get(id) ?? 0,
      ...windowsOf(p),
    };
  }
  return policies;
}

export function sitePoliciesOf(rev: PreparedRevision): Record<string, SiteRolloutPolicy> {
  const sitePolicies: Record<string, SiteRolloutPolicy> = {};
  for (const [id, site] of rev.model.sites) {
    sitePolicies[id] = {
      max_concurrent: site.spec.policy?.max_concurrent ?? DEFAULT_SITE_MAX_CONCURRENT,
      ...windowsOf(site.spec.policy ?? {}),
    };
  }
  return sitePolicies;
}

/** A policy's maintenance windows, only when it has some: a plan without them is what it was before windows. */
function windowsOf(p: { windows?: string[] | undefined; time_zone?: string | undefined }): WindowPolicy {
  if (!p.windows || p.windows.length === 0) return {};
  return { windows: p.windows, ...(p.time_zone !== undefined ? { time_zone: p.time_zone } : {}) };
}

/** Counts what the rollout will do, per group; lists no host. */
export async function planRollout(
  client: Client,
  rev: PreparedRevision,
  input: RolloutInput,
): Promise<RolloutPlanSummary> {
  const reached = await lastReached(client);
  const only = input.only ? new Set(input.only) : undefined;
  const counts = { unchanged: 0, skipped: 0, removed: 0 };
  const groups: RolloutGroupPlan[] = [];
  let total = 0;
  const changed = input.force === true ? new Set<string>() : changedWorkflowsOf(rev, reached, only);
  for (const [, hosts] of [...groupsOf(rev)].sort(([a], [b]) => cmp(a, b))) {
    let planned = 0;
    for (const h of hosts) {
      if (h.entity.spec.never_provision) {
        counts.skipped++;
        continue;
      }
      const key = `${h.entity.site}/${h.entity.id}`;
      if (only && !only.has(key)) continue;
      if (heldNewHost(rev, h, reached.get(key), input.force === true)) counts.skipped++;
      else if (planHost(h, reached.get(key), input.force === true)) planned++;
      else if (validateHost(rev, h, reached.get(key), changed)) planned++;
      else counts.unchanged++;
    }
    const first = hosts[0]!;
    if (planned > 0) groups.push({ workflow: first.entity.spec.workflow, site: first.entity.site, planned });
    total += planned;
  }
  for (const [key, r] of reached) {
    if (r.sot === input.sot && r.fingerprint && !rev.hosts.has(key)) counts.removed++;
  }
  // Sites first, then workflows: the order hosts start in when limits allow (the legacy plan's order).
  groups.sort((a, b) => cmp(a.site, b.site) || cmp(a.workflow, b.workflow));
  return {
    sot: input.sot,
    revision: input.revision,
    groups,
    total,
    policies: policiesOf(rev),
    sitePolicies: sitePoliciesOf(rev),
    counts,
    ...(changed.size > 0 ? { changedWorkflows: [...changed].sort() } : {}),
  };
}

/** The next hosts of a group after `input.after` that need work now. */
export async function rolloutPlanPage(
  client: Client,
  rev: PreparedRevision,
  input: RolloutPlanPageInput,
): Promise<RolloutPlanPage> {
  const hosts = groupsOf(rev).get(groupKey(input.workflow, input.site)) ?? [];
  const only = input.only ? new Set(input.only) : undefined;
  const changed = new Set(input.changedWorkflows ?? []);
  // First host after the cursor (binary search: groups run to tens of thousands of hosts).
  let lo = 0;
  if (input.after !== undefined) {
    let hi = hosts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (hosts[mid]!.entity.id <= input.after) lo = mid + 1;
      else hi = mid;
    }
  }
  const out: RolloutHostPlan[] = [];
  let i = lo;
  while (i < hosts.length && out.length < input.limit) {
    const batch: PreparedHost[] = [];
    while (i < hosts.length && batch.length < LOOKUP_BATCH) {
      const h = hosts[i++]!;
      if (h.entity.spec.never_provision) continue;
      if (only && !only.has(`${h.entity.site}/${h.entity.id}`)) continue;
      batch.push(h);
    }
    if (batch.length === 0) continue;
    const reached = await reachedOf(
      client,
      batch.map((h) => hostWorkflowId(h.entity.site, h.entity.id)),
    );
    for (let b = 0; b < batch.length; b++) {
      const h = batch[b]!;
      const last = reached.get(`${h.entity.site}/${h.entity.id}`);
      if (heldNewHost(rev, h, last, input.force === true)) continue;
      const p = planHost(h, last, input.force === true) ?? validateHost(rev, h, last, changed);
      if (!p) continue;
      out.push(p);
      // Hosts of this batch after the page's last one are looked at again by the next page (it starts after the
      // last host the rollout started).
      if (out.length === input.limit) break;
    }
  }
  // A full page may have been the last: the next one then comes back empty and done.
  return { hosts: out, done: out.length < input.limit };
}
