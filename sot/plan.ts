// What moving to a SoT revision would reprovision, and why. A host is reprovisioned exactly when what it would
// boot changes — its rendered artifacts or its list of stages — never because unrelated YAML moved.
import { fingerprintHost, NO_CONFIG_DIGEST, STAGE_PARTS } from './fingerprint.ts';
import type { HostFingerprint, StagePart } from './fingerprint.ts';
import type { Diagnostic } from './diagnostics.ts';
import type { SotModel } from './model.ts';
import type { HostSpec, SiteSpec } from './schema.ts';
import { configOf } from './model.ts';
import { createRenderer } from './render.ts';
import { DEFAULT_TIME_ZONE, windowGate } from '../domain/maintenance-windows.ts';

/** `validate`: an unchanged host whose workflow lists a changed one in `policy.validate_on` re-runs its validation only. */
export const PLAN_ACTIONS = ['reprovision', 'added', 'validate', 'removed', 'skipped', 'unchanged'] as const;
export type PlanAction = (typeof PLAN_ACTIONS)[number];

export interface PlanEntry {
  site: string;
  host: string;
  action: PlanAction;
  reasons: string[];
}

export interface Plan {
  /** Sorted by site, then host. */
  hosts: PlanEntry[];
}

export interface HostState {
  site: string;
  host: string;
  neverProvision: boolean;
  /** Its workflow's id. */
  workflow: string;
  /** Its workflow's definition, canonical (key order does not count): what a "workflow changed" compares. */
  workflowDigest?: string;
  /** Its workflow's `policy.validate_on`: workflows whose change re-validates this host. */
  validateOn?: string[];
  /** Why the host is left alone while it is new to vaquero (see newHostHold); undefined: it is planned. */
  newHostHold?: string;
  /** The host has no BMC interface: nothing power-cycles it (NO_BMC_REASON). */
  noBmc: boolean;
  /** Maintenance windows its rollout waits for (its workflow's, its site's): a rollout starts it only inside them. */
  windows?: { of: string; windows: string[]; timeZone: string }[];
  /** Undefined when the host does not render; then `diagnostics` says why. */
  fingerprint?: HostFingerprint;
  diagnostics: Diagnostic[];
}

const PART_CHANGED: Record<StagePart, string> = {
  ipxe: 'iPXE script changed',
  kernel: 'kernel URL changed',
  initrds: 'initrds changed',
  cmdline: 'kernel command line changed',
  config: 'unattended config changed',
  tasks: 'before_shutdown/validate tasks changed',
};

/**
 * `policy.force_provision` when the site's env.yml does not say. On, unlike the original Vaquero (off): vaquero
 * has always planned new hosts, and the first rollout of a SoT finds every host new (see FORMAT.md).
 */
export const DEFAULT_FORCE_PROVISION = true;

/**
 * Why a host that vaquero never provisioned is not planned: it has a BMC (planning it would power-cycle a machine
 * that may be running something) and its site's `policy.force_provision` is off. Undefined: planned as usual
 * (hosts without a BMC are, since nothing power-cycles them: they reprovision when they netboot by themselves).
 */
export function newHostHold(site: SiteSpec | undefined, siteId: string, host: HostSpec): string | undefined {
  if (!host.interfaces.some((i) => i.type === 'bmc')) return undefined;
  if (site?.policy?.force_provision ?? DEFAULT_FORCE_PROVISION) return undefined;
  return `new host with a BMC: policy.force_provision is off for site ${siteId}`;
}

/** The last reason of a planned host without a BMC interface. */
export const NO_BMC_REASON =
  'no BMC: never power-cycled; its run opens the netboot gate and waits for the host to netboot by itself (timeouts.self_netboot)';

/** Planned hosts without a BMC say so: the plan is where an operator learns, before applying, what such a run will do. */
function notedNoBmc(entries: PlanEntry[], states: ReadonlyMap<string, HostState>): PlanEntry[] {
  for (const e of entries) {
    const s = states.get(e.host);
    if (s?.noBmc && s.site === e.site && (e.action === 'added' || e.action === 'reprovision'))
      e.reasons.push(NO_BMC_REASON);
  }
  return entries;
}

