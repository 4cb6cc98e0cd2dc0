// Prometheus metrics of one replica, in a registry of its own (so that several apps in one process, as in tests,
// do not share counters). Fleet gauges (hosts by stage, rollouts by state) are computed from the index at scrape
// time and are the same on every replica: aggregate them with max(), not sum(). Boot-event and BMC counters are
// inferred from the stage changes this replica's index observes (see fleet-index.ts): steps a host passes within
// one refresh are still counted, but a TFTP step an iPXE ROM skips is counted anyway and a power retry that
// completes between two refreshes is missed. The exact record is each host's timeline.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FleetIndex, IndexObserver } from './fleet-index.ts';

export interface ServerMetrics {
  registry: Registry;
  observer: IndexObserver;
  requestDuration: Histogram<'method' | 'route' | 'status'>;
  indexRefresh: Histogram<'result'>;
  webhookDeliveries: Counter<'event' | 'outcome'>;
  rolloutsStarted: Counter<'trigger'>;
  /** Gauges read the index lazily: the index is made after the metrics. */
  attachIndex(index: FleetIndex): void;
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
  const bootEvents = new Counter({
    name: 'vaquero_boot_events_total',
    help: 'Boot events (dhcp, tftp, ipxe, kernel, checkpoint) inferred from host stage changes seen by this replica',
    labelNames: ['site', 'kind'],
    registers: [registry],
  });
  const bmcOps = new Counter({
    name: 'vaquero_bmc_operations_total',
    help: 'BMC power cycles inferred from hosts entering or passing the power stage, seen by this replica',
    labelNames: ['site'],
    registers: [registry],
  });
  const bmcFailures = new Counter({
    name: 'vaquero_bmc_failures_total',
    help: 'Host runs that failed in the power stage (the BMC operation failed after its retries), seen by this replica',
    labelNames: ['site'],
    registers: [registry],
  });
  return {
    registry,
    observer: {
      bootEvents: (site, kind, n) => bootEvents.inc({ site, kind }, n),
      bmcOperation: (site) => bmcOps.inc({ site }),
      bmcFailure: (site) => bmcFailures.inc({ site }),
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
  };
}
