// Prometheus metrics of one replica, in a registry of its own (so that several apps in one process, as in tests,
// do not share counters). Fleet gauges (hosts by stage, rollouts by state) are computed from the index at scrape
// time and are the same on every replica: aggregate them with max(), not sum(). The host-run counters and the
// stage histogram count what happened: when this replica's index sees a host run close, the run's own status (its
// timeline, as the host workflow recorded it) is read once and counted (host-run-counts.ts): time in each stage,
// the boot events it took by kind, its power operations and their failures. Every replica counts every run it sees
// close: aggregate them with max() too. Runs that closed while no replica watched are not counted.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { HostStatus } from '../domain/host.ts';
import type { FleetIndex, HostRow, IndexObserver } from './fleet-index.ts';
import { countRun } from './host-run-counts.ts';

/** Reads a closed host run's status (the host workflow's status query on that run). */
export type HostRunReader = (workflowId: string, runId: string) => Promise<HostStatus>;

export interface ServerMetrics {
  registry: Registry;
  observer: IndexObserver;
  requestDuration: Histogram<'method' | 'route' | 'status'>;
  indexRefresh: Histogram<'result'>;
  webhookDeliveries: Counter<'event' | 'outcome'>;
  rolloutsStarted: Counter<'trigger'>;
  /** Gauges read the index lazily: the index is made after the metrics. */
  attachIndex(index: FleetIndex): void;
  /** How closed host runs are read (the app's Temporal client); until then they are counted as unread. */
  attachReader(read: HostRunReader): void;
  /** Resolves when every closed run seen so far has been read and counted. */
  settled(): Promise<void>;
}

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): ServerMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'vaquero_server_' });
  let index: FleetIndex | undefined;

  new Gauge({
    name: 'vaquero_hosts',
    help: 'Hosts by site, stage and state (newest run of each host workflow, as this replica last saw it)',
    labelNames: ['site', 'stage', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      if (!index) return;
      const counts = new Map<string, { site: string; stage: string; state: string; n: number }>();
      for (const h of index.allHosts()) {
        const k = `${h.site}\0${h.stage}\0${h.state}`;
        const c = counts.get(k);
        if (c) c.n++;
        else counts.set(k, { site: h.site, stage: h.stage, state: h.state, n: 1 });
      }
      for (const c of counts.values()) this.set({ site: c.site, stage: c.stage, state: c.state }, c.n);
    },
  });
  new Gauge({
    name: 'vaquero_rollouts',
    help: 'Rollouts by state (within Temporal retention)',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      this.reset();
      if (!index) return;
      const counts = new Map<string, number>();
      for (const r of index.listRollouts()) counts.set(r.state, (counts.get(r.state) ?? 0) + 1);
      for (const [state, n] of counts) this.set({ state }, n);
    },
  });
  new Gauge({
    name: 'vaquero_index_age_seconds',
    help: 'Seconds since this replica last refreshed its host index from Temporal (-1: never)',
    registers: [registry],
    collect() {
      this.set(index?.synced ? (Date.now() - index.refreshedAt) / 1000 : -1);
    },
  });
  const stageSeconds = new Histogram({
    name: 'vaquero_host_stage_seconds',
    help: 'Time host runs spent in each stage (every entry: a power retry is a second observation), from each closed run’s timeline',
    labelNames: ['site', 'stage'],
    buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200],
    registers: [registry],
  });
  const bootEvents = new Counter({
    name: 'vaquero_boot_events_total',
    help: 'Boot events host runs took, by kind (dhcp, tftp, ipxe, kernel, initrd, config, checkpoint, …), from each closed run’s timeline',
    labelNames: ['site', 'kind'],
    registers: [registry],
  });
  const ignoredEvents = new Counter({
    name: 'vaquero_boot_events_ignored_total',
    help: 'Boot events host runs refused (another MAC, or no network boot expected then), from each closed run’s timeline',
    labelNames: ['site'],
    registers: [registry],
  });
  const powerOps = new Counter({
    name: 'vaquero_power_operations_total',
    help: 'BMC power operations of host runs: result ok (the power cycle was carried out) or failed (the power stage failed after its retries), from each closed run’s timeline',
    labelNames: ['site', 'result'],
    registers: [registry],
  });
  const hostRuns = new Counter({
    name: 'vaquero_host_runs_total',
    help: 'Host runs this replica saw close, by final state (provisioned, failed, cancelled, terminated, timed_out)',
    labelNames: ['site', 'state'],
    registers: [registry],
  });
  const unread = new Counter({
    name: 'vaquero_host_runs_unread_total',
    help: 'Closed host runs whose status could not be read (no worker answered): not in the stage, event and power metrics',
    labelNames: ['site'],
    registers: [registry],
  });
  const rolloutsFinished = new Counter({
    name: 'vaquero_rollouts_finished_total',
    help: 'Rollouts this replica saw close, by final state (completed, failed, aborted, superseded, …)',
    labelNames: ['state'],
    registers: [registry],
  });
  let reader: HostRunReader | undefined;
  const inFlight = new Set<Promise<void>>();
  const count = async (row: HostRow): Promise<void> => {
    const site = row.site;
    hostRuns.inc({ site, state: row.state });
    let status: HostStatus;
    try {
      if (!reader) throw new Error('no reader');
      status = await reader(row.workflowId, row.runId);
    } catch {
      unread.inc({ site });
      return;
    }
    const c = countRun(status, row.closedMs ?? Date.now());
    for (const st of c.stages) stageSeconds.observe({ site, stage: st.stage }, st.seconds);
    for (const [kind, n] of Object.entries(c.events)) bootEvents.inc({ site, kind }, n);
    if (c.ignoredEvents > 0) ignoredEvents.inc({ site }, c.ignoredEvents);
    if (c.power.ok > 0) powerOps.inc({ site, result: 'ok' }, c.power.ok);
    if (c.power.failed > 0) powerOps.inc({ site, result: 'failed' }, c.power.failed);
  };
  return {
    registry,
    observer: {
      hostRunClosed(row) {
        const p = count(row).finally(() => inFlight.delete(p));
        inFlight.add(p);
      },
      rolloutClosed: (state) => rolloutsFinished.inc({ state }),
    },
    requestDuration: new Histogram({
      name: 'vaquero_http_request_duration_seconds',
      help: 'REST API request latency by route',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    indexRefresh: new Histogram({
      name: 'vaquero_index_refresh_seconds',
      help: 'Duration of host index refreshes from Temporal visibility',
      labelNames: ['result'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    webhookDeliveries: new Counter({
      name: 'vaquero_webhook_deliveries_total',
      help: 'GitHub webhook deliveries by event and outcome',
      labelNames: ['event', 'outcome'],
      registers: [registry],
    }),
    rolloutsStarted: new Counter({
      name: 'vaquero_rollouts_started_total',
      help: 'Rollouts this replica started, by trigger (api, push, watch, poll)',
      labelNames: ['trigger'],
      registers: [registry],
    }),
    attachIndex(i) {
      index = i;
    },
    attachReader(read) {
      reader = read;
    },
    async settled() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}