function windowsOf(
  policies: [string, { windows?: string[] | undefined; time_zone?: string | undefined } | undefined][],
): NonNullable<HostState['windows']> {
  return policies.flatMap(([of, p]) =>
    p?.windows?.length ? [{ of, windows: p.windows, timeZone: p.time_zone ?? DEFAULT_TIME_ZONE }] : [],
  );
}

/**
 * Planned hosts under maintenance windows say when they may start: now (a window is open) or the next opening.
 * `now` is the planner's clock: the rollout decides again when it reaches the host.
 */
function notedWindows(
  entries: PlanEntry[],
  states: ReadonlyMap<string, HostState>,
  now: number,
): PlanEntry[] {
  for (const e of entries) {
    const s = states.get(e.host);
    if (!s?.windows || s.site !== e.site || (e.action !== 'added' && e.action !== 'reprovision')) continue;
    for (const w of s.windows) {
      const gate = windowGate(w.windows, w.timeZone, now);
      const list = `${w.windows.join(', ')} ${w.timeZone}`;
      if (gate.open) e.reasons.push(`maintenance window open now (${w.of}: ${list})`);
      else if (gate.next)
        e.reasons.push(
          `starts in the next maintenance window: ${gate.next.local} ${w.timeZone} (${w.of}: ${list})`,
        );
      else e.reasons.push(`never starts: no maintenance window of ${w.of} ever opens (${list})`);
    }
  }
  return entries;
}

/** Every host of a model, rendered and fingerprinted, by host name (unique in a valid SoT). */
export function hostStates(model: SotModel): Map<string, HostState> {
  const renderer = createRenderer(model);
  const out = new Map<string, HostState>();
  for (const h of model.hosts) {
    if (out.has(h.id)) continue;
    const neverProvision = h.spec.never_provision === true;
    const { rendered, diagnostics } = renderer.renderHost(h);
    const hold = newHostHold(model.sites.get(h.site)?.spec, h.site, h.spec);
    const windows = windowsOf([
      [`workflow ${h.spec.workflow}`, model.workflows.get(h.spec.workflow)?.spec.policy],
      [`site ${h.site}`, model.sites.get(h.site)?.spec.policy],
    ]);
    const wf = configOf(model, h).workflows.get(h.spec.workflow)?.spec;
    const validateOn = wf?.policy?.validate_on;
    const state: HostState = {
      site: h.site,
      host: h.id,
      neverProvision,
      workflow: h.spec.workflow,
      ...(wf ? { workflowDigest: canonicalJson(wf) } : {}),
      ...(validateOn?.length ? { validateOn } : {}),
      noBmc: !h.spec.interfaces.some((i) => i.type === 'bmc'),
      ...(hold !== undefined ? { newHostHold: hold } : {}),
      ...(windows.length > 0 ? { windows } : {}),
      diagnostics,
    };
    if (rendered) state.fingerprint = fingerprintHost(rendered);
    out.set(h.id, state);
  }
  return out;
}

/** JSON with object keys sorted: two YAML files that say the same thing give the same text. */
function canonicalJson(v: unknown): string {
  const sorted = (x: unknown): unknown =>
    Array.isArray(x)
      ? x.map(sorted)
      : x && typeof x === 'object'
        ? Object.fromEntries(
            Object.keys(x)
              .sort()
              .map((k) => [k, sorted((x as Record<string, unknown>)[k])]),
          )
        : x;
  return JSON.stringify(sorted(v));
}

/**
 * The workflows that change in this plan: a host of theirs is reprovisioned (what it boots changed), or, with a
 * previous revision to compare, their definition changed (read through their hosts, so a workflow no host uses
 * never counts).
 */
