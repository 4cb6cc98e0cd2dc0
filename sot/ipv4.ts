// IPv4 arithmetic on 32-bit unsigned integers; inputs are already schema-checked, so parsing never fails here.

export interface Cidr {
  /** The network address (host bits cleared). */
  network: number;
  prefix: number;
  /** The last address of the range. */
  last: number;
  /** As written, which may have host bits set. */
  text: string;
}

export function ipToInt(ip: string): number {
  return ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function parseCidr(text: string): Cidr {
  const [ip, len] = text.split('/');
  const prefix = Number(len);
  const size = 2 ** (32 - prefix);
  const network = ipToInt(ip!) - (ipToInt(ip!) % size);
  return { network, prefix, last: network + size - 1, text };
}

export function cidrText(c: Cidr): string {
  return `${intToIp(c.network)}/${c.prefix}`;
}

export function hasHostBits(c: Cidr): boolean {
  return ipToInt(c.text.split('/')[0]!) !== c.network;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.network <= b.last && b.network <= a.last;
}

/**
 * Why `ip` cannot be a host address in `c`, or undefined when it can. /31 and /32 have no network or broadcast
 * address (RFC 3021), so every address of theirs is usable.
 */
export function hostAddressProblem(ip: string, c: Cidr): string | undefined {
  const n = ipToInt(ip);
  if (n < c.network || n > c.last) return 'is outside';
  if (c.prefix <= 30 && n === c.network) return 'is the network address of';
  if (c.prefix <= 30 && n === c.last) return 'is the broadcast address of';
  return undefined;
}
