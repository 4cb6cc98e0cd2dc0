// The host index at fleet scale: 10,000 hosts put straight into the index (a real Temporal is exercised in
// api.test.ts), listed through the app builder with filters and cursor pagination; change events; the boot
// event and BMC counts inferred from stage changes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { FleetIndex } from '../../server/fleet-index.ts';
import type { HostRun } from '../../server/fleet-index.ts';
import type { FeedEvent } from '../../server/event-feed.ts';
import { createMetrics } from '../../server/metrics.ts';
import { READ_TOKEN, call, offlineApp, testConfig } from './support/harness.ts';

const SITES = ['ams', 'fra', 'lon', 'nyc', 'sfo'];
const STAGES = ['planned', 'power', 'netboot/dhcp', 'installing', 'validate', 'provisioned', 'netboot/tftp'];
const N = 10_000;

/** A deterministic fleet: host i in site i%5, with stages, states and revisions spread out. */
function fleet(): HostRun[] {
  const out: HostRun[] = [];
  for (let i = 0; i < N; i++) {
    const stage = STAGES[i % STAGES.length]!;
    const state = stage === 'provisioned' ? 'provisioned' : i % 11 === 0 ? 'failed' : 'running';
    out.push({
      site: SITES[i % SITES.length]!,
      host: `node-${String(i).padStart(5, '0')}`,
      stage,
      state,
      revision: i % 3 === 0 ? 'dir-aaaaaaaaaaaa' : 'dir-bbbbbbbbbbbb',
      workflowId: `host/${SITES[i % SITES.length]}/node-${String(i).padStart(5, '0')}`,
      runId: `run-${i}`,
      startedMs: 1_700_000_000_000 + i,
      ...(state !== 'running' ? { closedMs: 1_700_000_100_000 + i } : {}),
    });
  }
  return out;
}

const key = (h: { site: string; host: string }) => `${h.site}/${h.host}`;
const runs = fleet();
const sortedKeys = runs.map(key).sort();

let app: FastifyInstance;
before(async () => {
  const metrics = createMetrics({ defaultMetrics: false });
  const index = new FleetIndex(undefined, metrics.observer);
  for (const r of runs) index.upsertHost(r, { initial: true });
  index.refreshedAt = Date.now();
  app = await offlineApp(await testConfig(), { index, metrics });
});
after(() => app?.close());

test('10,000 hosts in one page, in site/host order, every field of the schema', async () => {
  const res = await call(app, 'GET', '/hosts?limit=10000', { token: READ_TOKEN });
  assert.equal(res.status, 200);
  const hosts = res.json.hosts as Record<string, unknown>[];
  assert.equal(hosts.length, N);
  assert.equal(res.json.total, N);
  assert.equal(res.json.nextCursor, undefined);
  assert.deepEqual(
    hosts.map((h) => key(h as { site: string; host: string })),
    sortedKeys,
  );
  const byKey = new Map(runs.map((r) => [key(r), r]));
  for (const h of hosts) {
    const r = byKey.get(key(h as { site: string; host: string }))!;
    assert.equal(h.stage, r.stage);
    assert.equal(h.state, r.state);
    assert.equal(h.revision, r.revision);
    assert.equal(h.runId, r.runId);
    assert.equal(h.startedAt, new Date(r.startedMs).toISOString());
    assert.equal(h.closedAt, r.closedMs === undefined ? undefined : new Date(r.closedMs).toISOString());
    // Internal fields never leave the server.
    assert.equal(h.startedMs, undefined);
    assert.equal(h.stageSinceMs, undefined);
  }
});

test('the default page is 100 hosts with a cursor; walking the cursors visits every host once, in order', async () => {
  const first = await call(app, 'GET', '/hosts', { token: READ_TOKEN });
  assert.equal((first.json.hosts as unknown[]).length, 100);
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const res = await call(app, 'GET', `/hosts?limit=777${cursor ? `&cursor=${cursor}` : ''}`, {
      token: READ_TOKEN,
    });
    assert.equal(res.status, 200);
    assert.equal(res.json.total, N);
    seen.push(...(res.json.hosts as { site: string; host: string }[]).map(key));
    cursor = res.json.nextCursor as string | undefined;
    pages++;
  } while (cursor);
  assert.equal(pages, Math.ceil(N / 777));
  assert.deepEqual(seen, sortedKeys);
});

