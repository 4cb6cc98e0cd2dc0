// The benchmark runner (`npm run bench`; see BENCHMARKS.md):
//   node --import tsx bench/run.ts [--only dhcp,tftp,http,orchestration,fleet] [--smoke] [--runs N] [--profile]
//                                  [--sizes N,N] [--backends dev,postgres] [--out DIR] [--no-doc] [--no-install]
// Installs the reference servers and load tools from Debian's packages when missing, runs each benchmark in
// network namespaces it makes (all but orchestration and fleet, which stay on loopback), and writes
// <out>/<timestamp>.json and .md; a full run of every benchmark also rewrites BENCHMARKS.md's results section.
//   --smoke      tiny parameters (seconds per benchmark): checks that everything works, measures nothing
//   --runs N     override the number of runs of every benchmark
//   --backends dev,postgres  fleet only: the Temporal backends to roll out on (both by default)
//   --sizes N,N  orchestration only: roll out these numbers of sim hosts, each with the payload codec on and off
//   --redo REPORT.json [--reason TEXT]  run the --only benchmarks again and write a full report that is REPORT
//                (a full run) with those replaced, e.g. after one of them failed; it rewrites BENCHMARKS.md too
//   --profile    run the agent's bench servers under `node --cpu-prof` (profiles in <out>/tmp/); their top
//                frames go into the results JSON (details.profiles)
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureDebianPackages } from '../cli/setup/debian-packages.ts';
import { ensureTemporalCli, temporalCliVersion } from '../temporal/cli-binary.ts';
import { DHCP_FULL, DHCP_SMOKE, runDhcp } from './dhcp.ts';
import { HTTP_FULL, HTTP_SMOKE, runHttp } from './http.ts';
import { FLEET_FULL, FLEET_SMOKE, runFleet } from './fleet.ts';
import type { FleetBackend } from './fleet/run-one.ts';
import type { BenchContext } from './lib/context.ts';
import { describeMachine } from './lib/machine.ts';
import { summarizeProfiles } from './lib/profile.ts';
import { renderReportMarkdown, updateBenchmarksDoc } from './lib/report.ts';
import type { BenchmarkResult, Report } from './lib/results.ts';
import { ORCHESTRATION_FULL, ORCHESTRATION_SMOKE, runOrchestration } from './orchestration.ts';
import { runTftp, TFTP_FULL, TFTP_SMOKE } from './tftp.ts';

export const BENCHMARKS = ['dhcp', 'tftp', 'http', 'orchestration', 'fleet'] as const;
export type BenchmarkName = (typeof BENCHMARKS)[number];

/** What the benchmarks run besides Node: the references, the load tools and the files they serve. */
export const BENCH_PACKAGES = [
  'iproute2',
  'dnsmasq-base',
  'kea-admin', // perfdhcp
  'kea-dhcp4-server', // the DHCP benchmark's Kea
  'tftpd-hpa',
  'curl',
  'wrk',
  'nginx-light',
  'ipxe', // undionly.kpxe, ipxe.efi
  'debian-installer-12-netboot-amd64', // a real kernel and initrd
] as const;

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface RunOptions {
  only: BenchmarkName[];
  smoke: boolean;
  runs?: number;
  /** Orchestration only: these sizes (host counts) instead of the full set, each also with the codec off. */
  sizes?: number[];
  /** Fleet only: these Temporal backends instead of both. */
  backends?: FleetBackend[];
  profile: boolean;
  out: string;
  /** A full run's report whose other benchmarks complete this run's into a full report. */
  redo?: { file: string; reason?: string };
  doc: boolean;
  install: boolean;
  log(msg: string): void;
}

async function runBenchmark(name: BenchmarkName, o: RunOptions, ctx: BenchContext): Promise<BenchmarkResult> {
  const runs = o.runs !== undefined ? { runs: o.runs } : {};
  switch (name) {
    case 'dhcp':
      return runDhcp({ ...(o.smoke ? DHCP_SMOKE : DHCP_FULL), ...runs }, ctx);
    case 'tftp':
      return runTftp({ ...(o.smoke ? TFTP_SMOKE : TFTP_FULL), ...runs }, ctx);
    case 'http':
      return runHttp({ ...(o.smoke ? HTTP_SMOKE : HTTP_FULL), ...runs }, ctx);
    case 'orchestration':
      return runOrchestration(
        {
          ...(o.smoke ? ORCHESTRATION_SMOKE : ORCHESTRATION_FULL),
          ...runs,
          ...(o.sizes ? { sizes: o.sizes, codecOffSizes: o.sizes } : {}),
        },
        ctx,
      );
    case 'fleet':
      // One run per backend whatever --runs says: a run is one rollout of the whole fleet.
      return runFleet(
        { ...(o.smoke ? FLEET_SMOKE : FLEET_FULL), ...(o.backends ? { backends: o.backends } : {}) },
        ctx,
      );
  }
}

