// IPv4 arithmetic on unsigned 32-bit numbers: the DHCP code compares addresses and subnets constantly, and
// strings would make every comparison a parse.

/** The address as an unsigned 32-bit number, or undefined when `s` is not dotted-quad IPv4. */
export function parseIpv4(s: string): number | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].join('.');
}

export function isIpv4(s: string): boolean {
  return parseIpv4(s) !== undefined;
}

export function prefixToMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Prefix length of a contiguous netmask, or undefined for a non-contiguous one. */
export function maskToPrefix(mask: number): number | undefined {
  for (let p = 0; p <= 32; p++) if (prefixToMask(p) === mask) return p;
  return undefined;
}

export interface Ipv4Net {
  network: number;
  prefix: number;
  mask: number;
  broadcast: number;
}

export function netOf(address: number, prefix: number): Ipv4Net {
  const mask = prefixToMask(prefix);
  const network = (address & mask) >>> 0;
  return { network, prefix, mask, broadcast: (network | (~mask >>> 0)) >>> 0 };
}

/** Parses `a.b.c.d/n`; the address part may be a host address (it is masked). */
export function parseCidr(cidr: string): Ipv4Net | undefined {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(cidr);
  if (!m) return undefined;
  const address = parseIpv4(m[1]!);
  const prefix = Number(m[2]);
  if (address === undefined || prefix > 32) return undefined;
  return netOf(address, prefix);
}

export function netContains(net: Ipv4Net, address: number): boolean {
  return (address & net.mask) >>> 0 === net.network;
}

/** True when `cidr` parses and contains the dotted-quad `ip`. */
export function cidrContains(cidr: string, ip: string): boolean {
  const net = parseCidr(cidr);
  const a = parseIpv4(ip);
  return net !== undefined && a !== undefined && netContains(net, a);
}
