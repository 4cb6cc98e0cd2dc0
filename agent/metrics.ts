// The agent's Prometheus metrics (GET /metrics on its HTTP service), in a registry of its own per agent, so that
// several agents in one process (tests, the sim) do not share counters. Where a part of the agent already counts
// (the DHCP and TFTP servers' stats(), the recorder's, the outbox's, the HTTP refusals), the metric reads that
// count when scraped (collect()); nothing is counted twice. Only HTTP requests are counted here, as they end.
// Label values are bounded: HTTP routes are fastify's route patterns (`/config/:mac`), never the raw URL.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { BootEventRecorder, RecorderStats } from './boot-event-recorder.ts';
import type { MissingBootFile } from './boot-files-check.ts';
import type { AssetCacheStats } from './http/asset-cache.ts';
import type { DhcpStats } from './dhcp/server.ts';
import type { EventOutbox, OutboxStats } from './event-outbox.ts';
import type { ModelCache } from './model-cache.ts';
import type { TftpFailureKind, TftpRefusalKind, TftpServerStats } from './tftp/server.ts';

/** Where a boot service beside HTTP is: only `listening` is ready. */
export type ServiceState = 'starting' | 'listening' | 'failed' | 'stopped';

/** A boot service (DHCP, TFTP) as /health and /metrics see it; `stats()` is the service's own. */
export interface ServiceStatus {
  name: string;
  state: ServiceState;
  stats(): Record<string, unknown>;
}

export interface AgentMetricSources {
  cache: ModelCache;
  recorder: BootEventRecorder;
  outbox?: EventOutbox;
  /** The boot services beside HTTP (DHCP reads the `dhcp` one's DhcpStats, TFTP the `tftp` one's). */
  services?: () => readonly ServiceStatus[];
  /** Whether the site worker polls Temporal; without it the gauge is left out. */
  workerConnected?: () => boolean;
  /** HTTP requests for a script or config that were refused, by route pattern and reason. */
  httpRefusals?: () => Iterable<{ route: string; reason: string; count: number }>;
  /** Whether /health answers ready. */
  ready?: () => boolean;
  /** The boot files the DHCP answers can name that cannot be served (boot-files-check.ts), found at start. */
  missingBootFiles?: () => readonly MissingBootFile[];
  /** Installer log lines taken and refused (agent/installer-logs/log-intake.ts). */
  installerLogs?: () => Record<
    'kept' | 'unknownSource' | 'badToken' | 'overBudget' | 'dropped' | 'summaries',
    number
  >;
  /** The cache of assets proxied from a CDN (agent/http/asset-cache.ts); its metrics are left out without it. */
  assetCache?: () => AssetCacheStats;
  /** Process metrics (CPU, memory, event loop lag) as vaquero_agent_process_…; default true. */
  defaultMetrics?: boolean;
}

export interface AgentMetrics {
  registry: Registry;
  /** One HTTP request answered, by method, route pattern (`unmatched` when no route matched) and status. */
  httpRequest(method: string, route: string, status: number): void;
}

const DHCP_REPLIES: readonly [keyof DhcpStats, string][] = [
  ['offers', 'offer'],
  ['acks', 'ack'],
  ['naks', 'nak'],
  ['proxyOffers', 'proxy_offer'],
  ['proxyAcks', 'proxy_ack'],
];
const DHCP_REFUSALS: readonly [keyof DhcpStats, string][] = [
  ['unknownMacs', 'unknown_mac'],
  ['ignoredInterfaces', 'ignore_dhcp'],
  ['gated', 'gate_closed'],
  ['malformed', 'malformed'],
  ['oversized', 'oversized'],
  ['rateLimited', 'rate_limited'],
  ['ignored', 'ignored'],
  ['unroutable', 'unroutable'],
  ['noAddress', 'no_address'],
  ['otherServer', 'other_server'],
  ['unsafeDestinations', 'unsafe_destination'],
];
const DHCP_CLIENT_NOTICES: readonly [keyof DhcpStats, string][] = [
  ['declines', 'decline'],
  ['releases', 'release'],
];
const DHCP_ERRORS: readonly [keyof DhcpStats, string][] = [
  ['sendErrors', 'send'],
  ['errors', 'internal'],
];
const TFTP_REFUSALS: readonly TftpRefusalKind[] = [
  'not_found',
  'access_denied',
  'illegal_request',
  'busy',
  'other',
];
const TFTP_FAILURES: readonly TftpFailureKind[] = [
  'timeout',
  'client_error',
  'network',
  'read_error',
  'aborted',
];
const RECORDER: readonly (keyof RecorderStats)[] = ['recorded', 'ungated', 'unresolved', 'failed'];
const OUTBOX_DROPS: readonly [
  'droppedNoWorkflow' | 'droppedOverflow' | 'droppedAtStop' | 'droppedUnreadable',
  string,
][] = [
  ['droppedNoWorkflow', 'no_workflow'],
  ['droppedOverflow', 'overflow'],
  ['droppedAtStop', 'at_stop'],
  ['droppedUnreadable', 'unreadable'],
];

