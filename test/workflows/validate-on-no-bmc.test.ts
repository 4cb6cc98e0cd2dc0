// Two issue-17 features on a real dev server and real workers with a sim site:
//   * validate_on: a change to a listed workflow re-runs the validation of the listing workflow's unchanged hosts,
//     with no power operation and no netboot;
//   * a host without a BMC is planned, never power-cycled: its run opens the gate and waits (past the dhcp timeout,
//     with no power retry) until the host netboots by itself, then reaches `provisioned`.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { NO_BMC_REASON, planModels } from '../../sot/plan.ts';
import { validateSot } from '../../sot/validate.ts';
import { formatDiagnostic } from '../../sot/diagnostics.ts';
import { NO_BMC_WAIT } from '../../workflows/host-reprovision.ts';
import { changeKernel, FAST_TIMEOUTS, writeSot } from '../../testkit/sot.ts';
import { dropBmc, setSimOptions, setValidateOn } from './support/sot-edits.ts';
import { startTestStack } from '../../testkit/stack.ts';
import type { TestStack } from '../../testkit/stack.ts';
import {
  hostExecutions,
  hostStatus,
  powerOps,
  rolloutResult,
  rolloutStatus,
  startRollout,
  waitFor,
} from '../../testkit/workflows.ts';

let stack: TestStack;
before(async () => {
  stack = await startTestStack({ name: 'validate-on' });
});
after(() => stack?.close());