function changedWorkflows(
  entries: readonly PlanEntry[],
  after: ReadonlyMap<string, HostState>,
  before?: ReadonlyMap<string, HostState>,
): Set<string> {
  const changed = new Set<string>();
  for (const e of entries) {
    const s = after.get(e.host);
    if (e.action === 'reprovision' && s?.site === e.site) changed.add(s.workflow);
  }
  if (before) {
    const definitions = (states: ReadonlyMap<string, HostState>) =>
      new Map([...states.values()].map((s) => [s.workflow, s.workflowDigest]));
    const was = definitions(before);
    for (const [wf, digest] of definitions(after)) {
      if (was.has(wf) && was.get(wf) !== digest) changed.add(wf);
    }
  }
  return changed;
}

/** The reason an unchanged host re-validates: the first workflow of its validate_on that changed; undefined: none. */
export function validateOnReason(
  validateOn: readonly string[] | undefined,
  changed: ReadonlySet<string>,
): string | undefined {
  const by = validateOn?.find((w) => changed.has(w));
  return by === undefined
    ? undefined
    : `workflow ${by} changed (validate_on): validation only, no power cycle`;
}

/** Unchanged hosts whose workflow lists a changed workflow in validate_on re-run their validation only. */
function notedValidateOn(
  entries: PlanEntry[],
  after: ReadonlyMap<string, HostState>,
  before?: ReadonlyMap<string, HostState>,
): PlanEntry[] {
  const changed = changedWorkflows(entries, after, before);
  if (changed.size === 0) return entries;
  for (const e of entries) {
    const s = after.get(e.host);
    if (e.action !== 'unchanged' || s?.site !== e.site) continue;
    const why = validateOnReason(s.validateOn, changed);
    if (why === undefined) continue;
    e.action = 'validate';
    e.reasons = [why];
  }
  return entries;
}

function sortPlan(entries: PlanEntry[]): Plan {
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return { hosts: entries.sort((a, b) => cmp(a.site, b.site) || cmp(a.host, b.host)) };
}

/** An entry for a host of the target revision that will not be provisioned whatever the comparison says. */
function skipped(s: HostState): PlanEntry | undefined {
  if (s.neverProvision)
    return { site: s.site, host: s.host, action: 'skipped', reasons: ['never_provision is set'] };
  if (!s.fingerprint) {
    const n = s.diagnostics.length === 1 ? '1 problem' : `${s.diagnostics.length} problems`;
    return {
      site: s.site,
      host: s.host,
      action: 'skipped',
      reasons: [`does not render (${n}; see vaquero validate)`],
    };
  }
  return undefined;
}

/** Why `to` boots something other than `from`; empty when it boots the same. */
export function diffFingerprints(from: HostFingerprint, to: HostFingerprint): string[] {
  if (from.digest === to.digest) return [];
  const reasons: string[] = [];
  if (from.site !== to.site) reasons.push(`moved from site ${from.site} to ${to.site}`);
  const fromBoots = from.stages.map((s) => s.boot).join(', ');
  const toBoots = to.stages.map((s) => s.boot).join(', ');
  if (fromBoots !== toBoots) reasons.push(`stages changed: ${fromBoots} -> ${toBoots}`);
  to.stages.forEach((t, i) => {
    const f = from.stages[i];
    if (!f || f.boot !== t.boot || f.digest === t.digest) return;
    const changed = STAGE_PARTS.filter((p) => p !== 'ipxe' && f.parts[p] !== t.parts[p]);
    // The script is built from the other parts; only name it when nothing more specific changed.
    if (changed.length === 0) changed.push('ipxe');
    for (const p of changed) {
      let what = PART_CHANGED[p];
      if (p === 'config' && f.parts.config === NO_CONFIG_DIGEST) what = 'unattended config added';
      if (p === 'config' && t.parts.config === NO_CONFIG_DIGEST) what = 'unattended config removed';
      reasons.push(`stage ${t.index} (${t.boot}): ${what}`);
    }
  });
  // Digests differ but no part does: cannot happen with the same digest function, but never claim "no reason".
  if (reasons.length === 0) reasons.push('rendered boot changed');
  return reasons;
}

