// IPv4 arithmetic on unsigned 32-bit numbers: the DHCP code compares addresses and subnets constantly, and
// strings would make every comparison a parse.

/**
 * The address as an unsigned 32-bit number, or undefined when `s` is not dotted-quad IPv4 (four decimal parts of
 * one to three digits, each at most 255). Read character by character: it runs several times per DHCP answer.
 */
export function parseIpv4(s: string): number | undefined {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (++digits > 3) return undefined;
      part = part * 10 + (c - 48);
    } else if (c === 46) {
      if (digits === 0 || part > 255 || ++dots > 3) return undefined;
      n = n * 256 + part;
      part = 0;
      digits = 0;
    } else {
      return undefined;
    }
  }
  if (dots !== 3 || digits === 0 || part > 255) return undefined;
  return n * 256 + part;
}

export function formatIpv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
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
  readonly network: number;
  readonly prefix: number;
  readonly mask: number;
  readonly broadcast: number;
}

export function netOf(address: number, prefix: number): Ipv4Net {
  const mask = prefixToMask(prefix);
  const network = (address & mask) >>> 0;
  return { network, prefix, mask, broadcast: (network | (~mask >>> 0)) >>> 0 };
}

/** Parsed CIDRs by text: the DHCP server checks the same few subnets for every packet. */
const cidrCache = new Map<string, Ipv4Net | null>();
const CIDR_CACHE_MAX = 4096;

/** Parses `a.b.c.d/n`; the address part may be a host address (it is masked). The result is frozen (shared). */
export function parseCidr(cidr: string): Ipv4Net | undefined {
  const cached = cidrCache.get(cidr);
  if (cached !== undefined) return cached ?? undefined;
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(cidr);
  const address = m ? parseIpv4(m[1]!) : undefined;
  const prefix = m ? Number(m[2]) : 33;
  const net = address === undefined || prefix > 32 ? undefined : Object.freeze(netOf(address, prefix));
  // Bounded: texts come from the site model and the config, but a long-running agent sees every model's.
  if (cidrCache.size >= CIDR_CACHE_MAX) cidrCache.clear();
  cidrCache.set(cidr, net ?? null);
  return net;
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
