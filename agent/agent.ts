// One agent process: the site's boot services (HTTP here; DHCP and TFTP plug in through `services`), the model
// cache they serve from, the event outbox, and the site worker (netboot gate, site model, BMC power, tasks).
// Boot services start first and never wait for Temporal: a site keeps booting hosts while the centre is down.
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import path from 'node:path';
import pino from 'pino';
import type { Logger } from 'pino';
import { createSiteActivities } from '../activities/site/create-site-activities.ts';
import type { SiteDeps } from '../activities/site/create-site-activities.ts';
import type { PowerDriver } from '../activities/power/driver.ts';
import { PowerOpLog } from '../activities/power/power-op-log.ts';
import { NAMESPACE_DEFAULT } from '../domain/temporal-names.ts';
import { createSiteWorker } from '../activities/site/site-worker.ts';
import { installQuietRuntime } from '../temporal/runtime.ts';
import { BootEventRecorder } from './boot-event-recorder.ts';
import { CheckpointTokens } from './checkpoint-token.ts';
import type { AgentConfig } from './config.ts';
import { EventOutbox } from './event-outbox.ts';
import { reconcileGates } from './gate-reconciler.ts';
import { buildAgentHttp } from './http/app.ts';
import { ModelCache } from './model-cache.ts';
import { createSecretStore } from './secrets/create-secret-store.ts';
import type { SecretStore } from '../domain/secret.ts';

/** A boot service (DHCP, TFTP) run by the agent next to HTTP. */
export interface BootService {
  name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  stats(): Record<string, unknown>;
}

export interface AgentParts {
  config: AgentConfig;
  log: Logger;
  cache: ModelCache;
  recorder: BootEventRecorder;
  tokens: CheckpointTokens;
}

export interface AgentOptions {
  /** Extra boot services made from the agent's parts (DHCP, TFTP). */
  services?: (parts: AgentParts) => BootService[];
  drivers?: Partial<Record<PowerDriver['name'], PowerDriver>>;
  /** Resolves BMC credentials references; default: the config's `secrets` file/dir, then the environment. */
  secrets?: SecretStore;
  taskRunner?: SiteDeps['taskRunner'];
  logger?: Logger;
  /** Milliseconds between gate reconciliations with Temporal. */
  reconcileEveryMs?: number;
  /** Pauses between the outbox's delivery attempts while Temporal refuses them (default 200 ms doubling to 10 s). */
  outboxRetryPauses?: { firstMs: number; maxMs: number };
}

export interface RunningAgent {
  http: FastifyInstance;
  httpUrl: string;
  cache: ModelCache;
  outbox: EventOutbox;
  recorder: BootEventRecorder;
  tokens: CheckpointTokens;
  services: BootService[];
  /** True once the site worker is polling Temporal. */
  workerRunning(): boolean;
  stop(): Promise<void>;
}

