// before_shutdown and validate task containers in a real host workflow (dev server, workers, podman): their
// results and logs land in the host's timeline; a failing validation fails the host at validate.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ContainerTaskRunner } from '../../../activities/tasks/container-task-runner.ts';
import type { TimelineEntry } from '../../../domain/host.ts';
import { addBoot, startSiteWithExtras } from '../power/site-extras.ts';
import { BUSYBOX_IMAGE, startPodman } from '../../../testkit/podman.ts';
import type { Podman } from '../../../testkit/podman.ts';
import { writeSot } from '../../../testkit/sot.ts';
import { startTestStack } from '../../../testkit/stack.ts';
import type { TestStack } from '../../../testkit/stack.ts';
import { hostStatus, rolloutResult, startRollout } from '../../../testkit/workflows.ts';

let stack: TestStack;
let podman: Podman;
before(async () => {
  [stack, podman] = await Promise.all([startTestStack({ name: 'host-tasks' }), startPodman()]);
});
after(async () => {
  await stack?.close();
  await podman?.stop();
});

test('task containers run before shutdown and at validation; results and logs show in the timeline', async () => {
  const sot = await writeSot({
    sot: 'tasks',
    site: 'tasks',
    workflows: {
      good: { boots: ['tasked'], policy: { max_concurrent: 2, max_fail: 1 } },
      bad: { boots: ['failing'], policy: { max_fail: 1 } },
    },
    hosts: [
      { name: 'ok1', workflow: 'good' },
      { name: 'bad1', workflow: 'bad' },
    ],
  });
  const drain = {
    name: 'drain',
    image: BUSYBOX_IMAGE,
    command: ['/bin/sh', '-c'],
    args: ['echo "draining {{ host.name }}"; echo "$VAQUERO_PHASE on $VAQUERO_HOST"'],
    timeout_s: 30,
  };
  await addBoot(sot, 'tasked', {
    os: 'tiny',
    before_shutdown: [drain],
    validate: [
      {
        name: 'smoke',
        image: BUSYBOX_IMAGE,
        command: ['/bin/sh', '-c', 'echo "checking {{ host.name }}: $CHECK"'],
        env: { CHECK: 'disk={{ host.name }}-ok' },
        timeout_s: 30,
      },
    ],
  });
  await addBoot(sot, 'failing', {
    os: 'tiny',
    validate: [
      {
        name: 'smoke',
        image: BUSYBOX_IMAGE,
        command: ['/bin/sh', '-c', 'echo "smoke failed: no disk" >&2; exit 4'],
        timeout_s: 30,
        retries: 1,
      },
    ],
  });
  const site = await startSiteWithExtras(stack, sot.site, {
    containers: new ContainerTaskRunner(podman.docker, { networkMode: 'none', retryBackoffMs: 50 }),
  });
  try {
    const r = await startRollout(stack.client, sot);
    const result = await rolloutResult(stack.client, r.workflowId);
    assert.equal(result.provisioned, 1, JSON.stringify(result));
    assert.deepEqual(result.failedHosts, [`${sot.site}/bad1`]);

    const ok = await hostStatus(stack.client, sot.site, 'ok1');
    assert.equal(ok.state, 'provisioned');
    const tasks = ok.timeline.filter((e: TimelineEntry) => e.kind === 'task');
    assert.deepEqual(
      tasks.map((e) => [e.stage, e.message]),
      [
        ['pre-shutdown', 'before_shutdown drain: ok (exit 0)\ndraining ok1\nbefore_shutdown on ok1\n'],
        ['validate', 'validate smoke: ok (exit 0)\nchecking ok1: disk=ok1-ok\n'],
      ],
    );
    // The drain ran before the host was power-cycled, the validation after its checkpoint.
    const at = (pred: (e: TimelineEntry) => boolean) => ok.timeline.findIndex(pred);
    assert.ok(at((e) => e.kind === 'task' && e.stage === 'pre-shutdown') < at((e) => e.kind === 'power'));
    assert.ok(
      at((e) => e.kind === 'event' && e.message.startsWith('checkpoint')) <
        at((e) => e.kind === 'task' && e.stage === 'validate'),
    );

    const bad = await hostStatus(stack.client, sot.site, 'bad1');
    assert.equal(bad.state, 'failed');
    assert.equal(bad.stage, 'validate');
    assert.equal(bad.lastError, 'validate task(s) failed: smoke');
    const failed = bad.timeline.filter((e) => e.kind === 'task');
    assert.deepEqual(
      failed.map((e) => e.message),
      ['validate smoke: failed (exit 4): exit code 4\nsmoke failed: no disk\n'],
    );
    assert.equal(site.fleet.powerOns.get(`${sot.site}/bad1`), 1, 'validation failures are not power-retried');
  } finally {
    await site.stop();
  }
});
