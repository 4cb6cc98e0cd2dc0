// The interfaces a DHCP server answers on. Node cannot bind a socket to a device (no SO_BINDTODEVICE) nor read
// the arrival interface of a broadcast (no IP_PKTINFO), so the interface of a reply is chosen from addresses:
// the one inside the client's subnet, or the one on the relay's network (LAB.md §7.3).
import type { Ipv4Net } from './ipv4.ts';
import { formatIpv4, maskToPrefix, netContains, netOf, parseCidr, parseIpv4 } from './ipv4.ts';

export interface DhcpInterfaceConfig {
  /** Device name, for logs and events only. */
  name: string;
  /** The agent's address on it: server identifier, source of replies, default next-server. */
  address: string;
  /** One of netmask or cidr (`a.b.c.d/n`, host or network address) gives the prefix. */
  netmask?: string;
  cidr?: string;
  /** Defaults to the subnet-directed broadcast of address/prefix; used when replies go to the subnet broadcast. */
  broadcast?: string;
}

export interface ServedInterface {
  name: string;
  address: string;
  net: Ipv4Net;
  broadcast: string;
}

export function normalizeInterface(cfg: DhcpInterfaceConfig): ServedInterface {
  const address = parseIpv4(cfg.address);
  if (address === undefined)
    throw new Error(`interface ${cfg.name}: address ${JSON.stringify(cfg.address)} is not IPv4`);
  let prefix: number | undefined;
  if (cfg.cidr !== undefined) prefix = parseCidr(cfg.cidr)?.prefix;
  else if (cfg.netmask !== undefined) {
    const mask = parseIpv4(cfg.netmask);
    prefix = mask === undefined ? undefined : maskToPrefix(mask);
  }
  if (prefix === undefined) throw new Error(`interface ${cfg.name}: needs a valid netmask or cidr`);
  const net = netOf(address, prefix);
  const broadcast = cfg.broadcast ?? formatIpv4(net.broadcast);
  if (parseIpv4(broadcast) === undefined)
    throw new Error(`interface ${cfg.name}: broadcast ${JSON.stringify(broadcast)} is not IPv4`);
  return { name: cfg.name, address: cfg.address, net, broadcast };
}

/** The interface whose own network contains `ip` (a relay's giaddr, a client's address). */
export function interfaceOnNetOf(
  ifaces: readonly ServedInterface[],
  ip: string,
): ServedInterface | undefined {
  const a = parseIpv4(ip);
  if (a === undefined) return undefined;
  return ifaces.find((i) => netContains(i.net, a));
}

/** The interface whose address lies inside `cidr`: the agent's leg on that subnet. */
export function interfaceInside(
  ifaces: readonly ServedInterface[],
  cidr: string,
): ServedInterface | undefined {
  const net = parseCidr(cidr);
  if (!net) return undefined;
  return ifaces.find((i) => netContains(net, parseIpv4(i.address)!));
}
