// The API end to end through the app builder, on a real Temporal dev server with the control worker and a sim
// site: rollouts started, listed, inspected, paused, resumed and aborted; hosts listed and inspected; a stuck
// host's stage overridden (completed, failed); hosts reprovisioned; plans; readiness; metrics; and the live
// event stream read over a socket.
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, test } from 'node:test';
import { changeKernel, writeSot } from '../../testkit/sot.ts';
import type { WrittenSot } from '../../testkit/sot.ts';
import { startTestStack } from '../../testkit/stack.ts';
import type { TestStack } from '../../testkit/stack.ts';
import { rolloutResult, waitFor } from '../../testkit/workflows.ts';
import { READ_TOKEN, call, errorCode, stackApp, testConfig } from './support/harness.ts';
import type { StackApp } from './support/harness.ts';

let stack: TestStack;
let sot: WrittenSot;
let api: StackApp;

before(async () => {
  stack = await startTestStack({ name: 'api' });
  sot = await writeSot({
    sot: 'apisot',
    site: 'apisite',
    workflows: {
      quick: { boots: ['quick'], policy: { max_concurrent: 4 } },
      // Hosts that stall before their checkpoint wait here long enough to be overridden by hand.
      slow: { boots: ['quick'], policy: { max_concurrent: 4, max_fail: 4 }, timeouts: { checkpoint: 300 } },
    },
    hosts: [
      { name: 'h1', workflow: 'quick' },
      { name: 'h2', workflow: 'quick' },
      { name: 'stuck', workflow: 'slow', options: { stall_at: 'checkpoint' } },
      { name: 'doomed', workflow: 'slow', options: { stall_at: 'checkpoint' } },
    ],
  });
  await stack.startSimSite(sot.site);
  const config = await testConfig({
    dataDir: stack.dataDir,
    sots: [{ name: 'apisot', kind: 'dir', path: sot.dir, watch: false, autoRollout: false }],
  });
  api = await stackApp(stack, config);
});
after(async () => {
  await api?.close();
  await stack?.close();
});

/** Waits until this replica's index shows what `probe` wants (the index refreshes every 200 ms here). */
function indexed<T>(what: string, probe: () => Promise<T | undefined | false>): Promise<T> {
  return waitFor(what, probe, { timeoutMs: 60_000, intervalMs: 200 });
}

const hostsIn = async (qs: string) =>
  (await call(api.app, 'GET', `/hosts?${qs}`, { token: READ_TOKEN })).json as {
    hosts: { host: string; stage: string; state: string }[];
    total: number;
  };

let rev1 = '';

