// This replica's in-memory view of the fleet: the newest run of every host workflow and every rollout, as
// visibility reports them. Listing 10,000 hosts from Temporal per request would take seconds; from here it takes
// a filter over an array. The index is refreshed incrementally (see fleet-sync.ts) and is as stale as its last
// refresh; per-host detail (attempts, last error, timeline) always comes from the workflow itself.
import { EventFeed } from './event-feed.ts';

/** One host's newest run as visibility lists it; times in epoch ms. */
export type { HostRun } from '../temporal/visibility-rows.ts';
import type { HostRun, RolloutRun } from '../temporal/visibility-rows.ts';
import type { AgentStatusReport } from '../domain/agent-status.ts';
import { agentStatusAlerts } from '../temporal/agent-status-rows.ts';

/** A site as GET /sites shows it: its hosts counted, and what each of its agents reports about its segment. */
export interface SiteStatus {
  site: string;
  hosts: number;
  byState: Record<string, number>;
  byStage: Record<string, number>;
  /** Agents that reported (those with DHCP on), in id order. */
  agents: (AgentStatusReport & { alerts: string[] })[];
  /** Every agent's alerts, counted: 0 when no agent of the site sees a conflict or misses its server. */
  alerts: number;
}

/** A HostRun as the index keeps it: with the API's ISO times made once, not on every listing. */
export interface HostRow extends HostRun {
  startedAt: string;
  closedAt?: string;
  /**
   * When this replica first saw the host in its current stage: visibility has no stage timestamps, so this is
   * late by up to one refresh; for hosts already mid-stage when the replica started, the run's start.
   */
  stageSinceMs: number;
  stageSince: string;
}

export interface RolloutRow extends RolloutRun {
  counts?: Record<string, number>;
  total?: number;
}

export interface HostFilter {
  site?: string;
  stage?: string;
  state?: string;
  revision?: string;
}

export interface HostPage {
  hosts: HostRow[];
  /** Hosts matching the filter, over all pages. */
  total: number;
  /** Pass as `cursor` for the next page; absent on the last page. */
  nextCursor?: string;
}

/** Told of what this replica sees happen (not of what it finds at its first, full sync). */
export interface IndexObserver {
  /** A host run closed (not continued as new): its own record says what it did. */
  hostRunClosed(row: HostRow): void;
  /** A rollout closed, in this state. */
  rolloutClosed(state: string): void;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function encodeCursor(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): string | undefined {
  const key = Buffer.from(cursor, 'base64url').toString('utf8');
  return /^[^/]+\/[^/]+$/.test(key) ? key : undefined;
}

export class FleetIndex {
  private readonly hosts = new Map<string, HostRow>();
  private sorted: string[] = [];
  private sortedDirty = false;
  private readonly rollouts = new Map<string, RolloutRow>();
  /** Each agent's latest status report, by `site/agent` (from the agents' status workflows' memos). */
  private agents = new Map<string, AgentStatusReport>();
  /** Epoch ms of the last completed refresh; 0 before the first. */
  refreshedAt = 0;
  /** Bumped by every change to the host rows: a listing computed at one version is valid until the next. */
  hostVersion = 0;

  constructor(
    readonly feed: EventFeed = new EventFeed(),
    private readonly observer?: IndexObserver,
  ) {}

  get size(): number {
    return this.hosts.size;
  }

  get synced(): boolean {
    return this.refreshedAt > 0;
  }