/** Plan the move from revision `from` (null: nothing provisioned yet) to revision `to`. */
export function planModels(from: SotModel | null, to: SotModel, now = Date.now()): Plan {
  return planStates(from ? hostStates(from) : null, hostStates(to), now);
}

/** planModels on hosts already rendered with hostStates (the CLI renders once to both check and plan). */
export function planStates(
  from: ReadonlyMap<string, HostState> | null,
  after: ReadonlyMap<string, HostState>,
  /** The clock maintenance windows are read at. */
  now = Date.now(),
): Plan {
  const before = from ?? new Map<string, HostState>();
  const entries: PlanEntry[] = [];
  for (const t of after.values()) {
    const skip = skipped(t);
    if (skip) {
      entries.push(skip);
      continue;
    }
    const f = before.get(t.host);
    const base = { site: t.site, host: t.host };
    if (!f) {
      if (t.newHostHold) entries.push({ ...base, action: 'skipped', reasons: [t.newHostHold] });
      else entries.push({ ...base, action: 'added', reasons: [from ? 'new host' : 'no previous revision'] });
    } else if (!f.fingerprint) {
      const reason = f.neverProvision ? 'never_provision was set' : 'did not render in the previous revision';
      entries.push({ ...base, action: 'reprovision', reasons: [reason] });
    } else {
      const reasons = diffFingerprints(f.fingerprint, t.fingerprint!);
      entries.push({ ...base, action: reasons.length > 0 ? 'reprovision' : 'unchanged', reasons });
    }
  }
  for (const f of before.values()) {
    if (!after.has(f.host)) {
      entries.push({ site: f.site, host: f.host, action: 'removed', reasons: ['no longer in the SoT'] });
    }
  }
  return sortPlan(notedWindows(notedNoBmc(notedValidateOn(entries, after, before), after), after, now));
}

/** Key of a host in the map of last-reached digests. */
export function hostKey(site: string, host: string): string {
  return `${site}/${host}`;
}

/**
 * Plan `to` against what each host last reached: `last` maps `site/host` to the host digest
 * (HostFingerprint.digest) of the boot it last completed. Hosts with no entry have never been provisioned.
 */
export function planAgainst(
  to: SotModel,
  last: ReadonlyMap<string, string>,
  /** Hosts (`site/host`) with any run of their own, reached or not: force_provision never holds them. */
  ran: ReadonlySet<string> = new Set(last.keys()),
  /** The clock maintenance windows are read at. */
  now = Date.now(),
): Plan {
  const entries: PlanEntry[] = [];
  const seen = new Set<string>();
  const states = hostStates(to);
  for (const t of states.values()) {
    const key = hostKey(t.site, t.host);
    seen.add(key);
    const skip = skipped(t);
    if (skip) {
      entries.push(skip);
      continue;
    }
    const base = { site: t.site, host: t.host };
    const reached = last.get(key);
    if (reached === undefined) {
      if (t.newHostHold && !ran.has(key))
        entries.push({ ...base, action: 'skipped', reasons: [t.newHostHold] });
      else entries.push({ ...base, action: 'added', reasons: ['has not reached any revision yet'] });
    } else if (reached === t.fingerprint!.digest) {
      entries.push({ ...base, action: 'unchanged', reasons: [] });
    } else {
      entries.push({
        ...base,
        action: 'reprovision',
        reasons: ['what it would boot differs from what it last reached'],
      });
    }
  }
  for (const key of last.keys()) {
    if (seen.has(key)) continue;
    const slash = key.indexOf('/');
    const site = slash < 0 ? '' : key.slice(0, slash);
    entries.push({ site, host: key.slice(slash + 1), action: 'removed', reasons: ['no longer in the SoT'] });
  }
  return sortPlan(notedWindows(notedNoBmc(notedValidateOn(entries, states), states), states, now));
}

export function countActions(plan: Plan): Record<PlanAction, number> {
  const counts = Object.fromEntries(PLAN_ACTIONS.map((a) => [a, 0])) as Record<PlanAction, number>;
  for (const h of plan.hosts) counts[h.action]++;
  return counts;
}
