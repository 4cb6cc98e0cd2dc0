// Plain-data fixtures for DHCP unit tests: a subnet, hosts, and client requests built option by option.
import type { AgentSubnet, NetbootEntry, Reservation } from '../../../../domain/site-model.ts';
import type { DhcpHostRecord } from '../../../../agent/dhcp/directory.ts';
import type { DhcpPacket } from '../../../../agent/dhcp/codec.ts';
import { BOOTREQUEST, BROADCAST_FLAG, chaddrFromMac, emptyPacket } from '../../../../agent/dhcp/codec.ts';
import { encodeIp, encodeU16, encodeU8, Opt } from '../../../../agent/dhcp/options.ts';

export const SUBNET: AgentSubnet = {
  id: 'lab',
  cidr: '10.77.1.0/24',
  netmask: '255.255.255.0',
  gateway: '10.77.1.1',
  dns: ['10.77.1.53', '10.77.1.54'],
  ntp: ['10.77.1.123', 'ntp.example.org'],
  domain: 'lab.example',
  dhcpOptions: [{ code: 224, type: 'string', value: 'vaquero-test' }],
};

export function netbootEntry(mac: string, open: boolean): NetbootEntry {
  return {
    site: 'lab',
    host: 'node1',
    mac,
    open,
    sot: 'sot',
    revision: 'r1',
    bootStage: open ? 1 : 0,
    workflowId: 'host/lab/node1',
    runId: 'run-1',
    updatedAt: 0,
  };
}

export function hostRecord(
  mac: string,
  /** `ip: undefined` (given, but undefined) makes a reservation without an address; absent: 10.77.1.10. */
  opts: { ip?: string | undefined; open?: boolean; subnet?: AgentSubnet; hostname?: string } = {},
): DhcpHostRecord {
  const ipv4 = 'ip' in opts ? opts.ip : '10.77.1.10';
  const reservation: Reservation = {
    host: 'node1',
    mac,
    ...(ipv4 !== undefined ? { ipv4 } : {}),
    ...(opts.hostname !== undefined ? { hostname: opts.hostname } : {}),
    subnet: (opts.subnet ?? SUBNET).id,
  };
  return {
    reservation,
    subnet: opts.subnet ?? SUBNET,
    ...(opts.open === undefined ? {} : { netboot: netbootEntry(mac, opts.open) }),
  };
}

export interface RequestSpec {
  mac?: string;
  type: number;
  xid?: number;
  ciaddr?: string;
  giaddr?: string;
  hops?: number;
  broadcast?: boolean;
  requestedIp?: string;
  serverId?: string;
  arch?: number;
  vendorClass?: string;
  /** Raw option 77 bytes (iPXE sends the bare string). */
  userClass?: string;
  ipxeOption?: boolean;
  uuid?: Buffer;
  params?: number[];
  maxSize?: number;
  clientId?: Buffer;
  relayInfo?: Buffer;
  extra?: Array<[number, Buffer]>;
}

export function request(spec: RequestSpec): DhcpPacket {
  const p = emptyPacket(BOOTREQUEST);
  p.xid = spec.xid ?? 0x1234abcd;
  p.chaddr = chaddrFromMac(spec.mac ?? '52:54:00:77:01:02');
  p.ciaddr = spec.ciaddr ?? '0.0.0.0';
  p.giaddr = spec.giaddr ?? '0.0.0.0';
  p.hops = spec.hops ?? (spec.giaddr ? 1 : 0);
  if (spec.broadcast) p.flags = BROADCAST_FLAG;
  const o = p.options;
  o.set(Opt.MessageType, encodeU8(spec.type));
  if (spec.requestedIp) o.set(Opt.RequestedIp, encodeIp(spec.requestedIp));
  if (spec.serverId) o.set(Opt.ServerId, encodeIp(spec.serverId));
  if (spec.params) o.set(Opt.ParameterList, Buffer.from(spec.params));
  if (spec.maxSize) o.set(Opt.MaxMessageSize, encodeU16(spec.maxSize));
  if (spec.vendorClass) o.set(Opt.VendorClass, Buffer.from(spec.vendorClass, 'latin1'));
  if (spec.userClass) o.set(Opt.UserClass, Buffer.from(spec.userClass, 'latin1'));
  if (spec.arch !== undefined) o.set(Opt.ClientArch, encodeU16(spec.arch));
  if (spec.uuid) o.set(Opt.ClientUuid, spec.uuid);
  if (spec.ipxeOption) o.set(Opt.Ipxe, Buffer.from([0x13, 0x01, 0x01])); // iPXE's own 175 (feature flags)
  if (spec.clientId) o.set(Opt.ClientId, spec.clientId);
  if (spec.relayInfo) o.set(Opt.RelayAgentInfo, spec.relayInfo);
  for (const [code, value] of spec.extra ?? []) o.set(code, value);
  return p;
}

/** Deterministic PRNG (mulberry32) so a failing fuzz case can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