/** A number a service's stats() holds under `key` (0 when it holds none: a service of another version). */
function num(stats: Record<string, unknown> | undefined, key: string): number {
  const v = stats?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

function record(
  stats: Record<string, unknown> | undefined,
  key: string,
): Record<string, unknown> | undefined {
  const v = stats?.[key];
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
}

/** A counter whose value is read, whole, from a service's own count at each scrape. */
function readCounter(registers: Registry[], name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers,
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

export function createAgentMetrics(src: AgentMetricSources): AgentMetrics {
  const registry = new Registry();
  if (src.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'vaquero_agent_' });
  const registers = [registry];
  const serviceStats = (name: string): Record<string, unknown> | undefined =>
    src
      .services?.()
      .find((s) => s.name === name)
      ?.stats();
  /** The DHCP service's stats and mode (the service's stats() carries its mode beside DhcpStats). */
  const dhcp = (): { stats: Record<string, unknown>; mode: string } | undefined => {
    const stats = serviceStats('dhcp');
    return stats ? { stats, mode: typeof stats.mode === 'string' ? stats.mode : 'server' } : undefined;
  };
  const dhcpCounter = (
    name: string,
    help: string,
    label: string,
    keys: readonly [keyof DhcpStats, string][],
  ): void => {
    new Counter({
      name,
      help,
      labelNames: ['mode', label],
      registers,
      collect() {
        this.reset();
        const d = dhcp();
        if (d) for (const [key, value] of keys) this.inc({ mode: d.mode, [label]: value }, num(d.stats, key));
      },
    });
  };
  new Counter({
    name: 'vaquero_agent_dhcp_received_total',
    help: 'DHCP datagrams received, before any check, by mode (server, proxy)',
    labelNames: ['mode'],
    registers,
    collect() {
      this.reset();
      const d = dhcp();
      if (d) this.inc({ mode: d.mode }, num(d.stats, 'received'));
    },
  });
  dhcpCounter(
    'vaquero_agent_dhcp_replies_total',
    'DHCP answers sent, by mode and message type (offer, ack, nak, proxy_offer, proxy_ack)',
    'type',
    DHCP_REPLIES,
  );
  dhcpCounter(
    'vaquero_agent_dhcp_refusals_total',
    'DHCP packets not answered as asked, by reason: unknown_mac, ignore_dhcp (an interface the SoT marks so), malformed, oversized, rate_limited, ignored ' +
      '(not a client request, relay loop), unroutable, no_address, other_server: no answer; gate_closed: a known ' +
      'host asking to netboot while its gate is closed (an address without a boot file in server mode, no ' +
      'answer in proxy mode); unsafe_destination: a reply aimed outside the host subnet (broadcast or dropped)',
    'reason',
    DHCP_REFUSALS,
  );
  dhcpCounter(
    'vaquero_agent_dhcp_client_notices_total',
    'DHCPDECLINE and DHCPRELEASE messages taken from clients, by type (decline, release)',
    'type',
    DHCP_CLIENT_NOTICES,
  );
  dhcpCounter(
    'vaquero_agent_dhcp_errors_total',
    'DHCP errors, by kind: send (a reply the socket refused), internal (an exception contained to its packet)',
    'kind',
    DHCP_ERRORS,
  );
  /** The DHCP service's authority report (authority.ts), when its server has one. */
  const authority = (): { mode: string; report: Record<string, unknown> } | undefined => {
    const d = dhcp();
    const report = record(d?.stats, 'authority');
    return d && report ? { mode: d.mode, report } : undefined;
  };
  const foreignServers = (): Record<string, unknown>[] => {
    const list = authority()?.report.foreignServers;
    return Array.isArray(list) ? (list as Record<string, unknown>[]) : [];
  };
  new Gauge({
    name: 'vaquero_agent_dhcp_foreign_servers',
    help:
      'Other DHCP servers seen answering on the served segments within the last hour (a conflict in server mode; ' +
      'in proxy mode the site server relied on, and any other ProxyDHCP server)',
    labelNames: ['mode'],
    registers,
    collect() {
      this.reset();
      const a = authority();
      if (a) this.set({ mode: a.mode }, foreignServers().length);
    },
  });
  new Gauge({
    name: 'vaquero_agent_dhcp_foreign_server_info',
    help:
      'One sample per other DHCP server seen (at most 64): its server identifier, source address, interface, and ' +
      'role (conflict: server mode; authoritative: gives addresses, proxy mode; proxy: another ProxyDHCP server)',
    labelNames: ['server_id', 'source', 'interface', 'role'],
    registers,
    collect() {
      this.reset();
      const mode = authority()?.mode;
      for (const s of foreignServers()) {
        const role =
          mode === 'server'
            ? 'conflict'
            : s.givesAddresses === true || num(s, 'requestsNamingIt') > 0
              ? 'authoritative'
              : 'proxy';
        this.set(
          {
            server_id: String(s.serverId ?? ''),
            source: String(s.source ?? ''),
            interface: String(s.interface ?? ''),
            role,
          },
          1,
        );
      }
    },
  });
  new Counter({
    name: 'vaquero_agent_dhcp_foreign_replies_total',
    help:
      "Evidence of other DHCP servers, by kind: answer (another server's broadcast OFFER, ACK or NAK), " +
      'client_request (a client REQUEST naming another server)',
    labelNames: ['mode', 'kind'],
    registers,
    collect() {
      this.reset();
      const a = authority();
      if (!a) return;
      this.inc({ mode: a.mode, kind: 'answer' }, num(a.report, 'foreignReplies'));
      this.inc({ mode: a.mode, kind: 'client_request' }, num(a.report, 'foreignRequests'));
    },
  });
  new Gauge({
    name: 'vaquero_agent_dhcp_authoritative_seen',
    help:
      'Proxy mode only: 0 while the DISCOVERs of served hosts get no answer from any DHCP server giving addresses ' +
      '(the expected site server is missing), 1 otherwise; no sample in server mode',
    labelNames: ['mode'],
    registers,
    collect() {
      this.reset();
      const a = authority();
      if (a?.mode === 'proxy') this.set({ mode: 'proxy' }, a.report.authoritativeSeen === false ? 0 : 1);
    },
  });

  const tftpCounter = (name: string, help: string, key: keyof TftpServerStats): void =>
    readCounter(registers, name, help, () => num(serviceStats('tftp'), key));
  tftpCounter(
    'vaquero_agent_tftp_transfers_started_total',
    'TFTP transfers started (a file opened and its first OACK or DATA sent)',
    'transfers',
  );
  tftpCounter(
    'vaquero_agent_tftp_transfers_completed_total',
    'TFTP transfers the client acknowledged to the end',
    'completed',
  );
  tftpCounter(
    'vaquero_agent_tftp_transfers_failed_total',
    'TFTP transfers that started and did not complete (kinds in vaquero_agent_tftp_errors_total)',
    'errors',
  );
  tftpCounter('vaquero_agent_tftp_sent_bytes_total', 'TFTP payload bytes acknowledged by clients', 'bytes');
  new Gauge({
    name: 'vaquero_agent_tftp_transfers_active',
    help: 'TFTP transfers running now',
    registers,
    collect() {
      this.set(num(serviceStats('tftp'), 'active'));
    },
  });
  new Counter({
    name: 'vaquero_agent_tftp_errors_total',
    help:
      'TFTP errors by kind: requests refused (not_found, access_denied, illegal_request, other) or dropped ' +
      'while full (busy), transfers failed (timeout, client_error, network, read_error, aborted), and ' +
      'datagrams that made no sense (malformed)',
    labelNames: ['kind'],
    registers,
    collect() {
      this.reset();
      const stats = serviceStats('tftp');
      if (!stats) return;
      const refusals = record(stats, 'refusals');
      const failures = record(stats, 'failures');
      for (const kind of TFTP_REFUSALS) this.inc({ kind }, num(refusals, kind));
      for (const kind of TFTP_FAILURES) this.inc({ kind }, num(failures, kind));
      this.inc({ kind: 'malformed' }, num(stats, 'malformed'));
    },
  });

  const httpRequests = new Counter({
    name: 'vaquero_agent_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern (unmatched: no route) and status code',
    labelNames: ['method', 'route', 'status'],
    registers,
  });
  new Counter({
    name: 'vaquero_agent_http_refusals_total',
    help:
      'Requests for a host script or config refused, by route pattern and reason: not_this_host (403: the ' +
      'request names a host it is not), gate_closed (the host has no open netboot gate), unknown_host (no host ' +
      'known at the address), no_config (none for this host and stage), not_a_mac',
    labelNames: ['route', 'reason'],
    registers,
    collect() {
      this.reset();
      for (const r of src.httpRefusals?.() ?? []) this.inc({ route: r.route, reason: r.reason }, r.count);
    },
  });

  new Counter({
    name: 'vaquero_agent_boot_events_total',
    help:
      'Boot observations (DHCP answers, TFTP transfers, HTTP fetches), by outcome: recorded (queued for the ' +
      'host workflow), ungated (no open gate), unresolved (no MAC for the address), failed (not queued)',
    labelNames: ['outcome'],
    registers,
    collect() {
      this.reset();
      const s = src.recorder.stats();
      for (const outcome of RECORDER) this.inc({ outcome }, s[outcome]);
    },
  });

  if (src.installerLogs) {
    const read = src.installerLogs;
    new Counter({
      name: 'vaquero_agent_installer_log_lines_total',
      help:
        'Installer log lines (syslog and HTTP posts), by outcome: kept (on disk, for a host run), unknown_source ' +
        '(no open gate for the sender), bad_token (lines of posts with no open run), over_budget (beyond ' +
        'installer_logs.max_lines_per_second), dropped (the disk refused them)',
      labelNames: ['outcome'],
      registers,
      collect() {
        this.reset();
        const s = read();
        this.inc({ outcome: 'kept' }, s.kept - s.dropped);
        this.inc({ outcome: 'unknown_source' }, s.unknownSource);
        this.inc({ outcome: 'bad_token' }, s.badToken);
        this.inc({ outcome: 'over_budget' }, s.overBudget);
        this.inc({ outcome: 'dropped' }, s.dropped);
      },
    });
    new Counter({
      name: 'vaquero_agent_installer_log_summaries_total',
      help: 'Summaries of installer log lines sent to host workflows (`log` boot events)',
      registers,
      collect() {
        this.reset();
        this.inc(read().summaries);
      },
    });
  }

  if (src.outbox) {
    const outbox = src.outbox;
    const outboxGauge = (name: string, help: string, read: (s: OutboxStats) => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read(outbox.stats()));
        },
      });
    };
    const outboxCounter = (name: string, help: string, read: (s: OutboxStats) => number): void =>
      readCounter(registers, name, help, () => read(outbox.stats()));
    outboxGauge(
      'vaquero_agent_outbox_depth',
      'Boot events not delivered yet (on disk, or held in memory)',
      (s) => s.queued,
    );
    outboxGauge(
      'vaquero_agent_outbox_unwritten',
      'Of the outbox depth, events held in memory because they could not be written to disk yet',
      (s) => s.unwritten,
    );
    outboxGauge(
      'vaquero_agent_outbox_oldest_undelivered_age_seconds',
      'How long the oldest undelivered boot event has waited (0 when none waits)',
      (s) => s.oldestUndeliveredAgeMs / 1000,
    );
    outboxCounter(
      'vaquero_agent_outbox_delivered_total',
      'Boot events delivered to their host workflow',
      (s) => s.delivered,
    );
    outboxCounter(
      'vaquero_agent_outbox_write_failures_total',
      'Outbox writes that failed (the events are held in memory and retried)',
      (s) => s.writeFailures,
    );
    new Counter({
      name: 'vaquero_agent_outbox_dropped_total',
      help:
        'Boot events that will never be delivered, by reason: no_workflow (the host workflow is not running), ' +
        'overflow (too many held in memory), at_stop, unreadable (a line on disk)',
      labelNames: ['reason'],
      registers,
      collect() {
        this.reset();
        const s = outbox.stats();
        for (const [key, reason] of OUTBOX_DROPS) this.inc({ reason }, s[key]);
      },
    });
  }

  if (src.workerConnected) {
    const connected = src.workerConnected;
    new Gauge({
      name: 'vaquero_agent_worker_connected',
      help: 'Whether the site worker polls Temporal (1) or not (0); boot services do not depend on it',
      registers,
      collect() {
        this.set(connected() ? 1 : 0);
      },
    });
  }
  if (src.missingBootFiles) {
    const missing = src.missingBootFiles;
    new Gauge({
      name: 'vaquero_agent_boot_file_missing',
      help: 'A boot file the DHCP answers can name that cannot be served (1), by config field and file name; none when all can',
      labelNames: ['field', 'file'],
      registers,
      collect() {
        this.reset();
        for (const m of missing()) this.set({ field: m.field, file: m.file }, 1);
      },
    });
  }
  if (src.assetCache) {
    const assets = src.assetCache;
    new Counter({
      name: 'vaquero_agent_asset_cache_requests_total',
      help: 'Requests for assets proxied from the CDN, by result: hit (served from the cache) or miss (asked the origin)',
      labelNames: ['result'],
      registers,
      collect() {
        this.reset();
        const s = assets();
        this.inc({ result: 'hit' }, s.hits);
        this.inc({ result: 'miss' }, s.misses);
      },
    });
    const assetCounter = (name: string, help: string, key: 'originErrors' | 'stored' | 'evictions') =>
      readCounter(registers, name, help, () => assets()[key]);
    assetCounter(
      'vaquero_agent_asset_cache_origin_errors_total',
      'Proxied asset requests the CDN failed (unreachable, timed out or an error status): answered 502 (404 for its 404)',
      'originErrors',
    );
    assetCounter(
      'vaquero_agent_asset_cache_stored_total',
      'Assets stored in the cache after a whole download',
      'stored',
    );
    assetCounter(
      'vaquero_agent_asset_cache_evictions_total',
      'Cached assets deleted (least recently used first) to keep the cache under assets.cache_max_bytes',
      'evictions',
    );
    const assetGauge = (name: string, help: string, key: 'bytes' | 'files' | 'maxBytes') =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(assets()[key]);
        },
      });
    assetGauge('vaquero_agent_asset_cache_bytes', 'Bytes of assets the CDN cache holds', 'bytes');
    assetGauge('vaquero_agent_asset_cache_files', 'Assets the CDN cache holds', 'files');
    assetGauge(
      'vaquero_agent_asset_cache_max_bytes',
      'The bound of the CDN cache (assets.cache_max_bytes)',
      'maxBytes',
    );
  }
  new Gauge({
    name: 'vaquero_agent_site_model_info',
    help: 'The site model the agent serves from (1), by site, SoT and revision; no series before the first',
    labelNames: ['site', 'sot', 'revision'],
    registers,
    collect() {
      this.reset();
      const m = src.cache.siteModel();
      if (m) this.set({ site: m.site, sot: m.sot, revision: m.revision }, 1);
    },
  });
  new Gauge({
    name: 'vaquero_agent_open_gates',
    help: 'Hosts whose netboot gate is open on this agent',
    registers,
    collect() {
      this.set(src.cache.openEntries().length);
    },
  });
  new Gauge({
    name: 'vaquero_agent_boot_service_listening',
    help: 'Whether each boot service beside HTTP (dhcp, tftp) listens (1) or not (0: starting, failed, stopped)',
    labelNames: ['service'],
    registers,
    collect() {
      this.reset();
      for (const s of src.services?.() ?? []) this.set({ service: s.name }, s.state === 'listening' ? 1 : 0);
    },
  });
  if (src.ready) {
    const ready = src.ready;
    new Gauge({
      name: 'vaquero_agent_ready',
      help: 'Whether /health answers ready (1): a site model held and every boot service listening',
      registers,
      collect() {
        this.set(ready() ? 1 : 0);
      },
    });
  }

  return {
    registry,
    httpRequest(method, route, status) {
      httpRequests.inc({ method, route, status: String(status) });
    },
  };
}
