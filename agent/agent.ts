// One agent process: the site's boot services (HTTP here; DHCP and TFTP plug in through `services`), the model
// cache they serve from, the event outbox, and the site worker (netboot gate, site model, BMC power, tasks).
// Boot services start first and never wait for Temporal: a site keeps booting hosts while the centre is down.
// Everything comes from the config (`vaquero agent --config`): every BMC driver, the task-container engine,
// Temporal's TLS and API key. Callers add only what the product cannot make from a file (the sim fleet's driver).
import { Client } from '@temporalio/client';
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
import { releaseBmcPermit } from '../activities/control/bmc-permits.ts';
import { createSiteWorker } from '../activities/site/site-worker.ts';
import { agentTaskQueue, CONTROL_TASK_QUEUE, siteTaskQueue } from '../domain/temporal-names.ts';
import {
  AGENT_STATUS_MEMO,
  AGENT_STATUS_WORKFLOW_TYPE,
  agentStatusSignal,
  agentStatusWorkflowId,
} from '../domain/agent-status.ts';
import { startAgentStatusReporter } from './agent-status-reporter.ts';
import type { DhcpAuthorityReport } from './dhcp/authority.ts';
import { installQuietRuntime } from '../temporal/runtime.ts';
import { CancellableCalls } from '../temporal/cancellable-calls.ts';
import { lazyClosable } from '../temporal/closable-connection.ts';
import { tracingClientOptions } from '../temporal/telemetry/temporal-tracing.ts';
import { inBootTrace } from '../temporal/telemetry/boot-traces.ts';
import type { AgentConfig } from './config.ts';
import { startBootServing } from './boot-serving.ts';
import type { AgentParts, BootService } from './boot-serving.ts';
import { agentBootServices } from './boot-services.ts';
import type { BootEventRecorder } from './boot-event-recorder.ts';
import type { CheckpointTokens } from './checkpoint-token.ts';
import type { EventOutbox } from './event-outbox.ts';
import { reconcileGates } from './gate-reconciler.ts';
import type { ModelCache } from './model-cache.ts';
import { bootEventSignal, bootEventsSignal } from '../domain/workflow-api.ts';
import type { BootEvent } from '../domain/boot-events.ts';
import { createSecretStore } from './secrets/create-secret-store.ts';
import { withTaskSecrets } from './secrets/task-env-secrets.ts';
import type { SecretStore } from '../domain/secret.ts';
import { siteCapabilities } from './site-capabilities.ts';
import { agentTemporalEndpoint, describeEndpoint } from './temporal-endpoint.ts';
import type { TemporalEndpoint } from './temporal-endpoint.ts';

export interface AgentOptions {
  /** Boot services made from the agent's parts (default: DHCP and TFTP as the config says). */
  services?: (parts: AgentParts) => BootService[];
  /** Drivers besides those the config gives (the sim fleet's `sim`); they win over a configured one of the same name. */
  extraDrivers?: Partial<Record<PowerDriver['name'], PowerDriver>>;
  /** Resolves BMC credentials references; default: the config's `secrets` file/dir, then the environment. */
  secrets?: SecretStore;
  /** Chooses a task runner before the configured engine's (the sim fleet's simulated tasks for sim hosts). */
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
  endpoint: TemporalEndpoint;
  /** The task queues the site worker polls: the site's (power, tasks) and this agent's own (gates, model). */
  queues: string[];
  /** The BMC drivers this agent offers, by name. */
  drivers: string[];
  /** True once the site worker is polling Temporal. */
  workerRunning(): boolean;
  stop(): Promise<void>;
}

/** Temporal run ids are UUIDs. */
const RUN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const runOf = (event: BootEvent): string | undefined =>
  event.runId !== undefined && RUN_ID.test(event.runId) ? event.runId : undefined;

/** How long stop() waits for BMC calls and tasks in flight before it leaves them (they are retried elsewhere). */
const STOP_GRACE_MS = 3_000;

