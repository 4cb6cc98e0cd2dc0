// The lab's network (LAB.md §1, §4.1, §4.6): one namespace holding a bridge with the agent's address and one
// tap per VM, so every DHCP/PXE packet stays inside it, and a "site router" namespace on a veth bridged in
// (where kea runs in proxy labs, since two DHCP servers cannot share a namespace). Everything is found again by
// name, so `destroyLabNetwork(name)` cleans up after a crashed run too.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';

export interface LabNetworkSpec {
  /** Namespace name; at most 11 characters, since interface names (15 at most) derive from it. */
  name: string;
  /** The /24's first three octets, e.g. "10.77.9": the bridge gets .1, the router .2. */
  prefix: string;
  /** Tap devices on the bridge, one per VM. */
  taps: number;
  /** The bridge's IPv6 /64 prefix (for router advertisements), e.g. "fd77:9::"; default fd77:<3rd octet>::. */
  ipv6Prefix?: string;
  /**
   * A relayed lab (lab/relay.ts): the VMs' taps go on a bridge of their own, a /24 with this prefix whose .1 is the
   * router namespace's second leg (where the relay runs), so the agent, on the lab bridge, is a subnet away.
   */
  relayPrefix?: string;
}

/** The VMs' segment of a relayed lab, behind the router namespace. */
export interface RelaySegment {
  /** The VMs' bridge (in the lab namespace, with no IPv4 address: nothing there answers the VMs directly). */
  bridge: string;
  /** The segment's subnet, a.b.c.0/24, and its gateway, the router's leg on it (a.b.c.1: the relay's giaddr). */
  cidr: string;
  gateway: string;
  /** The router's leg on the segment (the relay's downstream interface), with an IPv6 address for RAs. */
  ifname: string;
  ipv6: string;
}