export async function startAgent(config: AgentConfig, opts: AgentOptions = {}): Promise<RunningAgent> {
  const log =
    opts.logger ?? pino({ level: config.log_level, base: { agent: config.agent_id, site: config.site } });
  const cache = new ModelCache(path.join(config.data_dir, 'cache'));
  const loaded = await cache.load();
  log.info({ siteModel: loaded.siteModel, gates: loaded.gates }, 'model cache loaded');
  for (const p of loaded.problems) log.warn({ problem: p }, 'model cache file unreadable');
  const tokens = await CheckpointTokens.fromDataDir(config.data_dir);

  const address = config.temporal?.address ?? '127.0.0.1:7233';
  const namespace = config.temporal?.namespace ?? NAMESPACE_DEFAULT;
  // Lazy: the client connects on first use, so an agent starts (and serves) with Temporal down.
  const connection = Connection.lazy({ address, connectTimeout: '5 seconds' });
  const client = new Client({ connection, namespace });
  const outbox = EventOutbox.forClient(
    path.join(config.data_dir, 'outbox'),
    client,
    (m) => log.warn(m),
    opts.outboxRetryPauses,
  );
  await outbox.start();
  const recorder = new BootEventRecorder(config.agent_id, cache, outbox);
  const parts: AgentParts = { config, log, cache, recorder, tokens };
  const secrets =
    opts.secrets ??
    createSecretStore({
      ...(config.secrets.file !== undefined ? { file: config.secrets.file } : {}),
      ...(config.secrets.dir !== undefined ? { dir: config.secrets.dir } : {}),
    });

  const services = opts.services?.(parts) ?? [];
  for (const s of services) {
    await s.start();
    log.info({ service: s.name }, 'boot service started');
  }
  let worker: Worker | undefined;
  let workerRun: Promise<void> | undefined;
  let stopping = false;

  const http = await buildAgentHttp({
    agentId: config.agent_id,
    site: config.site,
    cache,
    tokens,
    recorder,
    outbox,
    ...(config.assets.root !== undefined ? { assetsRoot: config.assets.root } : {}),
    ...(config.assets.upstream !== undefined ? { assetsUpstream: config.assets.upstream } : {}),
    ...(config.assets.upstream ? { assetsCache: path.join(config.data_dir, 'asset-cache') } : {}),
    bootRoot: config.tftp.root,
    logger: log.child({ service: 'http' }),
    health: () => ({
      worker: worker?.getState() ?? 'connecting',
      services: Object.fromEntries(services.map((s) => [s.name, s.stats()])),
    }),
  });
  await http.listen({ host: config.http.listen, port: config.http.port });
  const httpUrl = `http://${config.http.listen === '0.0.0.0' ? '127.0.0.1' : config.http.listen}:${(http.server.address() as { port: number }).port}`;
  log.info({ url: httpUrl }, 'HTTP boot service listening');

  // The site worker connects in the background and keeps trying: boot services do not depend on it.
  installQuietRuntime();
  const connectWorker = async (): Promise<void> => {
    let delay = 1000;
    while (!stopping) {
      try {
        const native = await NativeConnection.connect({ address });
        const activities = createSiteActivities({
          site: config.site,
          gate: cache,
          onSiteModel: (m) => cache.setSiteModel(m),
          heldEvents: outbox,
          drivers: opts.drivers ?? {},
          secrets,
          powerLog: new PowerOpLog(path.join(config.data_dir, 'power-ops.jsonl')),
          taskRunner: opts.taskRunner ?? (() => undefined),
          log: (m) => log.info(m),
        });
        worker = await createSiteWorker({ connection: native, namespace, site: config.site, activities });
        log.info({ address, namespace, taskQueue: `site-${config.site}` }, 'site worker polling');
        workerRun = worker.run().finally(() => native.close());
        await workerRun;
        if (stopping) return;
        log.warn('site worker stopped; reconnecting');
      } catch (err) {
        if (stopping) return;
        log.warn(
          { err: err instanceof Error ? err.message : String(err), retryInMs: delay },
          'Temporal unreachable',
        );
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 30_000);
      }
    }
  };
  const workerLoop = connectWorker();

  const reconcileTimer = setInterval(() => {
    void reconcileGates(cache, client, log).catch((err: unknown) =>
      log.debug({ err: String(err) }, 'gate reconciliation skipped'),
    );
  }, opts.reconcileEveryMs ?? 60_000);
  reconcileTimer.unref();

  return {
    http,
    httpUrl,
    cache,
    outbox,
    recorder,
    tokens,
    services,
    workerRunning: () => worker?.getState() === 'RUNNING',
    async stop() {
      stopping = true;
      clearInterval(reconcileTimer);
      if (worker && worker.getState() === 'RUNNING') worker.shutdown();
      await workerRun?.catch(() => undefined);
      await workerLoop.catch(() => undefined);
      await http.close();
      for (const s of services) await s.stop();
      await outbox.stop();
      await connection.close().catch(() => undefined);
    },
  };
}
