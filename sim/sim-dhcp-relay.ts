// The DHCP side of sim hosts that boot through a real agent. A server's replies go to broadcast, or to a relay
// at giaddr: broadcast cannot reach many sim hosts sharing one loopback, so the fleet acts as their DHCP relay
// agent (RFC 1542), as a router between the hosts' segments and the agent would. One UDP socket on
// 127.0.0.1:<relay port> forwards each host's DISCOVER and REQUEST to the agent with giaddr 127.0.0.1 and, since
// that address is on no host's subnet, names the host's subnet in option 118 (RFC 3011 subnet selection). The
// agent answers the relay; replies are matched to their exchange by xid.
import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import {
  BOOTREPLY,
  BOOTREQUEST,
  chaddrFromMac,
  emptyPacket,
  parseDhcp,
  serializeDhcp,
} from '../agent/dhcp/codec.ts';
import type { DhcpPacket } from '../agent/dhcp/codec.ts';
import {
  encodeIp,
  encodeU16,
  getIp,
  getMessageType,
  getText,
  MessageType,
  Opt,
} from '../agent/dhcp/options.ts';

export interface SimDhcpRelayOptions {
  /** The agent's DHCP server, e.g. 127.0.0.1:<dhcp port>. */
  server: { host: string; port: number };
  /** Where the relay listens: the agent's relay port, on `address`; giaddr is `address`. */
  address: string;
  port: number;
  /** The network address of the host's subnet (option 118), or undefined when the host has none. */
  subnetOf: (mac: string) => string | undefined;
  /** Per message; a lost one is sent again, up to `attempts` times. */
  timeoutMs?: number;
  attempts?: number;
}

export interface SimDhcpLease {
  ip: string;
  /** The boot file (or URL) the agent offered; undefined when it gave none (its netboot gate is closed). */
  bootFile?: string;
}

interface Pending {
  accept: number;
  resolve: (p: DhcpPacket) => void;
}

/** Who is asking: the firmware's PXE ROM, or the iPXE it chainloaded (which asks for its script). */
export type SimDhcpClient = 'pxe-rom' | 'ipxe';

/** A BIOS PXE ROM's identity, so the agent chooses the ROM's boot file (undionly.kpxe) as for real hardware. */
const PXE_VENDOR_CLASS = 'PXEClient:Arch:00000:UNDI:002001';

export class SimDhcpRelay {
  private readonly pending = new Map<number, Pending>();
  private closed = false;

  private constructor(
    private readonly sock: dgram.Socket,
    private readonly opts: SimDhcpRelayOptions,
  ) {
    sock.on('message', (msg) => this.onReply(msg));
    // A stray datagram or an ICMP error must not end the fleet: the exchange it belongs to times out.
    sock.on('error', () => undefined);
  }

  static start(opts: SimDhcpRelayOptions): Promise<SimDhcpRelay> {
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket('udp4');
      sock.once('error', reject);
      sock.bind(opts.port, opts.address, () => {
        sock.off('error', reject);
        resolve(new SimDhcpRelay(sock, opts));
      });
    });
  }

  /** DISCOVER, OFFER, REQUEST, ACK for `mac`, relayed; rejects when the agent does not answer or refuses. */
  async exchange(mac: string, client: SimDhcpClient = 'pxe-rom'): Promise<SimDhcpLease> {
    const subnet = this.opts.subnetOf(mac);
    if (!subnet) throw new Error(`DHCP: no subnet known for ${mac}, so no relay can place it`);
    const xid = this.newXid();
    const offer = await this.transact(
      this.request(mac, xid, subnet, MessageType.Discover, client),
      MessageType.Offer,
    );
    const serverId = getIp(offer, Opt.ServerId);
    const req = this.request(mac, xid, subnet, MessageType.Request, client);
    req.options.set(Opt.RequestedIp, encodeIp(offer.yiaddr));
    if (serverId) req.options.set(Opt.ServerId, encodeIp(serverId));
    const ack = await this.transact(req, MessageType.Ack);
    const bootFile = getText(ack, Opt.BootfileName) ?? (ack.file || undefined);
    return { ip: ack.yiaddr, ...(bootFile !== undefined ? { bootFile } : {}) };
  }

  close(): Promise<void> {
    this.closed = true;
    this.pending.clear();
    return new Promise((resolve) => {
      try {
        this.sock.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
  }

  private newXid(): number {
    let xid = randomInt(1, 0xffffffff);
    while (this.pending.has(xid)) xid = randomInt(1, 0xffffffff);
    return xid;
  }

  private request(mac: string, xid: number, subnet: string, type: number, client: SimDhcpClient): DhcpPacket {
    const p = emptyPacket(BOOTREQUEST);
    p.xid = xid;
    p.chaddr = chaddrFromMac(mac);
    p.giaddr = this.opts.address;
    p.hops = 1;
    p.options.set(Opt.MessageType, Buffer.from([type]));
    p.options.set(Opt.VendorClass, Buffer.from(PXE_VENDOR_CLASS, 'latin1'));
    p.options.set(Opt.ClientArch, encodeU16(0));
    // iPXE, once chainloaded, asks again and says who it is: the agent then answers with its script's URL.
    if (client === 'ipxe') p.options.set(Opt.UserClass, Buffer.from('iPXE', 'latin1'));
    p.options.set(Opt.SubnetSelection, encodeIp(subnet));
    return p;
  }

  /** Sends `p` until a reply of type `want` (or a NAK) with its xid comes back. */
  private async transact(p: DhcpPacket, want: number): Promise<DhcpPacket> {
    const timeoutMs = this.opts.timeoutMs ?? 2000;
    const attempts = this.opts.attempts ?? 3;
    const buf = serializeDhcp(p);
    try {
      for (let attempt = 1; attempt <= attempts; attempt++) {
        if (this.closed) throw new Error('DHCP relay closed');
        const reply = new Promise<DhcpPacket | undefined>((resolve) => {
          const timer = setTimeout(() => resolve(undefined), timeoutMs);
          this.pending.set(p.xid, {
            accept: want,
            resolve: (r) => {
              clearTimeout(timer);
              resolve(r);
            },
          });
        });
        this.sock.send(buf, this.opts.server.port, this.opts.server.host);
        const r = await reply;
        if (!r) continue;
        if (getMessageType(r) === MessageType.Nak)
          throw new Error(`DHCP: NAK from the agent (${getText(r, Opt.Message) ?? 'no reason given'})`);
        return r;
      }
    } finally {
      this.pending.delete(p.xid);
    }
    throw new Error(
      `DHCP: no ${want === MessageType.Offer ? 'OFFER' : 'ACK'} from ${this.opts.server.host}:${this.opts.server.port} after ${attempts} tries`,
    );
  }

  private onReply(msg: Buffer): void {
    const parsed = parseDhcp(msg);
    if (!parsed.ok || parsed.packet.op !== BOOTREPLY) return;
    const r = parsed.packet;
    const waiting = this.pending.get(r.xid);
    const type = getMessageType(r);
    if (!waiting || (type !== waiting.accept && type !== MessageType.Nak)) return;
    this.pending.delete(r.xid);
    waiting.resolve(r);
  }
}