test('start a rollout, see it running with per-host progress, override its stuck hosts, see it end', async () => {
  const started = await call(api.app, 'POST', '/rollouts', { body: { sot: 'apisot' } });
  assert.equal(started.status, 201, started.res.body);
  assert.equal(started.json.started, true);
  rev1 = started.json.revision as string;
  assert.match(rev1, /^dir-[0-9a-f]{12}$/);
  assert.equal(started.json.workflowId, `rollout/apisot/${rev1}`);
  const again = await call(api.app, 'POST', '/rollouts', { body: { sot: 'apisot' } });
  assert.equal(again.status, 200);
  assert.equal(again.json.started, false);

  // Other hosts pass through `installing` on their way: wait for exactly the two that stay there.
  const both = await indexed('stuck and doomed installing', async () => {
    const r = await hostsIn('site=apisite&stage=installing');
    const names = r.hosts
      .map((h) => h.host)
      .sort()
      .join(',');
    return names === 'doomed,stuck' && r;
  });
  assert.deepEqual(
    both.hosts.map((h) => h.host),
    ['doomed', 'stuck'],
  );

  const detail = await call(api.app, 'GET', `/rollouts/apisot/${rev1}`, { token: READ_TOKEN });
  assert.equal(detail.status, 200);
  assert.equal(detail.json.state, 'running');
  const hosts = detail.json.hosts as { host: string; state: string }[];
  assert.deepEqual(hosts.map((h) => h.host).sort(), ['doomed', 'h1', 'h2', 'stuck']);
  assert.ok((detail.json.timeline as unknown[]).length > 0);

  const stuck = await call(api.app, 'GET', '/hosts/apisite/stuck', { token: READ_TOKEN });
  assert.equal(stuck.status, 200);
  assert.equal(stuck.json.source, 'workflow');
  assert.equal(stuck.json.stage, 'installing');
  assert.equal(stuck.json.state, 'running');
  assert.equal(stuck.json.attempt, 1);
  assert.equal(stuck.json.revision, rev1);
  assert.equal(typeof stuck.json.secondsInStage, 'number');
  const timeline = stuck.json.timeline as { kind: string; message: string }[];
  for (const kind of ['dhcp', 'tftp', 'ipxe', 'kernel'])
    assert.ok(
      timeline.some((e) => e.kind === 'event' && e.message.startsWith(`${kind} `)),
      kind,
    );

  // Overrides: read-only refused; a stale stage guard refused; then complete one host and fail the other.
  assert.equal(
    (
      await call(api.app, 'POST', '/hosts/apisite/stuck/override', {
        token: READ_TOKEN,
        body: { action: 'complete', reason: 'x' },
      })
    ).status,
    403,
  );
  const stale = await call(api.app, 'POST', '/hosts/apisite/doomed/override', {
    body: { action: 'fail', stage: 'netboot/dhcp', reason: 'x' },
  });
  assert.equal(stale.status, 409, stale.res.body);
  assert.equal(errorCode(stale), 'conflict');
  assert.match((stale.json.error as { message: string }).message, /in stage installing, not netboot\/dhcp/);
  const done = await call(api.app, 'POST', '/hosts/apisite/stuck/override', {
    body: {
      action: 'complete',
      stage: 'installing',
      reason: 'the installer finished; its callback was lost',
    },
  });
  assert.equal(done.status, 200, done.res.body);
  assert.ok(
    (done.json.timeline as { kind: string; message: string }[]).some(
      (e) => e.kind === 'override' && /complete installing by ops/.test(e.message),
    ),
  );
  const failed = await call(api.app, 'POST', '/hosts/apisite/doomed/override', {
    body: { action: 'fail', reason: 'disk is dead' },
  });
  assert.equal(failed.status, 200, failed.res.body);

  const result = await rolloutResult(stack.client, `rollout/apisot/${rev1}`, 60_000);
  assert.equal(result.state, 'failed');
  assert.deepEqual(result.failedHosts, ['apisite/doomed']);
  assert.equal(result.provisioned, 3);

  const doomed = await call(api.app, 'GET', '/hosts/apisite/doomed', { token: READ_TOKEN });
  assert.equal(doomed.json.state, 'failed');
  assert.match(String(doomed.json.lastError), /failed by ops at installing: disk is dead/);
  // Overriding a host that is not mid-run is a conflict, not a crash.
  assert.equal(
    (
      await call(api.app, 'POST', '/hosts/apisite/doomed/override', {
        body: { action: 'fail', reason: 'again' },
      })
    ).status,
    409,
  );
  assert.equal((await call(api.app, 'GET', '/hosts/apisite/nobody', { token: READ_TOKEN })).status, 404);

  const listed = await indexed('rollout failed in the index', async () => {
    const r = await call(api.app, 'GET', '/rollouts?sot=apisot', { token: READ_TOKEN });
    const rows = r.json.rollouts as { id: string; state: string }[];
    return rows.find((x) => x.id === `rollout/apisot/${rev1}` && x.state === 'failed') && r;
  });
  assert.equal(listed.status, 200);
  const provisioned = await indexed(
    '3 hosts provisioned in the index',
    async () => (await hostsIn('site=apisite&state=provisioned')).total === 3,
  );
  assert.ok(provisioned);
});

test('sites, plan against the fleet and between revisions, reprovision', async () => {
  const sites = await call(api.app, 'GET', '/sites', { token: READ_TOKEN });
  const site = (sites.json.sites as { site: string; hosts: number; byState: Record<string, number> }[]).find(
    (s) => s.site === 'apisite',
  )!;
  assert.equal(site.hosts, 4);
  assert.equal(site.byState.failed, 1);

  const fleetPlan = await call(api.app, 'GET', '/plan?sot=apisot', { token: READ_TOKEN });
  assert.equal(fleetPlan.status, 200, fleetPlan.res.body);
  assert.equal(fleetPlan.json.valid, true);
  assert.equal(fleetPlan.json.from, null);
  const byHost = Object.fromEntries(
    (fleetPlan.json.hosts as { host: string; action: string }[]).map((h) => [h.host, h.action]),
  );
  assert.deepEqual(byHost, { doomed: 'added', h1: 'unchanged', h2: 'unchanged', stuck: 'unchanged' });

  await changeKernel(sot.dir, 'tiny', 'v2');
  const moved = await call(api.app, 'GET', `/plan?sot=apisot&from=${rev1}`, { token: READ_TOKEN });
  assert.equal(moved.status, 200, moved.res.body);
  assert.notEqual(moved.json.to, rev1);
  const actions = moved.json.hosts as { host: string; action: string; reasons: string[] }[];
  assert.equal(actions.length, 4);
  for (const h of actions) {
    assert.equal(h.action, 'reprovision');
    assert.ok(
      h.reasons.some((r) => /kernel URL changed/.test(r)),
      JSON.stringify(h),
    );
  }
  const unknown = await call(api.app, 'GET', '/plan?sot=apisot&from=dir-000000000000', { token: READ_TOKEN });
  assert.equal(unknown.status, 404);
  assert.equal(errorCode(unknown), 'revision_unknown');

  const repro = await call(api.app, 'POST', '/hosts/reprovision', { body: { hosts: ['apisite/h1'] } });
  assert.equal(repro.status, 200, repro.res.body);
  const [r] = repro.json.results as {
    host: string;
    started: boolean;
    revision: string;
    workflowId: string;
  }[];
  assert.equal(r!.started, true);
  assert.equal(r!.revision, rev1);
  assert.equal(r!.workflowId, 'host/apisite/h1');
  await waitFor('h1 reprovisioned again', async () => {
    const h = await call(api.app, 'GET', '/hosts/apisite/h1', { token: READ_TOKEN });
    return h.json.state === 'provisioned' && h.json.runId !== undefined;
  });
});

