// The test command's lanes (tools/test-lanes.ts), run as `npm run test:unit` runs them, on three small files made
// for it: one passes, one fails, one never ends (a timer left running keeps node's test runner waiting for ever).
// The runner must end the last within its limit, name it, show what it printed, and fail the run.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describeRun, parseSummary } from '../../tools/test-file-run.ts';
import { processesMentioning, waitGone } from '../temporal/fixtures/procs.ts';

const FIXTURES = 'test/tools/fixtures/lanes';

async function lanes(
  t: { after: (fn: () => Promise<void>) => void },
  ...args: string[]
): Promise<{ code: number; out: string; logs: string }> {
  const logs = await mkdtemp(path.join(os.tmpdir(), 'vq-lanes-'));
  t.after(() => rm(logs, { recursive: true, force: true }));
  try {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'tools/test-lanes.ts', `--root=${FIXTURES}`, `--logs=${logs}`, ...args],
      { timeout: 120_000 },
    );
    return { code: 0, out: stdout, logs };
  } catch (err) {
    const e = err as { code?: number; stdout?: string };
    return { code: e.code ?? -1, out: e.stdout ?? '', logs };
  }
}

test('a file that never ends is ended at its limit, named with what it printed, and fails the run', async (t) => {
  const { code, out, logs } = await lanes(t, '--file-limit=6');
  assert.equal(code, 1);
  // Each file's block is headed by its result; the hung one's test had passed and its output is shown.
  assert.match(
    out,
    /file 1 of 3: test\/tools\/fixtures\/lanes\/fails\.test\.ts: FAILED: 1 of 2 passed, 1 failed, exit 1/,
  );
  assert.match(
    out,
    /file 2 of 3: test\/tools\/fixtures\/lanes\/hangs\.test\.ts: ENDED: still running after 6 s\n[^]*ok 1 - passes, and leaves a timer running/,
  );
  assert.match(out, /file 3 of 3: test\/tools\/fixtures\/lanes\/passes\.test\.ts: ok: 2 of 2 passed/);
  assert.match(out, /# lanes: general 3 files \(1 ended\), 4 tests, 3 passed, 1 failed/);
  assert.match(
    out,
    /# not passed:\n# {3}test\/tools\/fixtures\/lanes\/fails\.test\.ts[^\n]*\n# {3}test\/tools\/fixtures\/lanes\/hangs\.test\.ts \(ENDED/,
  );
  assert.match(out, /# lanes: general exit 1, machine exit 0/);
  // The lane's log holds the same blocks.
  const log = await readFile(path.join(logs, 'general.tap'), 'utf8');
  assert.match(log, /hangs\.test\.ts: ENDED[^]*passes\.test\.ts: ok/);
});

test("past the lanes' total time, the running file is ended and the rest are reported as not run", async (t) => {
  const { code, out } = await lanes(t, '--file-limit=60', '--total-limit=5');
  assert.equal(code, 1);
  assert.match(out, /hangs\.test\.ts: ENDED: still running after [1-5] s/);
  assert.doesNotMatch(out, /file 3 of 3/);
  assert.match(out, /# lanes: general 3 files \(1 ended, 1 not run\)/);
  assert.match(
    out,
    /# {3}test\/tools\/fixtures\/lanes\/passes\.test\.ts \(not run: the lanes' 5 s were spent\)/,
  );
});

test('a SIGTERM to the lanes ends the files running in their own groups, and the lanes with them', async (t) => {
  const logs = await mkdtemp(path.join(os.tmpdir(), 'vq-lanes-'));
  t.after(() => rm(logs, { recursive: true, force: true }));
  // node --test hands its child the file's absolute path: this checkout's file, no other's.
  const hung = fileURLToPath(new URL('./fixtures/lanes/hangs.test.ts', import.meta.url));
  const lanes = spawn(
    process.execPath,
    ['--import', 'tsx', 'tools/test-lanes.ts', `--root=${FIXTURES}`, `--logs=${logs}`, `${FIXTURES}/hangs`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.after(() => {
    for (const pid of processesMentioning(hung)) process.kill(pid, 'SIGKILL');
  });
  let out = '';
  lanes.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => lanes.once('exit', (code) => resolve(code)));
  let pids: number[] = [];
  for (let i = 0; i < 300 && pids.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    pids = processesMentioning(hung);
  }
  assert.ok(pids.length > 0, `the hung file never started: ${out}`);
  lanes.kill('SIGTERM');
  assert.equal(await exited, 130);
  assert.match(out, /# lanes: SIGTERM: ending the 1 running files/);
  assert.deepEqual(await waitGone(pids, 10_000), [], 'the hung file outlived the lanes');
});

test('only the files asked for run, and a run where all pass exits 0', async (t) => {
  const { code, out } = await lanes(t, `${FIXTURES}/passes`);
  assert.equal(code, 0);
  assert.match(out, /# lanes: 1 files in the general lane, 0 in the machine lane/);
  assert.match(out, /# lanes: general exit 0, machine exit 0/);
  assert.doesNotMatch(out, /not passed/);
});

test('an unknown option is refused before anything runs', async (t) => {
  const { code, out } = await lanes(t, '--file-limt=5');
  assert.notEqual(code, 0);
  assert.doesNotMatch(out, /file 1 of/);
});

test('the summary is read from the last of a TAP stream; a file with none is a failure', () => {
  const tap =
    '# tests 9\n# pass 9\n# fail 0\nok\n# tests 3\n# pass 2\n# fail 1\n# cancelled 0\n# skipped 0\n# todo 0\n';
  assert.deepEqual(parseSummary(tap), { tests: 3, pass: 2, fail: 1, cancelled: 0, skipped: 0, todo: 0 });
  assert.equal(parseSummary('TAP version 13\nok 1 - a\n'), undefined);
  assert.match(
    describeRun({ file: 'x', code: 7, seconds: 1, output: '' }),
    /^FAILED: exit 7 with no summary/,
  );
  assert.match(
    describeRun({
      file: 'x',
      code: 0,
      seconds: 1,
      output: '',
      counts: { tests: 2, pass: 1, fail: 0, cancelled: 1, skipped: 0, todo: 0 },
    }),
    /^FAILED: 1 of 2 passed, 1 cancelled/,
  );
});
