// One fleet-scale measurement in a process of its own (peak RSS is a per-process high-water mark):
//   node --import tsx bench/fleet/run-one.ts '{"backend":"dev","hosts":10000,...}'
// A rollout of N sim hosts (every sim delay 0) over N / hostsPerSite sites on a fresh Temporal — the embedded dev
// server (SQLite, as `vaquero dev`), or temporal-server on PostgreSQL with mTLS (testkit/production-temporal.ts) —
// through the real control worker and sim site workers (workers/stack.ts, in this process), started the way
// `vaquero apply` starts it, run to completion or to a generous cap. Beside it, a real `vaquero server`
// (bin/vaquero.js, its own process, no worker: the product's startServer with its index synced from the same
// Temporal) answers GET /hosts under a bounded load from autocannon (its own process) while the rollout runs.
// Measured: time from apply to the rollout's end, the rollout's provisioned count every few seconds (hosts/s over
// time), peak memory and CPU of each process, the weight of the run's histories (testkit/history-size.ts), and
// GET /hosts latency per load window with the number of hosts the index held.
// Prints one line `RESULT {json}`.
import { codecSettingsFromEnv, codecSettingsToEnv } from '../../temporal/codec/codec-settings.ts';
import { devCodecSettings } from '../../temporal/codec/dev-key.ts';
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import { startDirRollout } from '../../client/start-rollout.ts';
import { HOST_WORKFLOW_TYPE, hostWorkflowId, rolloutStatusQuery } from '../../domain/workflow-api.ts';
import type { RolloutResult } from '../../domain/rollout.ts';
import { ZERO_DELAYS } from '../../sim/sim-delays.ts';
import { connectTemporal } from '../../temporal/connection.ts';
import type { TemporalConnection } from '../../temporal/connection.ts';
import { startDevServer } from '../../temporal/dev-server.ts';
import { freePort } from '../../temporal/ports.ts';
import { installQuietRuntime } from '../../temporal/runtime.ts';
import { weighHistory } from '../../testkit/history-size.ts';
import type { HistoryWeight } from '../../testkit/history-size.ts';
import { startTestProductionTemporal } from '../../testkit/production-temporal.ts';
import { startWorkerStack } from '../../workers/stack.ts';
import { writeBenchSot } from '../lib/bench-sot.ts';
import { cpuSeconds, peakRssMiB } from '../lib/lab.ts';
import { sampleTree } from '../lib/proc-tree.ts';
import { percentile } from '../lib/stats.ts';

export type FleetBackend = 'dev' | 'postgres';

export interface FleetApiLoad {
  /** autocannon connections and overall request rate (requests/s over all connections) per window. */
  connections: number;
  rate: number;
  /** Seconds per window; each window runs one case, the cases in turn. */
  windowS: number;
  /** Seconds between windows. */
  pauseS: number;
  /** At most this many windows during the rollout (then one round of every case after it). */
  maxWindows: number;
  /** Seconds between the rollout's end and the windows after it (the index catches up). */
  settleS: number;
}

export interface FleetRunInput {
  backend: FleetBackend;
  hosts: number;
  hostsPerSite: number;
  /** The safety cap: seconds from apply after which the measurement ends, done or not (reported). */
  capS: number;
  /** How often the rollout's status is sampled (ms). */
  sampleMs: number;
  /** Every this many samples, also count hosts in visibility and in the API's index. */
  crossCheckEvery: number;
  api: FleetApiLoad;
  /** Host workflows weighed (spread over the sites), besides every workflow that is not a host. */
  weighHosts: number;
}

export interface StatusSample {
  /** Seconds since apply. */
  t: number;
  provisioned: number;
  failed: number;
  running: number;
  /** How long the status query took (ms); null when it failed (then `provisioned` is the last known count). */
  queryMs: number | null;
  queryError?: string;
  /**
   * Every few samples, the same from elsewhere: host workflows visibility lists (all, and completed), and the
   * hosts the API's index holds (all, and provisioned) — how far each lags the rollout's own count.
   */
  visibilityHosts?: number | null;
  visibilityCompleted?: number | null;
  indexHosts?: number | null;
  indexProvisioned?: number | null;
}