  /**
   * Records what visibility says about a host's run. `initial`: part of a full sync, so no change events and no
   * inferred counts (they happened before this replica was looking). Returns whether anything changed.
   */
  upsertHost(incoming: HostRun, opts: { initial?: boolean; now?: number } = {}): boolean {
    const key = `${incoming.site}/${incoming.host}`;
    const now = opts.now ?? Date.now();
    const prev = this.hosts.get(key);
    // An older run (listed because it closed recently) never replaces the newer one.
    if (prev && prev.startedMs > incoming.startedMs) return false;
    const sameRun = prev?.runId === incoming.runId;
    if (
      prev &&
      sameRun &&
      prev.stage === incoming.stage &&
      prev.state === incoming.state &&
      prev.revision === incoming.revision &&
      prev.closedMs === incoming.closedMs
    ) {
      return false;
    }
    const stageSinceMs =
      prev && sameRun && prev.stage === incoming.stage
        ? prev.stageSinceMs
        : opts.initial || !prev
          ? (incoming.closedMs ?? (opts.initial ? incoming.startedMs : now))
          : now;
    const row: HostRow = {
      ...incoming,
      startedAt: new Date(incoming.startedMs).toISOString(),
      ...(incoming.closedMs !== undefined ? { closedAt: new Date(incoming.closedMs).toISOString() } : {}),
      stageSinceMs,
      stageSince: new Date(stageSinceMs).toISOString(),
    };
    if (!prev) this.sortedDirty = true;
    this.hosts.set(key, row);
    this.hostVersion++;
    if (!opts.initial) {
      const closedNow = row.closedMs !== undefined && !(prev && sameRun && prev.closedMs !== undefined);
      if (closedNow && row.state !== 'continued_as_new') this.observer?.hostRunClosed(row);
      this.feed.publish('host', {
        site: row.site,
        host: row.host,
        stage: row.stage,
        state: row.state,
        revision: row.revision,
        workflowId: row.workflowId,
        runId: row.runId,
        ...(prev ? { previousStage: prev.stage, previousState: prev.state } : {}),
        at: new Date(now).toISOString(),
      });
    }
    return true;
  }

  /** Drops hosts not in `keep` (a full sync found them gone: retention expired). */
  retainHosts(keep: ReadonlySet<string>): void {
    for (const key of this.hosts.keys()) {
      if (!keep.has(key)) {
        this.hosts.delete(key);
        this.sortedDirty = true;
        this.hostVersion++;
      }
    }
  }

  getHost(site: string, host: string): HostRow | undefined {
    return this.hosts.get(`${site}/${host}`);
  }

  private keys(): string[] {
    if (this.sortedDirty) {
      this.sorted = [...this.hosts.keys()].sort(cmp);
      this.sortedDirty = false;
    }
    return this.sorted;
  }

  /** A page of hosts in site/host order, after the host named by `cursor`. */
  listHosts(filter: HostFilter, limit: number, cursor?: string): HostPage {
    const keys = this.keys();
    let start = 0;
    if (cursor !== undefined) {
      // First key strictly after the cursor (binary search; the cursor's host may have gone since).
      let lo = 0;
      let hi = keys.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (keys[mid]! <= cursor) lo = mid + 1;
        else hi = mid;
      }
      start = lo;
    }
    const match = (r: HostRow) =>
      (filter.site === undefined || r.site === filter.site) &&
      (filter.stage === undefined || r.stage === filter.stage) &&
      (filter.state === undefined || r.state === filter.state) &&
      (filter.revision === undefined || r.revision === filter.revision);
    const unfiltered =
      filter.site === undefined &&
      filter.stage === undefined &&
      filter.state === undefined &&
      filter.revision === undefined;
    let total = unfiltered ? keys.length : 0;
    const hosts: HostRow[] = [];
    let last: string | undefined;
    let more = false;
    for (let i = unfiltered ? start : 0; i < keys.length; i++) {
      const r = this.hosts.get(keys[i]!)!;
      if (!unfiltered) {
        if (!match(r)) continue;
        total++;
        if (i < start) continue;
      }
      if (hosts.length < limit) {
        hosts.push(r);
        last = keys[i];
      } else {
        more = true;
        if (unfiltered) break;
      }
    }
    return { hosts, total, ...(more && last !== undefined ? { nextCursor: encodeCursor(last) } : {}) };
  }

