// MAC ↔ IPv4 of the clients the DHCP side has seen bound, so TFTP and HTTP (which see only a source address)
// can tell which host is fetching. In server mode an entry comes from our DHCPACK; in proxy mode the address is
// given by another server, so it is learnt from what the client itself says (requested address, ciaddr).

export type BindingSource = 'ack' | 'observed';

export interface Binding {
  mac: string;
  ip: string;
  /** Epoch ms. */
  expiresAt: number;
  source: BindingSource;
}

/** The read side other parts of the agent use. */
export interface DhcpBindings {
  macForIp(ip: string): string | undefined;
  ipForMac(mac: string): string | undefined;
  list(): Binding[];
}

export class BindingTable implements DhcpBindings {
  private readonly byMac = new Map<string, Binding>();
  private readonly byIp = new Map<string, Binding>();

  constructor(
    /** Bounded so a flood of spoofed MACs cannot grow memory without end; the oldest entry goes first. */
    private readonly maxEntries = 65_536,
    private readonly now: () => number = Date.now,
  ) {}

  set(mac: string, ip: string, seconds: number, source: BindingSource): void {
    this.remove(mac);
    const stale = this.byIp.get(ip);
    if (stale) this.remove(stale.mac);
    const b: Binding = { mac, ip, expiresAt: this.now() + seconds * 1000, source };
    this.byMac.set(mac, b);
    this.byIp.set(ip, b);
    while (this.byMac.size > this.maxEntries) {
      const oldest = this.byMac.keys().next().value;
      if (oldest === undefined) break;
      this.remove(oldest);
    }
  }

  remove(mac: string): void {
    const b = this.byMac.get(mac);
    if (!b) return;
    this.byMac.delete(mac);
    if (this.byIp.get(b.ip) === b) this.byIp.delete(b.ip);
  }

  private live(b: Binding | undefined): Binding | undefined {
    if (!b) return undefined;
    if (b.expiresAt > this.now()) return b;
    this.remove(b.mac);
    return undefined;
  }

  macForIp(ip: string): string | undefined {
    return this.live(this.byIp.get(ip))?.mac;
  }

  ipForMac(mac: string): string | undefined {
    return this.live(this.byMac.get(mac.toLowerCase()))?.ip;
  }

  list(): Binding[] {
    const now = this.now();
    return [...this.byMac.values()].filter((b) => b.expiresAt > now).map((b) => ({ ...b }));
  }
}
