// A relayed boot through a real relay (LAB.md §9.1): ISC dhcrelay (isc-dhcp-relay) between the clients' segment and
// the agent's, which are different subnets. Namespaces in a line:
//
//   client (10.77.95.0/24, no address yet) ── relay: 10.77.95.1 | 10.77.94.2 ── agent: 10.77.94.1
//
// The agent has no interface on the clients' subnet: it answers only because the relay forwards each request with
// giaddr 10.77.95.1, and its answers go unicast to the relay's port 67 (the agent routes the clients' subnet through
// the relay), which hands them to the client. Real clients (busybox udhcpc as a UEFI PXE firmware and as iPXE, ISC
// dhclient as an OS) get their reservations, the subnet's options and their boot answers; the wire, as tshark
// decodes it on the agent's link, shows the relay's requests and the agent's unicast answers.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { VethPair } from '../../../testkit/netns.ts';
import {
  addAddress,
  createVethPair,
  flushAddresses,
  requireRoot,
  runInNs,
  setLinkAddress,
} from '../../../testkit/netns.ts';
import type { AgentHandle } from './support/lab.ts';
import {
  addressesOf,
  labSubnet,
  runDhclient,
  runUdhcpc,
  scratch,
  sleep,
  startAgent,
  startCapture,
  startProgram,
} from './support/lab.ts';

requireRoot();

/** The agent's subnet and the clients' (behind the relay). */
const AGENT_NET = '10.77.94';
const CLIENT_NET = '10.77.95';
const AGENT = `${AGENT_NET}.1`;
const RELAY_UP = `${AGENT_NET}.2`;
const RELAY_DOWN = `${CLIENT_NET}.1`;
const MAC = {
  uefi: '52:54:00:77:95:0a',
  ipxe: '52:54:00:77:95:0b',
  dhclient: '52:54:00:77:95:0c',
};
const IP: Record<string, string> = {
  [MAC.uefi]: `${CLIENT_NET}.10`,
  [MAC.ipxe]: `${CLIENT_NET}.11`,
  [MAC.dhclient]: `${CLIENT_NET}.12`,
};
const UEFI_PXE = { vendorClass: 'PXEClient:Arch:00007:UNDI:003000', send: ['0x5d:0007'] };
const hex = (s: string): string => Buffer.from(s).toString('hex');

/** One DHCP packet on the agent's link, as tshark decodes it. */
interface Seen {
  src: string;
  dst: string;
  srcPort: string;
  dstPort: string;
  type: string;
  giaddr: string;
  hops: string;
  mac: string;
}