test('pause, resume and abort a running rollout, with the live event stream open', async () => {
  const server = await api.app.listen({ host: '127.0.0.1', port: 0 });
  const events: { event: string; data: Record<string, unknown> }[] = [];
  const sse = httpRequest(`${server}/events?types=host,rollout`, {
    headers: { authorization: `Bearer ${READ_TOKEN}` },
  });
  let contentType = '';
  sse.on('response', (res) => {
    contentType = String(res.headers['content-type']);
    let buf = '';
    res.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev = /^event: (.+)$/m.exec(block)?.[1];
        const data = /^data: (.+)$/m.exec(block)?.[1];
        if (ev && data) events.push({ event: ev, data: JSON.parse(data) as Record<string, unknown> });
      }
    });
  });
  sse.on('error', () => undefined);
  sse.end();
  try {
    const started = await call(api.app, 'POST', '/rollouts', { body: { sot: 'apisot' } });
    assert.equal(started.status, 201, started.res.body);
    const rev2 = started.json.revision as string;
    const base = `/rollouts/apisot/${rev2}`;
    // The index still lists the previous rollout's stuck and doomed hosts at `installing`: wait for this revision's.
    await indexed(
      'the slow hosts installing again',
      async () => (await hostsIn(`site=apisite&stage=installing&revision=${rev2}`)).total === 2,
    );
    assert.equal((await call(api.app, 'GET', base, { token: READ_TOKEN })).json.state, 'running');

    const paused = await call(api.app, 'POST', `${base}/pause`, { body: { reason: 'change freeze' } });
    assert.equal(paused.status, 200, paused.res.body);
    assert.equal(paused.json.state, 'paused');
    assert.equal((await call(api.app, 'POST', `${base}/pause`, { token: READ_TOKEN, body: {} })).status, 403);
    const resumed = await call(api.app, 'POST', `${base}/resume`);
    assert.equal(resumed.json.state, 'running');
    const aborted = await call(api.app, 'POST', `${base}/abort`, { body: { reason: 'wrong kernel' } });
    assert.equal(aborted.status, 200);
    assert.match(String(aborted.json.state), /^abort(ing|ed)$/);
    const result = await rolloutResult(stack.client, `rollout/apisot/${rev2}`, 60_000);
    assert.equal(result.state, 'aborted');
    const detail = await call(api.app, 'GET', base, { token: READ_TOKEN });
    assert.equal(detail.json.state, 'aborted');
    assert.match(String(detail.json.reason), /wrong kernel \(ops\)/);
    // A closed rollout cannot be paused.
    const late = await call(api.app, 'POST', `${base}/pause`, { body: {} });
    assert.equal(late.status, 409);
    assert.equal(errorCode(late), 'conflict');
    assert.equal(
      (await call(api.app, 'GET', '/rollouts/apisot/dir-ffffffffffff', { token: READ_TOKEN })).status,
      404,
    );

    await indexed(
      'rollout and cancelled host events on the stream',
      async () =>
        events.some(
          (e) =>
            e.event === 'rollout' && e.data.id === `rollout/apisot/${rev2}` && e.data.state === 'aborted',
        ) &&
        events.some((e) => e.event === 'host' && e.data.site === 'apisite' && e.data.state === 'cancelled'),
    );
    assert.match(contentType, /^text\/event-stream/);
    const hostEvent = events.find((e) => e.event === 'host')!;
    for (const f of ['site', 'host', 'stage', 'state', 'revision', 'at']) assert.ok(f in hostEvent.data, f);
  } finally {
    sse.destroy();
  }
});

test('readiness and metrics reflect the stack', async () => {
  const ready = await call(api.app, 'GET', '/ready', { token: null });
  assert.equal(ready.status, 200, ready.res.body);
  assert.equal(ready.json.ready, true);
  const w = ready.json.workers as { workflowPollers: number; activityPollers: number };
  assert.ok(w.workflowPollers > 0 && w.activityPollers > 0);
  await api.app.vaquero.metrics.settled();
  const metrics = (await call(api.app, 'GET', '/metrics', { token: null })).res.body;
  assert.match(metrics, /vaquero_rollouts_started_total\{trigger="api"\} 2/);
  assert.match(metrics, /vaquero_rollouts\{state="aborted"\} 1/);
  assert.match(metrics, /vaquero_hosts\{site="apisite",stage="[^"]+",state="provisioned"\} \d+/);
  assert.match(metrics, /vaquero_boot_events_total\{site="apisite",kind="dhcp"\} [1-9]/);
  assert.match(metrics, /vaquero_power_operations_total\{site="apisite",result="ok"\} [1-9]/);
});
