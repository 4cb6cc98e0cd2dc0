// The authoritative-DHCP detector: which other DHCP servers answer on the agent's segments. In server mode each
// one is a conflict (two servers answering the same clients); in proxy mode the agent needs one (it gives no
// addresses itself), so DISCOVERs from the hosts it serves that no other server answers mean the expected server
// is missing.
//
// What is observable, without a packet socket (Node has none):
//  * another server's OFFER/ACK/NAK sent to the limited broadcast (or a served subnet's broadcast) on the client
//    port (68): a server broadcasts its answer to a client that sets the broadcast flag (PXE ROMs do) or, for some
//    servers, to every client without an address. server.ts binds those broadcast addresses only, so it never takes
//    a unicast meant for a DHCP client of the agent's own host;
//  * a client's broadcast REQUEST naming another server (option 54): that server made it an offer, even when the
//    offer itself was unicast to the client and never reached the agent.
// An answer unicast to a client whose REQUEST is also unicast (a renewal) is not seen: the detector only opens a
// proxy-mode window on a DISCOVER, whose answer (the OFFER, or the REQUEST that follows it) is observable as above.
import type { DhcpPacket } from './codec.ts';
import { BOOTREPLY } from './codec.ts';
import { getIp, getMessageType, MessageType, Opt } from './options.ts';

/** Another DHCP server seen answering (by its server identifier, else its source address). */
export interface ForeignDhcpServer {
  /** Option 54 of its answers (or of the client REQUEST naming it); its source address when it sent none. */
  serverId: string;
  /** The source address of its last answer seen ('' when only a client REQUEST named it). */
  source: string;
  /** The served interface on whose network it was seen ('' when none contains its address). */
  interface: string;
  /** Whether one of its answers carried an address (yiaddr): a ProxyDHCP server's never does. */
  givesAddresses: boolean;
  /** Its answers seen, and client REQUESTs naming it. */
  replies: number;
  requestsNamingIt: number;
  firstSeen: number;
  lastSeen: number;
}

export interface DhcpAuthorityReport {
  mode: 'server' | 'proxy';
  /** The other servers seen within the last `memoryMs`, at most `maxServers`, most recent first. */
  foreignServers: ForeignDhcpServer[];
  /** Every answer from another server seen, and every client REQUEST naming another server (counters). */
  foreignReplies: number;
  foreignRequests: number;
  /** Answers and client REQUESTs from other servers left unlisted because the table was full. */
  untracked: number;
  /**
   * Proxy mode: whether a server giving addresses answered after the last DISCOVER the agent watched (true), none
   * did within the window (false), or no DISCOVER was watched yet (null). Always null in server mode.
   */
  authoritativeSeen: boolean | null;
  /** Proxy mode: since when (epoch ms) the expected server is missing; absent while it is not. */
  missingSince?: number;
  /** Proxy mode: how many times the expected server went missing. */
  missingEpisodes: number;
}

export interface DhcpAuthorityOptions {
  mode: 'server' | 'proxy';
  /** Warnings: a conflict, the expected server missing, a full table. */
  log: (msg: string) => void;
  /** Notices: in proxy mode, the server relied on seen, or back. Default: `log`. */
  info?: (msg: string) => void;
  /** How long after a DISCOVER another server must have answered (proxy mode). Default 10 s. */
  windowMs?: number;
  /** At most this many foreign servers are remembered. Default 64. */
  maxServers?: number;
  /** A foreign server not seen for this long is forgotten (and logged again if it comes back). Default 1 h. */
  memoryMs?: number;
  now?: () => number;
}

export interface DhcpAuthorityWatch {
  /**
   * A BOOTREPLY from the client-port listener; `iface` is the served interface its source lies in ('' if none);
   * `known` tells the agent's own addresses and its site's other agents' (not foreign).
   */
  reply(p: DhcpPacket, source: string, iface: string, known: (address: string) => boolean): void;
  /** A client message: a REQUEST naming another server is evidence of it; a DISCOVER opens a proxy-mode window. */
  request(
    p: DhcpPacket,
    type: number,
    iface: string,
    watched: boolean,
    known: (address: string) => boolean,
  ): void;
  report(): DhcpAuthorityReport;
  stop(): void;
}

const ANSWERS = new Set<number>([MessageType.Offer, MessageType.Ack, MessageType.Nak]);

