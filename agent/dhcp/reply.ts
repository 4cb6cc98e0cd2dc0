// Building blocks both modes use to answer: the reply skeleton (RFC 2131 table 3), subnet options, boot
// options, where the reply goes (RFC 2131 §4.1) and trimming it to what the client accepts.
import type { AgentSubnet } from '../../domain/site-model.ts';
import type { BootDecision } from './boot.ts';
import type { ClientInfo } from './client-info.ts';
import type { DhcpPacket } from './codec.ts';
import { BOOTREPLY, BROADCAST_FLAG, emptyPacket, encodedLength } from './codec.ts';
import type { DhcpPorts, Endpoint } from './handler.ts';
import { formatIpv4, isIpv4, parseCidr } from './ipv4.ts';
import {
  encodeIp,
  encodeIps,
  encodeSiteOption,
  encodeSubOptions,
  encodeText,
  encodeU32,
  encodeU8,
  getParameterList,
  getU16,
  IpxeOpt,
  MessageType,
  Opt,
  PXE_USE_BOOTFILE,
  PxeOpt,
} from './options.ts';

const ZERO = '0.0.0.0';
const LIMITED_BROADCAST = '255.255.255.255';
/** IPv4 + UDP headers: option 57 counts the whole datagram, the limit here is for the DHCP payload. */
const IP_UDP_HEADERS = 28;
const MIN_DATAGRAM = 576;
const MAX_DATAGRAM = 1500;

/** A reply to `req`: xid, flags, giaddr and chaddr copied; message type and server identifier set. */
export function startReply(req: DhcpPacket, type: number, serverId: string): DhcpPacket {
  const reply = emptyPacket(BOOTREPLY);
  reply.htype = req.htype;
  reply.hlen = req.hlen;
  reply.xid = req.xid;
  reply.flags = req.flags & BROADCAST_FLAG;
  reply.giaddr = req.giaddr;
  reply.chaddr = Buffer.from(req.chaddr);
  reply.options.set(Opt.MessageType, encodeU8(type));
  reply.options.set(Opt.ServerId, encodeIp(serverId));
  return reply;
}

interface EncodedSubnet {
  options: Array<[number, Buffer]>;
  errors: string[];
}

// Subnets come from the model and change only with it: encode each once, report its bad options once.
const subnetCache = new WeakMap<AgentSubnet, EncodedSubnet>();

/** Mask, router, DNS, domain, broadcast, NTP, then the subnet's own dhcp_options (which win on a shared code). */
export function encodeSubnet(subnet: AgentSubnet): EncodedSubnet {
  const cached = subnetCache.get(subnet);
  if (cached) return cached;
  const byCode = new Map<number, Buffer>();
  const errors: string[] = [];
  const net = parseCidr(subnet.cidr);
  if (isIpv4(subnet.netmask)) byCode.set(Opt.SubnetMask, encodeIp(subnet.netmask));
  else if (net) byCode.set(Opt.SubnetMask, encodeIp(formatIpv4(net.mask)));
  if (subnet.gateway && isIpv4(subnet.gateway)) byCode.set(Opt.Router, encodeIp(subnet.gateway));
  const dns = subnet.dns.filter(isIpv4);
  if (dns.length) byCode.set(Opt.DomainServer, encodeIps(dns));
  if (subnet.domain) byCode.set(Opt.DomainName, encodeText(subnet.domain));
  if (net) byCode.set(Opt.BroadcastAddress, encodeIp(formatIpv4(net.broadcast)));
  // Option 42 carries addresses only; NTP names in the SoT are for the installed OS, not for DHCP.
  const ntp = subnet.ntp.filter(isIpv4);
  if (ntp.length) byCode.set(Opt.NtpServers, encodeIps(ntp));
  for (const opt of subnet.dhcpOptions) {
    const enc = encodeSiteOption(opt);
    if (enc.value) byCode.set(enc.code, enc.value);
    else errors.push(`subnet ${subnet.id}: ${enc.error}`);
  }
  const out = { options: [...byCode], errors };
  subnetCache.set(subnet, out);
  return out;
}

export function addLeaseTimes(reply: DhcpPacket, seconds: number): void {
  reply.options.set(Opt.LeaseTime, encodeU32(seconds));
  reply.options.set(Opt.RenewalTime, encodeU32(Math.floor(seconds / 2)));
  reply.options.set(Opt.RebindingTime, encodeU32(Math.floor((seconds * 7) / 8)));
}

/**
 * Puts a boot decision on a reply: siaddr and the file field (the classic BOOTP place every PXE ROM reads),
 * options 66/67 when asked for or when the name does not fit the field, iPXE's 175.176 and the vendor class.
 */
