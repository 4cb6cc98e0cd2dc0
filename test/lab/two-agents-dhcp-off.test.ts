// Two agents of one site on one lab bridge, the second with its DHCP off (README "Agents": a second agent for power
// and tasks only): both in the SoT's agents[], both polling the site's queue and getting every gate; only the first
// answers DHCP, so every boot goes through it. On QEMU (TCG), BIOS and UEFI VMs powered through ipmi_sim:
//   1. the second agent is SIGKILLed once every host is in netboot: every host provisioned with one power cycle per
//      boot stage, each boot event once in its history, all of them from the first agent;
//   2. restarted on the same data_dir, its gate cache catches up: the gates of the finished runs are closed;
//   3. a BMC power-on of every VM after the rollout gets no boot file from either agent;
//   4. a second rollout (vaquero.rev=2 on every profile's command line) boots only the new revision;
//   5. the second agent's /metrics shows no DHCP answer at all (before its kill, and after its restart), and its
//      site worker polling.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { LabRun } from '../../lab/run.ts';
import { runLab } from '../../lab/run.ts';
import type { ScenarioReport } from '../../lab/scenario.ts';
import { metricSum } from '../../lab/second-agent.ts';
import { TINY_MARKERS } from '../../lab/tiny-initrd.ts';
import { requireLabRoot } from '../../lab/topology.ts';
import { explainRun } from './explain-run.ts';
import {
  assertDhcpOnce,
  assertDropsLogged,
  assertOneBoot,
  dhcpEvents,
  events,
  host,
  phase,
} from './two-agents-report.ts';

requireLabRoot();

const tag = `${process.pid % 100000}`;
const P = '10.77.58';
const SITE = 'lab3';
const A1 = `${SITE}-agent`;
const A2 = `${SITE}-agent-2`;
const VMS = [
  { name: 'bios-1', firmware: 'bios', mac: '52:54:00:77:58:0a', ipv4: `${P}.10` },
  { name: 'uefi-1', firmware: 'uefi', mac: '52:54:00:77:58:0b', ipv4: `${P}.11` },
  { name: 'bios-2', firmware: 'bios', mac: '52:54:00:77:58:0c', ipv4: `${P}.12` },
] as const;

const DHCP_METRICS = ['vaquero_agent_dhcp_received_total', 'vaquero_agent_dhcp_replies_total'] as const;

describe(
  'lab: two agents on one bridge, the second with DHCP off, SIGKILLed in netboot and restarted',
  { timeout: 600_000 },
  () => {
    let run: LabRun;
    let r: ScenarioReport;
    let started: number;

    before(async () => {
      started = Date.now();
      run = await runLab({
        name: `vq2o${tag}`,
        prefix: P,
        site: SITE,
        dhcpMode: 'server',
        vms: VMS.map((v) => ({ ...v })),
        rolloutTimeoutS: 300,
        secondAgent: { dhcp: false, killDuringNetboot: true, strayPowerOn: true, secondRollout: true },
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
      assert.deepEqual(run.left, { pids: [], namespaces: [] });
      assert.deepEqual(run.killedLeftovers, [], 'the scenario itself ended everything it started');
    });

    it('1. SIGKILLed with every host in netboot: every host provisioned, one power cycle per boot stage, each boot event once, all from the first agent', (t) => {
      const a2 = r.secondAgent!;
      t.diagnostic(`killed at ${a2.killedAtS}s, host stages then ${JSON.stringify(a2.stagesAtKill)}`);
      assert.ok(
        Object.values(a2.stagesAtKill ?? {}).every((s) => s.startsWith('netboot/')),
        JSON.stringify(a2.stagesAtKill),
      );
      assert.deepEqual(a2.servedBeforeKill ?? [], [], 'it served no script or asset');
      const initial = phase(r, 'initial');
      for (const vm of VMS) {
        const h = initial.hosts[vm.name]!;
        const ev = events(initial, vm.name);
        t.diagnostic(
          `${vm.name}: power cycles ${h.powerCycles}/${h.bootStages}; ${ev.map((e) => `${e.kind}@${e.agent}`).join(' ')}`,
        );
        assert.equal(h.state, 'provisioned', explainRun(run));
        assert.equal(h.powerCycles, h.bootStages, `${vm.name}: an extra power cycle: ${explainRun(run)}`);
        assert.equal(h.error, undefined, `${vm.name}: ${h.error}`);
        assert.equal(initial.powerOns[vm.name], h.powerCycles, `${vm.name}: the BMC saw as many power-ons`);
        assertOneBoot(ev, vm.name);
        assertDhcpOnce(dhcpEvents(initial, vm.name), vm.name);
        assert.deepEqual(
          ev.filter((e) => e.agent !== A1),
          [],
          `${vm.name}: every boot event from ${A1}`,
        );
      }
    });

    it("2. restarted, the second agent's cache catches up: every gate of the finished runs closed", (t) => {
      const a2 = r.secondAgent!;
      t.diagnostic(
        `caught up in ${a2.catchUpS}s; gates at restart ${JSON.stringify(a2.gatesAtRestart?.map((g) => [g.mac, g.open]))}`,
      );
      assert.ok(
        (a2.gatesAtRestart ?? []).some((g) => g.open),
        `the killed agent's cache had no open gate left: ${JSON.stringify(a2.gatesAtRestart)}`,
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
        t.diagnostic(`${vm.name}: ${s.powerLog.join(' | ')}`);
        assert.ok(s.powerLog.some((p) => p.startsWith('vm start')));
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
          `${id}: received +${d('vaquero_agent_dhcp_received_total')}, replies +${d('vaquero_agent_dhcp_replies_total')}, ipxe requests +${d('vaquero_agent_http_requests_total', { route: '/ipxe' })}`,
        );
        assert.equal(d('vaquero_agent_http_requests_total', { route: '/ipxe' }), 0, id);
        assert.equal(d('vaquero_agent_boot_events_total', { outcome: 'recorded' }), 0, id);
      }
    });

    it('4. the second rollout boots only the new revision, validated, through the first agent', () => {
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
        const ev = events(p, vm.name);
        assertOneBoot(ev, vm.name);
        assert.deepEqual(
          ev.filter((e) => e.agent !== A1),
          [],
          `${vm.name}: every boot event from ${A1}`,
        );
      }
    });

    it("5. the second agent's /metrics: no DHCP answer, before its kill or since its restart; its worker polls", (t) => {
      const a2 = r.secondAgent!;
      const atKill = a2.metricsAtKill ?? {};
      const end = a2.metrics ?? {};
      t.diagnostic(
        `${A2}: power activities run ${a2.powerCalls?.length ?? 0} (${JSON.stringify(a2.powerCalls?.slice(0, 6))}); health ${JSON.stringify(a2.health)}`,
      );
      assert.ok(Object.keys(atKill).length > 0, 'its /metrics answered before the kill');
      for (const m of [atKill, a2.metricsAfterStray?.[A2] ?? {}, end])
        for (const name of DHCP_METRICS) assert.equal(metricSum(m, name), 0, `${name}: ${JSON.stringify(m)}`);
      assert.equal(metricSum(end, 'vaquero_agent_boot_events_total', { outcome: 'recorded' }), 0);
      assert.equal(end['vaquero_agent_worker_connected'], 1, 'its site worker polls (power and tasks)');
      assert.equal(assertDropsLogged(a2), 0, 'it recorded no boot event, so it dropped none');
      // The first agent answered every DHCP of the second rollout.
      const first = a2.metricsAfterStray?.[A1] ?? {};
      assert.ok(metricSum(first, 'vaquero_agent_dhcp_replies_total') > 0);
    });
  },
);
