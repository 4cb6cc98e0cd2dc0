// A running server: Temporal connection (TEMPORAL_ADDRESS / configuration, or an embedded dev server), the
// control-plane worker in the same process (unless configured off: then `vaquero worker --control` runs beside
// it), the index kept fresh from visibility, the folder watchers and branch pollers, and the API listening.
// Any number of these can run against one Temporal: see fleet-ops.ts for why that starts no rollout twice.
import { Worker } from '@temporalio/worker';
import path from 'node:path';
import { createControlActivities } from '../activities/control/create-control-activities.ts';
import { createGithubAccess, githubAuthFromEnv } from '../activities/control/github-access.ts';
import { connectTemporal } from '../temporal/connection.ts';
import type { TemporalConnection } from '../temporal/connection.ts';
import { CONTROL_TASK_QUEUE } from '../domain/temporal-names.ts';
import { installQuietRuntime } from '../temporal/runtime.ts';
import { workflowBundle } from '../workers/workflow-bundle.ts';
import { tracingWorkerOptions } from '../temporal/telemetry/temporal-tracing.ts';
import { buildApp } from './app.ts';
import type { ServerConfig } from './config.ts';
import { FleetIndex } from './fleet-index.ts';
import { FleetSync } from './fleet-sync.ts';
import { createMetrics } from './metrics.ts';
import { startTriggers } from './triggers.ts';
import type { Triggers } from './triggers.ts';
import type { FastifyInstance } from 'fastify';

export interface RunningServer {
  url: string;
  app: FastifyInstance;
  temporal: TemporalConnection;
  sync: FleetSync;
  triggers: Triggers;
  /** Idempotent: stops listening, triggers, index refreshes, the worker, then Temporal. */
  close(): Promise<void>;
}

export async function startServer(
  config: ServerConfig,
  opts: { env?: NodeJS.ProcessEnv; log?: (msg: string) => void } = {},
): Promise<RunningServer> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? ((m: string) => process.stderr.write(`vaquero server: ${m}\n`));
  installQuietRuntime();
  const temporal = await connectTemporal({
    dataDir: path.join(config.dataDir, 'temporal'),
    ...(config.temporal.namespace !== undefined ? { namespace: config.temporal.namespace } : {}),
    ...(config.temporal.codec !== undefined ? { codec: config.temporal.codec } : {}),
    env: {
      ...env,
      TEMPORAL_ADDRESS: config.temporal.address ?? '',
      TEMPORAL_NAMESPACE: config.temporal.namespace ?? '',
    },
    log,
  });
  const github = createGithubAccess(config.github ? config.github.auth : () => githubAuthFromEnv(env));
  let worker: Worker | undefined;
  let workerDone: Promise<void> | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  try {
    if (config.controlWorker) {
      worker = await Worker.create({
        connection: await temporal.nativeConnection(),
        namespace: temporal.namespace,
        taskQueue: CONTROL_TASK_QUEUE,
        dataConverter: temporal.dataConverter,
        workflowBundle: await workflowBundle(),
        activities: createControlActivities({
          dataDir: config.dataDir,
          client: temporal.client,
          log,
          github,
        }),
        maxCachedWorkflows: 2000,
        maxConcurrentWorkflowTaskExecutions: 100,
        maxConcurrentActivityTaskExecutions: 20,
        ...tracingWorkerOptions({ workflows: true }),
      });
      workerDone = worker.run();
      workerDone.catch((err: unknown) =>
        log(`control worker stopped: ${err instanceof Error ? err.message : String(err)}`),
      );
    }
    const metrics = createMetrics();
    const index = new FleetIndex(undefined, metrics.observer);
    const sync = new FleetSync({
      client: temporal.client,
      index,
      intervalMs: config.indexRefreshMs,
      log,
      onRefresh: (s, ok) => metrics.indexRefresh.observe({ result: ok ? 'ok' : 'error' }, s),
    });
    const app = await buildApp({
      config,
      client: temporal.client,
      namespace: temporal.namespace,
      index,
      metrics,
      github,
      ...(temporal.codec.codec !== undefined ? { codec: temporal.codec.codec } : {}),
      logger: config.logLevel === 'silent' ? false : { level: config.logLevel },
    });
    cleanups.push(() => app.close());
    sync.start();
    cleanups.push(() => sync.stop());
    const triggers = startTriggers({
      sots: config.sots,
      ops: app.vaquero.ops,
      debounceMs: config.watchDebounceMs,
      log,
      dataDir: path.join(config.dataDir, 'server'),
    });
    cleanups.push(async () => triggers.stop());
    if (config.auth.tokens.length === 0)
      log('no API tokens configured: every route but the open ones answers 401');
    const address = await app.listen({ host: config.listen.host, port: config.listen.port });
    log(
      `listening on ${address} (Temporal ${temporal.address}, namespace ${temporal.namespace}${worker ? ', control worker in process' : ''})`,
    );
    let closing: Promise<void> | undefined;
    return {
      url: address,
      app,
      temporal,
      sync,
      triggers,
      close() {
        closing ??= (async () => {
          for (const c of cleanups.reverse()) await c().catch(() => undefined);
          if (worker?.getState() === 'RUNNING') worker.shutdown();
          await workerDone?.catch(() => undefined);
          await temporal.close();
        })();
        return closing;
      },
    };
  } catch (err) {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await workerDone?.catch(() => undefined);
    await temporal.close();
    throw err;
  }
}
