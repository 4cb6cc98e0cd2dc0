// Server-mode handler without sockets: what each request gets, where it goes, what it records.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DhcpPacket } from '../../../agent/dhcp/codec.ts';
import { BROADCAST_FLAG, encodedLength, serializeDhcp } from '../../../agent/dhcp/codec.ts';
import type { HandlerRequest, HandlerResult, ModeSettings } from '../../../agent/dhcp/handler.ts';
import { DEFAULT_PORTS } from '../../../agent/dhcp/handler.ts';
import { normalizeInterface } from '../../../agent/dhcp/interfaces.ts';
import { describeClient } from '../../../agent/dhcp/client-info.ts';
import {
  encodeIp,
  encodeSubOptions,
  getIp,
  getText,
  getU8,
  LINK_SELECTION_SUBOPTION,
  MessageType,
  Opt,
  relayedFromSubnet,
} from '../../../agent/dhcp/options.ts';
import { createServerModeHandler } from '../../../agent/dhcp/server-mode.ts';
import type { DhcpHostRecord } from '../../../agent/dhcp/directory.ts';
import type { RequestSpec } from './support/fixtures.ts';
import { hostRecord, request, SUBNET } from './support/fixtures.ts';

const MAC = '52:54:00:77:01:02';
const IFACE = normalizeInterface({ name: 'eth0', address: '10.77.1.1', cidr: '10.77.1.1/24' });
const SETTINGS: ModeSettings = {
  boot: {
    httpUrl: 'http://10.77.1.1:8080',
    httpBootUrl: 'http://10.77.1.1:8080/boot',
    files: { bios: 'undionly.kpxe', uefiX64: 'ipxe.efi', arm64: 'ipxe-arm64.efi' },
  },
  leaseSeconds: 600,
  ports: DEFAULT_PORTS,
};
const warnings: string[] = [];
const handler = createServerModeHandler(SETTINGS, (m) => warnings.push(m));

function handle(spec: RequestSpec, host: DhcpHostRecord = hostRecord(MAC, { open: true })): HandlerResult {
  const packet = request({ mac: MAC, ...spec });
  const req: HandlerRequest = {
    packet,
    messageType: spec.type,
    client: describeClient(packet, MAC),
    host,
    iface: IFACE,
    port: 67,
    source: { address: '0.0.0.0', port: 68 },
    ownAddresses: new Set(['10.77.1.1', '10.88.0.1']),
  };
  return handler.handle(req);
}

function reply(r: HandlerResult): DhcpPacket {
  assert.ok(r.reply, `expected a reply, got counters ${r.counters.join(',')}`);
  return r.reply.packet;
}

const PXE_BIOS = { arch: 0, vendorClass: 'PXEClient:Arch:00000:UNDI:002001' };

