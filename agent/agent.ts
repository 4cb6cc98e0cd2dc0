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
import type { AgentConfig } from './config.ts';
import { startBootServing } from './boot-serving.ts';
import type { AgentParts, BootService } from './boot-serving.ts';
import type { BootEventRecorder } from './boot-event-recorder.ts';
import type { CheckpointTokens } from './checkpoint-token.ts';
import type { EventOutbox } from './event-outbox.ts';
import { reconcileGates } from './gate-reconciler.ts';
import type { ModelCache } from './model-cache.ts';
import { bootEventSignal } from '../domain/workflow-api.ts';
import { createSecretStore } from './secrets/create-secret-store.ts';
import type { SecretStore } from '../domain/secret.ts';

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
  const address = config.temporal?.address ?? '127.0.0.1:7233';
  const namespace = config.temporal?.namespace ?? NAMESPACE_DEFAULT;
  // Lazy: the client connects on first use, so an agent starts (and serves) with Temporal down.
  const connection = Connection.lazy({ address, connectTimeout: '5 seconds' });
  const client = new Client({ connection, namespace });
  const secrets =
    opts.secrets ??
    createSecretStore({
      ...(config.secrets.file !== undefined ? { file: config.secrets.file } : {}),
      ...(config.secrets.dir !== undefined ? { dir: config.secrets.dir } : {}),
    });
  let worker: Worker | undefined;
  let workerRun: Promise<void> | undefined;
  let stopping = false;

  const serving = await startBootServing(config, {
    log,
    deliver: async (workflowId, event) => {
      await client.workflow.getHandle(workflowId).signal(bootEventSignal, event);
    },
    ...(opts.services ? { services: opts.services } : {}),
    health: () => ({ worker: worker?.getState() ?? 'connecting' }),
    ...(opts.outboxRetryPauses ? { outboxRetryPauses: opts.outboxRetryPauses } : {}),
  });
  const { cache, outbox, recorder, tokens, services } = serving;
  const http = serving.http!;
  const httpUrl = serving.httpUrl!;

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
      await serving.stop();
      await connection.close().catch(() => undefined);
    },
  };
}