export interface ApiWindow {
  case: string;
  path: string;
  /** Seconds since apply at the window's start; null for the windows after the rollout. */
  t: number | null;
  duringRollout: boolean;
  /** Hosts in the API's index at the window's start and end (GET /hosts?limit=1 → total). */
  indexHostsBefore: number | null;
  indexHostsAfter: number | null;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  requests: number;
  errors: number;
}

/** One of the last hosts to finish: how long it ran, and the longest quiet stretch in its history. */
export interface Straggler {
  workflowId: string;
  /** Seconds from apply to its start and to its close. */
  startedAtS: number;
  closedAtS: number;
  /** Runs of its workflow id visibility lists (more than one: it was started again). */
  runs: number;
  runS: number;
  events: number;
  /** The longest gap between two consecutive events of its history, and the events on either side. */
  gapS: number;
  gapAfter: string;
  gapBefore: string;
}

export interface ProcessStats {
  peakRssMiB: number | null;
  cpuSeconds: number | null;
}

export interface FleetRunResult {
  backend: FleetBackend;
  temporal: string;
  hosts: number;
  sites: number;
  state: string;
  provisioned: number;
  failed: number;
  /** The first failed hosts and why (from the rollout's status), so a failure in the run can be explained. */
  failures: { host: string; error?: string }[];
  /** True when the cap ended the run before the rollout did. */
  capped: boolean;
  /** From apply to the rollout's end (its last host done), or to the cap. */
  seconds: number;
  hostsPerSecond: number;
  /** Seconds from apply to the first host provisioned (first sample that saw one). */
  firstHostS: number | null;
  samples: StatusSample[];
  processes: {
    worker: ProcessStats;
    temporal: ProcessStats;
    api: ProcessStats;
    /** PostgreSQL's postmaster and its backends: CPU with children, peak of the sampled tree PSS. */
    postgres?: ProcessStats & { peakProcesses: number };
  };
  /** Every run of every workflow that is not a host (rollout runs, site-model publishers…), and sampled hosts. */
  histories: {
    rolloutRuns: HistoryWeight[];
    other: HistoryWeight[];
    hosts: HistoryWeight[];
  };
  api: { windows: ApiWindow[]; indexRefresh: { count: number; sumS: number } | null };
  /** Host workflows visibility lists as completed after the run. */
  hostWorkflowsCompleted: number | null;
  /** The hosts that closed last. */
  stragglers: Straggler[];
  errors: string[];
}

const input = JSON.parse(process.argv[2]!) as FleetRunInput;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const AUTOCANNON = createRequire(import.meta.url).resolve('autocannon/autocannon.js');
const execFileP = promisify(execFile);
const TOKEN = 'fleet-bench-read-token-0123456789';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const errors: string[] = [];
const started = performance.now();
/** Phases on stderr, with seconds since this process started (the runner shows them when a run fails). */
const phase = (what: string): void =>
  void process.stderr.write(`${((performance.now() - started) / 1000).toFixed(1)} s: ${what}\n`);
const note = (what: string, err: unknown): void => {
  const m = `${what}: ${err instanceof Error ? err.message : String(err)}`;
  errors.push(m.slice(0, 500));
  process.stderr.write(`${m}\n`);
};

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms))),
  ]).finally(() => clearTimeout(timer));
}

interface Backend {
  temporal: TemporalConnection;
  label: string;
  env: NodeJS.ProcessEnv;
  temporalPid(): number | undefined;
  postgresPid?: () => number | undefined;
  stop(): Promise<void>;
}

