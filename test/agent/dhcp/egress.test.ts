// A multi-homed agent (LAB.md §7.3): two legs, two subnets, no broadcast route in its namespace. Each reply leaves
// by the leg in the client's reserved subnet, because it is sent from a socket bound to that leg's address.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { VethPair } from '../../../testkit/netns.ts';
import { createVethPair, requireRoot, runInNs, setLinkAddress } from '../../../testkit/netns.ts';
import type { AgentHandle } from './support/lab.ts';
import { labSubnet, runUdhcpc, scratch, startAgent, startCapture } from './support/lab.ts';

requireRoot();

const MAC = { a: '52:54:00:77:08:0a', b: '52:54:00:77:09:0b', elsewhere: '52:54:00:77:08:0c' };

describe('DHCP egress on a multi-homed agent', () => {
  let legA: VethPair;
  let legB: VethPair;
  let agent: AgentHandle;
  const tmp = scratch();

  before(async () => {
    legA = createVethPair({ prefix: '10.77.8', broadcastRoute: false });
    legB = createVethPair({ prefix: '10.77.9', serverNs: legA.server, broadcastRoute: false });
    const routes = await runInNs(legA.server, 'ip', ['route', 'show', 'table', 'all'], { timeoutMs: 5000 });
    assert.doesNotMatch(routes.stdout, /^(broadcast )?255\.255\.255\.255/m, 'no limited-broadcast route');
    agent = await startAgent(legA.server, {
      mode: 'server',
      interfaces: [
        { name: legA.serverIf, address: legA.serverIp, netmask: '255.255.255.0' },
        { name: legB.serverIf, address: legB.serverIp, cidr: `${legB.serverIp}/24` },
      ],
      subnets: [
        { ...labSubnet('10.77.8', 'a'), domain: 'a.example' },
        { ...labSubnet('10.77.9', 'b'), domain: 'b.example' },
      ],
      reservations: [
        { host: 'on-a', mac: MAC.a, ipv4: '10.77.8.10', subnet: 'a' },
        { host: 'on-b', mac: MAC.b, ipv4: '10.77.9.10', subnet: 'b' },
        // Reserved on A but cabled to B: its answer must go out of A, where its subnet is.
        { host: 'elsewhere', mac: MAC.elsewhere, ipv4: '10.77.8.12', subnet: 'a' },
      ],
      open: [],
      boot: { httpUrl: 'http://10.77.8.1:8080' },
    });
  });

  after(async () => {
    await agent?.stop();
    legB?.cleanup();
    legA?.cleanup();
    tmp.remove();
  });

  it('answers each leg from that leg, at the same time', async () => {
    setLinkAddress(legA.client, legA.clientIf, MAC.a);
    setLinkAddress(legB.client, legB.clientIf, MAC.b);
    const [a, b] = await Promise.all([
      runUdhcpc(legA.client, legA.clientIf, tmp.dir, { tag: 'a' }),
      runUdhcpc(legB.client, legB.clientIf, tmp.dir, { tag: 'b' }),
    ]);
    assert.deepEqual(
      [a.env?.ip, a.env?.serverid, a.env?.domain],
      ['10.77.8.10', '10.77.8.1', 'a.example'],
      a.output,
    );
    assert.deepEqual(
      [b.env?.ip, b.env?.serverid, b.env?.domain],
      ['10.77.9.10', '10.77.9.1', 'b.example'],
      b.output,
    );
    const ifaces = agent.events.filter((e) => e.message === 'DHCPACK').map((e) => `${e.host}@${e.interface}`);
    assert.deepEqual(ifaces.sort(), [`on-a@${legA.serverIf}`, `on-b@${legB.serverIf}`]);
    assert.equal((await agent.stats()).sendErrors, 0);
  });

  it('sends the answer for a host on the wrong segment out of its own subnet’s leg, not back where it asked', async () => {
    setLinkAddress(legB.client, legB.clientIf, MAC.elsewhere);
    const pcap = join(tmp.dir, 'leg-a.pcap');
    const cap = await startCapture(legA.client, legA.clientIf, pcap, 'udp port 68');
    const r = await runUdhcpc(legB.client, legB.clientIf, tmp.dir, { tag: 'elsewhere', tries: 2 });
    await cap.stop();
    assert.notEqual(r.code, 0, 'nothing reaches it on leg B');
    const onA = (await runInNs(legA.client, 'tcpdump', ['-r', pcap, '-n', '-v'], { timeoutMs: 10_000 }))
      .stdout;
    assert.match(onA, /10\.77\.8\.1\.67 > 255\.255\.255\.255\.68/, 'the offer left by leg A');
    assert.match(onA, /Your-IP 10\.77\.8\.12/);
  });
});

describe('DHCP broadcast replies to the subnet broadcast address', () => {
  let pair: VethPair;
  let agent: AgentHandle;
  const tmp = scratch();
  const mac = '52:54:00:77:11:0a';

  before(async () => {
    pair = createVethPair({ prefix: '10.77.11', broadcastRoute: false });
    agent = await startAgent(pair.server, {
      mode: 'server',
      interfaces: [
        {
          name: pair.serverIf,
          address: pair.serverIp,
          cidr: `${pair.serverIp}/24`,
          broadcast: '10.77.11.255',
        },
      ],
      subnets: [labSubnet('10.77.11')],
      reservations: [{ host: 'n', mac, ipv4: '10.77.11.10', subnet: 'lab' }],
      open: [],
      boot: { httpUrl: 'http://10.77.11.1:8080' },
      broadcastReplies: 'subnet',
    });
  });

  after(async () => {
    await agent?.stop();
    pair?.cleanup();
    tmp.remove();
  });

  it('udhcpc accepts offers and acks sent to 10.77.11.255', async () => {
    setLinkAddress(pair.client, pair.clientIf, mac);
    const pcap = join(tmp.dir, 'subnet-bcast.pcap');
    const cap = await startCapture(pair.client, pair.clientIf, pcap, 'udp port 68');
    const r = await runUdhcpc(pair.client, pair.clientIf, tmp.dir);
    await cap.stop();
    assert.equal(r.env?.ip, '10.77.11.10', r.output);
    const wire = (await runInNs(pair.client, 'tcpdump', ['-r', pcap, '-n'], { timeoutMs: 10_000 })).stdout;
    assert.match(wire, /10\.77\.11\.1\.67 > 10\.77\.11\.255\.68/);
    assert.doesNotMatch(wire, /> 255\.255\.255\.255\.68/);
  });
});
