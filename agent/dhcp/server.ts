// The DHCP server: sockets, bounds, the known-host check and the choice of egress; the protocol itself is in
// the mode handlers. Not the `dhcp` npm package (0.2.20): it has no proxy mode, no port 4011, sends every reply
// to one configured broadcast address (so neither relays nor multi-homed egress work), only handles DISCOVER and
// REQUEST, knows none of options 77/93/94/97/175, mis-steps over Pad options, lets a short packet throw, and
// writes to the console for every unknown option a sender puts in a packet.
//
// Sockets (LAB.md §7.2/7.3). Node has neither SO_BINDTODEVICE nor IP_PKTINFO, so:
//  * 0.0.0.0:67 receives broadcasts; sockets bound to each interface address on 67 receive unicast (renewals,
//    relays) and send every reply. Both bind with SO_REUSEADDR; Linux delivers a limited broadcast only to the
//    wildcard socket and a unicast only to the most specific one, so no packet is handled twice.
//  * A reply to 255.255.255.255 sent from a socket bound to an interface address leaves through that
//    interface (Linux routes limited broadcast by source address), so the egress is explicit and no broadcast
//    route is needed.
//  * Proxy mode also binds each interface address on 4011 and answers from there.
import dgram from 'node:dgram';
import type { RemoteInfo } from 'node:dgram';
import { createAuthorityWatch } from './authority.ts';
import type { DhcpAuthorityReport } from './authority.ts';
import { BindingTable } from './bindings.ts';
import type { DhcpBindings } from './bindings.ts';
import type { BootConfig, BootFiles } from './boot.ts';
import { DEFAULT_BOOT_FILES } from './boot.ts';
import { unicastAllowed } from './egress.ts';
import type { EgressRequest } from './egress.ts';
import { describeClient } from './client-info.ts';
import { BOOTREPLY, BOOTREQUEST, macOf, parseDhcp, serializeDhcp } from './codec.ts';
import type { DhcpPacket } from './codec.ts';
import type { DhcpDirectory, DhcpHostRecord } from './directory.ts';
import type { DhcpCounter, DhcpHandler, DhcpPorts, HandlerResult, ModeSettings } from './handler.ts';
import { DEFAULT_PORTS } from './handler.ts';
import type { DhcpInterfaceConfig, ServedInterface } from './interfaces.ts';
import { interfaceInside, interfaceOnNetOf, normalizeInterface } from './interfaces.ts';
import { getMessageType, MessageType, relayedFromSubnet } from './options.ts';
import { createProxyModeHandler } from './proxy-mode.ts';
import { PacketAdmission } from './rate-limit.ts';
import { createServerModeHandler } from './server-mode.ts';

export interface DhcpEvent {
  kind: 'dhcp';
  mac: string;
  host: string;
  /** DHCPOFFER, DHCPACK, DHCPNAK, DHCPDECLINE, DHCPRELEASE, "proxy offer", "proxy ack". */
  message: string;
  ip?: string;
  bootFile?: string;
  /** e.g. "DHCPACK 10.77.1.10 undionly.kpxe", "proxy offer ipxe.efi". */
  detail: string;
  /** The exchange's transaction id: with the message, what identifies this answer whichever agent gave it. */
  xid?: number;
  /**
   * Set on an event of its own (message "no boot file"): a host with an open gate got no boot file, and why
   * (no-boot-file.ts). The agent puts it on the host's timeline as a refusal.
   */
  refused?: string;
  interface: string;
  /** Epoch ms. */
  at: number;
}

export interface DhcpLimits {
  /** Larger datagrams are dropped unread: a client request fits one Ethernet frame (1500 - 28 header bytes). */
  maxPacketBytes: number;
  maxPacketsPerSecond: number;
  maxPerClientPerSecond: number;
  /** Relay hops beyond this are a loop (RFC 1542 §4.1.1 suggests 16). */
  maxHops: number;
}

export const DEFAULT_LIMITS: DhcpLimits = {
  maxPacketBytes: 1472,
  // The agent answered 7,000-10,000 DORA/s (14,000-20,000 packets/s) on one core of the 2-core reference
  // machine (bench/dhcp.ts, limits lifted): this admits well under that, so a flood leaves the event loop time
  // for TFTP, HTTP and Temporal, while a 1,000-host rack powering on (2,000 packets) fits in the burst allowance.
  maxPacketsPerSecond: 10_000,
  maxPerClientPerSecond: 20,
  maxHops: 16,
};

