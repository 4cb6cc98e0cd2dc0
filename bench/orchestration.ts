// Orchestration: rollouts of N sim hosts (sim delays 0) on the embedded Temporal, against N minimal workflows
// (one activity, one signal each) with workers of the same shape on the same kind of fresh server: the ceiling
// Temporal itself sets on this machine, so vaquero's overhead shows as a ratio. Each measurement runs in a
// process of its own (bench/orchestration/run-one.ts) on a fresh server, the minimal one first. Every run encrypts
// its payloads (issue 16's codec, as production does); at the sizes in `codecOffSizes` vaquero also runs with the
// codec off, a reference column of its own: what the encryption costs in hosts per second, CPU and history.
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import type { BenchContext } from './lib/context.ts';
import { secondsSince } from './lib/context.ts';
import type { BenchmarkResult, Row } from './lib/results.ts';
import { makeRow } from './lib/results.ts';
import type { RunOneInput, RunOneResult } from './orchestration/run-one.ts';

export interface OrchestrationOptions {
  sizes: number[];
  /** Runs per size (the median is reported); big sizes take minutes, so fewer runs there. */
  runs: Record<number, number> | number;
  hostsPerSite: number;
  /**
   * Seconds a measurement may run from apply, per size: the full run must fit its time budget. When the cap
   * ends a run, its rate is the hosts done per second within the cap (reported as such in the notes).
   */
  capSeconds: Record<number, number> | number;
  /** Sizes at which vaquero also runs with its payload codec off (the codec's cost). */
  codecOffSizes: number[];
}

export const ORCHESTRATION_FULL: OrchestrationOptions = {
  sizes: [100, 300, 1000, 3000],
  runs: { 100: 3, 300: 1, 1000: 1, 3000: 1 },
  hostsPerSite: 1000,
  // 3,000 hosts take about three minutes on 2 idle cores (2026-12-04): the cap lets them finish.
  capSeconds: { 100: 120, 300: 150, 1000: 180, 3000: 360 },
  codecOffSizes: [100, 300],
};

export const ORCHESTRATION_SMOKE: OrchestrationOptions = {
  sizes: [5],
  runs: 1,
  hostsPerSite: 1000,
  capSeconds: 120,
  // The codec-off run is one more Temporal server and rollout: kept out of the test suite's smoke run.
  codecOffSizes: [],
};

const SCRIPT = fileURLToPath(new URL('./orchestration/run-one.ts', import.meta.url));

function runOne(input: RunOneInput, log: (m: string) => void): Promise<RunOneResult | null> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, JSON.stringify(input)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-8000)));
    // Its own timeout ends the measurement; this one only guards against a hang in start or stop.
    const timer = setTimeout(() => child.kill('SIGKILL'), (input.timeoutS + 240) * 1000);
    // It stops its own Temporal server when it ends; if the runner goes first, it must not outlive it.
    const orphan = (): void => void child.kill('SIGTERM');
    process.once('exit', orphan);
    child.on('close', (code) => {
      process.off('exit', orphan);
      clearTimeout(timer);
      const m = /^RESULT (\{.*\})$/m.exec(out);
      if (!m)
        log(`orchestration ${input.workload} ${input.hosts}: no result (exit ${code}): ${err.slice(-2000)}`);
      resolve(m ? (JSON.parse(m[1]!) as RunOneResult) : null);
    });
  });
}