export function createAuthorityWatch(opts: DhcpAuthorityOptions): DhcpAuthorityWatch {
  const windowMs = opts.windowMs ?? 10_000;
  const maxServers = opts.maxServers ?? 64;
  const memoryMs = opts.memoryMs ?? 3_600_000;
  const now = opts.now ?? Date.now;
  const info = opts.info ?? opts.log;
  const servers = new Map<string, ForeignDhcpServer>();
  let foreignReplies = 0;
  let foreignRequests = 0;
  let untracked = 0;
  let warnedFull = false;
  // Proxy mode: the first DISCOVER not yet answered, and the deadline timer for it (one at a time).
  let pendingSince: number | undefined;
  let pendingIface = '';
  let pendingCount = 0;
  let timer: NodeJS.Timeout | undefined;
  let authoritativeSeen: boolean | null = null;
  let missingSince: number | undefined;
  let missingEpisodes = 0;
  let stopped = false;

  function forget(t: number): void {
    for (const [id, s] of servers) if (t - s.lastSeen > memoryMs) servers.delete(id);
  }

  function describe(s: ForeignDhcpServer, how: string): string {
    const where = s.interface || 'a network the agent does not serve';
    const who = s.source ? `${s.source} (server id ${s.serverId})` : `${s.serverId} (${how})`;
    return `another DHCP server answers on ${where}: ${who}`;
  }

  function seen(
    serverId: string,
    source: string,
    iface: string,
    givesAddresses: boolean,
    how: 'reply' | 'request',
  ): void {
    const t = now();
    let s = servers.get(serverId);
    if (!s) {
      forget(t);
      if (servers.size >= maxServers) {
        untracked++;
        if (!warnedFull) {
          warnedFull = true;
          opts.log(`dhcp: more than ${maxServers} other DHCP servers seen: the rest are counted, not listed`);
        }
      } else {
        s = {
          serverId,
          source,
          interface: iface,
          givesAddresses,
          replies: 0,
          requestsNamingIt: 0,
          firstSeen: t,
          lastSeen: t,
        };
        servers.set(serverId, s);
        const relied = opts.mode === 'proxy' && (givesAddresses || how === 'request');
        const what =
          opts.mode === 'server'
            ? 'a conflict in server mode'
            : relied
              ? 'the site DHCP server this proxy-mode agent relies on'
              : 'another ProxyDHCP server: a conflict';
        (relied ? info : opts.log)(
          `dhcp: ${describe(s, how === 'request' ? 'named by a client REQUEST' : 'an answer')}: ${what}`,
        );
      }
    }
    if (s) {
      s.lastSeen = t;
      if (source) s.source = source;
      if (iface) s.interface = iface;
      if (givesAddresses) s.givesAddresses = true;
      if (how === 'reply') s.replies++;
      else s.requestsNamingIt++;
    }
    // An answer giving addresses, or a client choosing a server's offer, is the authoritative server at work.
    if (opts.mode === 'proxy' && (givesAddresses || how === 'request')) answered(serverId);
  }

  function answered(serverId: string): void {
    pendingSince = undefined;
    pendingCount = 0;
    if (timer) clearTimeout(timer);
    timer = undefined;
    authoritativeSeen = true;
    if (missingSince !== undefined) {
      missingSince = undefined;
      info(`dhcp: a DHCP server answers again (${serverId}): the expected server is back`);
    }
  }

  function deadline(): void {
    timer = undefined;
    if (stopped || pendingSince === undefined) return;
    authoritativeSeen = false;
    if (missingSince === undefined) {
      missingSince = pendingSince;
      missingEpisodes++;
      opts.log(
        `dhcp: expected DHCP server missing on ${pendingIface || 'the served network'}: ${pendingCount} DISCOVER(s) ` +
          `since ${new Date(pendingSince).toISOString()} and no other server answered within ${windowMs / 1000} s ` +
          `(proxy mode gives no addresses: the hosts cannot boot)`,
      );
    }
    pendingSince = undefined;
    pendingCount = 0;
  }

  return {
    reply(p, source, iface, known) {
      if (stopped || p.op !== BOOTREPLY) return;
      const type = getMessageType(p);
      if (type === undefined || !ANSWERS.has(type)) return;
      const serverId = getIp(p, Opt.ServerId) ?? source;
      if (known(source) || known(serverId)) return; // our own broadcast looped back, or a peer agent's
      foreignReplies++;
      seen(serverId, source, iface, p.yiaddr !== '0.0.0.0' || type === MessageType.Nak, 'reply');
    },
    request(p, type, iface, watched, known) {
      if (stopped) return;
      if (type === MessageType.Request) {
        const serverId = getIp(p, Opt.ServerId);
        if (serverId !== undefined && !known(serverId)) {
          foreignRequests++;
          seen(serverId, '', iface, false, 'request');
        }
        return;
      }
      if (opts.mode !== 'proxy' || type !== MessageType.Discover || !watched) return;
      pendingCount = Math.min(pendingCount + 1, 1_000_000);
      if (pendingSince !== undefined) return;
      pendingSince = now();
      pendingIface = iface;
      timer = setTimeout(deadline, windowMs);
      timer.unref();
    },
    report() {
      forget(now());
      return {
        mode: opts.mode,
        foreignServers: [...servers.values()].sort((a, b) => b.lastSeen - a.lastSeen).map((s) => ({ ...s })),
        foreignReplies,
        foreignRequests,
        untracked,
        authoritativeSeen,
        ...(missingSince !== undefined ? { missingSince } : {}),
        missingEpisodes,
      };
    },
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}
