// `npm run test:unit`: every test file, in two lanes run side by side, each lane one file at a time.
// One lane would take 40 minutes on CI's two cores, most of it spent waiting (QEMU boots under TCG, minute
// boundaries, Temporal timers) rather than computing. The machine lane holds the tests that use the machine's
// shared parts — QEMU VMs, podman and its containers (some count every container), the benchmarks' load — so no two
// of them ever run at once (and a few long files that balance the lanes); every other file runs in the second lane. Output: the general lane streams to stdout as
// it runs; the machine lane is written to test-artifacts/lanes/machine.tap and printed whole when both are done (two
// TAP streams interleaved line by line would be unreadable). The exit code is non-zero when either lane failed.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, readdir } from 'node:fs/promises';
import path from 'node:path';

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

function runLane(files: string[], out: NodeJS.WritableStream | 'inherit'): Promise<number> {
  // node --test with no files would look for tests of its own: an empty lane runs nothing.
  if (files.length === 0) return Promise.resolve(0);
  const args = ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=600000', ...files];
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', out === 'inherit' ? 'inherit' : 'pipe', out === 'inherit' ? 'inherit' : 'pipe'],
  });
  if (out !== 'inherit') {
    child.stdout?.pipe(out, { end: false });
    child.stderr?.pipe(out, { end: false });
  }
  return new Promise((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

async function main(): Promise<void> {
  // Arguments, if any, keep only the files under those paths (`node --import tsx tools/test-lanes.ts test/sot`).
  const only = process.argv.slice(2);
  const files = (await testFiles('test'))
    .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
    .sort();
  const inMachineLane = (f: string) =>
    MACHINE_LANE.some((m) => (m.endsWith('/') ? f.startsWith(m) : f === m));
  const machine = files.filter(inMachineLane);
  const general = files.filter((f) => !inMachineLane(f));
  await mkdir('test-artifacts/lanes', { recursive: true });
  const machineLog = 'test-artifacts/lanes/machine.tap';
  const sink = createWriteStream(machineLog);
  process.stdout.write(
    `# lanes: ${general.length} files in the general lane (below, as they run), ${machine.length} in the machine lane (${machineLog}, printed at the end)\n`,
  );
  const [g, m] = await Promise.all([runLane(general, 'inherit'), runLane(machine, sink)]);
  await new Promise<void>((resolve) => sink.end(resolve));
  process.stdout.write(`\n# machine lane (${machine.length} files):\n`);
  process.stdout.write(await readFile(machineLog, 'utf8'));
  process.stdout.write(`\n# lanes: general exit ${g}, machine exit ${m}\n`);
  process.exitCode = g !== 0 || m !== 0 ? 1 : 0;
}

await main();
