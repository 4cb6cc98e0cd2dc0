// One orchestration measurement in a process of its own (peak RSS is a per-process high-water mark), on a fresh
// embedded Temporal dev server (SQLite, the same settings `vaquero dev` uses):
//   node --import tsx bench/orchestration/run-one.ts '{"workload":"vaquero","hosts":1000}'
// `vaquero`: a rollout of a generated SoT of N sim hosts with every sim delay at 0, through the real control
// worker and sim site workers (workers/stack.ts), started the way `vaquero apply` starts it.
// `minimal`: N minimal workflows (minimal-workflow.ts) with workers of the same shape.
// Payloads are encrypted (a key made in the server's data dir) unless `codec: "off"` or VAQUERO_CODEC=off.
// Prints one line `RESULT {json}`.
import { codecSettingsFromEnv } from '../../temporal/codec/codec-settings.ts';
import { devCodecSettings } from '../../temporal/codec/dev-key.ts';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDirRollout } from '../../client/start-rollout.ts';
import { ZERO_DELAYS } from '../../sim/sim-delays.ts';
import { connectTemporal } from '../../temporal/connection.ts';
import type { TemporalConnection } from '../../temporal/connection.ts';
import { startDevServer } from '../../temporal/dev-server.ts';
import { freePort } from '../../temporal/ports.ts';
import { installQuietRuntime } from '../../temporal/runtime.ts';
import { startWorkerStack } from '../../workers/stack.ts';
import { hostWorkflowId, rolloutStatusQuery } from '../../domain/workflow-api.ts';
import type { RolloutResult } from '../../domain/rollout.ts';
import { weighHistory } from '../../testkit/history-size.ts';
import { writeBenchSot } from '../lib/bench-sot.ts';
import { cpuSeconds, peakRssMiB } from '../lib/lab.ts';
import { createMinimalActivities } from './minimal-activities.ts';
import { MINIMAL_CONTROL_QUEUE, minimalSiteQueue } from './minimal-workflow.ts';

export interface RunOneInput {
  workload: 'vaquero' | 'minimal';
  hosts: number;
  hostsPerSite: number;
  /** The cap: seconds from apply after which the measurement ends, done or not. */
  timeoutS: number;
  /** 'off': payloads in clear, to measure what the payload codec costs (default: encrypted, as production). */
  codec?: 'on' | 'off';
}

export interface RunOneResult {
  workload: RunOneInput['workload'];
  codec: 'on' | 'off';
  hosts: number;
  sites: number;
  /** Hosts (workflows) that finished successfully. */
  completed: number;
  state: string;
  /** From apply (rollout start, or the first workflow start) to the last host done. */
  seconds: number;
  hostsPerSecond: number;
  /** From apply to the first BMC call (vaquero) or the first activity (minimal). */
  firstPowerMs: number | null;
  workerPeakRssMiB: number | null;
  temporalPeakRssMiB: number | null;
  workerCpuSeconds: number;
  temporalCpuSeconds: number | null;
  /** History length of one host's workflow: what each host costs the server, in events. */
  historyEventsPerHost: number | null;
  /** The same history's encoded size (what Temporal stores, payloads as the codec left them), in bytes. */
  historyBytesPerHost: number | null;
  /**
   * Every workflow's history events (hosts, rollout, semaphores, publishers: every run) over the hosts: what the
   * whole orchestration costs the server per host, by workflow type.
   */
  historyEventsAllPerHost: number | null;
  historyEventsByType: Record<string, number> | null;
}

const input = JSON.parse(process.argv[2]!) as RunOneInput;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const t0 = performance.now();
/** Phases on stderr: the runner shows its tail when a run gives no result, which then says where it stopped. */
const phase = (what: string): void =>
  void process.stderr.write(`${((performance.now() - t0) / 1000).toFixed(1)} s: ${what}\n`);

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms))),
  ]).finally(() => clearTimeout(timer));
}

interface Outcome {
  completed: number;
  state: string;
  sites: number;
  /** A workflow id whose history length stands for every host's. */
  sampleWorkflowId: string;
}

