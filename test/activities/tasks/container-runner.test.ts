// The container task runner against podman's Docker-compatible API: success, non-zero exit with retries,
// timeout (killed), missing image (the pull error inside the progress stream), truncated logs, cancellation.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { TaskRunInput } from '../../../domain/activity-contracts.ts';
import { ContainerTaskRunner } from '../../../activities/tasks/container-task-runner.ts';
import type { TaskPlan } from '../../../domain/host.ts';
import { BUSYBOX_IMAGE, startPodman } from '../../../testkit/podman.ts';
import type { Podman } from '../../../testkit/podman.ts';

let podman: Podman;
let runner: ContainerTaskRunner;
before(async () => {
  podman = await startPodman();
  runner = new ContainerTaskRunner(podman.docker, { networkMode: 'none', retryBackoffMs: 50, logLimit: 400 });
});
after(() => podman?.stop());

const task = (t: Partial<TaskPlan> & { name: string }): TaskPlan => ({
  image: BUSYBOX_IMAGE,
  command: [],
  args: [],
  env: {},
  timeout_s: 60,
  retries: 0,
  ...t,
});
const input = (tasks: TaskPlan[]): TaskRunInput => ({
  site: 'lab',
  host: 'node-1',
  phase: 'validate',
  bootStage: 2,
  tasks,
});
const leftovers = async () =>
  (await podman.docker.listContainers({ all: true, filters: { label: ['vaquero.host=node-1'] } })).length;

test('success: entrypoint from command, args, env and VAQUERO_* variables; stdout and stderr in the log', async () => {
  const res = await runner.run(
    input([
      task({
        name: 'check',
        command: ['/bin/sh', '-c'],
        args: [
          'echo "hello $GREETING from $VAQUERO_HOST ($VAQUERO_PHASE, stage $VAQUERO_BOOT_STAGE)"; echo oops >&2; echo done',
        ],
        env: { GREETING: 'hi' },
      }),
    ]),
  );
  const { log, ...rest } = res.results[0]!;
  assert.equal(res.ok, true);
  assert.deepEqual(rest, { name: 'check', ok: true, exitCode: 0, attempts: 1 });
  // podman keeps each stream in order but may not interleave stdout and stderr as written.
  assert.deepEqual(
    log.split('\n').filter((l) => l !== 'oops'),
    ['hello hi from node-1 (validate, stage 2)', 'done', ''],
  );
  assert.ok(log.includes('oops\n'), log);
  assert.equal(await leftovers(), 0, 'containers are removed');
});

test('a non-zero exit fails the task after its retries, and later tasks do not run', async () => {
  const res = await runner.run(
    input([
      task({ name: 'flaky', command: ['/bin/sh', '-c', 'echo try; exit 3'], retries: 2 }),
      task({ name: 'never', command: ['/bin/true'] }),
    ]),
  );
  assert.equal(res.ok, false);
  assert.deepEqual(res.results, [
    { name: 'flaky', ok: false, exitCode: 3, attempts: 3, log: 'try\n', error: 'exit code 3' },
  ]);
  assert.equal(await leftovers(), 0);
});

test('a task that runs past its timeout is killed', async () => {
  const res = await runner.run(
    input([task({ name: 'slow', command: ['/bin/sh', '-c', 'echo started; sleep 300'], timeout_s: 1 })]),
  );
  const r = res.results[0]!;
  assert.equal(r.ok, false);
  assert.equal(r.error, 'timed out after 1s (killed)');
  assert.equal(r.exitCode, 137);
  assert.equal(r.log, 'started\n');
  assert.equal(await leftovers(), 0);
});

test('a missing image is an error (reported inside the pull progress stream), not a success', async () => {
  const res = await runner.run(
    input([
      task({ name: 'ghost', image: 'docker.io/library/vaquero-no-such-image:0', command: ['/bin/true'] }),
    ]),
  );
  const r = res.results[0]!;
  assert.equal(res.ok, false);
  assert.equal(r.exitCode, undefined);
  assert.match(r.error ?? '', /^image pull failed: docker\.io\/library\/vaquero-no-such-image:0: \S/);
});

test('long output is cut to the limit, keeping its head and its tail', async () => {
  const res = await runner.run(
    input([
      task({
        name: 'chatty',
        command: [
          '/bin/sh',
          '-c',
          'echo FIRST; i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done; echo LAST',
        ],
      }),
    ]),
  );
  const log = res.results[0]!.log;
  assert.ok(log.startsWith('FIRST\n'), log);
  assert.ok(log.endsWith('LAST\n'), log);
  assert.match(log, /… \[\d+ characters cut\] …/);
  assert.ok(log.length < 500, String(log.length));
});

test('cancellation kills and removes the running container', async () => {
  const ac = new AbortController();
  const steps: string[] = [];
  const running = runner.run(
    input([task({ name: 'drain', command: ['/bin/sh', '-c', 'sleep 300'], timeout_s: 60 })]),
    (m) => steps.push(m),
    ac.signal,
  );
  // Wait until the container exists, then cancel.
  for (let i = 0; i < 200 && (await leftovers()) === 0; i++) await new Promise((r) => setTimeout(r, 50));
  ac.abort(new Error('activity cancelled'));
  await assert.rejects(running, /activity cancelled/);
  assert.equal(await leftovers(), 0);
  assert.deepEqual(steps, ['validate drain: attempt 1/1']);
});