async function startBackend(dir: string): Promise<Backend> {
  if (input.backend === 'dev') {
    const server = await startDevServer({
      dataDir: path.join(dir, 'temporal'),
      ui: false,
      ports: { grpc: await freePort(), http: await freePort(), metrics: await freePort() },
    });
    // Encrypted as production runs, unless the caller's environment says otherwise (VAQUERO_CODEC=off).
    const codecEnv = codecSettingsFromEnv(process.env)
      ? {}
      : codecSettingsToEnv(await devCodecSettings(path.join(dir, 'temporal')));
    const env = { TEMPORAL_ADDRESS: server.address, TEMPORAL_NAMESPACE: server.namespace, ...codecEnv };
    const temporal = await connectTemporal({ dataDir: dir, env: { ...process.env, ...env } });
    return {
      temporal,
      label: 'dev server (SQLite)',
      env,
      temporalPid: () => server.pid,
      async stop() {
        await temporal.close();
        await server.stop();
      },
    };
  }
  // PostgreSQL runs as its own user when we are root: it must get through our temp dir to its own.
  await chmod(dir, 0o711);
  const { server } = await startTestProductionTemporal(path.join(dir, 'prod'), {
    log: (m) => process.stderr.write(`${m}\n`),
  });
  const temporal = await connectTemporal({ dataDir: dir, env: { ...process.env, ...server.clientEnv } });
  let pgPid: number | undefined;
  try {
    pgPid = Number(
      (await readFile(path.join(server.dataDir, 'postgres', 'data', 'postmaster.pid'), 'utf8')).split(
        '\n',
      )[0],
    );
  } catch (err) {
    note('postmaster.pid', err);
  }
  return {
    temporal,
    label: `temporal-server ${server.version} on PostgreSQL (mTLS)`,
    env: server.clientEnv,
    temporalPid: () => server.serverPid(),
    postgresPid: () => pgPid,
    async stop() {
      await temporal.close();
      await server.stop();
    },
  };
}

/** A real `vaquero server` (no worker) in its own process, its index synced from the same Temporal. */
async function startApi(dir: string, env: NodeJS.ProcessEnv): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [path.join(ROOT, 'bin', 'vaquero.js'), 'server', '--no-worker', '--listen', `127.0.0.1:${port}`],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        ...process.env,
        ...env,
        VAQUERO_DATA_DIR: path.join(dir, 'api'),
        VAQUERO_READ_TOKEN: TOKEN,
        VAQUERO_LOG_LEVEL: 'silent',
      },
    },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8000);
  });
  process.once('exit', () => child.kill('SIGKILL'));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`vaquero server exited: ${stderr}`);
    const ok = await fetch(`${url}/hosts?limit=1`, { headers: { authorization: `Bearer ${TOKEN}` } }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { url, child };
    await sleep(250);
  }
  child.kill('SIGKILL');
  throw new Error(`vaquero server not ready in 120 s: ${stderr}`);
}

