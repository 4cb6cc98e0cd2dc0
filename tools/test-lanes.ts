// `npm run test:unit`: every test file, in two lanes run side by side, each lane one file at a time.
// One lane would take 40 minutes on CI's two cores, most of it spent waiting (QEMU boots under TCG, minute
// boundaries, Temporal timers) rather than computing. The machine lane holds the tests that use the machine's
// shared parts — QEMU VMs, podman and its containers (some count every container), the benchmarks' load — so no two
// of them ever run at once (and a few long files that balance the lanes); every other file runs in the general lane.
//
// Each file runs in a `node --test` of its own with a time limit (tools/test-file-run.ts), and its output is printed
// whole when it ends, headed by its lane, its place and its result, so the two lanes interleave only between files
// and a file that hangs is ended, named and shown instead of holding CI until CI's own limit prints nothing. Each
// lane's output is also kept in test-artifacts/lanes/<lane>.tap. The exit code is non-zero when any file failed,
// was ended, or was not run because the lanes' total time was spent.
import { appendFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describeRun, passed, runTestFile, signalRunningFiles, type FileRun } from './test-file-run.ts';

/**
 * Folders and files whose tests use the machine's shared parts (see above), and, to even out the lanes (the
 * general lane took 29 min against the machine lane's 17 in a fresh-clone run), four long files that mostly wait:
 * the maintenance-window rollout (real minute boundaries), the paged rollout, the API fuzzing and the production
 * Temporal.
 */
const MACHINE_LANE = [
  'test/lab/',
  'test/deploy/',
  'test/bench/',
  'test/activities/tasks/',
  'test/activities/power/container-driver.test.ts',
  'test/workflows/maintenance-windows.test.ts',
  'test/workflows/paged-rollout.test.ts',
  'test/server/api-fuzz.test.ts',
  'test/temporal/production-temporal.test.ts',
];

interface Options {
  /** Seconds one file may run. The longest files here take about 3.5 minutes on 2 cores (2026-12-05). */
  fileLimitS: number;
  /** Seconds both lanes together may take; files not started by then are reported as not run. CI allows 90 minutes
   * for everything, the install and the checks before the tests included. */
  totalLimitS: number;
  /** Milliseconds one test may take (node's --test-timeout). */
  testTimeoutMs: number;
  root: string;
  /** Where each lane's output is kept. */
  logs: string;
  /** Keep only the files under these paths. */
  only: string[];
}

function parseOptions(argv: string[]): Options {
  const o: Options = {
    fileLimitS: 1200,
    totalLimitS: 3600,
    testTimeoutMs: 600_000,
    root: 'test',
    logs: 'test-artifacts/lanes',
    only: [],
  };
  for (const a of argv) {
    const m = /^--([a-z-]+)=(.*)$/.exec(a);
    if (!m) {
      o.only.push(a);
      continue;
    }
    const [, key, value] = m as unknown as [string, string, string];
    const n = Number(value);
    if (key === 'root') o.root = value;
    else if (key === 'logs') o.logs = value;
    else if (key === 'file-limit' && n > 0) o.fileLimitS = n;
    else if (key === 'total-limit' && n > 0) o.totalLimitS = n;
    else if (key === 'test-timeout' && n > 0) o.testTimeoutMs = n;
    else throw new Error(`test-lanes: unknown or invalid option ${a}`);
  }
  return o;
}

async function testFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'fixtures') out.push(...(await testFiles(p)));
    } else if (e.name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

interface LaneResult {
  name: string;
  runs: FileRun[];
  notRun: string[];
  seconds: number;
}

async function runLane(
  name: string,
  files: string[],
  o: Options,
  deadline: number,
  log: string,
): Promise<LaneResult> {
  const started = Date.now();
  const runs: FileRun[] = [];
  const notRun: string[] = [];
  await writeFile(log, '');
  for (const [i, file] of files.entries()) {
    const leftS = Math.floor((deadline - Date.now()) / 1000);
    if (leftS <= 0) {
      notRun.push(file);
      continue;
    }
    const r = await runTestFile(file, Math.min(o.fileLimitS, leftS), o.testTimeoutMs);
    runs.push(r);
    const block = `# ── ${name} lane, file ${i + 1} of ${files.length}: ${file}: ${describeRun(r)}\n${r.output}${r.output.endsWith('\n') ? '' : '\n'}`;
    await appendFile(log, block);
    process.stdout.write(block);
  }
  return { name, runs, notRun, seconds: (Date.now() - started) / 1000 };
}

function laneSummary(l: LaneResult): string {
  const sum = (k: 'tests' | 'pass' | 'fail') => l.runs.reduce((n, r) => n + (r.counts?.[k] ?? 0), 0);
  const ended = l.runs.filter((r) => r.endedAfterS !== undefined).length;
  const notes = [ended ? `${ended} ended` : '', l.notRun.length ? `${l.notRun.length} not run` : '']
    .filter(Boolean)
    .join(', ');
  return `${l.name} ${l.runs.length + l.notRun.length} files${notes ? ` (${notes})` : ''}, ${sum('tests')} tests, ${sum('pass')} passed, ${sum('fail')} failed, ${(l.seconds / 60).toFixed(1)} min`;
}

/** Ctrl-C or SIGTERM: the running files get SIGTERM, SIGKILL 5 s later, and the lanes end with them. */
function endFilesOnSignal(): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      process.stdout.write(`\n# lanes: ${sig}: ending the ${signalRunningFiles('SIGTERM')} running files\n`);
      setTimeout(() => {
        signalRunningFiles('SIGKILL');
        process.exit(130);
      }, 5_000);
    });
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  endFilesOnSignal();
  const files = (await testFiles(o.root))
    .filter((f) => o.only.length === 0 || o.only.some((p) => f.startsWith(p)))
    .sort();
  const inMachineLane = (f: string) =>
    MACHINE_LANE.some((m) => (m.endsWith('/') ? f.startsWith(m) : f === m));
  const machine = files.filter(inMachineLane);
  const general = files.filter((f) => !inMachineLane(f));
  await mkdir(o.logs, { recursive: true });
  process.stdout.write(
    `# lanes: ${general.length} files in the general lane, ${machine.length} in the machine lane; each file's output below as it ends (also in ${o.logs}/); ${o.fileLimitS} s per file, ${o.totalLimitS} s in all\n`,
  );
  const deadline = Date.now() + o.totalLimitS * 1000;
  const lanes = await Promise.all([
    runLane('general', general, o, deadline, path.join(o.logs, 'general.tap')),
    runLane('machine', machine, o, deadline, path.join(o.logs, 'machine.tap')),
  ]);
  const bad: string[] = [];
  for (const l of lanes) {
    for (const r of l.runs) if (!passed(r)) bad.push(`${r.file} (${describeRun(r)})`);
    for (const f of l.notRun) bad.push(`${f} (not run: the lanes' ${o.totalLimitS} s were spent)`);
  }
  process.stdout.write(`\n# lanes: ${lanes.map(laneSummary).join('; ')}\n`);
  if (bad.length > 0) process.stdout.write(`# not passed:\n${bad.map((b) => `#   ${b}\n`).join('')}`);
  const exit = (l: LaneResult) => (l.notRun.length === 0 && l.runs.every(passed) ? 0 : 1);
  process.stdout.write(`# lanes: ${lanes.map((l) => `${l.name} exit ${exit(l)}`).join(', ')}\n`);
  process.exitCode = bad.length > 0 ? 1 : 0;
}

await main();