  /** Per site: hosts by state and by stage. */
  sites(): {
    site: string;
    hosts: number;
    byState: Record<string, number>;
    byStage: Record<string, number>;
  }[] {
    const out = new Map<
      string,
      { site: string; hosts: number; byState: Record<string, number>; byStage: Record<string, number> }
    >();
    for (const r of this.hosts.values()) {
      let s = out.get(r.site);
      if (!s) {
        s = { site: r.site, hosts: 0, byState: {}, byStage: {} };
        out.set(r.site, s);
      }
      s.hosts++;
      s.byState[r.state] = (s.byState[r.state] ?? 0) + 1;
      s.byStage[r.stage] = (s.byStage[r.stage] ?? 0) + 1;
    }
    return [...out.values()].sort((a, b) => cmp(a.site, b.site));
  }

  /** Replaces the agents' reports with a full listing of them (a refresh lists every agent's, they are few). */
  setAgentStatuses(list: readonly AgentStatusReport[]): void {
    this.agents = new Map(list.map((r) => [`${r.site}/${r.agent}`, r]));
  }

  /** Per site: hosts by state and stage, and its agents' reports; sites with agents but no hosts too. */
  siteStatuses(): SiteStatus[] {
    const out = new Map<string, SiteStatus>();
    for (const s of this.sites()) out.set(s.site, { ...s, agents: [], alerts: 0 });
    const byAgent = [...this.agents.values()].sort((a, b) => cmp(a.agent, b.agent));
    for (const r of byAgent) {
      let s = out.get(r.site);
      if (!s) {
        s = { site: r.site, hosts: 0, byState: {}, byStage: {}, agents: [], alerts: 0 };
        out.set(r.site, s);
      }
      const alerts = agentStatusAlerts(r);
      s.agents.push({ ...r, alerts });
      s.alerts += alerts.length;
    }
    return [...out.values()].sort((a, b) => cmp(a.site, b.site));
  }

  /** Every host row, for metrics. */
  allHosts(): IterableIterator<HostRow> {
    return this.hosts.values();
  }

  upsertRollout(row: RolloutRow, opts: { initial?: boolean } = {}): boolean {
    const prev = this.rollouts.get(row.id);
    if (prev && prev.startedAt > row.startedAt) return false;
    const counts = row.counts ?? (prev?.startedAt === row.startedAt ? prev.counts : undefined);
    const total = row.total ?? (prev?.startedAt === row.startedAt ? prev.total : undefined);
    const next: RolloutRow = {
      ...row,
      ...(counts ? { counts } : {}),
      ...(total !== undefined ? { total } : {}),
    };
    if (prev && JSON.stringify(prev) === JSON.stringify(next)) return false;
    this.rollouts.set(row.id, next);
    if (!opts.initial) {
      if (next.status !== 'running' && (prev === undefined || prev.status === 'running'))
        this.observer?.rolloutClosed(next.state);
      this.feed.publish('rollout', {
        id: next.id,
        sot: next.sot,
        revision: next.revision,
        state: next.state,
        status: next.status,
        ...(next.counts ? { counts: next.counts } : {}),
        ...(prev ? { previousState: prev.state } : {}),
        at: new Date().toISOString(),
      });
    }
    return true;
  }

  getRollout(id: string): RolloutRow | undefined {
    return this.rollouts.get(id);
  }

  /** Newest first. */
  listRollouts(filter: { sot?: string; state?: string } = {}): RolloutRow[] {
    return [...this.rollouts.values()]
      .filter(
        (r) =>
          (filter.sot === undefined || r.sot === filter.sot) &&
          (filter.state === undefined || r.state === filter.state),
      )
      .sort((a, b) => b.startedAt - a.startedAt || cmp(a.id, b.id));
  }

  retainRollouts(keep: ReadonlySet<string>): void {
    for (const id of this.rollouts.keys()) if (!keep.has(id)) this.rollouts.delete(id);
  }
}
