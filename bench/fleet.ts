// Fleet scale (issue 20, item 3): one rollout of 10,000 sim hosts over 10 sites (sim delays 0) run to completion,
// on the embedded dev server and on temporal-server with PostgreSQL and mTLS, with a real `vaquero server`
// answering GET /hosts under a bounded load while it runs. Each backend is measured in a process of its own
// (bench/fleet/run-one.ts) on a fresh server. Reported per backend: time from apply to the last host, hosts per
// second (overall, and over time as a chart), peak memory and CPU of each process, the weight of the run's
// histories (the rollout's runs, one host, the other workflows), GET /hosts latency during and after the run, and
// how far the API's index and visibility lag the rollout's own count.
//   npm run bench -- --only fleet         (both backends, 10,000 hosts: most of an hour on 2 idle cores)
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BenchContext } from './lib/context.ts';
import { secondsSince } from './lib/context.ts';
import { asciiChart, svgChart } from './lib/plot.ts';
import type { Series } from './lib/plot.ts';
import type { BenchmarkResult, Row } from './lib/results.ts';
import { makeRow } from './lib/results.ts';
import { median, percentile } from './lib/stats.ts';
import type {
  FleetApiLoad,
  FleetBackend,
  FleetRunInput,
  FleetRunResult,
  StatusSample,
} from './fleet/run-one.ts';

export interface FleetOptions {
  backends: FleetBackend[];
  hosts: number;
  hostsPerSite: number;
  /** The safety cap per backend, seconds from apply: generous, the run is meant to complete (hitting it is noted). */
  capS: number;
  sampleMs: number;
  crossCheckEvery: number;
  api: FleetApiLoad;
  weighHosts: number;
  /** Seconds over which hosts/s is computed for the chart and the best rate. */
  rateWindowS: number;
}

export const FLEET_FULL: FleetOptions = {
  backends: ['dev', 'postgres'],
  hosts: 10_000,
  hostsPerSite: 1000,
  capS: 7200,
  sampleMs: 2000,
  crossCheckEvery: 5,
  api: { connections: 4, rate: 20, windowS: 10, pauseS: 5, maxWindows: 1000, settleS: 5 },
  weighHosts: 30,
  rateWindowS: 20,
};

export const FLEET_SMOKE: FleetOptions = {
  backends: ['dev'],
  hosts: 20,
  hostsPerSite: 10,
  capS: 120,
  sampleMs: 500,
  crossCheckEvery: 2,
  api: { connections: 2, rate: 10, windowS: 1, pauseS: 0, maxWindows: 3, settleS: 0 },
  weighHosts: 2,
  rateWindowS: 2,
};

const SCRIPT = fileURLToPath(new URL('./fleet/run-one.ts', import.meta.url));

const BACKEND_LABEL: Record<FleetBackend, string> = {
  dev: 'dev server (SQLite)',
  postgres: 'temporal-server + PostgreSQL (mTLS)',
};

function runOne(input: FleetRunInput, log: (m: string) => void): Promise<FleetRunResult | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, JSON.stringify(input)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-8000)));
    // Its own cap ends the rollout; this one only guards against a hang in start, weighing or stop.
    const timer = setTimeout(() => child.kill('SIGKILL'), (input.capS + 900) * 1000);
    const orphan = (): void => void child.kill('SIGTERM');
    process.once('exit', orphan);
    child.on('close', (code) => {
      process.off('exit', orphan);
      clearTimeout(timer);
      const m = /^RESULT (\{.*\})$/m.exec(out);
      if (!m) log(`fleet ${input.backend}: no result (exit ${code}): ${err.slice(-2000)}`);
      resolve(m ? (JSON.parse(m[1]!) as FleetRunResult) : null);
    });
  });
}

/** Hosts provisioned per second over the `windowS` seconds before each sample (from the rollout's own count). */
export function rateSeries(samples: readonly StatusSample[], windowS: number): [number, number][] {
  const out: [number, number][] = [];
  let j = 0;
  for (const s of samples) {
    while (j < samples.length - 1 && samples[j + 1]!.t <= s.t - windowS) j++;
    const a = samples[j]!;
    if (s.t - a.t < windowS * 0.5) continue;
    out.push([s.t, Math.max(0, (s.provisioned - a.provisioned) / (s.t - a.t))]);
  }
  return out;
}