export function addBoot(
  reply: DhcpPacket,
  req: DhcpPacket,
  decision: Extract<BootDecision, { boot: true }>,
  pxe: { vendorClass?: string; discoveryControl: boolean; client: ClientInfo },
): void {
  const asked = req.options.get(Opt.ParameterList);
  reply.siaddr = decision.siaddr;
  const fits = Buffer.byteLength(decision.file, 'latin1') <= 127;
  if (fits) reply.file = decision.file;
  if (!fits || asked?.includes(Opt.BootfileName))
    reply.options.set(Opt.BootfileName, encodeText(decision.file));
  if (asked?.includes(Opt.TftpServerName)) reply.options.set(Opt.TftpServerName, encodeText(decision.siaddr));
  const vendorClass = decision.vendorClass ?? pxe.vendorClass;
  if (vendorClass) reply.options.set(Opt.VendorClass, encodeText(vendorClass));
  if (pxe.discoveryControl && vendorClass === 'PXEClient') {
    reply.options.set(
      Opt.VendorSpecific,
      encodeSubOptions([[PxeOpt.DiscoveryControl, encodeU8(PXE_USE_BOOTFILE)]]),
    );
  }
  if (pxe.client.uuid && vendorClass) reply.options.set(Opt.ClientUuid, Buffer.from(pxe.client.uuid));
  if (decision.ipxeNoProxyWait)
    reply.options.set(Opt.Ipxe, encodeSubOptions([[IpxeOpt.NoPxeDhcp, encodeU8(1)]]));
}

/**
 * Client identifier (RFC 6842: servers echo it), relay agent information (RFC 3046: echoed to the relay) and
 * subnet selection (RFC 3011).
 */
export function addEchoes(reply: DhcpPacket, req: DhcpPacket): void {
  const clientId = req.options.get(Opt.ClientId);
  if (clientId) reply.options.set(Opt.ClientId, Buffer.from(clientId));
  const relay = req.options.get(Opt.RelayAgentInfo);
  // Only a relay adds option 82; a client that sends one is not owed an echo.
  if (relay && req.giaddr !== ZERO) reply.options.set(Opt.RelayAgentInfo, Buffer.from(relay));
  // RFC 3011 §3: a server that honours subnet selection returns it unchanged.
  const subnetSelection = req.options.get(Opt.SubnetSelection);
  if (subnetSelection) reply.options.set(Opt.SubnetSelection, Buffer.from(subnetSelection));
}

/**
 * Where a reply goes (RFC 2131 §4.1): through the relay when there is one, unicast to a client that already has
 * an address, broadcast otherwise. Unicast to yiaddr before the client has it needs an ARP entry we cannot
 * make from Node, so those replies are broadcast too, as the client's stack accepts either.
 */
export function replyDestination(req: DhcpPacket, reply: DhcpPacket, ports: DhcpPorts): Endpoint {
  const nak = reply.options.get(Opt.MessageType)?.[0] === MessageType.Nak;
  if (req.giaddr !== ZERO) {
    if (nak) reply.flags |= BROADCAST_FLAG;
    return { address: req.giaddr, port: ports.relay };
  }
  if (!nak && req.ciaddr !== ZERO) return { address: req.ciaddr, port: ports.client };
  return { address: LIMITED_BROADCAST, port: ports.client };
}

/** Options that must survive trimming: without them the reply means something else or nothing. */
const ESSENTIAL = new Set<number>([
  Opt.MessageType,
  Opt.ServerId,
  Opt.LeaseTime,
  Opt.SubnetMask,
  Opt.VendorClass,
  Opt.VendorSpecific,
  Opt.Ipxe,
  Opt.ClientId,
  Opt.RelayAgentInfo,
]);

/**
 * Drops options until the reply fits the client's maximum message size (option 57, at least 576 per RFC 2131,
 * at most one Ethernet frame): options the client did not ask for go first, last added first.
 */
export function fitReply(reply: DhcpPacket, req: DhcpPacket): string[] {
  const datagram = Math.min(
    Math.max(getU16(req, Opt.MaxMessageSize) ?? MIN_DATAGRAM, MIN_DATAGRAM),
    MAX_DATAGRAM,
  );
  const limit = datagram - IP_UDP_HEADERS;
  const dropped: string[] = [];
  if (encodedLength(reply) <= limit) return dropped;
  const asked = new Set(getParameterList(req));
  const codes = [...reply.options.keys()].reverse();
  const order = [...codes.filter((c) => !asked.has(c)), ...codes.filter((c) => asked.has(c))];
  for (const code of order) {
    if (encodedLength(reply) <= limit) break;
    if (ESSENTIAL.has(code)) continue;
    // A boot file name too long for the file field lives only in option 67.
    if (code === Opt.BootfileName && reply.file === '') continue;
    reply.options.delete(code);
    dropped.push(String(code));
  }
  return dropped;
}