export async function startAgent(config: AgentConfig, opts: AgentOptions = {}): Promise<RunningAgent> {
  const log =
    opts.logger ?? pino({ level: config.log_level, base: { agent: config.agent_id, site: config.site } });
  const secrets =
    opts.secrets ??
    createSecretStore({
      ...(config.secrets.file !== undefined ? { file: config.secrets.file } : {}),
      ...(config.secrets.dir !== undefined ? { dir: config.secrets.dir } : {}),
    });
  const endpoint = await agentTemporalEndpoint(config, secrets);
  const { address, namespace } = endpoint;
  const tlsOptions = {
    ...(endpoint.tls !== undefined ? { tls: endpoint.tls } : {}),
    ...(endpoint.apiKey !== undefined ? { apiKey: endpoint.apiKey } : {}),
  };
  const capabilities = siteCapabilities(config, secrets);
  const drivers = { ...capabilities.drivers, ...opts.extraDrivers };
  const queues = [siteTaskQueue(config.site), agentTaskQueue(config.site, config.agent_id)];
  // Lazy: the client connects on first use, so an agent starts (and serves) with Temporal down.
  const temporal = lazyClosable({ address, connectTimeout: '5 seconds', ...tlsOptions });
  const { connection } = temporal;
  const client = new Client({
    connection,
    namespace,
    dataConverter: endpoint.codec.dataConverter,
    ...tracingClientOptions(),
  });
  const workers: Worker[] = [];
  let workerRuns: Promise<unknown> | undefined;
  let stopping = false;
  const stopped = new AbortController();
  // Every call of the agent's own can be cancelled: stop() cancels what is in flight before it closes the
  // connection (temporal/cancellable-calls.ts says why).
  const calls = new CancellableCalls(client);
  const untilStopped = <T>(fn: () => Promise<T>): Promise<T> => calls.run(fn);

  const serving = await startBootServing(config, {
    log,
    deliver: async (workflowId, event) => {
      // The gate's run only: a later run of the host must not count an older boot's events. A run id that is no
      // Temporal run id (a gate written by hand) would be refused forever and block the lane: such an event goes
      // to the workflow's current run, as events did before they carried their run.
      await inBootTrace(event.mac, event.runId, () =>
        untilStopped(() =>
          client.workflow.getHandle(workflowId, runOf(event)).signal(bootEventSignal, event),
        ),
      );
    },
    // The outbox groups only events of one run.
    deliverMany: async (workflowId, events) => {
      const first = events[0]!;
      await inBootTrace(first.mac, first.runId, () =>
        untilStopped(() =>
          client.workflow.getHandle(workflowId, runOf(first)).signal(bootEventsSignal, events),
        ),
      );
    },
    services: opts.services ?? agentBootServices,
    secrets,
    health: () => ({
      worker: workers[0]?.getState() ?? 'connecting',
      queues,
    }),
    workerConnected: () => workers.length > 0 && workers.every((w) => w.getState() === 'RUNNING'),
    ...(opts.outboxRetryPauses ? { outboxRetryPauses: opts.outboxRetryPauses } : {}),
  });
  const { cache, outbox, recorder, tokens, services } = serving;
  const http = serving.http!;
  const httpUrl = serving.httpUrl!;

  const activities = createSiteActivities({
    site: config.site,
    gate: cache,
    onSiteModel: async (m) => {
      await cache.setSiteModel(m);
      for (const s of services) await s.reconfigure?.();
      await serving.recheckBootFiles();
    },
    heldEvents: outbox,
    drivers,
    secrets,
    powerLog: new PowerOpLog(path.join(config.data_dir, 'power-ops.jsonl')),
    releaseBmcPermit: (site, release) => releaseBmcPermit(client, { site, release }),
    taskRunner: (driver, input) => {
      const runner =
        opts.taskRunner?.(driver, input) ?? (input.tasks.length > 0 ? capabilities.tasks : undefined);
      return runner && withTaskSecrets(runner, secrets);
    },
    log: (m) => log.info(m),
    installerLogs: {
      agent: config.agent_id,
      read: (host, runId, limit) => serving.installerLogs.store.read(host, runId, limit),
    },
  });

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      stopped.signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      });
    });

  // The site worker connects in the background and keeps trying: boot services do not depend on it.
  installQuietRuntime();
  const connectWorker = async (): Promise<void> => {
    let delay = 1000;
    while (!stopping) {
      let native: NativeConnection | undefined;
      try {
        native = await NativeConnection.connect({ address, ...tlsOptions });
        if (stopping) break;
        for (const taskQueue of queues) {
          workers.push(
            await createSiteWorker({
              connection: native,
              namespace,
              taskQueue,
              activities,
              dataConverter: endpoint.codec.dataConverter,
              shutdownGraceTime: `${STOP_GRACE_MS} ms`,
            }),
          );
        }
        log.info({ temporal: describeEndpoint(endpoint), queues }, 'site worker polling');
        delay = 1000;
        // Catch up on what was missed while away: gates opened, moved or closed for this site.
        void untilStopped(() => reconcileGates(cache, client, log, config.site)).catch((err: unknown) =>
          log.warn({ err: String(err) }, 'gate reconciliation failed'),
        );
        workerRuns = Promise.allSettled(workers.map((w) => w.run()));
        await workerRuns;
        workers.length = 0;
        if (stopping) break;
        log.warn('site worker stopped; reconnecting');
      } catch (err) {
        for (const w of workers.splice(0)) if (w.getState() === 'RUNNING') w.shutdown();
        if (stopping) break;
        log.warn(
          { err: err instanceof Error ? err.message : String(err), retryInMs: delay },
          'Temporal unreachable',
        );
        await pause(delay);
        delay = Math.min(delay * 2, 30_000);
      } finally {
        await native?.close().catch(() => undefined);
      }
    }
  };
  const workerLoop = connectWorker();

  // The site's status: what the DHCP detector finds on the segment goes to this agent's status workflow, on change.
  const dhcpService = services.find((s) => s.name === 'dhcp');
  const statusReporter = dhcpService
    ? startAgentStatusReporter({
        site: config.site,
        agent: config.agent_id,
        read: () => dhcpService.stats().authority as DhcpAuthorityReport | undefined,
        send: (report) =>
          untilStopped(async () => {
            await client.workflow.signalWithStart(AGENT_STATUS_WORKFLOW_TYPE, {
              workflowId: agentStatusWorkflowId(config.site, config.agent_id),
              taskQueue: CONTROL_TASK_QUEUE,
              args: [{ site: config.site, agent: config.agent_id }],
              memo: { [AGENT_STATUS_MEMO]: report },
              signal: agentStatusSignal,
              signalArgs: [report],
            });
          }),
        onError: (err) =>
          log.debug({ err: err instanceof Error ? err.message : String(err) }, 'status report not sent'),
      })
    : undefined;

  const reconcileTimer = setInterval(() => {
    void untilStopped(() => reconcileGates(cache, client, log, config.site)).catch((err: unknown) =>
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
    endpoint,
    queues,
    drivers: Object.keys(drivers).sort(),
    workerRunning: () => workers.length > 0 && workers.every((w) => w.getState() === 'RUNNING'),
    async stop() {
      stopping = true;
      stopped.abort();
      calls.cancelAll();
      clearInterval(reconcileTimer);
      statusReporter?.stop();
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      // A connect to an unreachable Temporal cannot be cancelled; it is not waited for either (nothing is lost: the
      // outbox is on disk, and a worker that connects after this closes at once).
      const settled = Promise.allSettled([workerRuns, workerLoop]);
      await Promise.race([settled, new Promise((r) => setTimeout(r, STOP_GRACE_MS + 2_000).unref())]);
      await serving.stop();
      await temporal.close().catch(() => undefined);
    },
  };
}
