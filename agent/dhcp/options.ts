// Option codes and value encodings (RFC 2132, RFC 3004 user class, RFC 3046 relay agent information, RFC 3011
// subnet selection, RFC 4578
// PXE client options, iPXE's option 175) and the encoder for the SoT's typed `dhcp_options`. Decoders return
// undefined for values of the wrong shape instead of throwing: they read network input.
import type { AgentDhcpOption } from '../../domain/site-model.ts';
import type { DhcpPacket } from './codec.ts';
import { cidrContains, formatIpv4, parseIpv4 } from './ipv4.ts';

export const Opt = {
  SubnetMask: 1,
  Router: 3,
  DomainServer: 6,
  Hostname: 12,
  DomainName: 15,
  BroadcastAddress: 28,
  NtpServers: 42,
  VendorSpecific: 43,
  RequestedIp: 50,
  LeaseTime: 51,
  Overload: 52,
  MessageType: 53,
  ServerId: 54,
  ParameterList: 55,
  Message: 56,
  MaxMessageSize: 57,
  RenewalTime: 58,
  RebindingTime: 59,
  VendorClass: 60,
  ClientId: 61,
  TftpServerName: 66,
  BootfileName: 67,
  UserClass: 77,
  RelayAgentInfo: 82,
  ClientArch: 93,
  ClientNdi: 94,
  ClientUuid: 97,
  /** RFC 3011: the relay names the client's subnet when giaddr is not on it. */
  SubnetSelection: 118,
  Ipxe: 175,
} as const;

export const MessageType = {
  Discover: 1,
  Offer: 2,
  Request: 3,
  Decline: 4,
  Ack: 5,
  Nak: 6,
  Release: 7,
  Inform: 8,
} as const;

export const MESSAGE_NAMES: Record<number, string> = {
  1: 'DHCPDISCOVER',
  2: 'DHCPOFFER',
  3: 'DHCPREQUEST',
  4: 'DHCPDECLINE',
  5: 'DHCPACK',
  6: 'DHCPNAK',
  7: 'DHCPRELEASE',
  8: 'DHCPINFORM',
};

/** iPXE's encapsulated options inside 175 (iPXE's include/ipxe/dhcp.h). 176 = "no-pxedhcp": skip the ProxyDHCP wait. */
export const IpxeOpt = { NoPxeDhcp: 176 } as const;
/** PXE 2.1 vendor options inside 43. Discovery control bit 3: boot the file named in the offer, no discovery. */
export const PxeOpt = { DiscoveryControl: 6 } as const;
export const PXE_USE_BOOTFILE = 0x08;

export function encodeIp(ip: string): Buffer {
  const n = parseIpv4(ip);
  if (n === undefined) throw new TypeError(`${JSON.stringify(ip)} is not an IPv4 address`);
  // allocUnsafe (from Node's pool) where every byte is written: these run several times per answer.
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n);
  return b;
}

export function encodeIps(ips: readonly string[]): Buffer {
  return Buffer.concat(ips.map(encodeIp));
}

export function encodeU8(n: number): Buffer {
  return Buffer.from([n & 0xff]);
}

export function encodeU16(n: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(n & 0xffff);
  return b;
}

export function encodeU32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

