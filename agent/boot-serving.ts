// The half of an agent that boots hosts: the model cache it serves from, the per-run tokens, the event recorder and
// its durable outbox, the boot services (DHCP, TFTP) and the HTTP service. It needs no Temporal: where its events go
// is the caller's `deliver`. startAgent (agent.ts) adds the site worker and Temporal around it; the benchmarks run
// it as it is, so what they measure is what `vaquero agent` serves with.
// HTTP listens before the boot services start, so /health can say truthfully that one is not listening yet.
import type { SecretStore } from '../domain/secret.ts';
import type { FastifyInstance } from 'fastify';
import path from 'node:path';
import type { Logger } from 'pino';
import type { BootEvent } from '../domain/boot-events.ts';
import { BootEventRecorder } from './boot-event-recorder.ts';
import { describeMissing, missingBootFiles } from './boot-files-check.ts';
import type { MissingBootFile } from './boot-files-check.ts';
import { CheckpointTokens } from './checkpoint-token.ts';
import type { AgentConfig } from './config.ts';
import { EventOutbox } from './event-outbox.ts';
import { buildAgentHttp } from './http/app.ts';
import type { ServiceState } from './metrics.ts';
import { ModelCache } from './model-cache.ts';
import { ownAgentEntry } from './own-agent.ts';
import { InstallerLogIntake } from './installer-logs/log-intake.ts';
import { InstallerLogStore } from './installer-logs/log-store.ts';
import { LogSummaries } from './installer-logs/log-summaries.ts';
import { createSyslogServer } from './installer-logs/syslog-server.ts';
import type { SyslogServer } from './installer-logs/syslog-server.ts';

/** A boot service (DHCP, TFTP) run by the agent next to HTTP. */
export interface BootService {
  name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  stats(): Record<string, unknown>;
  /** Applies a new site model's settings for this agent (DHCP's mode); absent when nothing depends on it. */
  reconfigure?(): Promise<void>;
}

export interface AgentParts {
  config: AgentConfig;
  log: Logger;
  cache: ModelCache;
  recorder: BootEventRecorder;
  tokens: CheckpointTokens;
}

export interface BootServingOptions {
  log: Logger;
  /** Where each boot event goes (Temporal for a real agent); a rejection keeps it in the outbox for a retry. */
  deliver: (workflowId: string, event: BootEvent) => Promise<void>;
  /** Several events of one run at once (runs whose gate says they take them so); without it, one by one. */
  deliverMany?: (workflowId: string, events: BootEvent[]) => Promise<void>;
  /** Boot services made from the agent's parts (DHCP, TFTP). */
  services?: (parts: AgentParts) => BootService[];
  /** Serve HTTP (default true). */
  http?: boolean;
  /** Resolves the secret references of served configs (`{{ "ref" | secret }}`). */
  secrets?: SecretStore;
  /** Extra health facts for /health. */
  health?: () => Record<string, unknown>;
  /** Whether the site worker polls Temporal: the vaquero_agent_worker_connected gauge of /metrics (none without). */
  workerConnected?: () => boolean;
  /** Pauses between the outbox's delivery attempts while deliveries fail (default 200 ms doubling to 10 s). */
  outboxRetryPauses?: { firstMs: number; maxMs: number };
}

/** The installer logs the agent receives: where they are kept, and how they come in. */
export interface InstallerLogs {
  store: InstallerLogStore;
  intake: InstallerLogIntake;
  /** The syslog receiver, when enabled and listening (a port it cannot bind is logged, never fatal). */
  syslog?: SyslogServer;
}

export interface BootServing extends AgentParts {
  /** Looks for the boot files again (a new site model may name another tftp_root for this agent). */
  recheckBootFiles(): Promise<void>;
  installerLogs: InstallerLogs;
  /** What the model cache held at start (problems: files it could not read, logged as warnings too). */
  loaded: Awaited<ReturnType<ModelCache['load']>>;
  outbox: EventOutbox;
  services: BootService[];
  http?: FastifyInstance;
  /** How this machine reaches the HTTP service (loopback when it listens on every address). */
  httpUrl?: string;
  stop(): Promise<void>;
}

