// The outage proof on real boots: with Temporal stopped right after the BMC powered the VM on, the agent still
// answers the VM's whole boot (DHCP, iPXE script, kernel, initrd, checkpoint) from its cache and holds the events
// in its outbox; once the server is back on the same data, the events reach the host workflow in order and the
// rollout finishes.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { LabRun } from '../../lab/run.ts';
import { runLab } from '../../lab/run.ts';
import type { ScenarioReport } from '../../lab/scenario.ts';
import { requireLabRoot } from '../../lab/topology.ts';
import { explainRun } from './explain-run.ts';

requireLabRoot();

const tag = `${process.pid % 100000}`;

const explain = explainRun;

describe('lab: Temporal stopped during a BIOS VM boot', { timeout: 240_000 }, () => {
  let run: LabRun;
  let r: ScenarioReport;

  before(async () => {
    run = await runLab({
      name: `vql${tag}o`,
      prefix: '10.77.52',
      dhcpMode: 'server',
      vms: [{ name: 'bios-1', firmware: 'bios', mac: '52:54:00:77:52:0a', ipv4: '10.77.52.10' }],
      temporalOutage: true,
      timeoutMs: 200_000,
    });
    assert.ok(run.report, `no report from the scenario: ${explain(run)}`);
    r = run.report;
  });

  it('the agent answers the whole boot from its cache and queues the events while Temporal is down', (t) => {
    const o = r.outage;
    t.diagnostic(JSON.stringify(o));
    assert.ok(o?.restartedAtS !== undefined, explain(run));
    assert.equal(o.gateOpenFromCache, true, 'the gate stayed open from the cache');
    const queued = Number(o.outboxBeforeRestart?.queued);
    assert.ok(queued >= 4, `events queued while down: ${JSON.stringify(o.outboxBeforeRestart)}`);
    assert.ok((o.recordedWhileDown ?? 0) >= queued, JSON.stringify(o));
    assert.equal(o.outboxAfter?.queued, 0, 'every buffered event was delivered');
  });

  it('after Temporal returns the events reach the workflow in order and the rollout finishes', (t) => {
    assert.equal(r.ok, true, explain(run));
    assert.equal(r.rollout?.state, 'completed');
    assert.equal(r.rollout?.provisioned, 1);
    const h = r.hosts.find((x) => x.name === 'bios-1');
    assert.ok(h, 'a report for bios-1');
    t.diagnostic(`restart to result ${r.outage?.restartToResultS}s; sequence ${h.boot?.sequence.join(', ')}`);
    assert.equal(h.status?.state, 'provisioned', explain(run));
    assert.deepEqual(
      h.machine.powerOns,
      ['pxe'],
      'powered on once: the outage did not repeat the power stage',
    );
    const seq = h.boot?.sequence ?? [];
    // dhcp … ipxe, kernel, initrd … checkpoint: the tiny OS's own DHCP may come between initrd and checkpoint.
    const at = (k: string, from = 0) => seq.indexOf(k, from);
    assert.equal(seq[0], 'dhcp', seq.join(','));
    const ipxe = at('ipxe');
    assert.ok(ipxe > 0 && at('kernel') === ipxe + 1 && at('initrd') === ipxe + 2, seq.join(','));
    assert.equal(seq.at(-1), 'checkpoint', seq.join(','));
    const kinds = h.boot!.events.map((e) => e.kind);
    assert.equal(kinds.filter((k) => k === 'checkpoint').length, 1);
    // The workflow's timeline is in the agent's order: event times never go backwards.
    const times = h.boot!.events.map((e) => e.at);
    assert.deepEqual(
      times,
      [...times].sort((a, b) => a - b),
    );
  });

  it('leaves nothing behind', () => {
    assert.deepEqual(
      run.left,
      { pids: [], namespaces: [] },
      'every process and namespace of the run is gone',
    );
    assert.deepEqual(run.killedLeftovers, [], 'the scenario itself ended everything it started');
  });
});