describe('server mode handler', () => {
  it('offers the reservation with the subnet options, lease times and boot file, broadcast', () => {
    const r = handle({ type: MessageType.Discover, ...PXE_BIOS });
    const p = reply(r);
    assert.equal(getU8(p, Opt.MessageType), MessageType.Offer);
    assert.equal(p.yiaddr, '10.77.1.10');
    assert.equal(p.ciaddr, '0.0.0.0');
    assert.equal(getIp(p, Opt.ServerId), '10.77.1.1');
    assert.equal(getIp(p, Opt.SubnetMask), '255.255.255.0');
    assert.equal(getIp(p, Opt.Router), '10.77.1.1');
    assert.equal(p.options.get(Opt.DomainServer)?.toString('hex'), '0a4d01350a4d0136');
    assert.equal(getText(p, Opt.DomainName), 'lab.example');
    assert.equal(getIp(p, Opt.BroadcastAddress), '10.77.1.255');
    assert.equal(getIp(p, Opt.NtpServers), '10.77.1.123', 'NTP names are left out of option 42');
    assert.equal(getText(p, 224), 'vaquero-test');
    assert.equal(p.options.get(Opt.LeaseTime)?.readUInt32BE(0), 600);
    assert.equal(p.options.get(Opt.RenewalTime)?.readUInt32BE(0), 300);
    assert.equal(p.options.get(Opt.RebindingTime)?.readUInt32BE(0), 525);
    assert.equal(p.siaddr, '10.77.1.1');
    assert.equal(p.file, 'undionly.kpxe');
    assert.equal(p.options.has(Opt.BootfileName), false, 'option 67 only when asked for');
    assert.equal(p.options.has(Opt.VendorClass), false);
    assert.deepEqual(r.reply?.to, { address: '255.255.255.255', port: 68 });
    assert.deepEqual(r.counters, ['offers']);
    assert.equal(r.event?.detail, 'DHCPOFFER 10.77.1.10 undionly.kpxe');
    assert.equal(r.binding, undefined, 'an offer binds nothing');
    assert.deepEqual(warnings, []);
  });

  it('puts boot options 66/67 in when asked for, and sends the hostname', () => {
    const host = hostRecord(MAC, { open: true, hostname: 'node1.lab' });
    const p = reply(handle({ type: MessageType.Discover, ...PXE_BIOS, params: [1, 3, 66, 67] }, host));
    assert.equal(getText(p, Opt.BootfileName), 'undionly.kpxe');
    assert.equal(getText(p, Opt.TftpServerName), '10.77.1.1');
    assert.equal(getText(p, Opt.Hostname), 'node1.lab');
  });

  it('gives iPXE its script URL and 175.176=1', () => {
    const r = handle({ type: MessageType.Discover, ...PXE_BIOS, userClass: 'iPXE' });
    const p = reply(r);
    assert.equal(p.file, `http://10.77.1.1:8080/ipxe?mac=${MAC}`);
    assert.equal(p.options.get(Opt.Ipxe)?.toString('hex'), 'b00101');
  });

  it('answers UEFI HTTP boot with a URL and vendor class HTTPClient', () => {
    const p = reply(
      handle({ type: MessageType.Discover, arch: 16, vendorClass: 'HTTPClient:Arch:00016:UNDI:003000' }),
    );
    assert.equal(p.file, 'http://10.77.1.1:8080/boot/ipxe.efi');
    assert.equal(getText(p, Opt.VendorClass), 'HTTPClient');
  });

  it('moves a boot URL longer than the file field into option 67', () => {
    const long = {
      ...SETTINGS,
      boot: { ...SETTINGS.boot, httpUrl: `http://10.77.1.1:8080/${'x'.repeat(120)}` },
    };
    const packet = request({ mac: MAC, type: MessageType.Discover, userClass: 'iPXE' });
    const r = createServerModeHandler(long).handle({
      packet,
      messageType: MessageType.Discover,
      client: describeClient(packet, MAC),
      host: hostRecord(MAC, { open: true }),
      iface: IFACE,
      port: 67,
      source: { address: '0.0.0.0', port: 68 },
      ownAddresses: new Set(['10.77.1.1']),
    });
    const p = reply(r);
    assert.equal(p.file, '');
    assert.match(getText(p, Opt.BootfileName) ?? '', /\/ipxe\?mac=52:54:00:77:01:02$/);
    serializeDhcp(p);
  });

  it('gives a gated host its address but no boot file, and counts it', () => {
    const r = handle({ type: MessageType.Discover, ...PXE_BIOS }, hostRecord(MAC, { open: false }));
    const p = reply(r);
    assert.equal(p.yiaddr, '10.77.1.10');
    assert.equal(p.file, '');
    assert.equal(p.siaddr, '0.0.0.0');
    assert.equal(p.options.has(Opt.Ipxe), false);
    assert.deepEqual(r.counters, ['offers', 'gated']);
    assert.match(r.event?.detail ?? '', /gate closed/);
    // An OS's own DHCP client on a gated host is not "gated": it never asked to netboot.
    assert.deepEqual(handle({ type: MessageType.Discover }, hostRecord(MAC, { open: false })).counters, [
      'offers',
    ]);
  });

  it('ACKs a SELECTING request for the reservation and binds it', () => {
    const r = handle({
      type: MessageType.Request,
      serverId: '10.77.1.1',
      requestedIp: '10.77.1.10',
      ...PXE_BIOS,
    });
    const p = reply(r);
    assert.equal(getU8(p, Opt.MessageType), MessageType.Ack);
    assert.equal(p.yiaddr, '10.77.1.10');
    assert.equal(p.file, 'undionly.kpxe');
    assert.deepEqual(r.binding, { ip: '10.77.1.10', seconds: 600, source: 'ack' });
    assert.equal(r.event?.detail, 'DHCPACK 10.77.1.10 undionly.kpxe');
  });

  it('stays silent when the client selected another server', () => {
    const r = handle({ type: MessageType.Request, serverId: '10.77.1.2', requestedIp: '10.77.1.10' });
    assert.equal(r.reply, undefined);
    assert.deepEqual(r.counters, ['otherServer']);
  });

  it('NAKs a request for an address that is not the reservation, in every state', () => {
    for (const spec of [
      { type: MessageType.Request, serverId: '10.77.1.1', requestedIp: '10.77.1.99' },
      { type: MessageType.Request, requestedIp: '10.77.1.99' },
      { type: MessageType.Request, ciaddr: '10.77.1.99' },
    ]) {
      const r = handle(spec);
      const p = reply(r);
      assert.equal(getU8(p, Opt.MessageType), MessageType.Nak);
      assert.equal(p.yiaddr, '0.0.0.0');
      assert.equal(getText(p, Opt.Message), 'requested 10.77.1.99, reserved 10.77.1.10');
      assert.deepEqual(r.reply?.to, { address: '255.255.255.255', port: 68 }, 'a NAK is broadcast');
      assert.equal(r.binding, 'remove');
      assert.deepEqual(r.counters, ['naks']);
    }
  });

  it('ACKs INIT-REBOOT for the reservation and a renewal unicast to ciaddr', () => {
    const reboot = handle({ type: MessageType.Request, requestedIp: '10.77.1.10' });
    assert.equal(getU8(reply(reboot), Opt.MessageType), MessageType.Ack);
    const renew = handle({ type: MessageType.Request, ciaddr: '10.77.1.10' });
    const p = reply(renew);
    assert.equal(getU8(p, Opt.MessageType), MessageType.Ack);
    assert.equal(p.ciaddr, '10.77.1.10');
    assert.deepEqual(renew.reply?.to, { address: '10.77.1.10', port: 68 });
  });

  it('answers relayed requests through the relay and echoes option 82', () => {
    const relayInfo = Buffer.from([1, 3, 0x65, 0x74, 0x30]);
    const r = handle({ type: MessageType.Discover, giaddr: '10.77.1.254', relayInfo });
    assert.deepEqual(r.reply?.to, { address: '10.77.1.254', port: 67 });
    const p = reply(r);
    assert.equal(p.giaddr, '10.77.1.254');
    assert.deepEqual(p.options.get(Opt.RelayAgentInfo), relayInfo);
    const nak = handle({ type: MessageType.Request, giaddr: '10.77.1.254', requestedIp: '10.77.1.7' });
    assert.equal(
      (reply(nak).flags & BROADCAST_FLAG) !== 0,
      true,
      'a relayed NAK asks the relay to broadcast',
    );
  });

  it('accepts a relay off the subnet only when option 118 or 82.5 names the reserved subnet', () => {
    // SUBNET is 10.77.1.0/24; the relay's own address (giaddr) is on loopback, as the sim fleet's is.
    const inside = encodeIp('10.77.1.0');
    const outside = encodeIp('10.88.0.0');
    const relayed = (extra: Array<[number, Buffer]>, giaddr = '127.0.0.1') =>
      relayedFromSubnet(request({ mac: MAC, type: MessageType.Discover, giaddr, extra }), SUBNET.cidr);
    assert.equal(relayed([], '10.77.1.254'), true, 'giaddr on the subnet needs no selection option');
    assert.equal(relayed([]), false, 'giaddr elsewhere and no selection option');
    assert.equal(relayed([[Opt.SubnetSelection, inside]]), true);
    assert.equal(relayed([[Opt.SubnetSelection, outside]]), false, 'option 118 naming another subnet');
    assert.equal(relayed([[Opt.SubnetSelection, Buffer.from([10, 77, 1])]]), false, 'malformed option 118');
    const link = (ip: Buffer) => encodeSubOptions([[LINK_SELECTION_SUBOPTION, ip]]);
    assert.equal(relayed([[Opt.RelayAgentInfo, link(inside)]]), true, 'RFC 3527 link selection');
    assert.equal(relayed([[Opt.RelayAgentInfo, link(outside)]]), false);
    // Accepted, the request is answered through the relay at giaddr, and option 118 is echoed (RFC 3011 §3).
    const r = handle({
      type: MessageType.Discover,
      giaddr: '127.0.0.1',
      extra: [[Opt.SubnetSelection, inside]],
    });
    assert.deepEqual(r.reply?.to, { address: '127.0.0.1', port: 67 });
    const p = reply(r);
    assert.equal(p.yiaddr, '10.77.1.10');
    assert.equal(p.giaddr, '127.0.0.1');
    assert.deepEqual(p.options.get(Opt.SubnetSelection), inside);
  });

  it('echoes the client identifier and the broadcast flag', () => {
    const clientId = Buffer.from([1, 0x52, 0x54, 0, 0x77, 1, 2]);
    const p = reply(handle({ type: MessageType.Discover, clientId, broadcast: true }));
    assert.deepEqual(p.options.get(Opt.ClientId), clientId);
    assert.equal(p.flags, BROADCAST_FLAG);
  });

  it('records DECLINE and RELEASE and forgets the binding', () => {
    const d = handle({ type: MessageType.Decline, serverId: '10.77.1.1', requestedIp: '10.77.1.10' });
    assert.deepEqual([d.reply, d.counters, d.binding], [undefined, ['declines'], 'remove']);
    assert.match(d.event?.detail ?? '', /DHCPDECLINE 10\.77\.1\.10/);
    const rel = handle({ type: MessageType.Release, serverId: '10.77.1.1', ciaddr: '10.77.1.10' });
    assert.deepEqual([rel.reply, rel.counters, rel.binding], [undefined, ['releases'], 'remove']);
  });

  it('answers INFORM with options only, to the client address', () => {
    const r = handle({ type: MessageType.Inform, ciaddr: '10.77.1.10' });
    const p = reply(r);
    assert.equal(getU8(p, Opt.MessageType), MessageType.Ack);
    assert.equal(p.yiaddr, '0.0.0.0');
    assert.equal(p.options.has(Opt.LeaseTime), false);
    assert.equal(getIp(p, Opt.Router), '10.77.1.1');
    assert.deepEqual(r.reply?.to, { address: '10.77.1.10', port: 68 });
  });

  it('does not answer a host without an IPv4 reservation, and says why', () => {
    const r = handle({ type: MessageType.Discover }, hostRecord(MAC, { ip: undefined }));
    assert.deepEqual([r.reply, r.counters], [undefined, ['noAddress']]);
    assert.match(warnings.pop() ?? '', /node1 \(52:54:00:77:01:02\) has no IPv4 reservation/);
  });

  it('trims unrequested options to fit the client maximum message size', () => {
    const big = {
      ...SUBNET,
      dhcpOptions: Array.from({ length: 12 }, (_, i) => ({
        code: 200 + i,
        type: 'string' as const,
        value: 'y'.repeat(40),
      })),
    };
    const host = hostRecord(MAC, { open: true, subnet: big });
    const p = reply(handle({ type: MessageType.Discover, ...PXE_BIOS, params: [1, 3, 6, 205] }, host));
    assert.ok(encodedLength(p) <= 576 - 28, `${encodedLength(p)} bytes`);
    for (const code of [Opt.MessageType, Opt.ServerId, Opt.LeaseTime, Opt.SubnetMask, Opt.Router, 205]) {
      assert.ok(p.options.has(code), `kept option ${code}`);
    }
    assert.equal(p.options.has(211), false);
    const roomy = reply(handle({ type: MessageType.Discover, ...PXE_BIOS, maxSize: 1500 }, host));
    assert.ok(roomy.options.has(211), 'a client that accepts 1500 bytes gets everything');
  });
});