export async function runBenchmarks(o: RunOptions): Promise<{ report: Report; files: string[] }> {
  const started = new Date();
  const t0 = performance.now();
  const onLoopback: readonly BenchmarkName[] = ['orchestration', 'fleet'];
  const inNamespaces = o.only.some((b) => !onLoopback.includes(b));
  if (inNamespaces && process.getuid?.() !== 0)
    throw new Error('the DHCP, TFTP and HTTP benchmarks need root (network namespaces)');
  if (o.install && inNamespaces) await ensureDebianPackages(BENCH_PACKAGES, o.log);
  const extra: Record<string, string> = {};
  if (o.only.includes('orchestration') || o.only.includes('fleet')) {
    // Found or built now (a first build takes minutes), so no measurement waits for it.
    extra['temporal CLI'] = (await temporalCliVersion(await ensureTemporalCli({ log: o.log }))).replace(
      /^temporal version /,
      '',
    );
  }
  const machine = await describeMachine(extra);
  const stamp = started
    .toISOString()
    .replace(/[:.]/g, '-')
    .replace(/-\d{3}Z$/, 'Z');
  // Profiles are large: under tmp/ (git-ignored); their summaries go into the JSON.
  const profileRoot = o.profile ? path.join(o.out, 'tmp', `${stamp}-profiles`) : undefined;
  mkdirSync(o.out, { recursive: true });
  const kept: string[] = [];
  const benchmarks: BenchmarkResult[] = [];
  const failed: Report['failed'] = [];
  for (const name of o.only) {
    const dir = mkdtempSync(path.join(os.tmpdir(), `vq-bench-${name}-`));
    const removeDir = (): void => rmSync(dir, { recursive: true, force: true });
    process.once('exit', removeDir); // also when interrupted
    const profileDir = profileRoot && !onLoopback.includes(name) ? path.join(profileRoot, name) : undefined;
    if (profileDir) mkdirSync(profileDir, { recursive: true });
    o.log(`== ${name}`);
    try {
      const r = await runBenchmark(name, o, {
        dir,
        log: o.log,
        ...(profileDir !== undefined ? { profileDir } : {}),
        artifactPrefix: path.join(o.out, stamp),
      });
      if (Array.isArray(r.details.files)) kept.push(...(r.details.files as string[]));
      if (profileDir) r.details.profiles = summarizeProfiles(profileDir);
      benchmarks.push(r);
      o.log(`== ${name} done in ${r.durationS} s`);
    } catch (err) {
      failed.push({ name, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      o.log(`== ${name} FAILED: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      process.off('exit', removeDir);
      removeDir();
    }
  }
  const run: Report = {
    tool: 'vaquero-bench',
    version: 1,
    // Profiled servers run slower: such a run never stands as the project's full result.
    mode: `${o.smoke ? 'smoke' : o.runs !== undefined ? `runs=${o.runs}` : o.sizes ? `sizes=${o.sizes.join(',')}` : 'full'}${o.profile ? ' (profiled)' : ''}`,
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    durationS: Math.round((performance.now() - t0) / 1000),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim().replace(/ --$/, ''),
    machine,
    benchmarks,
    failed,
  };
  const report = o.redo ? completedBy(run, o.redo) : run;
  mkdirSync(o.out, { recursive: true });
  const json = path.join(o.out, `${stamp}.json`);
  const md = path.join(o.out, `${stamp}.md`);
  writeFileSync(json, await formatJson(JSON.stringify(report, null, 2) + '\n', json));
  writeFileSync(md, renderReportMarkdown(report));
  const files = [json, md, ...kept];
  // Only a full run of everything speaks for the project in BENCHMARKS.md.
  const all = BENCHMARKS.every(
    (b) => report.benchmarks.some((x) => x.name === b) || report.failed.some((f) => f.name === b),
  );
  if (o.doc && report.mode === 'full' && all) {
    updateBenchmarksDoc(path.join(ROOT, 'BENCHMARKS.md'), report);
    files.push(path.join(ROOT, 'BENCHMARKS.md'));
  }
  return { report, files };
}

/** A full run's report (`redo.file`) with this run's benchmarks in place of its own. */
export function completedBy(run: Report, redo: NonNullable<RunOptions['redo']>): Report {
  const base = JSON.parse(readFileSync(redo.file, 'utf8')) as Report;
  if (base.tool !== 'vaquero-bench' || base.mode !== 'full')
    throw new Error(`--redo ${redo.file}: not the report of a full run`);
  if (run.mode !== 'full')
    throw new Error(
      '--redo: the benchmarks run again must run in full (no --runs, --sizes, --smoke, --profile)',
    );
  const again = new Set([...run.benchmarks.map((b) => b.name), ...run.failed.map((f) => f.name)]);
  return {
    ...base,
    benchmarks: BENCHMARKS.flatMap((name) => {
      const b = again.has(name)
        ? run.benchmarks.find((x) => x.name === name)
        : base.benchmarks.find((x) => x.name === name);
      return b ? [b] : [];
    }),
    failed: [...base.failed.filter((f) => !again.has(f.name)), ...run.failed],
    finishedAt: run.finishedAt,
    durationS: base.durationS + run.durationS,
    redone: [
      ...(base.redone ?? []),
      {
        benchmarks: [...again],
        startedAt: run.startedAt,
        command: run.command,
        ...(redo.reason ? { reason: redo.reason } : {}),
      },
    ],
  };
}

/** The repository's Prettier style for the JSON it keeps (`npm run format:check`), when Prettier is installed. */
async function formatJson(text: string, file: string): Promise<string> {
  try {
    const prettier = await import('prettier');
    return await prettier.format(text, { ...(await prettier.resolveConfig(file)), parser: 'json' });
  } catch {
    return text;
  }
}

export function parseRunArgs(argv: string[]): RunOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      only: { type: 'string' },
      smoke: { type: 'boolean', default: false },
      runs: { type: 'string' },
      profile: { type: 'boolean', default: false },
      out: { type: 'string' },
      'no-doc': { type: 'boolean', default: false },
      'no-install': { type: 'boolean', default: false },
      sizes: { type: 'string' },
      backends: { type: 'string' },
      redo: { type: 'string' },
      reason: { type: 'string' },
    },
    strict: true,
  });
  const only = (values.only
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean) ?? [...BENCHMARKS]) as BenchmarkName[];
  for (const b of only)
    if (!BENCHMARKS.includes(b)) throw new Error(`unknown benchmark "${b}" (${BENCHMARKS.join(', ')})`);
  const runs = values.runs === undefined ? undefined : Number(values.runs);
  if (runs !== undefined && !(Number.isInteger(runs) && runs >= 1 && runs <= 20))
    throw new Error('--runs takes 1 to 20');
  const sizes = values.sizes?.split(',').map((s) => Number(s.trim()));
  if (sizes !== undefined && !sizes.every((n) => Number.isInteger(n) && n >= 1 && n <= 100_000))
    throw new Error('--sizes takes host counts, e.g. 100,300');
  const backends = values.backends?.split(',').map((s) => s.trim()) as FleetBackend[] | undefined;
  if (backends !== undefined && !backends.every((b) => b === 'dev' || b === 'postgres'))
    throw new Error('--backends takes dev, postgres or both');
  return {
    only: BENCHMARKS.filter((b) => only.includes(b)),
    smoke: values.smoke ?? false,
    ...(runs !== undefined ? { runs } : {}),
    ...(sizes !== undefined ? { sizes } : {}),
    ...(backends !== undefined ? { backends } : {}),
    profile: values.profile ?? false,
    ...(values.redo !== undefined
      ? { redo: { file: path.resolve(values.redo), ...(values.reason ? { reason: values.reason } : {}) } }
      : {}),
    out: path.resolve(values.out ?? path.join(ROOT, 'bench', 'results')),
    doc: !values['no-doc'],
    install: !values['no-install'],
    log: (m) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${m}\n`),
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // Interrupted: exit through 'exit', whose handlers end our servers by pid and delete our namespaces.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));
  try {
    const { report, files } = await runBenchmarks(parseRunArgs(process.argv.slice(2)));
    for (const f of files) process.stdout.write(`wrote ${path.relative(process.cwd(), f)}\n`);
    if (report.failed.length > 0) process.exitCode = 1;
  } catch (err) {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
  // Temporal's native runtime and stray handles must not keep a finished run alive.
  setTimeout(() => process.exit(), 1000).unref();
}
