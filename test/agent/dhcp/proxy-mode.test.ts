// Proxy-mode handler without sockets: boot information only, never an address; port 67 and port 4011.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeClient } from '../../../agent/dhcp/client-info.ts';
import type { DhcpHostRecord } from '../../../agent/dhcp/directory.ts';
import type { HandlerResult, ModeSettings } from '../../../agent/dhcp/handler.ts';
import { DEFAULT_PORTS } from '../../../agent/dhcp/handler.ts';
import { normalizeInterface } from '../../../agent/dhcp/interfaces.ts';
import { getIp, getText, getU8, MessageType, Opt } from '../../../agent/dhcp/options.ts';
import { createProxyModeHandler } from '../../../agent/dhcp/proxy-mode.ts';
import type { RequestSpec } from './support/fixtures.ts';
import { hostRecord, request } from './support/fixtures.ts';

const MAC = '52:54:00:77:01:02';
const IFACE = normalizeInterface({ name: 'br0', address: '10.77.1.1', netmask: '255.255.255.0' });
const SETTINGS: ModeSettings = {
  boot: {
    httpUrl: 'http://10.77.1.1:8080',
    httpBootUrl: 'http://10.77.1.1:8080/boot',
    files: { bios: 'undionly.kpxe', uefiX64: 'ipxe.efi', arm64: 'ipxe-arm64.efi' },
  },
  leaseSeconds: 600,
  ports: DEFAULT_PORTS,
};
const handler = createProxyModeHandler(SETTINGS);
const UUID = Buffer.from('00' + '11'.repeat(16), 'hex');
const EFI = { arch: 7, vendorClass: 'PXEClient:Arch:00007:UNDI:003000', uuid: UUID };

function handle(
  spec: RequestSpec,
  opts: { port?: number; source?: string; host?: DhcpHostRecord } = {},
): HandlerResult {
  const packet = request({ mac: MAC, ...spec });
  return handler.handle({
    packet,
    messageType: spec.type,
    client: describeClient(packet, MAC),
    host: opts.host ?? hostRecord(MAC, { open: true, ip: undefined }),
    iface: IFACE,
    port: opts.port ?? 67,
    source: { address: opts.source ?? '0.0.0.0', port: opts.port ?? 68 },
    ownAddresses: new Set(['10.77.1.1']),
  });
}

