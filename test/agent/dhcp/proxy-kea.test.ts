// Proxy mode beside a real site DHCP server (LAB.md §4.6): kea-dhcp4 in its own namespace gives addresses, the
// agent in another gives boot information only, on 67 and on 4011; both on one bridge with the client. What the
// client receives is decoded by tshark, independently of the agent's own codec.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DhcpPacket } from '../../../agent/dhcp/codec.ts';
import { serializeDhcp } from '../../../agent/dhcp/codec.ts';
import { MessageType, Opt } from '../../../agent/dhcp/options.ts';
import type { Lan } from '../../../testkit/netns.ts';
import { addAddress, addBroadcastRoute, createLan, requireRoot, runInNs } from '../../../testkit/netns.ts';
import type { AgentHandle, UdpPeer } from './support/lab.ts';
import {
  labSubnet,
  runUdhcpc,
  scratch,
  sleep,
  startAgent,
  startCapture,
  startProgram,
  startUdpPeer,
} from './support/lab.ts';
import { request } from './support/fixtures.ts';

requireRoot();

const PREFIX = '10.77.7';
const AGENT = `${PREFIX}.1`;
const KEA = `${PREFIX}.2`;
const MAC = { pxe: '52:54:00:77:07:0a', gated: '52:54:00:77:07:0b' };
const UUID = Buffer.from('00' + '5a'.repeat(16), 'hex');
const EFI_PXE = { arch: 7, vendorClass: 'PXEClient:Arch:00007:UNDI:003000', uuid: UUID };

interface Seen {
  src: string;
  srcPort: string;
  dstPort: string;
  type: string;
  yiaddr: string;
  file: string;
  vendorClass: string;
  mac: string;
}

