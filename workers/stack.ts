// Runs the workers of one process: the control worker and/or one sim site worker per site.
import type { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { NativeConnection, Worker } from '@temporalio/worker';
import type { SimDelays } from '../sim/sim-delays.ts';
import { createControlWorker } from './control-worker.ts';
import { createSimSite } from '../sim/sim-site.ts';
import type { SimSite, SimSiteExtras } from '../sim/sim-site.ts';
import { createSiteWorker } from '../activities/site/site-worker.ts';
import { agentTaskQueue, siteTaskQueue } from '../domain/temporal-names.ts';
import { installQuietRuntime } from '../temporal/runtime.ts';

export interface WorkerStackOptions {
  connection: NativeConnection;
  client: Client;
  /** The payload codec every worker of the stack uses (TemporalConnection.dataConverter). */
  dataConverter: DataConverter;
  namespace: string;
  dataDir: string;
  control: boolean;
  /** Sites to simulate with sim hosts. */
  simSites: string[];
  simDelays: SimDelays;
  /**
   * Agent ids the SoT lists for a sim site with several agents: the sim site stands in for all of them and serves
   * their own queues too (where gates and site models go), besides the site's.
   */
  simSiteAgents?: Record<string, string[]>;
  /** Real BMC drivers, secrets and task containers for the sim sites. */
  siteExtras?: SimSiteExtras;
  log?: (msg: string) => void;
  /**
   * Bounds stop(): after this long, workers give up on work in flight (Temporal retries it on its timeouts)
   * instead of waiting for it. Default: wait as long as it takes.
   */
  stopForceMs?: number;
}

export interface WorkerStack {
  sims: Map<string, SimSite>;
  /** Resolves when every worker has stopped; rejects if one fails. */
  done: Promise<void>;
  stop(): Promise<void>;
}

export async function startWorkerStack(opts: WorkerStackOptions): Promise<WorkerStack> {
  installQuietRuntime();
  const workers: Worker[] = [];
  const sims = new Map<string, SimSite>();
  const force = opts.stopForceMs !== undefined ? { shutdownForceTime: `${opts.stopForceMs} ms` } : {};
  if (opts.control) {
    workers.push(
      await createControlWorker({
        connection: opts.connection,
        namespace: opts.namespace,
        client: opts.client,
        dataConverter: opts.dataConverter,
        dataDir: opts.dataDir,
        ...(opts.log !== undefined ? { log: opts.log } : {}),
        ...force,
      }),
    );
  }
  for (const site of opts.simSites) {
    const sim = createSimSite({
      site,
      client: opts.client,
      dataDir: opts.dataDir,
      delays: opts.simDelays,
      ...(opts.log !== undefined ? { log: opts.log } : {}),
      ...opts.siteExtras,
    });
    sims.set(site, sim);
    const queues = [
      siteTaskQueue(site),
      ...(opts.simSiteAgents?.[site] ?? []).map((agent) => agentTaskQueue(site, agent)),
    ];
    for (const taskQueue of queues) {
      workers.push(
        await createSiteWorker({
          connection: opts.connection,
          namespace: opts.namespace,
          taskQueue,
          activities: sim.activities,
          dataConverter: opts.dataConverter,
          ...force,
        }),
      );
    }
  }
  const done = Promise.all(workers.map((w) => w.run())).then(() => undefined);
  let stopping: Promise<void> | undefined;
  return {
    sims,
    done,
    stop() {
      stopping ??= (async () => {
        for (const s of sims.values()) s.fleet.stop();
        for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
        await done.catch(() => undefined);
      })();
      return stopping;
    },
  };
}
