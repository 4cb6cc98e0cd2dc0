// The server's metrics count what happened: after a sim rollout, the stage histogram, the boot-event counters and
// the power-operation counters equal what the hosts' own records (their timelines, GET /hosts/{site}/{host}) say,
// and what the sim hosts did: three hosts boot once each and are provisioned; a fourth never sends DHCP, so it is
// power-cycled twice (one retry) and fails at netboot/dhcp.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { writeSot } from '../../testkit/sot.ts';
import type { WrittenSot } from '../../testkit/sot.ts';
import { FAST_SIM_DELAYS, startTestStack } from '../../testkit/stack.ts';
import type { TestStack } from '../../testkit/stack.ts';
import { rolloutResult, waitFor } from '../../testkit/workflows.ts';
import type { TimelineEntry } from '../../domain/host.ts';
import { call, stackApp, testConfig } from './support/harness.ts';
import type { StackApp } from './support/harness.ts';

let stack: TestStack;
let sot: WrittenSot;
let api: StackApp;
const SITE = 'metricsite';
const HOSTS = ['m1', 'm2', 'm3', 'silent'];

before(async () => {
  stack = await startTestStack({ name: 'metrics' });
  sot = await writeSot({
    sot: 'metricsot',
    site: SITE,
    workflows: {
      install: { boots: ['install'], policy: { max_concurrent: 3 } },
      retry: { boots: ['quick'], power_retries: 1 },
    },
    hosts: [
      { name: 'm1', workflow: 'install' },
      { name: 'm2', workflow: 'install' },
      { name: 'm3', workflow: 'install' },
      { name: 'silent', workflow: 'retry', options: { never_dhcp: true } },
    ],
  });
  await stack.startSimSite(SITE, FAST_SIM_DELAYS);
  const config = await testConfig({
    dataDir: stack.dataDir,
    sots: [{ name: 'metricsot', kind: 'dir', path: sot.dir, watch: false, autoRollout: false }],
  });
  api = await stackApp(stack, config);
});
after(async () => {
  await api?.close();
  await stack?.close();
});

/** A sample's value from the exposition text; 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  const want = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = m[2]!.split(',').sort();
    if (have.length === want.length && have.every((x, i) => x === want[i])) return Number(m[3]);
  }
  return 0;
}

test('stage histograms, boot-event and power counters equal what the hosts’ timelines say', async () => {
  const started = await call(api.app, 'POST', '/rollouts', { body: { sot: 'metricsot' } });
  assert.equal(started.status, 201, started.res.body);
  const rolloutId = started.json.workflowId as string;
  await rolloutResult(stack.client, rolloutId);
  // The index sees every run close, and the rollout close (it is counted then); each closed run is then read and
  // counted. The index refreshes hosts and rollouts separately, so the one can lag the other.
  await waitFor(
    'the index to see every host run and the rollout closed',
    () =>
      HOSTS.every((h) => api.app.vaquero.index.getHost(SITE, h)?.closedMs !== undefined) &&
      api.app.vaquero.index.listRollouts({ sot: 'metricsot' }).some((r) => r.status !== 'running'),
  );
  await api.app.vaquero.metrics.settled();
  const text = (await call(api.app, 'GET', '/metrics', { token: null })).res.body;

  // What the hosts' own records say, counted here from their timelines.
  const stageCount = new Map<string, number>();
  const stageSum = new Map<string, number>();
  const events = new Map<string, number>();
  let powerOk = 0;
  const details = new Map<string, { state: string; timeline: TimelineEntry[] }>();
  for (const h of HOSTS) {
    const d = await call(api.app, 'GET', `/hosts/${SITE}/${h}`);
    assert.equal(d.status, 200, d.res.body);
    const detail = d.json as unknown as { state: string; closedAt: string; timeline: TimelineEntry[] };
    details.set(h, detail);
    const stages = detail.timeline.filter((e) => e.kind === 'stage');
    const entered = stages.filter((e, i) => i === 0 || e.stage !== stages[i - 1]!.stage);
    entered.forEach((e, i) => {
      if (['provisioned', 'failed', 'cancelled'].includes(e.stage)) return;
      const end = entered[i + 1]?.at ?? Date.parse(detail.closedAt);
      stageCount.set(e.stage, (stageCount.get(e.stage) ?? 0) + 1);
      stageSum.set(e.stage, (stageSum.get(e.stage) ?? 0) + (end - e.at) / 1000);
    });
    for (const e of detail.timeline) {
      if (e.kind === 'event') {
        const kind = e.message.split(' ')[0]!;
        events.set(kind, (events.get(kind) ?? 0) + 1);
      }
      if (e.kind === 'power') powerOk++;
    }
  }
  // What the sim hosts did.
  assert.deepEqual(
    HOSTS.map((h) => details.get(h)!.state),
    ['provisioned', 'provisioned', 'provisioned', 'failed'],
  );
  assert.equal(events.get('dhcp'), 3);
  assert.equal(events.get('checkpoint'), 3);
  // Five power cycles, and the failed host's power off (on_failure: power_off).
  assert.equal(powerOk, 6);
  assert.equal(stageCount.get('power'), 5);

  // The metrics say the same.
  for (const [stage, n] of stageCount) {
    assert.equal(sample(text, 'vaquero_host_stage_seconds_count', { site: SITE, stage }), n, stage);
    const sum = sample(text, 'vaquero_host_stage_seconds_sum', { site: SITE, stage });
    assert.ok(Math.abs(sum - stageSum.get(stage)!) < 1e-6, `${stage}: ${sum} vs ${stageSum.get(stage)}`);
  }
  for (const [kind, n] of events)
    assert.equal(sample(text, 'vaquero_boot_events_total', { site: SITE, kind }), n, kind);
  assert.equal(sample(text, 'vaquero_power_operations_total', { site: SITE, result: 'ok' }), powerOk);
  assert.equal(sample(text, 'vaquero_power_operations_total', { site: SITE, result: 'failed' }), 0);
  assert.equal(sample(text, 'vaquero_host_runs_total', { site: SITE, state: 'provisioned' }), 3);
  assert.equal(sample(text, 'vaquero_host_runs_total', { site: SITE, state: 'failed' }), 1);
  assert.equal(sample(text, 'vaquero_host_runs_unread_total', { site: SITE }), 0);
  const finished = (await call(api.app, 'GET', `/rollouts?sot=metricsot`)).json.rollouts as {
    state: string;
  }[];
  assert.equal(sample(text, 'vaquero_rollouts_finished_total', { state: finished[0]!.state }), 1);
});