async function runVaquero(temporal: TemporalConnection, dir: string, mark: Mark): Promise<Outcome> {
  const sot = writeBenchSot(path.join(dir, 'sot'), { hosts: input.hosts, hostsPerSite: input.hostsPerSite });
  const stack = await startWorkerStack({
    connection: await temporal.nativeConnection(),
    client: temporal.client,
    dataConverter: temporal.dataConverter,
    namespace: temporal.namespace,
    dataDir: dir,
    control: true,
    simSites: sot.sites,
    simDelays: ZERO_DELAYS,
    // A run the cap ended has hosts mid-activity whose sims are stopped: give up on them rather than wait.
    stopForceMs: 30_000,
  });
  try {
    const sampleWorkflowId = hostWorkflowId(sot.sites[0]!, 's001-h0001');
    mark.start();
    const r = await startDirRollout(temporal.client, { dir: sot.dir, sot: 'bench' });
    // In-memory counters of the sim BMCs: cheap enough to poll often, and stop once the first call is seen.
    const watch = setInterval(() => {
      for (const s of stack.sims.values())
        if (s.fleet.bmcMaxInFlight > 0 || s.fleet.powerOns.size > 0) mark.firstPower();
      if (mark.sawPower()) clearInterval(watch);
    }, 5);
    const handle = temporal.client.workflow.getHandle(r.workflowId);
    const result = await withTimeout(handle.result() as Promise<RolloutResult>, input.timeoutS * 1000);
    mark.end();
    clearInterval(watch);
    phase(result === 'timeout' ? 'cap reached' : 'rollout ended');
    if (result === 'timeout') {
      const status = await handle.query(rolloutStatusQuery).catch(() => undefined);
      return {
        completed: status?.counts.provisioned ?? 0,
        state: 'timeout',
        sites: sot.sites.length,
        sampleWorkflowId,
      };
    }
    return { completed: result.provisioned, state: result.state, sites: sot.sites.length, sampleWorkflowId };
  } finally {
    phase('stopping the workers');
    await stack.stop();
    phase('workers stopped');
  }
}

async function runMinimal(temporal: TemporalConnection, mark: Mark): Promise<Outcome> {
  const { client } = temporal;
  const connection = await temporal.nativeConnection();
  const noop = (): undefined => undefined;
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath: fileURLToPath(new URL('./minimal-workflow.ts', import.meta.url)),
    logger: { trace: noop, debug: noop, info: noop, warn: noop, error: console.error, log: noop },
  });
  // The same worker shapes as vaquero's control worker and its site workers (one per site).
  const sites = Math.max(1, Math.ceil(input.hosts / input.hostsPerSite));
  const workers = [
    await Worker.create({
      connection,
      namespace: temporal.namespace,
      taskQueue: MINIMAL_CONTROL_QUEUE,
      dataConverter: temporal.dataConverter,
      workflowBundle,
      maxCachedWorkflows: 2000,
      maxConcurrentWorkflowTaskExecutions: 100,
      maxConcurrentActivityTaskExecutions: 20,
    }),
  ];
  for (let s = 0; s < sites; s++) {
    workers.push(
      await Worker.create({
        connection,
        namespace: temporal.namespace,
        taskQueue: minimalSiteQueue(s),
        dataConverter: temporal.dataConverter,
        activities: createMinimalActivities(client, () => mark.firstPower()),
        maxConcurrentActivityTaskExecutions: 100,
      }),
    );
  }
  const running = Promise.all(workers.map((w) => w.run()));
  try {
    mark.start();
    const deadline = Date.now() + input.timeoutS * 1000;
    // Started from the client, a bounded number at a time: the cheapest way to get N workflows going.
    let next = 0;
    const starter = async (): Promise<void> => {
      while (next < input.hosts) {
        const i = next++;
        await client.workflow.start('minimalHost', {
          taskQueue: MINIMAL_CONTROL_QUEUE,
          workflowId: `minimal/${i}`,
          // Hosts fill sites in order, as the bench SoT's do.
          args: [Math.floor(i / input.hostsPerSite)],
        });
      }
    };
    await Promise.all(Array.from({ length: 50 }, starter));
    let completed = 0;
    while (Date.now() < deadline) {
      completed = (
        await client.workflow.count(`WorkflowType = 'minimalHost' AND ExecutionStatus = 'Completed'`)
      ).count;
      if (completed >= input.hosts) break;
      await sleep(100);
    }
    mark.end();
    return {
      completed,
      state: completed >= input.hosts ? 'completed' : 'timeout',
      sites,
      sampleWorkflowId: 'minimal/0',
    };
  } finally {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await running.catch(() => undefined);
  }
}

