// What the Temporal SDK logs in a vaquero process (temporal/runtime.ts): one line per entry on stderr, naming the
// run, the activity and the error, never in colour; and a process with the runtime installed still ends by itself.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { formatSdkLogEntry } from '../../temporal/runtime.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const program = fileURLToPath(new URL('./fixtures/sdk-log.ts', import.meta.url));
const ANSI = new RegExp(String.fromCharCode(27) + '\\[');

test('a failed activity and a failed workflow task: one plain line each on stderr, naming them', async () => {
  const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', program], {
    cwd: repoRoot,
    timeout: 180_000,
    env: { ...process.env, TEMPORAL_ADDRESS: '' },
  });
  assert.match(stdout, /^DONE$/m, `the program ran through; stderr:\n${stderr}`);
  assert.doesNotMatch(stderr, ANSI);
  const lines = stderr.split('\n');
  const activity = lines.find((l) => l.startsWith('WARN Activity failed'));
  assert.ok(activity, stderr);
  assert.match(activity, /workflowType=callsFlaky/);
  assert.match(activity, /workflowId=calls-flaky/);
  assert.match(activity, /activityType=flaky/);
  assert.match(activity, /attempt=1/);
  assert.match(activity, /: Error: the BMC said no$/);
  const workflow = lines.find((l) => l.startsWith('WARN Workflow failed'));
  assert.ok(workflow, stderr);
  assert.match(workflow, /workflowType=breaksItsTask, workflowId=breaks, runId=[0-9a-f-]{36}/);
  assert.match(workflow, /: TypeError: a bug in the workflow code$/);
});

test('a process that installs the runtime and makes no worker ends by itself', async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('./fixtures/install-runtime-only.ts', import.meta.url))],
    { cwd: repoRoot, timeout: 60_000, killSignal: 'SIGKILL' },
  );
  assert.equal(stdout, 'installed\n');
});

test('lines are cut to a readable length; the warning every activity-only worker gives is left out', () => {
  const line = formatSdkLogEntry({
    level: 'WARN',
    message: 'Workflow failed',
    timestampNanos: 0n,
    meta: { workflowId: 'w', runId: 'r1', error: new Error('x'.repeat(5000)) },
  });
  assert.ok(line && line.length <= 1200, line);
  assert.match(line, /^WARN Workflow failed \(workflowId=w, runId=r1\): Error: x+…$/);
  assert.equal(
    formatSdkLogEntry({
      level: 'WARN',
      message: 'No workflows registered, not polling for workflow tasks',
      timestampNanos: 0n,
    }),
    undefined,
  );
});