export interface LabNetwork {
  name: string;
  /** The namespace holding the bridge, the taps, the agent and the VMs. */
  ns: string;
  bridge: string;
  /** The bridge's (the agent's) IPv4 address. */
  address: string;
  /** The subnet, a.b.c.0/24. */
  cidr: string;
  /** The bridge's address as a.b.c.1/24 (what the agent's DHCP interface config takes). */
  addressCidr: string;
  ipv6: string;
  taps: string[];
  /** The "site router": its own namespace on a veth bridged in, at .2 (where a site DHCP server such as kea runs). */
  router: { ns: string; ifname: string; address: string };
  /** A relayed lab: the VMs' segment behind the router (spec.relayPrefix). */
  relay?: RelaySegment;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export function routerNamespace(name: string): string {
  return `${name}-rtr`;
}

/** Fails loudly when the lab cannot be built here: namespaces, taps and QEMU's bridge need root. */
export function requireLabRoot(): void {
  if (process.getuid?.() !== 0)
    throw new Error('the netboot lab needs root (network namespaces, tap devices)');
}

function addNamespace(ns: string): void {
  ip('netns', 'add', ns);
  // DHCP clients and scripts write /etc/resolv.conf; `ip netns exec` bind-mounts this one over it instead.
  mkdirSync(`/etc/netns/${ns}`, { recursive: true });
  writeFileSync(`/etc/netns/${ns}/resolv.conf`, '# vaquero lab namespace\n');
  ip('-n', ns, 'link', 'set', 'lo', 'up');
}

export function createLabNetwork(spec: LabNetworkSpec): LabNetwork {
  if (!/^[a-z0-9][a-z0-9-]{0,10}$/.test(spec.name))
    throw new Error(`lab name "${spec.name}" must be 1-11 of a-z, 0-9, -`);
  if (!/^\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(spec.prefix))
    throw new Error(`lab prefix "${spec.prefix}" is not a.b.c`);
  const ns = spec.name;
  const bridge = `${ns}br`;
  const address = `${spec.prefix}.1`;
  const ipv6Prefix = spec.ipv6Prefix ?? `fd77:${spec.prefix.split('.')[2]}::`;
  const net: LabNetwork = {
    name: spec.name,
    ns,
    bridge,
    address,
    cidr: `${spec.prefix}.0/24`,
    addressCidr: `${address}/24`,
    ipv6: `${ipv6Prefix}1`,
    taps: Array.from({ length: spec.taps }, (_, i) => `${ns}t${i}`),
    router: { ns: routerNamespace(spec.name), ifname: `${ns}k1`, address: `${spec.prefix}.2` },
  };
  try {
    addNamespace(ns);
    ip('-n', ns, 'link', 'add', bridge, 'type', 'bridge');
    // No forwarding delay: a port joins the moment QEMU opens its tap, before the firmware's first DISCOVER.
    ip('-n', ns, 'link', 'set', bridge, 'type', 'bridge', 'forward_delay', '0');
    ip('-n', ns, 'addr', 'add', net.addressCidr, 'dev', bridge);
    // nodad: usable at once, so router advertisements go out from the first solicitation.
    ip('-n', ns, 'addr', 'add', `${net.ipv6}/64`, 'dev', bridge, 'nodad');
    ip('-n', ns, 'link', 'set', bridge, 'up');
    // A relayed lab's VMs are on a bridge of their own (QEMU opens its tap in this namespace).
    const vmBridge = spec.relayPrefix !== undefined ? `${ns}vb` : bridge;
    if (vmBridge !== bridge) {
      ip('-n', ns, 'link', 'add', vmBridge, 'type', 'bridge');
      ip('-n', ns, 'link', 'set', vmBridge, 'type', 'bridge', 'forward_delay', '0');
      ip('-n', ns, 'link', 'set', vmBridge, 'up');
    }
    for (const tap of net.taps) {
      ip('-n', ns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap');
      ip('-n', ns, 'link', 'set', tap, 'master', vmBridge);
      ip('-n', ns, 'link', 'set', tap, 'up');
    }
    // The router's veth is a port that is always up: it keeps the bridge's carrier while no VM runs (kea
    // refuses a NO-CARRIER interface). Its far end must live in another namespace: left up in this one, it
    // would hand every broadcast to this namespace a second time (each DHCP packet would reach the agent twice).
    const rns = net.router.ns;
    const near = `${ns}k0`;
    const far = net.router.ifname;
    addNamespace(rns);
    ip('-n', ns, 'link', 'add', near, 'type', 'veth', 'peer', 'name', far, 'netns', rns);
    ip('-n', ns, 'link', 'set', near, 'master', bridge);
    ip('-n', ns, 'link', 'set', near, 'up');
    ip('-n', rns, 'addr', 'add', `${net.router.address}/24`, 'dev', far);
    ip('-n', rns, 'link', 'set', far, 'up');
    if (spec.relayPrefix !== undefined) net.relay = addRelaySegment(net, vmBridge, spec.relayPrefix);
  } catch (err) {
    destroyLabNetwork(spec.name);
    throw err;
  }
  return net;
}

/**
 * The router's second leg, on the VMs' bridge: the segment's gateway and the relay's downstream side. The router
 * forwards between the segments (the VMs reach the agent's HTTP and TFTP through it), and the lab namespace routes
 * the segment through the router's address on the lab bridge.
 */
function addRelaySegment(net: LabNetwork, vmBridge: string, prefix: string): RelaySegment {
  if (!/^\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(prefix)) throw new Error(`relay prefix "${prefix}" is not a.b.c`);
  const { ns } = net;
  const rns = net.router.ns;
  const near = `${ns}r0`;
  const seg: RelaySegment = {
    bridge: vmBridge,
    cidr: `${prefix}.0/24`,
    gateway: `${prefix}.1`,
    ifname: `${ns}r1`,
    ipv6: `fd77:${prefix.split('.')[2]}::1`,
  };
  ip('-n', ns, 'link', 'add', near, 'type', 'veth', 'peer', 'name', seg.ifname, 'netns', rns);
  ip('-n', ns, 'link', 'set', near, 'master', vmBridge);
  ip('-n', ns, 'link', 'set', near, 'up');
  ip('-n', rns, 'addr', 'add', `${seg.gateway}/24`, 'dev', seg.ifname);
  ip('-n', rns, 'addr', 'add', `${seg.ipv6}/64`, 'dev', seg.ifname, 'nodad');
  ip('-n', rns, 'link', 'set', seg.ifname, 'up');
  execFileSync('ip', ['netns', 'exec', rns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  ip('-n', ns, 'route', 'add', seg.cidr, 'via', net.router.address);
  // The VMs' bridge lives in this namespace only because QEMU opens its taps here: nothing of it may reach this
  // namespace's own sockets. Node has no SO_BINDTODEVICE, so the agent's socket on 0.0.0.0:67 would hear the VMs'
  // broadcasts straight off the bridge, which an agent a subnet away never does. (Bridged frames are untouched.)
  execFileSync('ip', ['netns', 'exec', ns, 'iptables', '-A', 'INPUT', '-i', vmBridge, '-j', 'DROP']);
  return seg;
}

/** Removes the lab's namespaces (with every interface in them) and their /etc/netns dirs; missing is fine. */
export function destroyLabNetwork(name: string): void {
  for (const ns of [routerNamespace(name), name]) {
    if (existsSync(`/run/netns/${ns}`)) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // Gone meanwhile.
      }
    }
    rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
  }
}

/** The namespaces of lab `name` that exist now (empty after a clean destroy). */
export function labNamespaces(name: string): string[] {
  const present = existsSync('/run/netns') ? readdirSync('/run/netns') : [];
  return present.filter((ns) => ns === name || ns === routerNamespace(name));
}
