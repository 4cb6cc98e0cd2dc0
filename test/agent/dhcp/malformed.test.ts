// A corpus of malformed and hostile DHCP datagrams, sent both broadcast (the 0.0.0.0:67 socket) and unicast (the
// interface socket): the agent counts them, never throws, and still serves a real client afterwards.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MAGIC_COOKIE, serializeDhcp } from '../../../agent/dhcp/codec.ts';
import { MessageType, Opt } from '../../../agent/dhcp/options.ts';
import type { VethPair } from '../../../testkit/netns.ts';
import { createVethPair, flushAddresses, requireRoot, setLinkAddress } from '../../../testkit/netns.ts';
import type { AgentHandle, UdpPeer } from './support/lab.ts';
import { labSubnet, runUdhcpc, scratch, sleep, startAgent, startDhcpClientPeer } from './support/lab.ts';
import { prng, request } from './support/fixtures.ts';

requireRoot();

const PREFIX = '10.77.10';
const KNOWN = '52:54:00:77:10:0a';
const REAL = '52:54:00:77:10:0b';
const UNKNOWN = '52:54:00:77:10:ff';

type Expect = 'malformed' | 'ignored' | 'oversized' | 'any';

/** Every entry says which counter it must move (or 'any' for packets the server may legitimately answer). */
function corpus(): Array<{ name: string; buf: Buffer; expect: Expect }> {
  const rnd = prng(20261124);
  const out: Array<{ name: string; buf: Buffer; expect: Expect }> = [];
  const add = (name: string, buf: Buffer, expect: Expect): void => void out.push({ name, buf, expect });
  const valid = serializeDhcp(
    request({ type: MessageType.Discover, mac: UNKNOWN, arch: 7, vendorClass: 'PXEClient' }),
  );
  const head = valid.subarray(0, 240);
  const withOptions = (bytes: number[]): Buffer => Buffer.concat([head, Buffer.from(bytes)]);
  const patched = (offset: number, value: number): Buffer => {
    const b = Buffer.from(valid);
    b[offset] = value;
    return b;
  };

  add('zero-length', Buffer.alloc(0), 'malformed');
  for (const n of [1, 4, 27, 43, 100, 235, 236, 239])
    add(`truncated to ${n}`, valid.subarray(0, n), 'malformed');
  for (const op of [0, 3, 0x80, 0xff]) add(`op ${op}`, patched(0, op), 'malformed');
  add('op 2 (a reply)', patched(0, 2), 'ignored');
  add('hlen 17', patched(2, 17), 'malformed');
  add('hlen 255', patched(2, 255), 'malformed');
  add('htype 6 (not Ethernet)', patched(1, 6), 'ignored');
  add('bad cookie', patched(238, 0), 'malformed');
  add('option length overflowing', withOptions([53, 1, 1, 61, 250, 1, 2, 3]), 'malformed');
  add('option without length byte', withOptions([53, 1, 1, 12]), 'malformed');
  add('message type overflowing', withOptions([53, 9, 1]), 'malformed');
  add('options without end', withOptions([53, 1, 1, 61, 7, 1, 0x52, 0x54, 0, 0x77, 0x10, 0xff]), 'any');
  add('only pads', withOptions(Array<number>(60).fill(0)), 'ignored');
  add('overload value 7', withOptions([53, 1, 1, 52, 1, 7, 255]), 'malformed');
  const overloadGarbage = withOptions([53, 1, 1, 52, 1, 3, 255]);
  overloadGarbage.fill(0x41, 44, 236); // sname and file full of 'A': option 65 claiming 65 bytes
  add('overload into garbage', overloadGarbage, 'malformed');
  add('no message type', withOptions([255]), 'ignored');
  for (const t of [0, 2, 5, 9, 255]) add(`message type ${t}`, withOptions([53, 1, t, 255]), 'ignored');
  add('message type of length 0', withOptions([53, 0, 255]), 'ignored');
  add('message type of length 2', withOptions([53, 2, 1, 1, 255]), 'ignored');
  add('relay loop (hops 255)', patched(3, 255), 'ignored');
  for (const size of [1473, 4000, 65_000]) {
    add(`oversized ${size}`, Buffer.concat([valid, Buffer.alloc(size - valid.length)]), 'oversized');
  }

  // Parseable but hostile, from a known MAC: the server may answer, it must not fall over.
  const known = (extra: Array<[number, Buffer]>, spec: Partial<Parameters<typeof request>[0]> = {}): Buffer =>
    serializeDhcp(request({ type: MessageType.Discover, mac: KNOWN, extra, ...spec }));
  const bytes = (n: number, v = 0xff): Buffer => Buffer.alloc(n, v);
  add('93 of length 1', known([[Opt.ClientArch, bytes(1)]]), 'any');
  add('93 of length 3', known([[Opt.ClientArch, bytes(3, 7)]]), 'any');
  add('60 of binary', known([[Opt.VendorClass, bytes(255, 0)]]), 'any');
  add('77 with bad framing', known([[Opt.UserClass, Buffer.from([200, 1, 2])]]), 'any');
  add('175 of length 1', known([[Opt.Ipxe, bytes(1)]]), 'any');
  add('82 garbage (no relay)', known([[Opt.RelayAgentInfo, bytes(30)]]), 'any');
  add('82 garbage, relayed', known([[Opt.RelayAgentInfo, bytes(30)]], { giaddr: `${PREFIX}.254` }), 'any');
  add(
    '55 asking for everything',
    known([[Opt.ParameterList, Buffer.from(Array.from({ length: 254 }, (_, i) => i + 1))]]),
    'any',
  );
  add('57 = 0', known([[Opt.MaxMessageSize, Buffer.from([0, 0])]]), 'any');
  add('57 = 65535', known([[Opt.MaxMessageSize, Buffer.from([0xff, 0xff])]]), 'any');
  add('50 of length 3', known([[Opt.RequestedIp, bytes(3)]], { type: MessageType.Request }), 'any');
  add('54 of length 2', known([[Opt.ServerId, bytes(2)]], { type: MessageType.Request }), 'any');
  add(
    'request for another address',
    known([], { type: MessageType.Request, requestedIp: '10.1.2.3' }),
    'any',
  );
  add('giaddr outside the subnet', known([], { giaddr: '192.0.2.1' }), 'any');
  add('inform without ciaddr', known([], { type: MessageType.Inform }), 'any');
  add('decline', known([], { type: MessageType.Decline, requestedIp: `${PREFIX}.10` }), 'any');
  add(
    'long options up to a frame',
    known(Array.from({ length: 4 }, (_, i): [number, Buffer] => [200 + i, bytes(300, 0x61)])),
    'any',
  );

  for (let i = 0; i < 300; i++) {
    const b = Buffer.alloc(Math.floor(rnd() * 1500));
    for (let j = 0; j < b.length; j++) b[j] = Math.floor(rnd() * 256);
    if (b.length >= 240 && i % 3 === 0) b.writeUInt32BE(MAGIC_COOKIE, 236);
    add(`random ${i}`, b, 'any');
  }
  for (let i = 0; i < 300; i++) {
    const b = Buffer.from(valid.subarray(0, 236 + Math.floor(rnd() * (valid.length - 236))));
    for (let k = 0; k < 1 + Math.floor(rnd() * 8); k++)
      b[240 + Math.floor(rnd() * Math.max(1, b.length - 240))] = Math.floor(rnd() * 256);
    add(`mutated ${i}`, b, 'any');
  }
  return out;
}