export interface DhcpServerOptions {
  mode: 'server' | 'proxy';
  interfaces: DhcpInterfaceConfig[];
  directory: DhcpDirectory;
  boot: {
    /** The agent's HTTP base URL as booting hosts reach it, e.g. http://10.77.1.1:8080 (no trailing slash). */
    /** The agent's HTTP base URL as booting hosts reach it; a function is asked at each answer. */
    httpUrl: string | (() => string);
    /** Next server for TFTP; default: the address of the interface the reply leaves by. */
    tftpServer?: string;
    /** Where the binaries are served over HTTP for UEFI HTTP boot; default `${httpUrl}/boot`. */
    httpBootUrl?: string;
    files?: Partial<BootFiles>;
    credential?: BootConfig['credential'];
  };
  /** Lease time given in server mode, and how long an observed binding lasts in proxy mode. Default 3600. */
  leaseSeconds?: number;
  onEvent?: (event: DhcpEvent) => void;
  /** Configuration warnings (bad subnet options) and socket errors. */
  log?: (msg: string) => void;
  /** Notices that are no warning (proxy mode: the site's DHCP server seen). Default: `log`. */
  info?: (msg: string) => void;
  ports?: Partial<DhcpPorts>;
  limits?: Partial<DhcpLimits>;
  /**
   * Where broadcast replies go: 255.255.255.255 (RFC 2131, the default) or the interface's subnet-directed
   * broadcast (its `broadcast` address), which every lab client also accepts (LAB.md §7.3).
   */
  broadcastReplies?: 'limited' | 'subnet';
  /**
   * Addresses of the site's other agents: they answer the same hosts from the same reservations, so their answers
   * are no conflict (authority.ts). Asked per packet: keep it cheap.
   */
  peerAddresses?: () => ReadonlySet<string>;
  /** Proxy mode: how long after a DISCOVER another server must have answered (authority.ts). Default 10 s. */
  authorityWindowMs?: number;
}

export interface DhcpStats {
  received: number;
  /** Not a DHCP message: too short, bad op, bad cookie, options running past the end, … */
  malformed: number;
  oversized: number;
  /** Well-formed but not for a server: replies, non-Ethernet, no or unexpected message type, relay loops. */
  ignored: number;
  rateLimited: number;
  /** Packets from MACs the directory does not know; they get no answer. */
  unknownMacs: number;
  /** Packets from interfaces the SoT marks `ignore_dhcp`; they get no answer, in either mode. */
  ignoredInterfaces: number;
  /** Known host, but no interface or relay path to its subnet. */
  unroutable: number;
  /** Known host asking to netboot while its gate is closed: address only (server) or nothing (proxy). */
  gated: number;
  /** Known host without an IPv4 reservation (server mode). */
  noAddress: number;
  /** REQUEST or DECLINE naming another server. */
  otherServer: number;
  offers: number;
  acks: number;
  naks: number;
  declines: number;
  releases: number;
  /** ProxyDHCP answers, all (`proxyOffers` + `proxyAcks`). */
  proxyReplies: number;
  /** Proxy offers (port 67) and proxy acks (port 4011, a PXE client asking the boot server). */
  proxyOffers: number;
  proxyAcks: number;
  sendErrors: number;
  /** Replies the request aimed outside the host's subnet or at a non-unicast relay: broadcast instead, or dropped. */
  unsafeDestinations: number;
  /** Unexpected exceptions (directory, encoder, event callback); each is contained to its packet. */
  errors: number;
}

export interface DhcpServer {
  start(): Promise<void>;
  stop(): Promise<void>;
  stats(): DhcpStats;
  /** Other DHCP servers seen on the segments, and in proxy mode whether the expected one answers (authority.ts). */
  authority(): DhcpAuthorityReport;
  readonly bindings: DhcpBindings;
}

const ZERO = '0.0.0.0';
const LIMITED_BROADCAST = '255.255.255.255';
const CLIENT_MESSAGES = new Set<number>([
  MessageType.Discover,
  MessageType.Request,
  MessageType.Decline,
  MessageType.Release,
  MessageType.Inform,
]);

function zeroStats(): DhcpStats {
  return {
    received: 0,
    malformed: 0,
    oversized: 0,
    ignored: 0,
    rateLimited: 0,
    unknownMacs: 0,
    ignoredInterfaces: 0,
    unroutable: 0,
    gated: 0,
    noAddress: 0,
    otherServer: 0,
    offers: 0,
    acks: 0,
    naks: 0,
    declines: 0,
    releases: 0,
    proxyReplies: 0,
    proxyOffers: 0,
    proxyAcks: 0,
    sendErrors: 0,
    unsafeDestinations: 0,
    errors: 0,
  };
}

