// What the Temporal SDK logs in a vaquero process (temporal/runtime.ts): one line per entry on stderr, naming the
// run, the activity and the error; the SDK's native side forwarded to the same place, never on stdout (vaquero's
// progress view) and never in colour.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { formatSdkLogEntry } from '../../temporal/runtime.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const program = fileURLToPath(new URL('./fixtures/sdk-log.ts', import.meta.url));
const ANSI = new RegExp(String.fromCharCode(27) + '\\[');

test('a failed activity and a failed workflow task: one plain line each on stderr, nothing on stdout', async () => {
  const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', program], {
    cwd: repoRoot,
    timeout: 180_000,
    env: { ...process.env, TEMPORAL_ADDRESS: '' },
  });
  assert.equal(stdout, 'DONE\n', `stdout holds only the program's own line; stderr:\n${stderr}`);
  assert.doesNotMatch(stderr, ANSI);
  const lines = stderr.split('\n');
  const activity = lines.find((l) => l.startsWith('WARN Activity failed'));
  assert.ok(activity, stderr);
  assert.match(activity, /workflowType=callsFlaky/);
  assert.match(activity, /workflowId=calls-flaky/);
  assert.match(activity, /activityType=flaky/);
  assert.match(activity, /attempt=1/);
  assert.match(activity, /: Error: the BMC said no$/);
  const core = lines.find((l) => l.startsWith('WARN [core] Failing workflow task'));
  assert.ok(core, stderr);
  assert.match(core, /runId=[0-9a-f-]{36}/);
  assert.match(core, /a bug in the workflow code/);
});

test('lines are cut to a readable length; the warning every activity-only worker gives is left out', () => {
  const line = formatSdkLogEntry({
    level: 'WARN',
    message: 'Failing workflow task',
    timestampNanos: 0n,
    meta: { sdkComponent: 'core', runId: 'r1', failure: 'x'.repeat(5000) },
  });
  assert.ok(line && line.length <= 1200, line);
  assert.match(line, /^WARN \[core\] Failing workflow task \(runId=r1\): x+…$/);
  assert.equal(
    formatSdkLogEntry({
      level: 'WARN',
      message: 'No workflows registered, not polling for workflow tasks',
      timestampNanos: 0n,
    }),
    undefined,
  );
});