export async function startBootServing(config: AgentConfig, opts: BootServingOptions): Promise<BootServing> {
  const { log } = opts;
  const cache = new ModelCache(path.join(config.data_dir, 'cache'));
  const loaded = await cache.load();
  log.info({ siteModel: loaded.siteModel, gates: loaded.gates }, 'model cache loaded');
  for (const p of loaded.problems) log.warn({ problem: p }, 'model cache file unreadable');
  const tokens = await CheckpointTokens.fromDataDir(config.data_dir);
  const outbox = new EventOutbox(
    path.join(config.data_dir, 'outbox'),
    opts.deliver,
    (m, level = 'warn') => log[level](m),
    opts.outboxRetryPauses,
    {},
    opts.deliverMany,
  );
  await outbox.start();
  const recorder = new BootEventRecorder(
    config.agent_id,
    cache,
    outbox,
    (m) => log.error(m),
    (m) => log.info(m),
  );
  const parts: AgentParts = { config, log, cache, recorder, tokens };
  // Not fatal: the hosts of the other firmware still boot. `vaquero agent --check` fails on the same list. Looked for
  // in this agent's SoT tftp_root when its site model names one, again when a new model arrives (recheckBootFiles).
  let missing: MissingBootFile[] = [];
  let missingSeen = '';
  const checkBootFiles = async (): Promise<void> => {
    const found = await missingBootFiles(config, ownAgentEntry(cache.siteModel(), config.agent_id)?.tftpRoot);
    missing = found;
    const seen = found.map(describeMissing).join('\n');
    if (seen === missingSeen) return; // logged once per change, not at every model
    missingSeen = seen;
    for (const m of found)
      log.error(
        { field: m.field, file: m.file, root: m.root, askedBy: m.askedBy, reason: m.reason },
        `boot file missing: ${describeMissing(m)}`,
      );
  };
  await checkBootFiles();
  const limits = config.installer_logs;
  const logStore = new InstallerLogStore(
    path.join(config.data_dir, 'installer-logs'),
    {
      maxLinesPerRun: limits.max_lines_per_run,
      maxBytesPerRun: limits.max_bytes_per_run,
      maxRuns: limits.max_runs,
    },
    (m) => log.warn(m),
  );
  await logStore.load();
  const summaries = new LogSummaries((o) => recorder.record(o), {
    everyMs: limits.summary_every_s * 1000,
    maxPerRun: limits.max_summaries_per_run,
  });
  const intake = new InstallerLogIntake(
    cache,
    tokens,
    recorder,
    logStore,
    summaries,
    limits.max_lines_per_second,
  );
  let syslog: SyslogServer | undefined;
  let syslogState = config.syslog.enabled ? 'starting' : 'disabled';

  const services = opts.services?.(parts) ?? [];
  const states = new Map<BootService, ServiceState>(services.map((s) => [s, 'starting']));
  let http: FastifyInstance | undefined;
  let httpUrl: string | undefined;
  const started: BootService[] = [];
  try {
    if (opts.http !== false) {
      http = await buildAgentHttp({
        agentId: config.agent_id,
        site: config.site,
        cache,
        tokens,
        recorder,
        outbox,
        ...(config.assets.root !== undefined ? { assetsRoot: config.assets.root } : {}),
        ...(config.assets.upstream !== undefined ? { assetsUpstream: config.assets.upstream } : {}),
        // Always: the SoT may name a CDN for this agent (agents[].cdn_url) after it started.
        assetsCache: path.join(config.data_dir, 'asset-cache'),
        assetsCacheMaxBytes: config.assets.cache_max_bytes,
        assetsOriginTimeoutMs: config.assets.origin_timeout_s * 1000,
        bootRoot: config.tftp.root,
        missingBootFiles: () => missing,
        ...(opts.secrets !== undefined ? { secrets: opts.secrets } : {}),
        ...(config.http.public_url !== undefined ? { publicUrl: config.http.public_url } : {}),
        logger: log.child({ service: 'http' }),
        health: () => ({
          ...opts.health?.(),
          installerLogs: { syslog: syslogState, ...intake.stats(), runs: logStore.runCount() },
        }),
        installerLogs: intake,
        services: () =>
          services.map((s) => ({ name: s.name, state: states.get(s) ?? 'starting', stats: () => s.stats() })),
        ...(opts.workerConnected ? { workerConnected: opts.workerConnected } : {}),
      });
      await http.listen({ host: config.http.listen, port: config.http.port });
      const host = config.http.listen === '0.0.0.0' ? '127.0.0.1' : config.http.listen;
      httpUrl = `http://${host}:${(http.server.address() as { port: number }).port}`;
      log.info({ url: httpUrl }, 'HTTP boot service listening');
    }
    for (const s of services) {
      try {
        await s.start();
      } catch (err) {
        states.set(s, 'failed');
        throw err;
      }
      started.push(s);
      states.set(s, 'listening');
      log.info({ service: s.name }, 'boot service started');
    }
    // After the boot services, and never fatal: a host boots without its installer's logs being heard, not the
    // reverse (514 taken by the machine's own syslog daemon, or no root).
    if (config.syslog.enabled) {
      const server = createSyslogServer({
        address: config.syslog.listen,
        port: config.syslog.port,
        intake,
        warn: (m) => log.warn({ service: 'syslog' }, m),
      });
      try {
        await server.start();
        syslog = server;
        syslogState = 'listening';
        log.info({ port: server.port() }, 'syslog receiver listening for installer logs');
      } catch (err) {
        syslogState = `failed: ${err instanceof Error ? err.message : String(err)}`;
        log.error(
          { port: config.syslog.port, err: syslogState },
          'syslog receiver not listening: installer logs arrive only by HTTP post (set syslog.port, or syslog.enabled: false)',
        );
      }
    }
  } catch (err) {
    // Nothing is left half-started: the caller gets the error and no agent.
    await http?.close().catch(() => undefined);
    for (const s of started) await s.stop().catch(() => undefined);
    await outbox.stop().catch(() => undefined);
    throw err;
  }
  return {
    ...parts,
    recheckBootFiles: checkBootFiles,
    loaded,
    outbox,
    services,
    installerLogs: { store: logStore, intake, ...(syslog ? { syslog } : {}) },
    ...(http ? { http } : {}),
    ...(httpUrl ? { httpUrl } : {}),
    async stop() {
      await syslog?.stop();
      await summaries.flush();
      await http?.close();
      for (const s of services) {
        states.set(s, 'stopped');
        await s.stop();
      }
      await outbox.stop();
    },
  };
}