test(
  'validate_on: a change to a listed workflow re-validates the unchanged hosts without a power cycle',
  { timeout: 240_000 },
  async () => {
    const sot = await writeSot({
      sot: 'validate-on',
      site: 'validate-on',
      workflows: {
        base: { boots: ['install'], policy: { max_concurrent: 2 } },
        checker: { boots: ['quick'], policy: { max_concurrent: 3, max_fail: 1 } },
      },
      hosts: [
        { name: 'b1', workflow: 'base' },
        { name: 'c1', workflow: 'checker' },
        { name: 'c2', workflow: 'checker' },
        { name: 'c3', workflow: 'checker' },
      ],
    });
    await setValidateOn(sot, 'checker', ['base']);
    const sim = await stack.startSimSite(sot.site);
    const first = await startRollout(stack.client, sot);
    const r1 = await rolloutResult(stack.client, first.workflowId);
    assert.equal(r1.state, 'completed', JSON.stringify(r1));
    assert.equal(r1.provisioned, 4);
    const opsOf = async (host: string) =>
      (await powerOps(stack.dataDir, sot.site)).filter((o) => o.host === `${sot.site}/${host}`).length;
    const c1PowerOps = await opsOf('c1');
    assert.ok(c1PowerOps > 0, 'the first rollout power-cycled c1');
    const c1PowerOns = sim.fleet.powerOns.get(`${sot.site}/c1`);
    const c3PowerOps = await opsOf('c3');

    // The installer OS changes: base's host boots something new, checker's hosts boot what they booted.
    // c3's own check now fails (a sim knob: what it boots is the same).
    await changeKernel(sot.dir, 'installer', 'v2');
    await setSimOptions(sot, 'c3', { fail_validation: true });
    const second = await startRollout(stack.client, sot);
    assert.notEqual(second.revision, first.revision);
    const r2 = await rolloutResult(stack.client, second.workflowId);
    assert.equal(r2.state, 'failed', JSON.stringify(r2));
    assert.equal(r2.provisioned, 3, 'b1 reprovisioned, c1 and c2 re-validated');
    assert.equal(r2.failed, 1, 'c3 failed its validation');

    const status = await rolloutStatus(stack.client, second.workflowId);
    const startedWith = (host: string) =>
      status.timeline.find((e) => e.kind === 'host-started' && e.host === `${sot.site}/${host}`)?.message;
    assert.match(startedWith('b1') ?? '', /^starting \(reprovision: /);
    assert.match(startedWith('c1') ?? '', /^starting \(validate: workflow base changed \(validate_on\)/);

    for (const host of ['c1', 'c2']) {
      const s = await hostStatus(stack.client, sot.site, host);
      const where = JSON.stringify(s.timeline.map((e) => `${e.kind}:${e.stage}:${e.message}`));
      assert.equal(s.state, 'provisioned', where);
      assert.equal(s.revision, second.revision);
      assert.equal(s.powerCycles, 0, where);
      assert.match(s.note ?? '', /^validate only: workflow base changed/);
      // Straight to validate: no power, no netboot, and the host's own check ran.
      assert.deepEqual(
        s.timeline.filter((e) => e.kind === 'stage').map((e) => e.stage),
        ['planned', 'validate', 'provisioned'],
        where,
      );
      assert.ok(!s.timeline.some((e) => e.kind === 'power' || e.kind === 'event'), where);
      assert.ok(
        s.timeline.some((e) => e.kind === 'task' && e.message.startsWith('validate sim-validate: ok')),
        where,
      );
      assert.equal(sim.gate.lookup(sot.macs.get(host)!)?.open ?? false, false, `gate of ${host}`);
    }
    // Nothing touched c1's power: the power log and the sim host saw no operation.
    assert.equal(await opsOf('c1'), c1PowerOps);
    assert.equal(sim.fleet.powerOns.get(`${sot.site}/c1`), c1PowerOns);
    assert.equal(
      (await hostExecutions(stack.client, sot.site)).filter((w) => w.workflowId.endsWith('/c1')).length,
      2,
    );

    // A failed re-validation fails the host at validate with the task's error, and powers nothing off.
    const c3 = await hostStatus(stack.client, sot.site, 'c3');
    const c3where = JSON.stringify(c3.timeline.map((e) => `${e.kind}:${e.stage}:${e.message}`));
    assert.equal(c3.state, 'failed', c3where);
    assert.equal(c3.stage, 'validate', c3where);
    assert.match(c3.lastError ?? '', /validate task\(s\) failed: sim-validate/);
    assert.equal(c3.powerCycles, 0);
    assert.ok(!c3.timeline.some((e) => e.kind === 'power'), c3where);
    assert.equal(await opsOf('c3'), c3PowerOps);

    // b1 was reprovisioned as usual.
    const b1 = await hostStatus(stack.client, sot.site, 'b1');
    assert.equal(b1.powerCycles, 1);
  },
);

test(
  'a host without a BMC: planned, never power-cycled, provisioned when it netboots by itself',
  { timeout: 240_000 },
  async () => {
    const sot = await writeSot({
      sot: 'no-bmc',
      site: 'no-bmc',
      workflows: { self: { boots: ['quick'], timeouts: { self_netboot: 180 } as Record<string, number> } },
      hosts: [{ name: 'n1', workflow: 'self' }],
    });
    await dropBmc(sot, ['n1']);
    const { model, diagnostics } = await validateSot(sot.dir);
    assert.deepEqual(diagnostics.map(formatDiagnostic), []);
    const planned = planModels(null, model).hosts.find((h) => h.host === 'n1');
    assert.equal(planned?.action, 'added');
    assert.deepEqual(planned?.reasons, ['no previous revision', NO_BMC_REASON]);

    const sim = await stack.startSimSite(sot.site);
    const mac = sot.macs.get('n1')!;
    const r = await startRollout(stack.client, sot);
    const waiting = await waitFor(
      'n1 waiting for its own netboot',
      async () => {
        const s = await hostStatus(stack.client, sot.site, 'n1').catch(() => undefined);
        return s?.stage === 'netboot/dhcp' && sim.gate.lookup(mac)?.open === true ? s : undefined;
      },
      { timeoutMs: 60_000 },
    );
    assert.equal(waiting.note, NO_BMC_WAIT);
    assert.ok(waiting.timeline.some((e) => e.kind === 'power' && e.message === NO_BMC_WAIT));
    // Past the dhcp timeout: the run still waits, with no power retry and no failure.
    await delay((FAST_TIMEOUTS.dhcp + 3) * 1000);
    const still = await hostStatus(stack.client, sot.site, 'n1');
    assert.equal(still.state, 'running');
    assert.equal(still.stage, 'netboot/dhcp');
    assert.equal(still.powerCycles, 0);
    assert.ok(!still.timeline.some((e) => e.kind === 'timeout'), JSON.stringify(still.timeline));
    assert.equal(sim.fleet.powerOns.get(`${sot.site}/n1`), undefined, 'nothing powered the host on');

    // Someone presses its power button: the host boots from the network by itself.
    sim.fleet.netbootBySelf(sot.site, 'n1', mac);
    const result = await rolloutResult(stack.client, r.workflowId);
    assert.equal(result.state, 'completed', JSON.stringify(result));
    assert.equal(result.provisioned, 1);
    const s = await hostStatus(stack.client, sot.site, 'n1');
    const where = JSON.stringify(s.timeline.map((e) => `${e.kind}:${e.stage}:${e.message}`));
    assert.equal(s.state, 'provisioned', where);
    assert.equal(s.powerCycles, 0);
    assert.equal(s.note, undefined);
    assert.ok(
      s.timeline.some((e) => e.kind === 'event' && e.message.startsWith('dhcp ')),
      where,
    );
    assert.ok(!s.timeline.some((e) => e.stage === 'power'), where);
    assert.deepEqual(
      (await powerOps(stack.dataDir, sot.site)).filter((o) => o.host === `${sot.site}/n1`),
      [],
      'no power operation',
    );
    assert.equal(sim.gate.lookup(mac)?.open, false, 'gate closed after the run');
  },
);

test('a host without a BMC that never netboots fails at netboot/dhcp after self_netboot, with no power operation', async () => {
  const sot = await writeSot({
    sot: 'no-bmc-silent',
    site: 'no-bmc-silent',
    workflows: { self: { boots: ['quick'], timeouts: { self_netboot: 3 } as Record<string, number> } },
    hosts: [{ name: 'n2', workflow: 'self' }],
  });
  await dropBmc(sot, ['n2']);
  const sim = await stack.startSimSite(sot.site);
  const r = await startRollout(stack.client, sot);
  const result = await rolloutResult(stack.client, r.workflowId);
  assert.equal(result.state, 'failed', JSON.stringify(result));
  const s = await hostStatus(stack.client, sot.site, 'n2');
  const where = JSON.stringify(s.timeline.map((e) => `${e.kind}:${e.stage}:${e.message}`));
  assert.equal(s.state, 'failed', where);
  assert.equal(s.stage, 'netboot/dhcp', where);
  assert.equal(
    s.lastError,
    'netboot stalled at netboot/dhcp: the host did not start a netboot within 3s (no BMC: nothing here can power-cycle it)',
  );
  assert.equal(s.powerCycles, 0);
  assert.equal(s.timeline.filter((e) => e.kind === 'timeout').length, 1, 'no retry: ' + where);
  assert.ok(!s.timeline.some((e) => e.kind === 'power' && e.message !== NO_BMC_WAIT), where);
  assert.deepEqual(
    (await powerOps(stack.dataDir, sot.site)).filter((o) => o.host === `${sot.site}/n2`),
    [],
  );
  assert.equal(sim.gate.lookup(sot.macs.get('n2')!)?.open, false, 'gate closed after the failure');
});