const max = (xs: (number | null | undefined)[]): number | null => {
  const v = xs.filter((x): x is number => typeof x === 'number');
  return v.length > 0 ? Math.max(...v) : null;
};

export async function runFleet(opts: FleetOptions, ctx: BenchContext): Promise<BenchmarkResult> {
  const t0 = performance.now();
  const results: Partial<Record<FleetBackend, FleetRunResult | null>> = {};
  for (const backend of opts.backends) {
    ctx.log(`fleet: ${opts.hosts} hosts on the ${BACKEND_LABEL[backend]}`);
    const r = await runOne(
      {
        backend,
        hosts: opts.hosts,
        hostsPerSite: opts.hostsPerSite,
        capS: opts.capS,
        sampleMs: opts.sampleMs,
        crossCheckEvery: opts.crossCheckEvery,
        api: opts.api,
        weighHosts: opts.weighHosts,
      },
      ctx.log,
    );
    results[backend] = r;
    if (r)
      ctx.log(
        `  ${r.state}: ${r.provisioned}/${r.hosts} in ${r.seconds} s (${r.hostsPerSecond}/s)${r.capped ? ' — CAPPED' : ''}`,
      );
  }
  const rows: Row[] = [];
  const notes: string[] = [];
  const charts: string[] = [];
  const series: Series[] = [];
  for (const backend of opts.backends) {
    const r = results[backend] ?? null;
    const label = `${opts.hosts} hosts, ${Math.ceil(opts.hosts / opts.hostsPerSite)} sites, ${BACKEND_LABEL[backend]}`;
    const row = (metric: string, unit: string, better: 'higher' | 'lower', v: number | null | undefined) =>
      rows.push(makeRow('fleet', { case: label, metric, unit, better }, [r ? v : null]));
    const rates = r ? rateSeries(r.samples, opts.rateWindowS) : [];
    const rolloutRuns = r?.histories.rolloutRuns ?? [];
    const hosts = r?.histories.hosts ?? [];
    const other = r?.histories.other ?? [];
    const all = [...rolloutRuns, ...hosts, ...other];
    const biggestOther = [...other].sort((a, b) => b.events - a.events)[0];
    const during = (path: string) =>
      (r?.api.windows ?? []).filter((w) => w.path === path && w.duringRollout && w.requests > 0);
    const after = (path: string) => (r?.api.windows ?? []).find((w) => w.path === path && !w.duringRollout);
    const queryMs = (r?.samples ?? []).map((s) => s.queryMs).filter((v): v is number => v !== null);
    const lag = (r?.samples ?? [])
      .filter((s) => typeof s.indexProvisioned === 'number')
      .map((s) => s.provisioned - s.indexProvisioned!);
    row('hosts provisioned', 'hosts', 'higher', r?.provisioned);
    row('apply → last host', 's', 'lower', r && !r.capped && r.provisioned === r.hosts ? r.seconds : null);
    row('hosts, whole run', '/s', 'higher', r?.hostsPerSecond);
    row(`hosts, best ${opts.rateWindowS} s`, '/s', 'higher', max(rates.map((p) => p[1])));
    row('apply → first host provisioned', 's', 'lower', r?.firstHostS);
    row('peak RSS, worker process', 'MiB', 'lower', r?.processes.worker.peakRssMiB);
    row('peak RSS, Temporal server', 'MiB', 'lower', r?.processes.temporal.peakRssMiB);
    row('peak RSS, API server', 'MiB', 'lower', r?.processes.api.peakRssMiB);
    if (backend === 'postgres')
      row('peak PSS, PostgreSQL (all processes)', 'MiB', 'lower', r?.processes.postgres?.peakRssMiB);
    row('CPU, worker process', 's', 'lower', r?.processes.worker.cpuSeconds);
    row('CPU, Temporal server', 's', 'lower', r?.processes.temporal.cpuSeconds);
    row('CPU, API server', 's', 'lower', r?.processes.api.cpuSeconds);
    if (backend === 'postgres')
      row('CPU, PostgreSQL (all processes)', 's', 'lower', r?.processes.postgres?.cpuSeconds);
    row('largest payload, any history', 'bytes', 'lower', max(all.map((w) => w.largestPayload.bytes)));
    row('rollout runs (continue-as-new)', 'runs', 'lower', r ? rolloutRuns.length : null);
    row('largest rollout run', 'events', 'lower', max(rolloutRuns.map((w) => w.events)));
    row('largest rollout run', 'bytes', 'lower', max(rolloutRuns.map((w) => w.bytes)));
    row('largest host history (sampled)', 'events', 'lower', max(hosts.map((w) => w.events)));
    row('largest host history (sampled)', 'bytes', 'lower', max(hosts.map((w) => w.bytes)));
    row('largest other history', 'events', 'lower', biggestOther?.events);
    row('largest other history', 'bytes', 'lower', biggestOther?.bytes);
    for (const [path, name] of [
      ['/hosts', 'GET /hosts'],
      ['/hosts?limit=10000', 'GET /hosts?limit=10000'],
      ['/hosts?state=running&limit=100', 'GET /hosts?state=running'],
    ] as const) {
      const ws = during(path);
      row(`${name} p99, during the run (median window)`, 'ms', 'lower', median(ws.map((w) => w.p99)));
      row(`${name} p99, during the run (worst window)`, 'ms', 'lower', max(ws.map((w) => w.p99)));
      row(
        `${name} p99, after (${after(path)?.indexHostsBefore ?? '?'} hosts)`,
        'ms',
        'lower',
        after(path)?.p99,
      );
    }
    row('rollout status query p99', 'ms', 'lower', percentile(queryMs, 99));
    row("API index behind the rollout's provisioned count (max)", 'hosts', 'lower', max(lag));
    if (!r) {
      notes.push(`${backend}: no result`);
      continue;
    }
    if (r.capped)
      notes.push(`${backend}: the ${opts.capS} s cap ended the run at ${r.provisioned}/${r.hosts} hosts`);
    else if (r.provisioned !== r.hosts)
      notes.push(`${backend}: ${r.state}, ${r.provisioned}/${r.hosts} provisioned`);
    if (r.hostWorkflowsCompleted !== null && r.hostWorkflowsCompleted !== r.provisioned)
      notes.push(`${backend}: visibility lists ${r.hostWorkflowsCompleted} host workflows completed`);
    if (biggestOther) notes.push(`${backend}: largest other history is ${biggestOther.workflowId}`);
    const apiErrors = r.api.windows.reduce((n, w) => n + w.errors, 0);
    if (apiErrors > 0) notes.push(`${backend}: ${apiErrors} GET /hosts requests failed or timed out`);
    for (const e of r.errors.slice(0, 10)) notes.push(`${backend}: ${e}`);
    for (const f of r.failures ?? [])
      notes.push(`${backend}: failed ${f.host}: ${f.error ?? 'no error given'}`);
    series.push({ name: BACKEND_LABEL[backend], points: rates });
    charts.push(
      asciiChart(
        {
          name: `${BACKEND_LABEL[backend]}: hosts provisioned per second (${opts.rateWindowS} s windows)`,
          points: rates,
        },
        { xLabel: 's from apply' },
      ),
    );
  }
  const svg = svgChart({
    title: `Rollout of ${opts.hosts} sim hosts: hosts provisioned per second (${opts.rateWindowS} s windows)`,
    xLabel: 'seconds from apply',
    yLabel: 'hosts/s',
    series,
  });
  const files: string[] = [];
  if (ctx.artifactPrefix) {
    const file = `${ctx.artifactPrefix}-fleet.svg`;
    writeFileSync(file, svg);
    files.push(file);
  }
  return {
    name: 'fleet',
    params: {
      ...opts,
      simDelays: 'all 0',
      policy:
        'workflow max_concurrent = hosts, site max_concurrent and bmc_concurrency = hosts per site, max_fail = hosts (the rollout itself keeps at most 1,500 hosts running)',
      api: `${opts.api.connections} autocannon connections at ${opts.api.rate} requests/s overall, ${opts.api.windowS} s windows taking turns over the three listings, ${opts.api.pauseS} s apart, while the rollout runs; then one window each after it`,
    },
    rows,
    details: { results, charts, files },
    notes,
    durationS: secondsSince(t0),
  };
}