interface Arrival {
  port: number;
  /** Set when the packet was unicast to one of our addresses; unknown for broadcasts. */
  iface?: ServedInterface;
}

export function createDhcpServer(opts: DhcpServerOptions): DhcpServer {
  const ports: DhcpPorts = { ...DEFAULT_PORTS, ...opts.ports };
  const limits: DhcpLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const leaseSeconds = opts.leaseSeconds ?? 3600;
  const log = opts.log ?? (() => undefined);
  const httpUrlNow = (): string =>
    typeof opts.boot.httpUrl === 'function' ? opts.boot.httpUrl() : opts.boot.httpUrl;
  const settings: ModeSettings = {
    boot: {
      // Read per answer: the agent's URL may come from a site model that arrives after the server started.
      get httpUrl() {
        return httpUrlNow();
      },
      ...(opts.boot.tftpServer !== undefined ? { tftpServer: opts.boot.tftpServer } : {}),
      get httpBootUrl() {
        return opts.boot.httpBootUrl ?? `${httpUrlNow()}/boot`;
      },
      files: { ...DEFAULT_BOOT_FILES, ...opts.boot.files },
      ...(opts.boot.credential ? { credential: opts.boot.credential } : {}),
    },
    leaseSeconds,
    ports,
  };
  const warned = new Set<string>();
  const warnOnce = (msg: string): void => {
    if (warned.size < 1000 && !warned.has(msg)) {
      warned.add(msg);
      log(msg);
    }
  };
  const handler: DhcpHandler =
    opts.mode === 'proxy' ? createProxyModeHandler(settings) : createServerModeHandler(settings, warnOnce);
  const bindings = new BindingTable();
  const rate = new PacketAdmission(limits.maxPacketsPerSecond, limits.maxPerClientPerSecond);
  const counters = zeroStats();
  const sockets: dgram.Socket[] = [];
  /** Sending socket per `address:port`. */
  const senders = new Map<string, dgram.Socket>();
  let ifaces: ServedInterface[] = [];
  let ownAddresses = new Set<string>();
  let state: 'new' | 'starting' | 'running' | 'stopped' = 'new';
  const watch = createAuthorityWatch({
    mode: opts.mode,
    log,
    ...(opts.info ? { info: opts.info } : {}),
    ...(opts.authorityWindowMs !== undefined ? { windowMs: opts.authorityWindowMs } : {}),
  });
  const known = (address: string): boolean =>
    ownAddresses.has(address) || (opts.peerAddresses?.().has(address) ?? false);
  /** The served interface a packet is from, as far as addresses tell (Node reads no arrival interface). */
  const ifaceNameOf = (address: string, arrival?: Arrival): string =>
    arrival?.iface?.name ??
    interfaceOnNetOf(ifaces, address)?.name ??
    (ifaces.length === 1 ? ifaces[0]!.name : '');

  function selectInterface(
    p: DhcpPacket,
    host: DhcpHostRecord,
    arrival: Arrival,
  ): ServedInterface | undefined {
    if (p.giaddr !== ZERO) {
      // giaddr names the client's segment (or the relay names it with option 118 or 82.5 when its own address is
      // elsewhere): it must be the reserved subnet, or the host is somewhere unexpected. Either way the reply goes
      // back to giaddr, from the interface on its network.
      if (!relayedFromSubnet(p, host.subnet.cidr)) return undefined;
      return interfaceOnNetOf(ifaces, p.giaddr) ?? arrival.iface ?? ifaces[0];
    }
    // A unicast (a renewal, a 4011 request) names the address it expects the answer from: answer from it.
    if (arrival.iface) return arrival.iface;
    return interfaceInside(ifaces, host.subnet.cidr);
  }

  function apply(
    result: HandlerResult,
    mac: string,
    host: DhcpHostRecord,
    iface: ServedInterface,
    port: number,
    request: EgressRequest,
  ): void {
    for (const c of result.counters) {
      counters[c satisfies DhcpCounter]++;
      if (c === 'proxyReplies')
        counters[result.event?.message === 'proxy ack' ? 'proxyAcks' : 'proxyOffers']++;
    }
    if (result.binding === 'remove') bindings.remove(mac);
    else if (result.binding)
      bindings.set(mac, result.binding.ip, result.binding.seconds, result.binding.source);
    if (result.reply) {
      let to = result.reply.to;
      if (to.address !== LIMITED_BROADCAST && !unicastAllowed(to.address, request, host.subnet.cidr)) {
        counters.unsafeDestinations++;
        // A client on the segment still gets its answer by broadcast; a reply for anyone else is not sent.
        to =
          to.port === ports.client
            ? { address: LIMITED_BROADCAST, port: ports.client }
            : { address: '', port: 0 };
      }
      if (to.address) send(result.reply.packet, to.address, to.port, iface, port);
    }
    if (result.event && opts.onEvent) {
      const e = result.event;
      try {
        opts.onEvent({
          kind: 'dhcp',
          mac,
          host: host.reservation.host,
          message: e.message,
          ...(e.ip !== undefined ? { ip: e.ip } : {}),
          ...(e.bootFile !== undefined ? { bootFile: e.bootFile } : {}),
          detail: e.detail,
          ...(result.reply ? { xid: result.reply.packet.xid } : {}),
          interface: iface.name,
          at: Date.now(),
        });
      } catch (err) {
        counters.errors++;
        warnOnce(`dhcp: event callback failed: ${String(err)}`);
      }
    }
    if (result.refused !== undefined && opts.onEvent) {
      try {
        opts.onEvent({
          kind: 'dhcp',
          mac,
          host: host.reservation.host,
          message: 'no boot file',
          detail: result.refused,
          refused: result.refused,
          interface: iface.name,
          at: Date.now(),
        });
      } catch (err) {
        counters.errors++;
        warnOnce(`dhcp: event callback failed: ${String(err)}`);
      }
    }
  }

  function send(
    packet: DhcpPacket,
    address: string,
    toPort: number,
    iface: ServedInterface,
    localPort: number,
  ): void {
    const sock =
      senders.get(`${iface.address}:${localPort}`) ?? senders.get(`${iface.address}:${ports.server}`);
    if (!sock) {
      counters.sendErrors++;
      return;
    }
    let buf: Buffer;
    try {
      buf = serializeDhcp(packet);
    } catch (err) {
      counters.errors++;
      warnOnce(`dhcp: cannot encode reply: ${String(err)}`);
      return;
    }
    const to =
      address === LIMITED_BROADCAST && opts.broadcastReplies === 'subnet' ? iface.broadcast : address;
    sock.send(buf, toPort, to, (err) => {
      if (err) {
        counters.sendErrors++;
        warnOnce(`dhcp: send to ${to}:${toPort} via ${iface.name}: ${err.message}`);
      }
    });
  }

  /** A datagram through the size limit, the flood limit and the parser (each refusal counted), or undefined. */
  function admitted(msg: Buffer): DhcpPacket | undefined {
    if (msg.length > limits.maxPacketBytes) {
      counters.oversized++;
      return undefined;
    }
    if (!rate.admit()) {
      counters.rateLimited++;
      return undefined;
    }
    const parsed = parseDhcp(msg);
    if (!parsed.ok) {
      counters.malformed++;
      return undefined;
    }
    return parsed.packet;
  }

  function onDatagram(msg: Buffer, rinfo: RemoteInfo, arrival: Arrival): void {
    counters.received++;
    const p = admitted(msg);
    if (!p) return;
    const mac = macOf(p);
    const type = getMessageType(p);
    if (
      p.op !== BOOTREQUEST ||
      !mac ||
      type === undefined ||
      !CLIENT_MESSAGES.has(type) ||
      p.hops > limits.maxHops
    ) {
      counters.ignored++;
      return;
    }
    if (!rate.admitKey(mac)) {
      counters.rateLimited++;
      return;
    }
    // A REQUEST naming another server: whoever the client is, that server answered it.
    if (type === MessageType.Request) watch.request(p, type, ifaceNameOf(p.giaddr, arrival), false, known);
    if (opts.directory.ignored?.(mac)) {
      counters.ignoredInterfaces++;
      warnOnce(`dhcp: ${mac} has ignore_dhcp in the SoT: not answered`);
      return;
    }
    const host = opts.directory.lookup(mac);
    if (!host) {
      counters.unknownMacs++;
      return;
    }
    // Proxy mode: a host the agent serves needs the site's server to answer this DISCOVER.
    if (type === MessageType.Discover)
      watch.request(
        p,
        type,
        interfaceInside(ifaces, host.subnet.cidr)?.name ?? ifaceNameOf(p.giaddr, arrival),
        true,
        known,
      );
    const iface = selectInterface(p, host, arrival);
    if (!iface) {
      counters.unroutable++;
      return;
    }
    const result = handler.handle({
      packet: p,
      messageType: type,
      client: describeClient(p, mac),
      host,
      iface,
      port: arrival.port,
      source: { address: rinfo.address, port: rinfo.port },
      ownAddresses,
    });
    apply(result, mac, host, iface, arrival.port, { giaddr: p.giaddr, source: rinfo.address });
  }

  /** A datagram to the client port's broadcast addresses: another server's answer, or our own looped back. */
  function onClientPort(msg: Buffer, rinfo: RemoteInfo): void {
    const p = admitted(msg);
    if (!p || p.op !== BOOTREPLY) return; // another client's packet: nothing to learn
    watch.reply(p, rinfo.address, ifaceNameOf(rinfo.address), known);
  }

  function bindSocket(
    port: number,
    address: string,
    arrival: Arrival,
    onMessage: (msg: Buffer, rinfo: RemoteInfo) => void = (msg, rinfo) => onDatagram(msg, rinfo, arrival),
  ): Promise<dgram.Socket> {
    return new Promise((resolve, reject) => {
      // A rack powering on sends a burst; a larger buffer (capped by net.core.rmem_max) drops less of it.
      const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true, recvBufferSize: 1 << 20 });
      sockets.push(sock);
      const early = (err: Error): void =>
        reject(new Error(`dhcp: cannot bind ${address}:${port}: ${err.message}`));
      sock.once('error', early);
      sock.on('message', (msg, rinfo) => {
        try {
          onMessage(msg, rinfo);
        } catch (err) {
          // A bug for one packet must not take the boot service down for everyone.
          counters.errors++;
          warnOnce(
            `dhcp: packet from ${rinfo.address}:${rinfo.port} failed: ${err instanceof Error ? err.stack : String(err)}`,
          );
        }
      });
      sock.bind(port, address, () => {
        sock.off('error', early);
        sock.on('error', (err) => {
          counters.errors++;
          warnOnce(`dhcp: socket ${address}:${port}: ${err.message}`);
        });
        sock.setBroadcast(true);
        resolve(sock);
      });
    });
  }

  async function closeAll(): Promise<void> {
    const open = sockets.splice(0);
    senders.clear();
    await Promise.all(
      open.map(
        (s) =>
          new Promise<void>((resolve) => {
            try {
              s.close(() => resolve());
            } catch {
              resolve(); // never bound, or already closed
            }
          }),
      ),
    );
  }

  return {
    bindings,
    async start() {
      if (state !== 'new') throw new Error(`dhcp server cannot start: it is ${state}`);
      state = 'starting';
      try {
        const seen = new Map<string, ServedInterface>();
        for (const cfg of opts.interfaces) {
          const i = normalizeInterface(cfg);
          if (!seen.has(i.address)) seen.set(i.address, i);
        }
        ifaces = [...seen.values()];
        if (ifaces.length === 0) throw new Error('dhcp server needs at least one interface');
        ownAddresses = new Set(ifaces.map((i) => i.address));
        await bindSocket(ports.server, ZERO, { port: ports.server });
        for (const iface of ifaces) {
          senders.set(
            `${iface.address}:${ports.server}`,
            await bindSocket(ports.server, iface.address, { port: ports.server, iface }),
          );
          if (opts.mode === 'proxy') {
            senders.set(
              `${iface.address}:${ports.pxe}`,
              await bindSocket(ports.pxe, iface.address, { port: ports.pxe, iface }),
            );
          }
        }
        // Other servers' broadcast answers (authority.ts): the broadcast addresses only, never 0.0.0.0, so no
        // unicast to a DHCP client of this host is taken from it. Not being able to watch is no reason not to serve.
        for (const address of new Set([LIMITED_BROADCAST, ...ifaces.map((i) => i.broadcast)])) {
          try {
            await bindSocket(ports.client, address, { port: ports.client }, onClientPort);
          } catch (err) {
            log(
              `dhcp: cannot watch for other DHCP servers on ${address}:${ports.client} (${err instanceof Error ? err.message : String(err)}): ` +
                'only client REQUESTs naming another server reveal one',
            );
          }
        }
        state = 'running';
      } catch (err) {
        await closeAll();
        watch.stop();
        state = 'stopped';
        throw err;
      }
    },
    async stop() {
      state = 'stopped';
      watch.stop();
      await closeAll();
    },
    stats() {
      return { ...counters };
    },
    authority: () => watch.report(),
  };
}
