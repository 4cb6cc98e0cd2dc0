// Two agents of one site on one lab bridge (README "Agents"): the lab's agent, and a second one run as an operator
// runs it (`node bin/vaquero.js agent --config <file>`, a process of its own at the bridge's .3), both listed in
// the SoT's agents[], both answering DHCP in server mode. On QEMU (TCG), BIOS and UEFI VMs powered through ipmi_sim:
//   1. the second agent is SIGKILLed once every host is in netboot (the scenario watches their stages through the
//      host workflows' status query): every host is still provisioned, and no boot event reaches a host's history
//      twice (a DHCP answer's event id is the same whichever agent gave it). A host whose iPXE already held the
//      killed agent's script URL needs one more power cycle (see bootedThroughKilled). Not covered: a kill during
//      a host's kernel or initrd transfer from that agent: the workflow is then past its netboot steps (the
//      kernel event came at the GET), waits for the checkpoint, and fails the host after its timeout without
//      another power cycle (seen with killWhen 'past-dhcp');
//   2. restarted on the same data_dir, its gate cache catches up: the gates of the finished runs are closed;
//   3. a BMC power-on of every VM after the rollout gets no boot file from either agent;
//   4. a second rollout (vaquero.rev=2 on every profile's command line) boots only the new revision;
//   5. the second agent's /metrics shows the DHCP answers it gave.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { LabRun } from '../../lab/run.ts';
import { runLab } from '../../lab/run.ts';
import type { PhaseReport, ScenarioHost, ScenarioReport } from '../../lab/scenario.ts';
import { metricSum } from '../../lab/second-agent.ts';
import { TINY_MARKERS } from '../../lab/tiny-initrd.ts';
import { requireLabRoot } from '../../lab/topology.ts';
import { explainRun } from './explain-run.ts';

requireLabRoot();

const tag = `${process.pid % 100000}`;
const P = '10.77.56';
const SITE = 'lab2';
const A1 = `${SITE}-agent`;
const A2 = `${SITE}-agent-2`;
const VMS = [
  { name: 'bios-1', firmware: 'bios', mac: '52:54:00:77:56:0a', ipv4: `${P}.10` },
  { name: 'uefi-1', firmware: 'uefi', mac: '52:54:00:77:56:0b', ipv4: `${P}.11` },
  { name: 'bios-2', firmware: 'bios', mac: '52:54:00:77:56:0c', ipv4: `${P}.12` },
] as const;

function host(r: ScenarioReport, name: string): ScenarioHost {
  const h = r.hosts.find((x) => x.name === name);
  assert.ok(h, `no report for ${name}`);
  return h;
}

function phase(r: ScenarioReport, name: string): PhaseReport {
  const p = r.phases.find((x) => x.name === name);
  assert.ok(p, `no phase ${name}`);
  return p;
}

/** A host's DHCP events in one phase, in the order its history holds them: the agent that gave each, and what. */
function dhcpEvents(p: PhaseReport, host: string): { agent: string; detail: string }[] {
  return events(p, host)
    .filter((e) => e.kind === 'dhcp')
    .map(({ agent, detail }) => ({ agent, detail }));
}

/** A host's boot events in one phase: kind, the agent that recorded it, detail, epoch ms. */
function events(p: PhaseReport, host: string): { kind: string; agent: string; detail: string; at: number }[] {
  return (p.hosts[host]?.events ?? []).map((e) => {
    const m = /^(\S+) from (\S+?): (.*)$/s.exec(e.message);
    return { kind: m?.[1] ?? '?', agent: m?.[2] ?? '?', detail: m?.[3] ?? e.message, at: e.at };
  });
}

/**
 * Whether the host's first boot went through the second agent when it was killed: its iPXE script came from that
 * agent before the SIGKILL and its checkpoint had not arrived. iPXE keeps the URL its DHCP answer gave (the agent
 * that answered first); it does not go back to DHCP when that agent stops answering, so its kernel or initrd
 * fetch fails and the firmware has nothing to boot: the host's netboot step times out and its workflow power
 * cycles it once more, and that boot is answered by the agent still up.
 */
function bootedThroughKilled(p: PhaseReport, host: string, killedAt: number): boolean {
  const ev = events(p, host);
  const script = ev.find((e) => e.kind === 'ipxe');
  const checkpoint = ev.find((e) => e.kind === 'checkpoint');
  return script?.agent === A2 && script.at < killedAt && !(checkpoint && checkpoint.at < killedAt);
}