/** History events of every execution in the namespace, summed by workflow type (open runs by describe). */
async function eventsByType(temporal: TemporalConnection): Promise<Record<string, number>> {
  const sums: Record<string, number> = {};
  for await (const w of temporal.client.workflow.list()) {
    let events = w.historyLength;
    if (w.status.name === 'RUNNING' || !events)
      events = (await temporal.client.workflow.getHandle(w.workflowId, w.runId).describe()).historyLength;
    sums[w.type] = (sums[w.type] ?? 0) + events;
  }
  return sums;
}

interface Mark {
  start(): void;
  firstPower(): void;
  sawPower(): boolean;
  end(): void;
  seconds(): number;
  firstPowerMs(): number | null;
}

function marks(): Mark {
  let t0 = 0;
  let first: number | null = null;
  let t1 = 0;
  return {
    start: () => void (t0 = performance.now()),
    firstPower: () => void (first ??= performance.now() - t0),
    sawPower: () => first !== null,
    end: () => void (t1 = performance.now()),
    seconds: () => (t1 - t0) / 1000,
    firstPowerMs: () => (first === null ? null : Math.round(first)),
  };
}

// The parent (bench/run.ts) stops a run that outlives its budget with SIGTERM. Node's default for that signal
// skips 'exit' handlers, which is where the API child and the stack are stopped: exit instead, so they run.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(143));

async function main(): Promise<void> {
  installQuietRuntime();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-bench-orch-'));
  const server = await startDevServer({
    dataDir: path.join(dir, 'temporal'),
    ui: false,
    ports: { grpc: await freePort(), http: await freePort(), metrics: await freePort() },
  });
  const env = { ...process.env, TEMPORAL_ADDRESS: server.address, TEMPORAL_NAMESPACE: server.namespace };
  // Encrypted as production runs, unless the caller's environment says otherwise (VAQUERO_CODEC=off).
  const codec =
    input.codec === 'off'
      ? { off: true as const }
      : (codecSettingsFromEnv(env) ?? (await devCodecSettings(path.join(dir, 'temporal'))));
  const temporal = await connectTemporal({ dataDir: dir, env, codec });
  try {
    const mark = marks();
    const cpu0 = process.cpuUsage();
    const serverCpu0 = cpuSeconds(server.pid);
    const r =
      input.workload === 'vaquero' ? await runVaquero(temporal, dir, mark) : await runMinimal(temporal, mark);
    const cpu = process.cpuUsage(cpu0);
    const serverCpu1 = cpuSeconds(server.pid);
    phase('weighing the histories');
    const sample = await temporal.client.workflow
      .getHandle(r.sampleWorkflowId)
      .describe()
      .then((d) => d.historyLength)
      .catch(() => null);
    const bytes = await weighHistory(temporal.client, r.sampleWorkflowId)
      .then((w) => w.bytes)
      .catch(() => null);
    // Only a rollout that finished says what a whole rollout costs; bounded, so a slow listing never eats the budget.
    const byType =
      r.state === 'timeout'
        ? null
        : await withTimeout(eventsByType(temporal), 60_000).then(
            (t) => (t === 'timeout' ? null : t),
            () => null,
          );
    const seconds = mark.seconds();
    const result: RunOneResult = {
      workload: input.workload,
      codec: temporal.codec.keyIds.length > 0 ? 'on' : 'off',
      hosts: input.hosts,
      sites: r.sites,
      completed: r.completed,
      state: r.state,
      seconds: Math.round(seconds * 100) / 100,
      hostsPerSecond: Math.round((r.completed / seconds) * 100) / 100,
      firstPowerMs: mark.firstPowerMs(),
      workerPeakRssMiB: peakRssMiB(process.pid),
      temporalPeakRssMiB: peakRssMiB(server.pid),
      workerCpuSeconds: Math.round((cpu.user + cpu.system) / 1e4) / 100,
      historyEventsPerHost: sample,
      historyBytesPerHost: bytes,
      historyEventsAllPerHost:
        byType === null
          ? null
          : Math.round((Object.values(byType).reduce((a, b) => a + b, 0) / input.hosts) * 10) / 10,
      historyEventsByType: byType,
      temporalCpuSeconds:
        serverCpu0 !== null && serverCpu1 !== null ? Math.round((serverCpu1 - serverCpu0) * 100) / 100 : null,
    };
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  } finally {
    phase('stopping Temporal');
    await temporal.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
