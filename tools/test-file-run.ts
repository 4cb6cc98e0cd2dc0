// One test file run by `node --test` in a process group of its own, ended when it outlives its time. Node 20's test
// runner waits for a file's process to exit, and a file that leaves a handle open (a server, a child, a timer) or a
// hook that never settles (hooks have no timeout) would hold its lane, and CI with it, until CI's own limit killed
// everything and printed nothing of the lane. A file past its time is ended here and reported with its output.
import { spawn } from 'node:child_process';

/** What `node --test` said of one file, from its closing summary. */
export interface TestCounts {
  tests: number;
  pass: number;
  fail: number;
  cancelled: number;
  skipped: number;
  todo: number;
}

export interface FileRun {
  file: string;
  /** The runner's exit code, or null when it was ended by a signal. */
  code: number | null;
  seconds: number;
  /** Set when the file was ended for running past its time: the limit, in seconds, it ran into. */
  endedAfterS?: number;
  /** The summary, or undefined when the runner never printed one (ended, crashed). */
  counts?: TestCounts;
  /** Everything the runner printed, stdout and stderr in the order they came. */
  output: string;
}

/** The closing summary of a TAP stream from `node --test` (its last `# tests N` … `# todo N` lines). */
export function parseSummary(tap: string): TestCounts | undefined {
  const last = (key: keyof TestCounts): number | undefined => {
    const all = [...tap.matchAll(new RegExp(`^# ${key} (\\d+)$`, 'gm'))];
    const m = all.at(-1);
    return m ? Number(m[1]) : undefined;
  };
  const tests = last('tests');
  const pass = last('pass');
  const fail = last('fail');
  if (tests === undefined || pass === undefined || fail === undefined) return undefined;
  return {
    tests,
    pass,
    fail,
    cancelled: last('cancelled') ?? 0,
    skipped: last('skipped') ?? 0,
    todo: last('todo') ?? 0,
  };
}

/** True when the file passed: its runner exited 0, printed a summary, and nothing failed or was cancelled. */
export function passed(r: FileRun): boolean {
  return (
    r.code === 0 &&
    r.endedAfterS === undefined &&
    r.counts !== undefined &&
    r.counts.fail === 0 &&
    r.counts.cancelled === 0
  );
}

/** One line that says how a file ended. */
export function describeRun(r: FileRun): string {
  const c = r.counts;
  const s = `${r.seconds.toFixed(1)} s`;
  if (r.endedAfterS !== undefined)
    return `ENDED: still running after ${r.endedAfterS} s${c ? ` (${c.pass} of ${c.tests} had passed)` : ''}`;
  if (!c) return `FAILED: exit ${r.code ?? 'by signal'} with no summary (${s})`;
  const parts = [`${c.pass} of ${c.tests} passed`];
  if (c.fail) parts.push(`${c.fail} failed`);
  if (c.cancelled) parts.push(`${c.cancelled} cancelled`);
  if (c.skipped) parts.push(`${c.skipped} skipped`);
  if (c.todo) parts.push(`${c.todo} todo`);
  return `${passed(r) ? 'ok' : 'FAILED'}: ${parts.join(', ')}${r.code ? `, exit ${r.code}` : ''} (${s})`;
}

/** The environment without NODE_TEST_CONTEXT: set when these lanes themselves run under `node --test` (their own
 * test), it would make the file's runner report in the parent runner's private format instead of TAP. */
function runnerEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  return env;
}

/** The process groups of the files running now (each file runs in a session of its own, see runTestFile). */
const running = new Set<number>();

/**
 * Signals every file running now. A file's group is not the lanes' own, so a Ctrl-C or a SIGTERM to the lanes
 * reaches the files only through this.
 */
export function signalRunningFiles(signal: NodeJS.Signals): number {
  for (const pid of running) signalGroup(pid, signal);
  return running.size;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is gone already, or holds only processes we may not signal (a test's sudo child).
  }
}

/**
 * Runs `node --import tsx --test FILE`. When it is still running after `limitS` seconds, its process group gets
 * SIGTERM, and SIGKILL 10 s later. Children a test started in a group of their own are not reached: the file's
 * own `after` hooks were meant to end them.
 */
export function runTestFile(file: string, limitS: number, testTimeoutMs: number): Promise<FileRun> {
  const started = Date.now();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--test', `--test-timeout=${testTimeoutMs}`, file],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: runnerEnv() },
  );
  if (child.pid !== undefined) running.add(child.pid);
  const chunks: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => chunks.push(b));
  child.stderr.on('data', (b: Buffer) => chunks.push(b));
  let endedAfterS: number | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  const limitTimer = setTimeout(() => {
    endedAfterS = limitS;
    if (child.pid === undefined) return;
    signalGroup(child.pid, 'SIGTERM');
    const pid = child.pid;
    killTimer = setTimeout(() => signalGroup(pid, 'SIGKILL'), 10_000);
  }, limitS * 1000);

  return new Promise((resolve) => {
    let done = false;
    const finish = (code: number | null) => {
      if (done) return;
      done = true;
      if (child.pid !== undefined) running.delete(child.pid);
      clearTimeout(limitTimer);
      // An ended file's SIGKILL still comes: what in its group outlived the SIGTERM goes with it.
      if (endedAfterS === undefined) clearTimeout(killTimer);
      child.stdout.destroy();
      child.stderr.destroy();
      const output = Buffer.concat(chunks).toString('utf8');
      const counts = parseSummary(output);
      resolve({
        file,
        code,
        seconds: (Date.now() - started) / 1000,
        ...(endedAfterS !== undefined ? { endedAfterS } : {}),
        ...(counts ? { counts } : {}),
        output,
      });
    };
    child.on('close', (code) => finish(code));
    // A grandchild that inherited the pipes keeps 'close' from coming: the runner's exit, and a moment for the
    // last output, is enough.
    child.on('exit', (code) => setTimeout(() => finish(code), 5_000).unref());
    child.on('error', (err) => {
      chunks.push(Buffer.from(`\n# could not start the test runner: ${err.message}\n`));
      finish(null);
    });
  });
}
