// The control-plane worker: runs the rollout and host workflows and the control activities (fetch, validate,
// render, plan) on the vaquero-control task queue.
import type { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import type { NativeConnection } from '@temporalio/worker';
import { createControlActivities } from '../activities/control/create-control-activities.ts';
import { CONTROL_TASK_QUEUE } from '../domain/temporal-names.ts';
import { workflowBundle } from './workflow-bundle.ts';
import { tracingWorkerOptions } from '../temporal/telemetry/temporal-tracing.ts';

export interface ControlWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  client: Client;
  /** The payload codec (TemporalConnection.dataConverter): required, so no worker is made without it. */
  dataConverter: DataConverter;
  dataDir: string;
  log?: (msg: string) => void;
  /** How long shutdown waits for work in flight before the worker gives up on it (default: Temporal's, no limit). */
  shutdownForceTime?: string;
}

export async function createControlWorker(opts: ControlWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: CONTROL_TASK_QUEUE,
    dataConverter: opts.dataConverter,
    workflowBundle: await workflowBundle(),
    activities: createControlActivities({
      dataDir: opts.dataDir,
      client: opts.client,
      ...(opts.log !== undefined ? { log: opts.log } : {}),
    }),
    // Host workflows are mostly waiting; many can be cached at once.
    maxCachedWorkflows: 2000,
    maxConcurrentWorkflowTaskExecutions: 100,
    maxConcurrentActivityTaskExecutions: 20,
    ...(opts.shutdownForceTime !== undefined ? { shutdownForceTime: opts.shutdownForceTime } : {}),
    ...tracingWorkerOptions({ workflows: true }),
  });
}