describe('proxy mode handler', () => {
  it('answers a PXE DISCOVER with a proxy offer: no address, PXEClient, boot file, no option 43 (so 4011 follows)', () => {
    const r = handle({ type: MessageType.Discover, ...EFI });
    const p = r.reply?.packet;
    assert.ok(p);
    assert.equal(getU8(p, Opt.MessageType), MessageType.Offer);
    assert.equal(p.yiaddr, '0.0.0.0');
    assert.equal(p.options.has(Opt.LeaseTime), false);
    assert.equal(p.options.has(Opt.SubnetMask), false, 'network settings are the site server’s');
    assert.equal(getText(p, Opt.VendorClass), 'PXEClient');
    assert.equal(p.options.has(Opt.VendorSpecific), false, 'a BINL offer: the firmware asks again on 4011');
    assert.deepEqual(p.options.get(Opt.ClientUuid), UUID);
    assert.equal(getIp(p, Opt.ServerId), '10.77.1.1');
    assert.equal(p.siaddr, '10.77.1.1');
    assert.equal(p.file, 'ipxe.efi');
    assert.deepEqual(r.reply?.to, { address: '255.255.255.255', port: 68 });
    assert.deepEqual(r.counters, ['proxyReplies']);
    assert.equal(r.event?.detail, 'proxy offer ipxe.efi');
    const wish = handle({ type: MessageType.Discover, ...EFI, requestedIp: '10.77.1.201' });
    assert.equal(wish.binding, undefined, 'an address a DISCOVER wishes for is not a binding');
  });

  it('gives iPXE its script URL without 175.176 (the proxy offer is what it waits for)', () => {
    const p = handle({ type: MessageType.Discover, ...EFI, userClass: 'iPXE' }).reply?.packet;
    assert.equal(p?.file, `http://10.77.1.1:8080/ipxe?mac=${MAC}`);
    assert.equal(p?.options.has(Opt.Ipxe), false);
  });

  it('ignores clients that do not netboot and counts gated hosts', () => {
    const plain = handle({ type: MessageType.Discover });
    assert.deepEqual([plain.reply, plain.counters], [undefined, ['ignored']]);
    const gated = handle({ type: MessageType.Discover, ...EFI }, { host: hostRecord(MAC, { open: false }) });
    assert.deepEqual([gated.reply, gated.counters], [undefined, ['gated']]);
  });

  it('answers the REQUEST to port 4011 from 4011, to the client, and learns its address', () => {
    const r = handle(
      { type: MessageType.Request, ciaddr: '10.77.1.200', ...EFI },
      { port: 4011, source: '10.77.1.200' },
    );
    const p = r.reply?.packet;
    assert.ok(p);
    assert.equal(getU8(p, Opt.MessageType), MessageType.Ack);
    assert.equal(p.yiaddr, '0.0.0.0');
    assert.equal(p.ciaddr, '10.77.1.200');
    assert.equal(p.file, 'ipxe.efi');
    assert.equal(
      p.options.get(Opt.VendorSpecific)?.toString('hex'),
      '060108',
      'use the boot file: no boot server discovery',
    );
    assert.deepEqual(r.reply?.to, { address: '10.77.1.200', port: 4011 });
    assert.deepEqual(r.binding, { ip: '10.77.1.200', seconds: 600, source: 'observed' });
    assert.equal(r.event?.detail, 'proxy ack ipxe.efi (port 4011)');
  });

  it('a GRUB host (its stage says loader grub) is offered shim on 67 and on 4011, as in server mode', () => {
    const grub = hostRecord(MAC, { open: true, ip: undefined });
    grub.netboot!.artifacts = {
      bootStage: 1,
      ipxe: '#!ipxe\n',
      kernel: 'http://10.77.1.1:8080/assets/linux',
      initrds: [],
      cmdline: 'quiet',
      loader: 'grub',
      grub: 'linux (tftp,10.77.1.1)/assets/linux quiet\nboot\n',
    };
    const offer = handle({ type: MessageType.Discover, ...EFI }, { host: grub }).reply?.packet;
    assert.equal(offer?.file, 'shimx64.efi');
    assert.equal(offer?.siaddr, '10.77.1.1');
    assert.equal(offer?.options.has(Opt.VendorSpecific), false, 'a BINL offer first, as for iPXE');
    const ack = handle(
      { type: MessageType.Request, ciaddr: '10.77.1.200', ...EFI },
      { port: 4011, source: '10.77.1.200', host: grub },
    );
    assert.equal(ack.reply?.packet.file, 'shimx64.efi');
    assert.equal(ack.reply?.packet.options.get(Opt.VendorSpecific)?.toString('hex'), '060108');
    assert.equal(ack.event?.detail, 'proxy ack shimx64.efi (port 4011)');
    // iPXE never reaches GRUB (it cannot hand shim the firmware's network): no boot file, said in the event.
    const viaIpxe = handle({ type: MessageType.Discover, ...EFI, userClass: 'iPXE' }, { host: grub });
    assert.equal(viaIpxe.reply, undefined);
    assert.equal(
      viaIpxe.refused,
      "no boot file for iPXE: the host's stage boots through GRUB, and iPXE cannot hand shim the firmware’s network",
    );
  });

  it('leaves REQUESTs for the site server alone but learns the requested address', () => {
    const r = handle({
      type: MessageType.Request,
      serverId: '10.77.1.2',
      requestedIp: '10.77.1.201',
      ...EFI,
    });
    assert.equal(r.reply, undefined);
    assert.deepEqual(r.counters, ['otherServer']);
    assert.deepEqual(r.binding, { ip: '10.77.1.201', seconds: 600, source: 'observed' });
    const outside = handle({ type: MessageType.Request, serverId: '10.77.1.2', requestedIp: '192.0.2.1' });
    assert.equal(outside.binding, undefined, 'an address outside the subnet is not believed');
  });

  it('answers a REQUEST that names the proxy as server on port 67', () => {
    const r = handle({ type: MessageType.Request, serverId: '10.77.1.1', ...EFI });
    assert.equal(getU8(r.reply!.packet, Opt.MessageType), MessageType.Ack);
    assert.deepEqual(r.counters, ['proxyReplies']);
  });

  it('relays: a proxy offer for a relayed DISCOVER goes to the relay', () => {
    const r = handle({ type: MessageType.Discover, giaddr: '10.77.1.254', ...EFI });
    assert.deepEqual(r.reply?.to, { address: '10.77.1.254', port: 67 });
  });
});
