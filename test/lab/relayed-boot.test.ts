// A relayed boot through a real relay, on real firmware: one BIOS VM (SeaBIOS + iPXE ROM, the cheapest) on a segment
// of its own, 10.77.59.0/24, with the agent a subnet away on the lab bridge (10.77.58.1). Between them the lab's
// router namespace: dhcrelay (isc-dhcp-relay, lab/relay.ts) forwards the VM's DHCP with giaddr 10.77.59.1, and the
// router forwards its HTTP. The SoT's subnet is the VM's (gateway: the relay); the agent has no address on it,
// so everything it answers, it answers through the relay. Reprovisioned through its BMC to `provisioned`: iPXE's
// lease and script URL, the kernel and initrd, the tiny OS's own lease, its checkpoint — all across the relay.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { LabRun } from '../../lab/run.ts';
import { runLab } from '../../lab/run.ts';
import type { ScenarioReport } from '../../lab/scenario.ts';
import { TINY_MARKERS } from '../../lab/tiny-initrd.ts';
import { requireLabRoot } from '../../lab/topology.ts';
import { explainRun } from './explain-run.ts';

requireLabRoot();

const tag = `${process.pid % 100000}`;
const AGENT_NET = '10.77.58';
const VM_NET = '10.77.59';
const MAC = '52:54:00:77:59:0a';
const IP = `${VM_NET}.10`;

describe(
  'lab, a relayed boot: BIOS VM behind dhcrelay, the agent on another subnet',
  { timeout: 300_000 },
  () => {
    let run: LabRun;
    let r: ScenarioReport;

    before(async () => {
      run = await runLab({
        name: `vql${tag}r`,
        prefix: AGENT_NET,
        relayPrefix: VM_NET,
        dhcpMode: 'server',
        vms: [{ name: 'far-1', firmware: 'bios', mac: MAC, ipv4: IP }],
        timeoutMs: 240_000,
      });
      assert.ok(run.report, `no report from the scenario: ${explainRun(run)}`);
      r = run.report;
    });

    it('reprovisions the host to provisioned and leaves nothing behind', () => {
      assert.equal(r.ok, true, explainRun(run));
      assert.equal(r.rollout?.provisioned, 1);
      assert.deepEqual(r.relay && { cidr: r.relay.cidr, giaddr: r.relay.giaddr }, {
        cidr: `${VM_NET}.0/24`,
        giaddr: `${VM_NET}.1`,
      });
      assert.deepEqual(run.left, { pids: [], namespaces: [] });
      assert.deepEqual(run.killedLeftovers, []);
    });

    it('iPXE and the tiny OS got their lease and answers through the relay; the boot went on across it', (t) => {
      const h = r.hosts.find((x) => x.name === 'far-1');
      assert.ok(h?.boot, explainRun(run));
      t.diagnostic(JSON.stringify(h.boot.firstAt));
      assert.equal(h.status?.state, 'provisioned', explainRun(run));
      const script = `http://${AGENT_NET}.1:8080/ipxe?mac=${MAC}`;
      const dhcp = h.boot.events.filter((e) => e.kind === 'dhcp').map((e) => e.detail);
      // The reserved address on the far subnet; iPXE its script URL on the agent's, the tiny OS an address only.
      assert.deepEqual(
        dhcp.filter((d, i) => d !== dhcp[i - 1]),
        [`DHCPOFFER ${IP} ${script}`, `DHCPACK ${IP} ${script}`, `DHCPOFFER ${IP}`, `DHCPACK ${IP}`],
        explainRun(run),
      );
      assert.deepEqual(
        h.boot.sequence,
        ['dhcp', 'ipxe', 'kernel', 'initrd', 'dhcp', 'checkpoint'],
        explainRun(run),
      );
      // The checkpoint came from the VM's own address, routed through the router (no NAT).
      assert.match(
        h.boot.events.find((e) => e.kind === 'checkpoint')?.detail ?? '',
        new RegExp(`^checkpoint from ${IP}\\b`),
      );
      assert.match(h.machine.serial, new RegExp(TINY_MARKERS.callbackOk));
    });

    it('the relay forwarded each request to the agent and each answer back', (t) => {
      const log = r.relay?.log ?? '';
      assert.match(log, new RegExp(`Forwarded BOOTREQUEST for ${MAC} to ${AGENT_NET}\\.1`), log);
      assert.match(log, new RegExp(`Forwarded BOOTREPLY for ${MAC} to `), log);
      // The agent heard only the relay (nothing from the VMs' segment it could not route), and answered the relay.
      const dhcp = r.agent?.services.dhcp ?? {};
      t.diagnostic(JSON.stringify(dhcp));
      assert.deepEqual(
        [dhcp.unroutable, dhcp.unknownMacs, dhcp.unsafeDestinations, dhcp.sendErrors],
        [0, 0, 0, 0],
        JSON.stringify(dhcp),
      );
      assert.ok(Number(dhcp.acks) >= 2, JSON.stringify(dhcp));
    });
  },
);