describe('DHCP through a real relay (dhcrelay), the agent on another subnet', () => {
  let up: VethPair;
  let down: VethPair;
  let agent: AgentHandle;
  let relay: ReturnType<typeof startProgram>;
  const tmp = scratch();

  before(async () => {
    // agent ns ── relay ns (up), relay ns ── client ns (down).
    up = createVethPair({ prefix: AGENT_NET });
    down = createVethPair({ prefix: CLIENT_NET, serverNs: up.client, broadcastRoute: false });
    const relayNs = up.client;
    addAddress(relayNs, up.clientIf, `${RELAY_UP}/24`);
    // The agent reaches the clients' subnet (the relay's giaddr among it) through the relay.
    execFileSync('ip', ['-n', up.server, 'route', 'add', `${CLIENT_NET}.0/24`, 'via', RELAY_UP]);
    agent = await startAgent(up.server, {
      mode: 'server',
      // Only its own link: nothing of the clients' subnet is local to it.
      interfaces: [{ name: up.serverIf, address: AGENT, cidr: `${AGENT}/24` }],
      subnets: [labSubnet(CLIENT_NET)],
      reservations: Object.entries(IP).map(([mac, ipv4], i) => ({
        host: `far${i}`,
        mac,
        ipv4,
        subnet: 'lab',
        hostname: `far${i}`,
      })),
      open: [MAC.uefi, MAC.ipxe],
      boot: { httpUrl: `http://${AGENT}:8080` },
      leaseSeconds: 600,
    });
    // -d: foreground (ended by its pid); requests from the clients' side (-id) go to the agent (-iu side).
    relay = startProgram(relayNs, 'dhcrelay', [
      '-4',
      '-d',
      '-pf',
      join(tmp.dir, 'dhcrelay.pid'),
      '-id',
      down.serverIf,
      '-iu',
      up.clientIf,
      AGENT,
    ]);
    for (let i = 0; i < 50 && !/Sending on/.test(relay.output()); i++) await sleep(100);
    assert.match(relay.output(), /Sending on/, `dhcrelay did not start: ${relay.output()}`);
  });

  after(async () => {
    await relay?.stop();
    await agent?.stop();
    down?.cleanup();
    up?.cleanup();
    tmp.remove();
  });

  function useMac(mac: string): void {
    flushAddresses(down.client, down.clientIf);
    setLinkAddress(down.client, down.clientIf, mac);
  }

  /** Runs `client` while capturing DHCP on the agent's link; returns what tshark decodes there. */
  async function onAgentLink(client: () => Promise<void>): Promise<Seen[]> {
    const pcap = join(tmp.dir, `agent-link-${Date.now()}.pcap`);
    const cap = await startCapture(up.server, up.serverIf, pcap, 'udp port 67 or udp port 68');
    try {
      await client();
      await sleep(300);
    } finally {
      await cap.stop();
    }
    // prettier-ignore
    const r = await runInNs(up.server, 'tshark', [
      '-r', pcap, '-Y', 'dhcp', '-T', 'fields', '-E', 'separator=|',
      '-e', 'ip.src', '-e', 'ip.dst', '-e', 'udp.srcport', '-e', 'udp.dstport', '-e', 'dhcp.option.dhcp',
      '-e', 'dhcp.ip.relay', '-e', 'dhcp.hops', '-e', 'dhcp.hw.mac_addr',
    ], { timeoutMs: 20_000 });
    return r.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [src, dst, srcPort, dstPort, type, giaddr, hops, mac] = l.split('|');
        return {
          src: src!,
          dst: dst!,
          srcPort: srcPort!,
          dstPort: dstPort!,
          type: type!,
          giaddr: giaddr!,
          hops: hops!,
          // chaddr first; the client identifier (option 61) repeats the field.
          mac: mac!.split(',')[0]!,
        };
      });
  }

  /** Every packet of `mac` on the agent's link went relay → agent or agent → relay, port 67 to 67, giaddr set. */
  function assertRelayed(seen: Seen[], mac: string): void {
    const mine = seen.filter((s) => s.mac === mac);
    const requests = mine.filter((s) => s.type === '1' || s.type === '3');
    const replies = mine.filter((s) => s.type === '2' || s.type === '5');
    assert.ok(requests.length >= 2 && replies.length >= 2, JSON.stringify(mine));
    for (const s of requests)
      assert.deepEqual(
        [s.src, s.dst, s.srcPort, s.dstPort, s.giaddr, s.hops],
        [RELAY_UP, AGENT, '67', '67', RELAY_DOWN, '1'],
        JSON.stringify(s),
      );
    for (const s of replies)
      assert.deepEqual(
        [s.src, s.dst, s.srcPort, s.dstPort, s.giaddr],
        [AGENT, RELAY_DOWN, '67', '67', RELAY_DOWN],
        JSON.stringify(s),
      );
  }

  it('udhcpc as a UEFI PXE firmware gets its reservation, the far subnet options and ipxe.efi from the agent', async () => {
    useMac(MAC.uefi);
    let r: Awaited<ReturnType<typeof runUdhcpc>> | undefined;
    const seen = await onAgentLink(async () => {
      r = await runUdhcpc(down.client, down.clientIf, tmp.dir, { ...UEFI_PXE, request: [224, 67], tries: 6 });
    });
    assert.equal(r?.code, 0, `${r?.output}\n${relay.output()}`);
    const env = r!.env!;
    assert.equal(env.ip, IP[MAC.uefi]);
    assert.equal(env.mask, '24');
    assert.equal(env.router, RELAY_DOWN, "the clients' gateway: the relay");
    assert.equal(env.serverid, AGENT);
    assert.equal(env.opt224, hex('vaquero-test'));
    // The TFTP server is the agent, across the relay.
    assert.equal(env.siaddr, AGENT);
    assert.equal(env.boot_file, 'ipxe.efi');
    assert.deepEqual(await addressesOf(down.client, down.clientIf), [`${IP[MAC.uefi]}/24`]);
    assertRelayed(seen, MAC.uefi);
    const ack = agent.events.find((e) => e.mac === MAC.uefi && e.message === 'DHCPACK');
    assert.equal(ack?.detail, `DHCPACK ${IP[MAC.uefi]} ipxe.efi`);
  });

  it('udhcpc as iPXE gets the URL of its script on the agent across the relay', async () => {
    useMac(MAC.ipxe);
    const r = await runUdhcpc(down.client, down.clientIf, tmp.dir, {
      ...UEFI_PXE,
      send: [...UEFI_PXE.send, `0x4d:${hex('iPXE')}`],
      request: [175],
      tries: 6,
    });
    assert.equal(r.code, 0, `${r.output}\n${relay.output()}`);
    assert.equal(r.env?.ip, IP[MAC.ipxe]);
    assert.equal(r.env?.boot_file, `http://${AGENT}:8080/ipxe?mac=${MAC.ipxe}`);
  });

  it('dhclient gets its reservation through the relay (lease file)', async () => {
    useMac(MAC.dhclient);
    let lease = '';
    const seen = await onAgentLink(async () => {
      lease = await runDhclient(down.client, down.clientIf, tmp.dir);
    });
    assert.match(lease, new RegExp(`fixed-address ${IP[MAC.dhclient]!.replace(/\./g, '\\.')};`));
    assert.match(lease, new RegExp(`option routers ${RELAY_DOWN.replace(/\./g, '\\.')};`));
    assert.match(lease, new RegExp(`option dhcp-server-identifier ${AGENT.replace(/\./g, '\\.')};`));
    assert.doesNotMatch(lease, /filename/, 'an OS client gets no boot file');
    assertRelayed(seen, MAC.dhclient);
  });

  it('the agent answered relayed requests only, each from the reserved subnet, and dropped none', async () => {
    const stats = await agent.stats();
    assert.ok(stats.offers >= 3 && stats.acks >= 3, JSON.stringify(stats));
    assert.equal(
      stats.unknownMacs + stats.unroutable + stats.unsafeDestinations + stats.sendErrors + stats.errors,
      0,
      JSON.stringify(stats),
    );
    for (const b of await agent.bindings()) assert.equal(b.ip, IP[b.mac], `${b.mac} got its own reservation`);
  });
});
