// Workers die mid-rollout: a `vaquero worker` process (control worker and sim site) is SIGKILLed while hosts
// are network-booting, a new one takes over, and the rollout still completes with every host provisioned and
// no host power-cycled more often than its workflow allows. Then `vaquero status --json` over the result.
import assert from 'node:assert/strict';
import { WorkflowNotFoundError } from '@temporalio/client';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { RolloutStatus } from '../../domain/rollout.ts';
import { runCli, startWorkerProcess } from '../../testkit/cli.ts';
import type { WorkerProcess } from '../../testkit/cli.ts';
import { writeSot } from '../../testkit/sot.ts';
import type { WrittenSot } from '../../testkit/sot.ts';
import { startTestStack } from '../../testkit/stack.ts';
import type { TestStack } from '../../testkit/stack.ts';
import {
  countBy,
  hostStatus,
  powerOps,
  rolloutResult,
  rolloutStatus,
  startRollout,
  waitFor,
} from '../../testkit/workflows.ts';

const SITE = 'crash';
const POWER_RETRIES = 2;
const HOSTS = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
/** Netboot steps slow enough to kill the workers in the middle of one; the rest quick. */
const SIM_DELAYS = 'bmc=5,dhcp=400,tftp=400,ipxe=400,kernel=200,initrd=200,config=200,checkpoint=30,task=20';
/** Kill only while every running host waits on boot events (no activity in flight, not yet installing). */
const SAFE_TO_KILL = new Set(['netboot/dhcp', 'netboot/tftp', 'netboot/ipxe']);

let stack: TestStack;
const workers: WorkerProcess[] = [];
before(async () => {
  // The server only: every worker of this test runs in a process of its own.
  stack = await startTestStack({ name: 'crash', control: false });
});
after(async () => {
  for (const w of workers) await w.kill();
  await stack?.close();
});

const workerArgs = () => [
  '--control',
  '--sim-sites',
  SITE,
  '--data-dir',
  stack.dataDir,
  '--sim-delays',
  SIM_DELAYS,
];

let sot: WrittenSot;
let revision: string;

test('workers SIGKILLed mid-rollout: a new worker process completes it, within the power retries', async () => {
  sot = await writeSot({
    sot: 'crash',
    site: SITE,
    workflows: {
      one: {
        boots: ['quick'],
        policy: { max_concurrent: 2 },
        power_retries: POWER_RETRIES,
        // A lost netboot is noticed quickly; a killed power activity is retried quickly.
        timeouts: { power: 5, dhcp: 3, tftp: 3, ipxe: 3, kernel: 3, config: 3, checkpoint: 10 },
      },
    },
    hosts: HOSTS.map((name) => ({ name, workflow: 'one' })),
  });
  const first = await startWorkerProcess(stack, workerArgs());
  workers.push(first);
  const r = await startRollout(stack.client, sot);
  revision = r.revision;

  // Wait for a moment when some host already finished, some are still to come, and every running host is
  // in the middle of its network boot; then kill the whole worker process.
  let atKill: { status: RolloutStatus; booting: string[] } | undefined;
  await waitFor(
    'a moment to kill the workers mid-netboot',
    async () => {
      const s = await rolloutStatus(stack.client, r.workflowId);
      if (s.state !== 'running' || s.counts.provisioned < 1 || s.counts.pending < 1) return false;
      const running = s.hosts.filter((h) => h.state === 'running');
      if (running.length === 0) return false;
      // A host the rollout has just marked running may not have its workflow yet (the rollout's start of it is
      // still on its way to the server): not a moment to kill.
      const stages = await Promise.all(
        running.map((h) =>
          hostStatus(stack.client, SITE, h.host).catch((err: unknown) => {
            if (err instanceof WorkflowNotFoundError) return undefined;
            throw err;
          }),
        ),
      );
      if (!stages.every((h) => h?.state === 'running' && SAFE_TO_KILL.has(h.stage))) return false;
      first.child.kill('SIGKILL');
      atKill = { status: s, booting: running.map((h) => h.host) };
      return true;
    },
    { timeoutMs: 60_000, intervalMs: 20 },
  );
  assert.equal(await first.exited, 'SIGKILL');
  assert.ok(atKill);
  // A little while without any worker: timers fire, tasks wait.
  await delay(1000);

  const second = await startWorkerProcess(stack, workerArgs());
  workers.push(second);
  const result = await rolloutResult(stack.client, r.workflowId, 180_000);
  assert.equal(result.state, 'completed', JSON.stringify(result));
  assert.equal(result.provisioned, HOSTS.length);

  // Power cycles per host: from the on-disk log the site workers of both processes appended to, and from each
  // host workflow's own count.
  const ops = countBy(await powerOps(stack.dataDir, SITE), (o) => o.host.split('/')[1]!);
  for (const h of HOSTS) {
    const s = await hostStatus(stack.client, SITE, h);
    assert.equal(s.state, 'provisioned', h);
    assert.equal(s.revision, r.revision);
    assert.ok(
      s.powerCycles >= 1 && s.powerCycles <= POWER_RETRIES + 1,
      `${h}: ${s.powerCycles} power cycles in its status`,
    );
    const logged = ops.get(h) ?? 0;
    assert.ok(logged >= 1 && logged <= POWER_RETRIES + 1, `${h}: ${logged} power cycles in the power log`);
    if (atKill.booting.includes(h)) {
      // Its boot died with the workers: the netboot timed out and the power stage ran again.
      assert.ok(s.powerCycles >= 2, `${h} was booting when the workers died: ${JSON.stringify(s.timeline)}`);
      assert.ok(
        s.timeline.some((e) => e.kind === 'timeout'),
        h,
      );
    }
  }
  assert.deepEqual([...ops.keys()].sort(), HOSTS);
});

test('vaquero status --json lists every host with its stage, state and revision', async () => {
  assert.ok(sot && revision, 'needs the rollout of the previous test');
  const { stdout } = await runCli(stack, ['status', '--json', '--data-dir', stack.dataDir]);
  const out = JSON.parse(stdout) as { hosts: Record<string, unknown>[] };
  assert.deepEqual(Object.keys(out), ['hosts']);
  assert.deepEqual(
    out.hosts.map((h) => h.host),
    HOSTS,
  );
  for (const h of out.hosts) {
    assert.equal(h.site, SITE);
    assert.equal(h.stage, 'provisioned');
    assert.equal(h.state, 'provisioned');
    assert.equal(h.revision, revision);
    assert.equal(h.workflowId, `host/${SITE}/${String(h.host)}`);
    assert.equal(typeof h.runId, 'string');
    assert.ok(!Number.isNaN(Date.parse(String(h.startedAt))));
    assert.ok(!Number.isNaN(Date.parse(String(h.closedAt))));
  }
  // --site filters; an unknown site lists nothing.
  const none = JSON.parse((await runCli(stack, ['status', '--json', '--site', 'nowhere'])).stdout) as {
    hosts: unknown[];
  };
  assert.deepEqual(none, { hosts: [] });
});