describe(
  'lab: two agents on one bridge, the second SIGKILLed in netboot and restarted',
  { timeout: 600_000 },
  () => {
    let run: LabRun;
    let r: ScenarioReport;
    let started: number;

    before(async () => {
      started = Date.now();
      run = await runLab({
        name: `vq2a${tag}`,
        prefix: P,
        site: SITE,
        dhcpMode: 'server',
        vms: VMS.map((v) => ({ ...v })),
        rolloutTimeoutS: 300,
        secondAgent: { killDuringNetboot: true, strayPowerOn: true, secondRollout: true },
        timeoutMs: 540_000,
        keepDir: process.env.VAQUERO_LAB_KEEP === '1',
      });
      assert.ok(run.report, `no report from the scenario: ${explainRun(run)}`);
      r = run.report;
    });

    it('both rollouts complete and nothing is left behind (the second agent ended by its pid)', (t) => {
      t.diagnostic(`run ${(Date.now() - started) / 1000}s; timings ${JSON.stringify(r.timings)}`);
      t.diagnostic(
        `phases ${JSON.stringify(r.phases.map((p) => ({ name: p.name, s: p.seconds, powerOns: p.powerOns })))}`,
      );
      assert.equal(r.ok, true, explainRun(run));
      assert.deepEqual(
        r.phases.map((p) => [p.name, p.rollout?.state, p.rollout?.provisioned]),
        [
          ['initial', 'completed', 3],
          ['revision-2', 'completed', 3],
        ],
      );
      assert.equal(r.secondAgent?.pids.length, 2, 'started, SIGKILLed, started again');
      assert.deepEqual(
        run.left,
        { pids: [], namespaces: [] },
        'every process and namespace of the run is gone',
      );
      assert.deepEqual(run.killedLeftovers, [], 'the scenario itself ended everything it started');
    });

    it('1. the second agent was SIGKILLed with hosts in netboot; every host provisioned, each boot event once', (t) => {
      const a2 = r.secondAgent!;
      t.diagnostic(`killed at ${a2.killedAtS}s, host stages then ${JSON.stringify(a2.stagesAtKill)}`);
      assert.ok(
        Object.values(a2.stagesAtKill ?? {}).some((s) => s.startsWith('netboot/')),
        JSON.stringify(a2.stagesAtKill),
      );
      const initial = r.phases.find((p) => p.name === 'initial')!;
      for (const vm of VMS) {
        const h = initial.hosts[vm.name]!;
        assert.equal(h.state, 'provisioned', explainRun(run));
      }
      t.diagnostic(
        `initial: power cycles ${JSON.stringify(Object.fromEntries(VMS.map((v) => [v.name, initial.hosts[v.name]?.powerCycles])))}, BMC power-ons ${JSON.stringify(initial.powerOns)}`,
      );
      const killedAt = a2.killedAt!;
      for (const vm of VMS) {
        const h = initial.hosts[vm.name]!;
        const viaKilled = bootedThroughKilled(initial, vm.name, killedAt);
        t.diagnostic(
          `${vm.name}: booting through the killed agent: ${viaKilled}; last error ${h.error ?? '-'}`,
        );
        // One power cycle per boot stage, and one more for a host that was booting through the killed agent (see
        // bootedThroughKilled): its netboot step timed out, nothing else.
        assert.equal(
          h.powerCycles,
          h.bootStages! + (viaKilled ? 1 : 0),
          `${vm.name}: power cycles: ${explainRun(run)}`,
        );
        if (viaKilled)
          assert.match(h.error ?? '', /^no (kernel|initrd|checkpoint) within \d+s \(attempt 1\/2\)$/);
        else assert.equal(h.error, undefined);
        assert.equal(initial.powerOns[vm.name], h.powerCycles, `${vm.name}: the BMC saw as many power-ons`);
        // Nothing of the killed agent's reached the host after the SIGKILL (it is restarted only after the rollout).
        const late = events(initial, vm.name).filter((e) => e.agent === A2 && e.at > killedAt + 1_000);
        assert.deepEqual(late, [], `${vm.name}: events from the killed agent after its SIGKILL`);
      }
    });

    it('each DHCP answer is in a host history once, whichever agent gave it', (t) => {
      for (const [p, vm] of ['initial', 'revision-2'].flatMap((n) =>
        VMS.map((v) => [phase(r, n), v] as const),
      )) {
        const dhcp = dhcpEvents(p, vm.name);
        t.diagnostic(`${p.name} ${vm.name}: ${dhcp.map((d) => `${d.agent}: ${d.detail}`).join(' | ')}`);
        assert.ok(dhcp.length >= 4, JSON.stringify(dhcp));
        // Both agents answer every DISCOVER and REQUEST: one answer's event, the same id from either agent, is
        // recorded once, so the same message from the other agent never follows it.
        for (let i = 1; i < dhcp.length; i++) {
          const [a, b] = [dhcp[i - 1]!, dhcp[i]!];
          const type = (d: { detail: string }) => d.detail.split(' ')[0];
          assert.ok(
            !(type(a) === type(b) && a.agent !== b.agent),
            `${vm.name}: ${type(a)} from both agents: ${JSON.stringify(dhcp)}`,
          );
        }
        assert.ok(dhcp.every((d) => d.agent === A1 || d.agent === A2));
      }
    });

    it("2. restarted, the second agent's cache catches up: every gate of the finished runs closed", (t) => {
      const a2 = r.secondAgent!;
      t.diagnostic(
        `caught up in ${a2.catchUpS}s; gates at restart ${JSON.stringify(a2.gatesAtRestart?.map((g) => [g.mac, g.open]))}`,
      );
      assert.ok(
        (a2.gatesAtRestart ?? []).some((g) => g.open),
        `the killed agent's cache still had an open gate: ${JSON.stringify(a2.gatesAtRestart)}`,
      );
      const gates = a2.gatesAfterCatchUp ?? [];
      assert.ok(gates.length > 0);
      for (const g of gates) assert.equal(g.open, false, JSON.stringify(g));
    });

    it('3. a BMC power-on after the rollout gets no boot file from either agent', (t) => {
      const a2 = r.secondAgent!;
      const stray = a2.strayPowerOn ?? {};
      for (const vm of VMS) {
        const s = stray[vm.name];
        assert.ok(s, `no stray power-on for ${vm.name}: ${explainRun(run)}`);
        t.diagnostic(
          `${vm.name}: ${s.powerLog.join(' | ')}; console tail: ${s.serial.slice(-300).replace(/\n/g, ' / ')}`,
        );
        assert.ok(
          s.powerLog.some((p) => p.startsWith('vm start')),
          'the BMC started the VM',
        );
        assert.equal(s.booted, false, `${vm.name} booted: ${s.serial}`);
        assert.ok(!s.serial.includes(TINY_MARKERS.callbackOk));
        assert.equal(s.noNetboot, true, `${vm.name}: the netboot found nothing: ${s.serial}`);
      }
      for (const id of [A1, A2]) {
        const b = a2.metricsBeforeStray?.[id] ?? {};
        const a = a2.metricsAfterStray?.[id] ?? {};
        const d = (name: string, labels: Record<string, string> = {}) =>
          metricSum(a, name, labels) - metricSum(b, name, labels);
        t.diagnostic(
          `${id}: received +${d('vaquero_agent_dhcp_received_total')}, replies +${d('vaquero_agent_dhcp_replies_total')}, gate_closed +${d('vaquero_agent_dhcp_refusals_total', { reason: 'gate_closed' })}, ipxe requests +${d('vaquero_agent_http_requests_total', { route: '/ipxe' })}`,
        );
        // No script, kernel or initrd was served; a known host with a closed gate gets an address only.
        assert.equal(d('vaquero_agent_http_requests_total', { route: '/ipxe' }), 0, id);
        assert.equal(d('vaquero_agent_boot_events_total', { outcome: 'recorded' }), 0, id);
      }
    });

    it('4. the second rollout boots only the new revision, validated', () => {
      const p = phase(r, 'revision-2');
      assert.deepEqual([...(p.planned ?? [])].sort(), VMS.map((v) => v.name).sort());
      for (const vm of VMS) {
        const h = p.hosts[vm.name]!;
        assert.equal(h.state, 'provisioned');
        assert.match(h.bootedCmdline ?? '', /(^| )vaquero\.rev=2( |$)/, JSON.stringify(h));
        assert.equal(h.validated, true);
        assert.equal(p.powerOns[vm.name], 1);
        const hr = host(r, vm.name);
        assert.equal(hr.status?.powerCycles, hr.status?.bootStages, `${vm.name}: power cycles = boot stages`);
        assert.match(hr.machine.serial, /vaquero\.rev=2/);
        assert.match(hr.machine.serial, new RegExp(TINY_MARKERS.callbackOk));
      }
    });

    it("5. the second agent's /metrics shows the DHCP answers it gave", (t) => {
      const m = r.secondAgent?.metrics ?? {};
      const received = metricSum(m, 'vaquero_agent_dhcp_received_total');
      const replies = metricSum(m, 'vaquero_agent_dhcp_replies_total');
      const offers = metricSum(m, 'vaquero_agent_dhcp_replies_total', { type: 'offer' });
      const acks = metricSum(m, 'vaquero_agent_dhcp_replies_total', { type: 'ack' });
      const recorded = metricSum(m, 'vaquero_agent_boot_events_total', { outcome: 'recorded' });
      t.diagnostic(
        `${A2} since its restart: received ${received}, replies ${replies} (offers ${offers}, acks ${acks}), boot events recorded ${recorded}`,
      );
      assert.ok(replies > 0, JSON.stringify(m));
      assert.equal(replies, offers + acks, 'server mode: offers and acks only');
      assert.ok(received >= replies);
      // Since its restart it saw the stray power-ons and the second rollout: every host's iPXE and tiny OS asked.
      const stray = r.secondAgent!.metricsAfterStray![A2]!;
      assert.ok(
        metricSum(stray, 'vaquero_agent_dhcp_replies_total') > 0,
        'it answered the stray netboots (address only)',
      );
      const p = phase(r, 'revision-2');
      const fromA2 = VMS.flatMap((vm) => dhcpEvents(p, vm.name)).filter((d) => d.agent === A2).length;
      t.diagnostic(
        `DHCP events of the second rollout first recorded by ${A2}: ${fromA2} (rollout ${p.seconds}s)`,
      );
      assert.ok(
        replies - metricSum(stray, 'vaquero_agent_dhcp_replies_total') >= fromA2,
        'it answered at least as often as its answers are in the host histories',
      );
      assert.ok(recorded >= fromA2);
    });
  },
);