async function indexTotal(url: string, filter = ''): Promise<number | null> {
  try {
    const r = await fetch(`${url}/hosts?limit=1${filter}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
      signal: AbortSignal.timeout(10_000),
    });
    return ((await r.json()) as { total: number }).total;
  } catch {
    return null;
  }
}

interface CannonResult {
  latency: { p50: number; p90: number; p99: number; max: number };
  requests: { total: number };
  errors: number;
  non2xx: number;
  timeouts: number;
}

async function window(
  url: string,
  c: { name: string; path: string },
  t: number | null,
  duringRollout: boolean,
): Promise<ApiWindow | null> {
  const before = await indexTotal(url);
  const args = [
    AUTOCANNON,
    ...['-c', String(input.api.connections), '-R', String(input.api.rate), '-d', String(input.api.windowS)],
    ...['-j', '-H', `authorization=Bearer ${TOKEN}`, `${url}${c.path}`],
  ];
  try {
    const { stdout } = await execFileP(process.execPath, args, {
      maxBuffer: 64 * 1024 * 1024,
      timeout: (input.api.windowS + 60) * 1000,
    });
    const r = JSON.parse(stdout) as CannonResult;
    return {
      case: c.name,
      path: c.path,
      t,
      duringRollout,
      indexHostsBefore: before,
      indexHostsAfter: await indexTotal(url),
      p50: r.latency.p50,
      p90: r.latency.p90,
      p99: r.latency.p99,
      max: r.latency.max,
      requests: r.requests.total,
      errors: r.errors + r.non2xx + r.timeouts,
    };
  } catch (err) {
    note(`autocannon ${c.path}`, err);
    return null;
  }
}

const API_CASES = [
  { name: 'GET /hosts (first page of 100)', path: '/hosts' },
  { name: 'GET /hosts?limit=10000 (the whole fleet)', path: '/hosts?limit=10000' },
  { name: 'GET /hosts?state=running&limit=100', path: '/hosts?state=running&limit=100' },
];

async function indexRefreshMetric(url: string): Promise<{ count: number; sumS: number } | null> {
  try {
    const text = await (
      await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
    ).text();
    const sum = /^vaquero_index_refresh_seconds_sum\{result="ok"\} ([\d.e+-]+)$/m.exec(text);
    const count = /^vaquero_index_refresh_seconds_count\{result="ok"\} (\d+)$/m.exec(text);
    return sum && count ? { count: Number(count[1]), sumS: Math.round(Number(sum[1]) * 1000) / 1000 } : null;
  } catch (err) {
    note('metrics', err);
    return null;
  }
}

async function weighAll(client: Client, rolloutId: string, sites: string[], perSite: number) {
  const rolloutRuns: HistoryWeight[] = [];
  const other: HistoryWeight[] = [];
  for await (const wf of client.workflow.list({ query: `WorkflowType != '${HOST_WORKFLOW_TYPE}'` })) {
    try {
      const w = await weighHistory(client, wf.workflowId, wf.runId);
      (wf.workflowId === rolloutId ? rolloutRuns : other).push(w);
    } catch (err) {
      note(`weigh ${wf.workflowId}`, err);
    }
  }
  const hosts: HistoryWeight[] = [];
  const perSiteSample = Math.max(1, Math.ceil(input.weighHosts / sites.length));
  for (const [s, site] of sites.entries()) {
    const hereHosts = Math.min(perSite, input.hosts - s * perSite);
    for (let k = 0; k < perSiteSample && hosts.length < input.weighHosts; k++) {
      const i = 1 + Math.floor((k * hereHosts) / perSiteSample);
      const host = `s${String(s + 1).padStart(3, '0')}-h${String(i).padStart(4, '0')}`;
      try {
        hosts.push(await weighHistory(client, hostWorkflowId(site, host)));
      } catch (err) {
        note(`weigh ${host}`, err);
      }
    }
  }
  return { rolloutRuns, other, hosts };
}

/** An event's time in epoch ms (protobuf Timestamp: seconds as a Long, and nanos). */
const tsToMs = (ts: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
  ts ? Number(ts.seconds ?? 0) * 1000 + (ts.nanos ?? 0) / 1e6 : 0;
const eventName = (t: number | null | undefined): string =>
  (proto.temporal.api.enums.v1.EventType[t ?? 0] ?? String(t)).replace(/^EVENT_TYPE_/, '');

async function stragglers(client: Client, applyMs: number, n: number): Promise<Straggler[]> {
  const closed: { id: string; runId: string; start: number; close: number }[] = [];
  const runs = new Map<string, number>();
  for await (const wf of client.workflow.list({
    query: `WorkflowType = '${HOST_WORKFLOW_TYPE}'`,
    pageSize: 1000,
  })) {
    runs.set(wf.workflowId, (runs.get(wf.workflowId) ?? 0) + 1);
    if (wf.closeTime)
      closed.push({ id: wf.workflowId, runId: wf.runId, start: +wf.startTime, close: +wf.closeTime });
  }
  closed.sort((a, b) => b.close - a.close);
  const out: Straggler[] = [];
  for (const c of closed.slice(0, n)) {
    try {
      const events = (await client.workflow.getHandle(c.id, c.runId).fetchHistory()).events ?? [];
      let gap = { ms: 0, after: '', before: '' };
      for (let i = 1; i < events.length; i++) {
        const ms = tsToMs(events[i]!.eventTime) - tsToMs(events[i - 1]!.eventTime);
        if (ms > gap.ms)
          gap = { ms, after: eventName(events[i - 1]!.eventType), before: eventName(events[i]!.eventType) };
      }
      out.push({
        workflowId: c.id,
        startedAtS: Math.round((c.start - applyMs) / 100) / 10,
        closedAtS: Math.round((c.close - applyMs) / 100) / 10,
        runs: runs.get(c.id) ?? 1,
        runS: Math.round((c.close - c.start) / 100) / 10,
        events: events.length,
        gapS: Math.round(gap.ms / 100) / 10,
        gapAfter: gap.after,
        gapBefore: gap.before,
      });
    } catch (err) {
      note(`history of ${c.id}`, err);
    }
  }
  return out;
}

// The parent (bench/run.ts) stops a run that outlives its budget with SIGTERM. Node's default for that signal
// skips 'exit' handlers, which is where the API child and the stack are stopped: exit instead, so they run.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(143));

async function main(): Promise<void> {
  installQuietRuntime();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'vq-bench-fleet-'));
  const backend = await startBackend(dir).catch(async (err: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw err;
  });
  phase(`${input.backend} Temporal up`);
  const { temporal } = backend;
  let api: { url: string; child: ChildProcess } | undefined;
  try {
    const sot = writeBenchSot(path.join(dir, 'sot'), {
      hosts: input.hosts,
      hostsPerSite: input.hostsPerSite,
    });
    const stack = await startWorkerStack({
      connection: await temporal.nativeConnection(),
      client: temporal.client,
      dataConverter: temporal.dataConverter,
      namespace: temporal.namespace,
      dataDir: dir,
      control: true,
      simSites: sot.sites,
      simDelays: ZERO_DELAYS,
    });
    phase('workers up');
    api = await startApi(dir, backend.env);
    phase('API up');
    const apiPid = api.child.pid!;
    const apiUrl = api.url;
    const pg = backend.postgresPid ? sampleTree(backend.postgresPid, 2000) : undefined;
    const cpu0 = process.cpuUsage();
    const temporalCpu0 = cpuSeconds(backend.temporalPid() ?? -1);
    const apiCpu0 = cpuSeconds(apiPid);
    const pgCpu0 = backend.postgresPid ? cpuSeconds(backend.postgresPid() ?? -1) : null;

    const applyMs = Date.now();
    const t0 = performance.now();
    const since = (): number => Math.round((performance.now() - t0) / 100) / 10;
    const r = await startDirRollout(temporal.client, { dir: sot.dir, sot: 'bench' });
    const handle = temporal.client.workflow.getHandle(r.workflowId);
    let done = false;
    let end = 0;
    const samples: StatusSample[] = [];
    const count = (query: string): Promise<number | null> =>
      withTimeout(temporal.client.workflow.count(query), 10_000).then(
        (c) => (c === 'timeout' ? null : c.count),
        () => null,
      );
    const sampling = (async () => {
      for (let n = 0; !done; n++) {
        const t = since();
        const q0 = performance.now();
        let sample: StatusSample;
        try {
          const s = await withTimeout(handle.query(rolloutStatusQuery), 10_000);
          if (s === 'timeout') throw new Error('no answer in 10 s');
          sample = {
            t,
            provisioned: s.counts.provisioned,
            failed: s.counts.failed,
            running: s.counts.running,
            queryMs: Math.round(performance.now() - q0),
          };
        } catch (err) {
          const last = samples[samples.length - 1];
          sample = {
            t,
            provisioned: last?.provisioned ?? 0,
            failed: last?.failed ?? 0,
            running: last?.running ?? 0,
            queryMs: null,
            queryError: (err instanceof Error ? err.message : String(err)).slice(0, 120),
          };
          if (samples.filter((x) => x.queryMs === null).length < 5) note(`status at ${t} s`, err);
        }
        if (n % input.crossCheckEvery === 0) {
          const [vh, vc, ih, ip] = await Promise.all([
            count(`WorkflowType = '${HOST_WORKFLOW_TYPE}'`),
            count(`WorkflowType = '${HOST_WORKFLOW_TYPE}' AND ExecutionStatus = 'Completed'`),
            indexTotal(apiUrl),
            indexTotal(apiUrl, '&state=provisioned'),
          ]);
          Object.assign(sample, {
            visibilityHosts: vh,
            visibilityCompleted: vc,
            indexHosts: ih,
            indexProvisioned: ip,
          });
        }
        samples.push(sample);
        const wait = input.sampleMs - (performance.now() - q0);
        if (wait > 0) await sleep(wait);
      }
    })();
    const windows: ApiWindow[] = [];
    const load = (async () => {
      // The first window waits as long as the windows are apart: a smoke run (no pause) can finish its rollout in
      // about two seconds on an idle machine, and must still measure GET /hosts while it runs.
      await sleep(Math.min(2000, input.api.pauseS * 1000));
      for (let i = 0; !done && i < input.api.maxWindows; i++) {
        const w = await window(api.url, API_CASES[i % API_CASES.length]!, since(), true);
        if (w) windows.push(w);
        const pauseUntil = Date.now() + input.api.pauseS * 1000;
        while (!done && Date.now() < pauseUntil) await sleep(200);
      }
    })();

    const outcome = await withTimeout(handle.result() as Promise<RolloutResult>, input.capS * 1000).catch(
      (err: unknown) => {
        note('rollout', err);
        return 'failed' as const;
      },
    );
    const result = typeof outcome === 'string' ? null : outcome;
    end = performance.now();
    done = true;
    phase('rollout ended');
    await sampling;
    const final = await withTimeout(handle.query(rolloutStatusQuery), 30_000).catch(() => 'timeout' as const);
    await load;
    // The measurement is over: what each process used until now.
    const cpu = process.cpuUsage(cpu0);
    const processes: FleetRunResult['processes'] = {
      worker: {
        peakRssMiB: peakRssMiB(process.pid),
        cpuSeconds: Math.round((cpu.user + cpu.system) / 1e4) / 100,
      },
      temporal: {
        peakRssMiB: peakRssMiB(backend.temporalPid() ?? -1),
        cpuSeconds: diff(cpuSeconds(backend.temporalPid() ?? -1), temporalCpu0),
      },
      api: { peakRssMiB: peakRssMiB(apiPid), cpuSeconds: diff(cpuSeconds(apiPid), apiCpu0) },
    };
    if (pg && backend.postgresPid) {
      pg.stop();
      processes.postgres = {
        peakRssMiB: pg.peakMiB(),
        peakProcesses: pg.peakProcesses(),
        cpuSeconds: diff(cpuSeconds(backend.postgresPid() ?? -1), pgCpu0),
      };
    }
    // GET /hosts with the whole fleet in the index, after the rollout (every host in it, none moving).
    await sleep(input.api.settleS * 1000);
    for (const c of API_CASES) {
      const w = await window(api.url, c, null, false);
      if (w) windows.push(w);
    }
    phase('API windows after the run done');
    const indexRefresh = await indexRefreshMetric(api.url);
    await stack.stop();

    const seconds = (end - t0) / 1000;
    const status = final === 'timeout' ? undefined : final;
    const provisioned = result?.provisioned ?? status?.counts.provisioned ?? 0;
    const histories = await weighAll(temporal.client, r.workflowId, sot.sites, input.hostsPerSite);
    const slow = await stragglers(temporal.client, applyMs, 5);
    phase('histories weighed');
    const hostWorkflowsCompleted = await temporal.client.workflow
      .count(`WorkflowType = '${HOST_WORKFLOW_TYPE}' AND ExecutionStatus = 'Completed'`)
      .then((c) => c.count)
      .catch(() => null);
    const first = samples.find((s) => s.provisioned > 0);
    const out: FleetRunResult = {
      backend: input.backend,
      temporal: backend.label,
      hosts: input.hosts,
      sites: sot.sites.length,
      state: result
        ? result.state
        : `${outcome === 'timeout' ? 'capped' : 'rollout failed'}${status ? ` (${status.state})` : ''}`,
      provisioned,
      failed: result?.failed ?? status?.counts.failed ?? 0,
      failures: (status?.failedHosts ?? []).slice(0, 10),
      capped: outcome === 'timeout',
      seconds: Math.round(seconds * 100) / 100,
      hostsPerSecond: Math.round((provisioned / seconds) * 100) / 100,
      firstHostS: first?.t ?? null,
      samples,
      processes,
      histories,
      api: { windows, indexRefresh },
      hostWorkflowsCompleted,
      stragglers: slow,
      errors,
    };
    process.stdout.write(`RESULT ${JSON.stringify(out)}\n`);
    const q = samples.map((s) => s.queryMs).filter((v): v is number => v !== null);
    process.stderr.write(
      `${out.state}: ${provisioned}/${input.hosts} in ${out.seconds} s; status query p99 ${percentile(q, 99)} ms\n`,
    );
  } finally {
    if (api && api.child.exitCode === null) {
      const exited = new Promise((r) => api!.child.once('exit', r));
      api.child.kill('SIGTERM');
      await withTimeout(exited, 10_000);
      if (api.child.exitCode === null) api.child.kill('SIGKILL');
    }
    await backend.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

function diff(a: number | null, b: number | null): number | null {
  return a !== null && b !== null ? Math.round((a - b) * 100) / 100 : null;
}

await main();
process.exit(0);