test('filters (site, stage, state, revision) alone and together, paginated, match a brute-force scan', async () => {
  const filters: Record<string, string>[] = [
    { site: 'fra' },
    { stage: 'installing' },
    { state: 'failed' },
    { revision: 'dir-aaaaaaaaaaaa' },
    { site: 'nyc', state: 'failed', revision: 'dir-bbbbbbbbbbbb' },
    { site: 'lon', stage: 'netboot/dhcp' },
    { site: 'nowhere' },
  ];
  for (const f of filters) {
    const want = runs
      .filter((r) => Object.entries(f).every(([k, v]) => r[k as keyof HostRun] === v))
      .map(key)
      .sort();
    const got: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const qs = new URLSearchParams({ ...f, limit: '250', ...(cursor ? { cursor } : {}) });
      const res = await call(app, 'GET', `/hosts?${qs}`, { token: READ_TOKEN });
      assert.equal(res.status, 200, JSON.stringify(f));
      assert.equal(res.json.total, want.length, JSON.stringify(f));
      got.push(...(res.json.hosts as { site: string; host: string }[]).map(key));
      cursor = res.json.nextCursor as string | undefined;
      if (!cursor) break;
    }
    assert.deepEqual(got, want, JSON.stringify(f));
  }
});

test('sites count their hosts by state and stage', async () => {
  const res = await call(app, 'GET', '/sites', { token: READ_TOKEN });
  assert.equal(res.status, 200);
  const sites = res.json.sites as {
    site: string;
    hosts: number;
    byState: Record<string, number>;
    byStage: Record<string, number>;
  }[];
  assert.deepEqual(
    sites.map((s) => s.site),
    SITES,
  );
  for (const s of sites) {
    const mine = runs.filter((r) => r.site === s.site);
    assert.equal(s.hosts, mine.length);
    assert.equal(s.byState.failed ?? 0, mine.filter((r) => r.state === 'failed').length);
    assert.equal(s.byStage.installing ?? 0, mine.filter((r) => r.stage === 'installing').length);
  }
});

test('the hosts gauge has every site/stage/state combination of the index', async () => {
  const res = await call(app, 'GET', '/metrics', { token: null });
  const m = /vaquero_hosts\{site="fra",stage="installing",state="running"\} (\d+)/.exec(res.res.body);
  assert.ok(m, 'gauge line missing');
  assert.equal(
    Number(m[1]),
    runs.filter((r) => r.site === 'fra' && r.stage === 'installing' && r.state === 'running').length,
  );
});

test('a cursor keeps working when its host has gone; an older run never replaces a newer one', () => {
  const index = new FleetIndex();
  for (const h of ['a', 'b', 'c', 'd']) {
    index.upsertHost(
      {
        site: 's',
        host: h,
        stage: 'planned',
        state: 'running',
        revision: 'r',
        workflowId: `host/s/${h}`,
        runId: `${h}1`,
        startedMs: 10,
      },
      { initial: true },
    );
  }
  const p1 = index.listHosts({}, 2);
  assert.deepEqual(
    p1.hosts.map((h) => h.host),
    ['a', 'b'],
  );
  index.retainHosts(new Set(['s/a', 's/c', 's/d']));
  const p2 = index.listHosts({}, 2, Buffer.from(p1.nextCursor!, 'base64url').toString());
  assert.deepEqual(
    p2.hosts.map((h) => h.host),
    ['c', 'd'],
  );
  assert.equal(p2.nextCursor, undefined);
  assert.equal(
    index.upsertHost({
      site: 's',
      host: 'a',
      stage: 'failed',
      state: 'failed',
      revision: 'old',
      workflowId: 'host/s/a',
      runId: 'a0',
      startedMs: 5,
      closedMs: 6,
    }),
    false,
  );
  assert.equal(index.getHost('s', 'a')!.runId, 'a1');
});