export async function runOrchestration(
  opts: OrchestrationOptions,
  ctx: BenchContext,
): Promise<BenchmarkResult> {
  const t0 = performance.now();
  type Workload = 'minimal' | 'vaquero' | 'vaquero-codec-off';
  const results: Record<number, Record<Workload, (RunOneResult | null)[]>> = {};
  for (const hosts of opts.sizes) {
    const runs = typeof opts.runs === 'number' ? opts.runs : (opts.runs[hosts] ?? 1);
    results[hosts] = { vaquero: [], minimal: [], 'vaquero-codec-off': [] };
    const workloads: Workload[] = ['minimal', 'vaquero'];
    if (opts.codecOffSizes.includes(hosts)) workloads.push('vaquero-codec-off');
    for (let run = 0; run < runs; run++) {
      for (const workload of workloads) {
        ctx.log(`orchestration ${hosts} hosts, run ${run + 1}/${runs}: ${workload}`);
        const cap = typeof opts.capSeconds === 'number' ? opts.capSeconds : (opts.capSeconds[hosts] ?? 600);
        const r = await runOne(
          {
            workload: workload === 'minimal' ? 'minimal' : 'vaquero',
            ...(workload === 'vaquero-codec-off' ? { codec: 'off' as const } : {}),
            hosts,
            hostsPerSite: opts.hostsPerSite,
            timeoutS: cap,
          },
          ctx.log,
        );
        results[hosts]![workload].push(r);
        if (r)
          ctx.log(
            `  ${r.state}: ${r.completed}/${hosts} in ${r.seconds} s (${r.hostsPerSecond}/s), first call ${r.firstPowerMs} ms`,
          );
      }
    }
  }
  const rows: Row[] = [];
  const notes: string[] = [];
  for (const hosts of opts.sizes) {
    const { vaquero, minimal, 'vaquero-codec-off': codecOff } = results[hosts]!;
    const ok = (r: RunOneResult | null): boolean =>
      r !== null && r.state === 'completed' && r.completed === hosts;
    // A run the cap cut short still has a rate, memory and CPU; only "all done" needs every host.
    const of = (list: (RunOneResult | null)[], f: (r: RunOneResult) => number | null, whole = false) =>
      list.map((r) => (r && (whole ? ok(r) : r.completed > 0) ? f(r) : null));
    const label = `${hosts} hosts${vaquero[0] ? `, ${vaquero[0].sites} site${vaquero[0].sites === 1 ? '' : 's'}` : ''}`;
    const row = (
      metric: string,
      unit: string,
      better: 'higher' | 'lower',
      f: (r: RunOneResult) => number | null,
      whole = false,
    ) =>
      makeRow('orchestration', { case: label, metric, unit, better }, of(vaquero, f, whole), {
        'temporal-minimal': of(minimal, f, whole),
        ...(codecOff.length > 0 ? { 'vaquero, codec off': of(codecOff, f, whole) } : {}),
      });
    rows.push(
      row('hosts', '/s', 'higher', (r) => r.hostsPerSecond),
      row('all done', 's', 'lower', (r) => r.seconds, true),
      row('apply → first power call', 'ms', 'lower', (r) => r.firstPowerMs),
      row('peak RSS, worker process', 'MiB', 'lower', (r) => r.workerPeakRssMiB),
      row('peak RSS, Temporal server', 'MiB', 'lower', (r) => r.temporalPeakRssMiB),
      row('CPU, worker process', 's', 'lower', (r) => r.workerCpuSeconds),
      row('CPU, Temporal server', 's', 'lower', (r) => r.temporalCpuSeconds),
      row('history events of one host', 'events', 'lower', (r) => r.historyEventsPerHost),
      row('history bytes of one host', 'bytes', 'lower', (r) => r.historyBytesPerHost),
      row('history events of every workflow, per host', 'events', 'lower', (r) => r.historyEventsAllPerHost),
    );
    for (const [name, list] of [
      ['vaquero', vaquero],
      ['minimal', minimal],
      ['vaquero with the codec off', codecOff],
    ] as const) {
      for (const r of list) {
        if (ok(r)) continue;
        if (r?.state === 'timeout')
          notes.push(
            `${name} ${hosts}: ${r.completed}/${hosts} done when the ${r.seconds} s cap ended the run; its rate is over that window`,
          );
        else notes.push(`${name} ${hosts}: ${r ? `${r.state}, ${r.completed}/${hosts} done` : 'no result'}`);
      }
    }
  }
  return {
    name: 'orchestration',
    params: {
      ...opts,
      simDelays: 'all 0',
      codec: 'vaquero and minimal encrypt payloads (AES-256-GCM); "vaquero, codec off" sends them in clear',
      policy: 'workflow and site max_concurrent = hosts, bmc_concurrency = hosts per site, max_fail = hosts',
      minimal:
        'one activity on a site task queue that signals its workflow; started from the client, 50 starts in flight',
    },
    rows,
    details: { results },
    notes,
    durationS: secondsSince(t0),
  };
}