describe('DHCP malformed packet corpus', () => {
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
      reservations: [
        { host: 'target', mac: KNOWN, ipv4: `${PREFIX}.10`, subnet: 'lab' },
        { host: 'real', mac: REAL, ipv4: `${PREFIX}.11`, subnet: 'lab' },
      ],
      open: [KNOWN, REAL],
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

  it('counts every kind of damage, never throws, and still serves a real client afterwards', async () => {
    const items = corpus();
    const count = (e: Expect): number => items.filter((i) => i.expect === e).length;
    const tooBig = items.filter((i) => i.buf.length > 1472).length;
    const packets = items.map((i) => i.buf);
    for (const to of ['255.255.255.255', pair.serverIp]) {
      // Paced at ~1 ms: the point is the server's handling of each datagram, not the kernel's socket buffer.
      const r = await peer.send('c', to, 67, packets, 1);
      assert.deepEqual(r.errors, [], `sending to ${to}`);
      assert.equal(r.sent, packets.length);
      await sleep(1100); // past the rate window, so the second round is judged like the first
    }
    await peer.collect('c', 200);
    const stats = await agent.stats();
    assert.ok(agent.alive(), 'the server process is still there');
    assert.equal(stats.errors, 0, `no exception escaped a handler: ${agent.logs.join('\n')}`);
    assert.equal(stats.sendErrors, 0);
    assert.equal(stats.received, 2 * packets.length, JSON.stringify(stats));
    assert.ok(stats.malformed >= 2 * count('malformed'), `malformed ${stats.malformed}`);
    assert.ok(tooBig >= count('oversized'));
    assert.equal(stats.oversized, 2 * tooBig);
    assert.ok(stats.ignored >= 2 * count('ignored'), `ignored ${stats.ignored}`);
    assert.ok(stats.unroutable >= 2, 'a known MAC relayed from outside its subnet');

    flushAddresses(pair.client, pair.clientIf);
    setLinkAddress(pair.client, pair.clientIf, REAL);
    const u = await runUdhcpc(pair.client, pair.clientIf, tmp.dir, {
      vendorClass: 'PXEClient:Arch:00000:UNDI:002001',
    });
    assert.equal(u.code, 0, u.output);
    assert.equal(u.env?.ip, `${PREFIX}.11`);
    assert.equal(u.env?.boot_file, 'undionly.kpxe');
  });
});