export function encodeText(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

/** Code/length/value list, as used inside options 43, 82 and 175. */
export function encodeSubOptions(subs: ReadonlyArray<readonly [number, Buffer]>): Buffer {
  const parts: Buffer[] = [];
  for (const [code, value] of subs) {
    if (value.length > 255) throw new TypeError(`sub-option ${code} is ${value.length} bytes, at most 255`);
    parts.push(Buffer.from([code, value.length]), value);
  }
  return Buffer.concat(parts);
}

/** Parses a code/length/value list. Undefined when a length runs past the end (pad and end are honoured). */
export function decodeSubOptions(value: Buffer): Map<number, Buffer> | undefined {
  const out = new Map<number, Buffer>();
  let i = 0;
  while (i < value.length) {
    const code = value[i]!;
    if (code === 0) {
      i++;
      continue;
    }
    if (code === 255) break;
    if (i + 1 >= value.length) return undefined;
    const len = value[i + 1]!;
    if (i + 2 + len > value.length) return undefined;
    out.set(code, value.subarray(i + 2, i + 2 + len));
    i += 2 + len;
  }
  return out;
}

export function getU8(p: DhcpPacket, code: number): number | undefined {
  const v = p.options.get(code);
  return v && v.length === 1 ? v[0] : undefined;
}

export function getU16(p: DhcpPacket, code: number): number | undefined {
  const v = p.options.get(code);
  return v && v.length === 2 ? v.readUInt16BE(0) : undefined;
}

export function getIp(p: DhcpPacket, code: number): string | undefined {
  const v = p.options.get(code);
  return v && v.length === 4 ? formatIpv4(v.readUInt32BE(0)) : undefined;
}

/** Text option, without trailing NULs (several firmwares NUL-terminate). */
export function getText(p: DhcpPacket, code: number): string | undefined {
  const v = p.options.get(code);
  if (!v) return undefined;
  let end = v.length;
  while (end > 0 && v[end - 1] === 0) end--;
  return v.toString('latin1', 0, end);
}

export function getMessageType(p: DhcpPacket): number | undefined {
  return getU8(p, Opt.MessageType);
}

/** Option 55 as a list of codes (empty when absent). */
export function getParameterList(p: DhcpPacket): number[] {
  const v = p.options.get(Opt.ParameterList);
  return v ? [...v] : [];
}

/**
 * Option 77. RFC 3004 frames each class as length + data; iPXE (and some others) send one bare string, which
 * the framing test tells apart: a bare "iPXE" would claim 0x69 bytes for its first class.
 */
export function getUserClasses(p: DhcpPacket): string[] {
  const v = p.options.get(Opt.UserClass);
  if (!v || v.length === 0) return [];
  const framed: string[] = [];
  let i = 0;
  while (i < v.length) {
    const len = v[i]!;
    if (len === 0 || i + 1 + len > v.length) return [v.toString('latin1')];
    framed.push(v.toString('latin1', i + 1, i + 1 + len));
    i += 1 + len;
  }
  return framed;
}

/** Option 93: the client's architecture types, in the client's order (RFC 4578 §2.1). */
export function getClientArchs(p: DhcpPacket): number[] {
  const v = p.options.get(Opt.ClientArch);
  if (!v || v.length === 0 || v.length % 2 !== 0) return [];
  const out: number[] = [];
  for (let i = 0; i < v.length; i += 2) out.push(v.readUInt16BE(i));
  return out;
}

/** Option 94 (RFC 4578 §2.2): the client's network interface identifier, e.g. UNDI 3.16. */
export function getClientNdi(p: DhcpPacket): { type: number; major: number; minor: number } | undefined {
  const v = p.options.get(Opt.ClientNdi);
  return v && v.length === 3 ? { type: v[0]!, major: v[1]!, minor: v[2]! } : undefined;
}

/** Option 82's sub-options (RFC 3046: 1 circuit id, 2 remote id), undefined when absent or badly framed. */
export function getRelayAgentInfo(p: DhcpPacket): Map<number, Buffer> | undefined {
  const v = p.options.get(Opt.RelayAgentInfo);
  return v ? decodeSubOptions(v) : undefined;
}

/** RFC 3527: the link selection sub-option of option 82, the client's subnet as the relay names it. */
export const LINK_SELECTION_SUBOPTION = 5;

/**
 * Whether a relayed request comes from a segment inside `cidr`: giaddr itself is on it, or the relay names an
 * address on it with subnet selection (RFC 3011, option 118) or link selection (RFC 3527, option 82
 * sub-option 5) — how a relay whose own address is elsewhere says which subnet the client is on.
 */
export function relayedFromSubnet(p: DhcpPacket, cidr: string): boolean {
  if (cidrContains(cidr, p.giaddr)) return true;
  const link = getRelayAgentInfo(p)?.get(LINK_SELECTION_SUBOPTION);
  const named = [
    getIp(p, Opt.SubnetSelection),
    link?.length === 4 ? formatIpv4(link.readUInt32BE(0)) : undefined,
  ];
  return named.some((a) => a !== undefined && cidrContains(cidr, a));
}

/** iPXE's option 175 sub-options (its feature flags and settings), undefined when absent or badly framed. */
export function getIpxeOptions(p: DhcpPacket): Map<number, Buffer> | undefined {
  const v = p.options.get(Opt.Ipxe);
  return v ? decodeSubOptions(v) : undefined;
}

/**
 * Codes a subnet's dhcp_options may not set: they carry the protocol itself (message type, server identifier,
 * lease times, overload, what the client asked for), and a SoT value there would break every reply.
 */
export const PROTOCOL_OPTIONS: ReadonlySet<number> = new Set([
  Opt.RequestedIp,
  Opt.LeaseTime,
  Opt.Overload,
  Opt.MessageType,
  Opt.ServerId,
  Opt.ParameterList,
  Opt.Message,
  Opt.MaxMessageSize,
  Opt.RenewalTime,
  Opt.RebindingTime,
  Opt.ClientId,
  Opt.RelayAgentInfo,
]);

export interface EncodedSiteOption {
  code: number;
  value?: Buffer;
  error?: string;
}

/** The wire value of one SoT `dhcp_options` entry, or why it cannot be sent (SoT validation should prevent that). */
export function encodeSiteOption(opt: AgentDhcpOption): EncodedSiteOption {
  const { code, type, value } = opt;
  const bad = (why: string): EncodedSiteOption => ({ code, error: `option ${code} (${type}): ${why}` });
  if (!Number.isInteger(code) || code < 1 || code > 254) return bad('code must be 1..254');
  if (PROTOCOL_OPTIONS.has(code)) return bad('is set by the DHCP protocol, not by the site');
  const uint = (max: number, enc: (n: number) => Buffer): EncodedSiteOption =>
    typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= max
      ? { code, value: enc(value) }
      : bad(`must be an integer from 0 to ${max}`);
  switch (type) {
    case 'string':
      return typeof value === 'string' && value.length > 0
        ? { code, value: encodeText(value) }
        : bad('must be a non-empty string');
    case 'ip':
      return typeof value === 'string' && parseIpv4(value) !== undefined
        ? { code, value: encodeIp(value) }
        : bad('must be an IPv4 address');
    case 'ips': {
      const list = Array.isArray(value) ? value : [value];
      const ok = list.length > 0 && list.every((v) => typeof v === 'string' && parseIpv4(v) !== undefined);
      return ok
        ? { code, value: encodeIps(list as string[]) }
        : bad('must be a non-empty list of IPv4 addresses');
    }
    case 'u8':
      return uint(0xff, encodeU8);
    case 'u16':
      return uint(0xffff, encodeU16);
    case 'u32':
      return uint(0xffffffff, encodeU32);
    case 'bool':
      return typeof value === 'boolean'
        ? { code, value: encodeU8(value ? 1 : 0) }
        : bad('must be true or false');
    case 'hex':
      return typeof value === 'string' && /^(?:[0-9a-fA-F]{2})+$/.test(value)
        ? { code, value: Buffer.from(value, 'hex') }
        : bad('must be an even number of hex digits');
    default:
      return bad('unknown type');
  }
}