test('changes become feed events; a run that closes is told to the observer once, a continued one never', async () => {
  const closed: string[] = [];
  const rollouts: string[] = [];
  const index = new FleetIndex(undefined, {
    hostRunClosed: (row) => closed.push(`${row.host}:${row.runId}:${row.state}`),
    rolloutClosed: (state) => rollouts.push(state),
  });
  const events: FeedEvent[] = [];
  index.feed.subscribe((e) => events.push(e));
  const base = { site: 'lab', workflowId: 'host/lab/h', revision: 'r1', startedMs: 1000 };
  const step = (host: string, runId: string, stage: string, state = 'running', closedMs?: number) =>
    index.upsertHost({
      ...base,
      host,
      workflowId: `host/lab/${host}`,
      runId,
      stage,
      state,
      ...(closedMs !== undefined ? { closedMs } : {}),
    });
  // h1: planned → (skips to) netboot/ipxe → installing → provisioned.
  step('h1', 'r', 'planned');
  step('h1', 'r', 'netboot/ipxe');
  step('h1', 'r', 'installing');
  assert.equal(step('h1', 'r', 'installing'), false, 'no change, no event');
  step('h1', 'r', 'provisioned', 'provisioned', 2000);
  // Seen closed again (the next refresh lists it too): not told twice.
  assert.equal(step('h1', 'r', 'provisioned', 'provisioned', 2000), false);
  // h2: netboot/tftp, a power retry, netboot/tftp again, then fails at power.
  step('h2', 'r', 'netboot/tftp');
  step('h2', 'r', 'power');
  step('h2', 'r', 'netboot/tftp');
  step('h2', 'r', 'power', 'failed', 3000);
  // h3: its run continued as new; the continued run is not a closed run.
  step('h3', 'r', 'installing', 'continued_as_new', 2500);
  assert.deepEqual(closed, ['h1:r:provisioned', 'h2:r:failed']);
  const rollout = { id: 'rollout/s/x', sot: 's', revision: 'x', startedAt: 1 };
  index.upsertRollout({ ...rollout, state: 'running', status: 'running' });
  index.upsertRollout({ ...rollout, state: 'completed', status: 'completed', closedAt: 9 });
  index.upsertRollout({ ...rollout, state: 'completed', status: 'completed', closedAt: 9 });
  assert.deepEqual(rollouts, ['completed']);
  assert.deepEqual(
    events.filter((e) => e.data.host === 'h1').map((e) => e.data.stage),
    ['planned', 'netboot/ipxe', 'installing', 'provisioned'],
  );
  assert.equal(events.filter((e) => e.type === 'host').at(-2)!.data.previousStage, 'netboot/tftp');
  // Feed replay after an id, and ids of another replica are not replayed.
  const mid = events[3]!;
  assert.deepEqual(
    index.feed.since(mid.id).map((e) => e.id),
    events.slice(4).map((e) => e.id),
  );
  assert.deepEqual(index.feed.since('ffffffff-1'), []);
});

test('a cached listing is recomputed as soon as the index changes', async () => {
  const first = await call(app, 'GET', '/hosts?site=ams&limit=1', { token: READ_TOKEN });
  const h = (first.json.hosts as { host: string; stage: string }[])[0]!;
  const run = runs.find((r) => r.site === 'ams' && r.host === h.host)!;
  const again = await call(app, 'GET', '/hosts?site=ams&limit=1', { token: READ_TOKEN });
  assert.equal(again.res.body, first.res.body);
  const { closedMs: _closedMs, ...open } = run;
  app.vaquero.index.upsertHost({
    ...open,
    stage: 'validate',
    state: 'running',
    startedMs: run.startedMs,
  });
  const changed = await call(app, 'GET', '/hosts?site=ams&limit=1', { token: READ_TOKEN });
  assert.equal((changed.json.hosts as { stage: string }[])[0]!.stage, 'validate');
});
