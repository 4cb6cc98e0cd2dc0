// A rollout's plan is paged (issue 20, item 2): nothing a rollout holds or sends grows with the fleet.
//  - 150 sim hosts in two groups, at most 20 running: the rollout fetches each group's hosts a page at a time,
//    continues as new several times (the dev server is told to suggest it early), and provisions every host
//    exactly once, never more than 20 at a time;
//  - a generated SoT of 50,000 hosts (34 sites; the issue's size): planned and its first hosts started; no payload
//    in the rollout's history (every run) or a host's history reaches the SDK's 512 KB warning, nor does the status
//    answer.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeBenchSot } from '../../bench/lib/bench-sot.ts';
import { startDirRollout } from '../../client/start-rollout.ts';
import { abortUpdate, hostWorkflowId } from '../../domain/workflow-api.ts';
import { ZERO_DELAYS } from '../../sim/sim-delays.ts';
import { weighHistory, weighRuns } from '../../testkit/history-size.ts';
import { startTestStack } from '../../testkit/stack.ts';
import type { TestStack } from '../../testkit/stack.ts';
import {
  hostExecutions,
  hostStatus,
  maxOverlap,
  rolloutResult,
  rolloutStatus,
  waitFor,
} from '../../testkit/workflows.ts';

/** The SDK warns about a payload above this (Temporal refuses one above 2 MiB by default). */
const PAYLOAD_WARN = 512 * 1024;

describe('paged rollout', () => {
  let stack: TestStack;
  let dir: string;
  const simSites = new Set<string>();
  const startSims = async (sites: readonly string[]) => {
    for (const site of sites) {
      if (simSites.has(site)) continue;
      simSites.add(site);
      await stack.startSimSite(site, ZERO_DELAYS);
    }
  };
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'vaq-paged-'));
    stack = await startTestStack({
      name: 'paged',
      // Continue-as-new is suggested from 4,096 events by default; 300 makes a rollout of 150 hosts do it often.
      dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 300 },
    });
  });
  after(async () => {
    await stack?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('pages its plan, continues as new, and provisions every host once within max_concurrent', async () => {
    const sot = writeBenchSot(path.join(dir, 'small'), { hosts: 150, hostsPerSite: 80, maxConcurrent: 20 });
    await startSims(sot.sites);
    const r = await startDirRollout(stack.client, { dir: sot.dir, sot: 'paged' });
    const result = await rolloutResult(stack.client, r.workflowId, 600_000);
    assert.equal(result.state, 'completed', JSON.stringify(result));
    assert.equal(result.provisioned, 150);

    const status = await rolloutStatus(stack.client, r.workflowId);
    assert.equal(status.total, 150);
    assert.equal(status.counts.provisioned, 150);
    assert.equal(status.counts.pending, 0);
    assert.ok(status.hosts.length <= 100, `status lists ${status.hosts.length} hosts`);

    const runs = await weighRuns(stack.client, r.workflowId);
    assert.ok(runs.length >= 3, `the rollout ran as ${runs.length} run(s); it should have continued as new`);
    for (const run of runs) assert.ok(run.largestPayload.bytes < 128 * 1024, JSON.stringify(run));
    // Children carried across continueAsNew end without a report (host-end-by-completion): a later run of the
    // rollout found them closed. Without that sweep it would have waited for reports that never come.
    let sweeps = 0;
    for await (const wf of stack.client.workflow.list({ query: `WorkflowId = '${r.workflowId}'` })) {
      const h = await stack.client.workflow.getHandle(r.workflowId, wf.runId).fetchHistory();
      sweeps += (h.events ?? []).filter(
        (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'closedHostRuns',
      ).length;
    }
    assert.ok(sweeps > 0, 'no run of the rollout looked for its carried children');
    console.log(
      `150 hosts: ${runs.length} rollout runs: ${runs
        .map(
          (x) =>
            `${x.events} events/${x.bytes} B [${x.byType
              .slice(0, 3)
              .map((t) => `${t.eventType} ${t.events}×=${t.bytes} B`)
              .join(', ')}]`,
        )
        .join('; ')}`,
    );

    // Every host ran once, and never more than max_concurrent were being reprovisioned at a time: from its run's
    // start to the moment it became provisioned (it reports its end then; its run closes just after, and a run
    // that continued as new frees the slot at the report, as it cannot see a former child close).
    const execs = (await Promise.all(sot.sites.map((s) => hostExecutions(stack.client, s)))).flat();
    assert.equal(execs.length, 150);
    assert.equal(new Set(execs.map((e) => e.workflowId)).size, 150);
    assert.ok(execs.every((e) => e.status.name === 'COMPLETED'));
    const intervals = [];
    for (let b = 0; b < execs.length; b += 20) {
      for (const e of await Promise.all(
        execs.slice(b, b + 20).map(async (e) => {
          const [, site, host] = e.workflowId.split('/') as [string, string, string];
          const st = await hostStatus(stack.client, site, host);
          assert.equal(st.stage, 'provisioned');
          return { key: e.workflowId, start: e.startTime.getTime(), end: st.stageSince };
        }),
      ))
        intervals.push(e);
    }
    const peak = maxOverlap(intervals);
    assert.ok(peak <= 20 && peak >= 2, `peak ${peak} hosts at once`);
  });

  it('plans 50,000 hosts and starts the first with no payload near 512 KB', async () => {
    // A fresh server: the first test's hosts have the same names.
    await stack.close();
    simSites.clear();
    stack = await startTestStack({ name: 'paged-fleet' });
    const sot = writeBenchSot(path.join(dir, 'fleet'), {
      hosts: 50_000,
      hostsPerSite: 1500,
      maxConcurrent: 20,
    });
    assert.equal(sot.sites.length, 34);
    await startSims(sot.sites);
    const r = await startDirRollout(stack.client, { dir: sot.dir, sot: 'fleet' });
    const status = await waitFor(
      'the first hosts provisioned',
      async () => {
        const s = await rolloutStatus(stack.client, r.workflowId).catch(() => undefined);
        return s && s.counts.provisioned >= 20 ? s : undefined;
      },
      { timeoutMs: 600_000, intervalMs: 2000 },
    );
    assert.equal(status.total, 50_000);
    const c = status.counts;
    assert.equal(
      c.pending + c.running + c.provisioned + c.failed,
      50_000,
      JSON.stringify({ ...status, timeline: status.timeline.slice(-20), hosts: [] }),
    );
    assert.ok(c.running <= 20, `${c.running} running`);
    const answer = Buffer.byteLength(JSON.stringify(status));
    assert.ok(answer < PAYLOAD_WARN, `status answer ${answer} bytes`);

    await stack.client.workflow.getHandle(r.workflowId).executeUpdate(abortUpdate, { args: ['test done'] });
    const result = await rolloutResult(stack.client, r.workflowId, 300_000);
    assert.equal(result.state, 'aborted');

    const runs = await weighRuns(stack.client, r.workflowId);
    for (const run of runs) assert.ok(run.largestPayload.bytes < PAYLOAD_WARN, JSON.stringify(run));
    const host = await weighHistory(stack.client, hostWorkflowId(sot.sites[0]!, 's001-h0001'));
    assert.ok(host.largestPayload.bytes < PAYLOAD_WARN, JSON.stringify(host));
    console.log(
      `50,000 hosts: rollout runs ${runs.map((x) => `${x.events} events/${x.bytes} B, largest payload ${x.largestPayload.bytes} B (${x.largestPayload.eventType})`).join('; ')}; status answer ${answer} B; host s001-h0001 ${host.events} events, largest payload ${host.largestPayload.bytes} B`,
    );
  });
});