describe('DHCP proxy mode beside kea', () => {
  let lan: Lan;
  let agent: AgentHandle;
  let peer: UdpPeer;
  let kea: ReturnType<typeof startProgram>;
  const tmp = scratch();
  let client: { ns: string; ifname: string };
  let clientIp = '';

  before(async () => {
    lan = createLan(['agent', 'kea', 'client']);
    client = lan.members.client!;
    const k = lan.members.kea!;
    const a = lan.members.agent!;
    addAddress(a.ns, a.ifname, `${AGENT}/24`);
    addAddress(k.ns, k.ifname, `${KEA}/24`);
    await runInNs(client.ns, 'ip', ['link', 'set', client.ifname, 'address', MAC.pxe]);

    const keaLog = join(tmp.dir, 'kea.log');
    const conf = join(tmp.dir, `kea-${process.pid}.json`);
    writeFileSync(
      conf,
      JSON.stringify({
        Dhcp4: {
          'interfaces-config': { interfaces: [k.ifname], 'dhcp-socket-type': 'raw' },
          'lease-database': { type: 'memfile', persist: false },
          'valid-lifetime': 600,
          subnet4: [
            {
              id: 1,
              subnet: `${PREFIX}.0/24`,
              pools: [{ pool: `${PREFIX}.200 - ${PREFIX}.220` }],
              'option-data': [{ name: 'routers', data: AGENT }],
            },
          ],
          loggers: [{ name: 'kea-dhcp4', output_options: [{ output: keaLog }], severity: 'INFO' }],
        },
      }),
    );
    // Pid and lock files in the scratch dir: a concurrent run must not find "its" kea already running.
    const env = { ...process.env, KEA_PIDFILE_DIR: tmp.dir, KEA_LOCKFILE_DIR: tmp.dir };
    kea = startProgram(k.ns, 'kea-dhcp4', ['-c', conf], env);
    agent = await startAgent(a.ns, {
      mode: 'proxy',
      interfaces: [{ name: a.ifname, address: AGENT, cidr: `${AGENT}/24` }],
      subnets: [labSubnet(PREFIX)],
      reservations: [
        { host: 'pxe', mac: MAC.pxe, subnet: 'lab' },
        { host: 'gated', mac: MAC.gated, subnet: 'lab' },
      ],
      open: [MAC.pxe],
      boot: { httpUrl: `http://${AGENT}:8080` },
    });
    for (
      let i = 0;
      i < 100 && !(existsSync(keaLog) && readFileSync(keaLog, 'utf8').includes('DHCP4_STARTED'));
      i++
    ) {
      await sleep(100);
    }
    assert.match(readFileSync(keaLog, 'utf8'), /DHCP4_STARTED/, `kea did not start: ${kea.output()}`);
    peer = await startUdpPeer(client.ns);
  });

  after(async () => {
    await peer?.stop();
    await agent?.stop();
    await kea?.stop();
    lan?.cleanup();
    tmp.remove();
  });

  /** Sends `packets` from the client while capturing; returns the DHCP replies as tshark decodes them. */
  async function exchange(socket: string, to: string, port: number, packets: DhcpPacket[]): Promise<Seen[]> {
    const pcap = join(tmp.dir, `cap-${Date.now()}.pcap`);
    const cap = await startCapture(client.ns, client.ifname, pcap, 'udp');
    await peer.send(
      socket,
      to,
      port,
      packets.map((p) => serializeDhcp(p)),
    );
    await peer.collect(socket, 1000);
    await cap.stop();
    const r = await runInNs(
      client.ns,
      'tshark',
      [
        '-r',
        pcap,
        '-d',
        'udp.port==4011,dhcp',
        '-Y',
        'dhcp.type == 2',
        '-T',
        'fields',
        '-E',
        'separator=|',
        '-e',
        'ip.src',
        '-e',
        'udp.srcport',
        '-e',
        'udp.dstport',
        '-e',
        'dhcp.option.dhcp',
        '-e',
        'dhcp.ip.your',
        '-e',
        'dhcp.file',
        '-e',
        'dhcp.option.vendor_class_id',
        '-e',
        'dhcp.hw.mac_addr',
      ],
      { timeoutMs: 20_000 },
    );
    return r.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [src, srcPort, dstPort, type, yiaddr, file, vendorClass, mac] = l.split('|');
        return {
          src: src!,
          srcPort: srcPort!,
          dstPort: dstPort!,
          type: type!,
          yiaddr: yiaddr!,
          file: file!,
          vendorClass: vendorClass!,
          mac: mac!,
        };
      });
  }

  it('the client takes its address from kea; the agent stays out of it and learns the binding', async () => {
    const r = await runUdhcpc(client.ns, client.ifname, tmp.dir, { tries: 5 });
    assert.equal(r.code, 0, r.output);
    assert.equal(r.env?.serverid, KEA);
    assert.match(r.env?.ip ?? '', /^10\.77\.7\.2(0\d|1\d|20)$/);
    clientIp = r.env!.ip!;
    const stats = await agent.stats();
    assert.equal(
      stats.offers + stats.acks + stats.proxyReplies,
      0,
      'a plain DHCP client gets nothing from a proxy',
    );
    assert.ok(stats.otherServer >= 1, 'its REQUEST to kea was seen');
    const b = (await agent.bindings()).find((x) => x.mac === MAC.pxe);
    assert.deepEqual([b?.ip, b?.source], [clientIp, 'observed']);
  });

  it('a PXE DISCOVER gets an address offer from kea and a proxy offer with the boot file from the agent', async () => {
    assert.ok(clientIp, 'needs the kea lease from the previous test');
    addBroadcastRoute(client.ns, client.ifname);
    await peer.open('dhcp', '0.0.0.0', 68);
    const seen = await exchange('dhcp', '255.255.255.255', 67, [
      request({
        type: MessageType.Discover,
        mac: MAC.pxe,
        broadcast: true,
        ...EFI_PXE,
        params: [1, 3, 60, 66, 67, 97],
      }),
    ]);
    const fromKea = seen.find((s) => s.src === KEA);
    const fromAgent = seen.find((s) => s.src === AGENT);
    assert.ok(fromKea && fromAgent, JSON.stringify(seen));
    assert.equal(fromKea.yiaddr, clientIp, 'the address comes from kea');
    assert.deepEqual(
      [
        fromAgent.type,
        fromAgent.yiaddr,
        fromAgent.file,
        fromAgent.vendorClass,
        fromAgent.srcPort,
        fromAgent.dstPort,
      ],
      ['2', '0.0.0.0', 'ipxe.efi', 'PXEClient', '67', '68'],
      'proxy offer: no address, boot file, PXEClient',
    );
    assert.ok(agent.events.some((e) => e.detail === 'proxy offer ipxe.efi' && e.mac === MAC.pxe));
  });

  it('a REQUEST unicast to port 4011 is answered from 4011 with the boot file', async () => {
    await peer.open('pxe', clientIp, 4011);
    const req = request({ type: MessageType.Request, mac: MAC.pxe, ciaddr: clientIp, ...EFI_PXE });
    req.options.set(Opt.VendorSpecific, Buffer.from([71, 4, 0, 0, 0, 0, 255])); // PXE boot item, as EDK2 sends
    const seen = await exchange('pxe', AGENT, 4011, [req]);
    const ack = seen.find((s) => s.src === AGENT);
    assert.ok(ack, JSON.stringify(seen));
    assert.deepEqual(
      [ack.type, ack.srcPort, ack.dstPort, ack.yiaddr, ack.file, ack.vendorClass],
      ['5', '4011', '4011', '0.0.0.0', 'ipxe.efi', 'PXEClient'],
    );
    assert.ok(agent.events.some((e) => e.detail === 'proxy ack ipxe.efi (port 4011)'));
  });

  it('a host whose gate is closed gets no proxy offer, and is counted', async () => {
    const before = (await agent.stats()).gated;
    const seen = await exchange('dhcp', '255.255.255.255', 67, [
      request({ type: MessageType.Discover, mac: MAC.gated, broadcast: true, ...EFI_PXE }),
    ]);
    assert.equal(seen.filter((s) => s.src === AGENT).length, 0, JSON.stringify(seen));
    assert.ok(
      seen.some((s) => s.src === KEA),
      'kea still offers it an address',
    );
    assert.equal((await agent.stats()).gated, before + 1);
  });
});
