// Where replies go when a request names the destination itself (its ciaddr or giaddr): only inside the host's
// subnet, or to a relay at a unicast address. A forged request with a multicast, loopback or foreign ciaddr, or a
// multicast giaddr, gets no unicast there: a client's answer is broadcast on the segment instead, and the count
// says so. Sent as raw packets from a client namespace; what left the agent is read from a capture.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { serializeDhcp } from '../../../agent/dhcp/codec.ts';
import { encodeIp, MessageType, Opt } from '../../../agent/dhcp/options.ts';
import type { VethPair } from '../../../testkit/netns.ts';
import { createVethPair, requireRoot } from '../../../testkit/netns.ts';
import type { AgentHandle, UdpPeer } from './support/lab.ts';
import { labSubnet, scratch, sleep, startAgent, startCapture, startDhcpClientPeer } from './support/lab.ts';
import { request } from './support/fixtures.ts';

requireRoot();

const PREFIX = '10.77.23';
const HOST = '52:54:00:77:23:0a';

describe('DHCP unicast egress', () => {
  let pair: VethPair;
  let agent: AgentHandle;
  let peer: UdpPeer;
  const tmp = scratch();

  before(async () => {
    pair = createVethPair({ prefix: PREFIX });
    agent = await startAgent(pair.server, {
      mode: 'server',
      interfaces: [{ name: pair.serverIf, address: pair.serverIp, cidr: `${pair.serverIp}/24` }],
      subnets: [labSubnet(PREFIX)],
      reservations: [{ host: 'target', mac: HOST, ipv4: `${PREFIX}.10`, subnet: 'lab' }],
      open: [],
      boot: { httpUrl: `http://${PREFIX}.1:8080` },
    });
    peer = await startDhcpClientPeer(pair, PREFIX);
  });

  after(async () => {
    await peer?.stop();
    await agent?.stop();
    pair?.cleanup();
    tmp.remove();
  });

  it('sends unicast only inside the subnet or to a unicast relay', async () => {
    const pcap = join(tmp.dir, 'egress.pcap');
    const cap = await startCapture(pair.server, pair.serverIf, pcap, 'udp src port 67');
    const inform = (ciaddr: string, xid: number) =>
      serializeDhcp(request({ type: MessageType.Inform, mac: HOST, ciaddr, xid }));
    const hostile = [
      '224.0.0.251',
      '239.255.255.250',
      '127.0.0.1',
      '10.99.0.5',
      `${PREFIX}.255`,
      `${PREFIX}.0`,
    ];
    const packets = [
      ...hostile.map((ip, i) => inform(ip, 0x100 + i)),
      // A relay naming the host's subnet with option 118 from a multicast giaddr: no answer can go there.
      serializeDhcp(
        request({
          type: MessageType.Discover,
          mac: HOST,
          giaddr: '224.0.0.9',
          xid: 0x200,
          extra: [[Opt.SubnetSelection, encodeIp(`${PREFIX}.0`)]],
        }),
      ),
      // An address inside the subnet (the client peer's own): answered there, unicast.
      inform(`${PREFIX}.3`, 0x300),
    ];
    const r = await peer.send('c', pair.serverIp, 67, packets, 5);
    assert.deepEqual(r.errors, []);
    await sleep(500);
    await cap.stop();
    const stats = await agent.stats();
    assert.equal(stats.unsafeDestinations, hostile.length + 1, JSON.stringify(stats));
    assert.equal(stats.sendErrors, 0, agent.logs.join('\n'));
    const lines = execFileSync('tcpdump', ['-r', pcap, '-n'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .split('\n')
      .filter(Boolean);
    const destinations = lines.map((l) => / > ([\d.]+)\.\d+:/.exec(l)?.[1]);
    for (const ip of [...hostile, '224.0.0.9'])
      assert.ok(!destinations.includes(ip), `a reply went to ${ip}:\n${lines.join('\n')}`);
    assert.equal(destinations.filter((d) => d === `${PREFIX}.3`).length, 1, lines.join('\n'));
    assert.equal(
      destinations.filter((d) => d === '255.255.255.255').length,
      hostile.length,
      `the forged clients' answers were broadcast instead:\n${lines.join('\n')}`,
    );
  });
});
