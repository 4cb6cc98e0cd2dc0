// The agent's TFTP server: read-only, rooted, one ephemeral socket per transfer (RFC 1350 TIDs).
//
// Why not the `tftp` npm package (0.1.2, last released 2015): a 1-byte datagram to a transfer port throws an
// uncaught RangeError that kills the process; a symlink inside the root that points outside is served; files
// over 32 MB are refused to clients that send no options (tftp-hpa), because it does not roll the block
// counter over; the RFC 2349 timeout option is ignored; a duplicate ACK resends the whole window (the
// sorcerer's apprentice bug); and a DATA packet is allocated per block. Fixing that meant rewriting it.
//
// Decisions:
//  * Modes: octet is served as is. netascii is converted properly (LF -> CR LF, CR -> CR NUL), so tftp-hpa's
//    default mode works, but only for files up to NETASCII_MAX_BYTES (the conversion is done in memory);
//    bigger ones get an ERROR telling the user to ask for octet. "mail" and unknown modes: ERROR 4.
//  * Junk on port 69 that is not a request (ACK/DATA/ERROR, unknown opcodes, truncated) is dropped without a
//    reply, so the server cannot be used to reflect or amplify traffic; a request that cannot be parsed gets
//    ERROR 4. Refusals of valid requests (ERROR 1/2) come from a fresh socket, as RFC 1350 TIDs require.
//  * A retransmitted RRQ (same client TID, same bytes) while its transfer is being set up or running is
//    ignored; a different request from the same TID replaces the old transfer.
//  * At maxTransfers, new requests are dropped so that clients retry later instead of failing the boot.
import { createSocket } from 'node:dgram';
import type { RemoteInfo, Socket } from 'node:dgram';
import { stat, realpath } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { isIPv6 } from 'node:net';
import { FileCache } from './file-cache.ts';
import { blksizeCapFor } from './mtu.ts';
import { toNetascii } from './netascii.ts';
import { openInsideRoot } from './open-file.ts';
import type { Opened } from './open-file.ts';
import { negotiate, MAX_BLKSIZE } from './options.ts';
import type { Limits, Negotiated } from './options.ts';
import {
  ERR_ACCESS,
  ERR_ILLEGAL,
  ERR_NOT_FOUND,
  ERR_UNDEFINED,
  OP_RRQ,
  OP_WRQ,
  errorPacket,
  oackPacket,
  opcodeOf,
  parseRequest,
} from './packets.ts';
import type { TftpRequest } from './packets.ts';
import { normaliseName } from './path-safety.ts';
import type { Confinement } from './path-safety.ts';
import { ResolvedCache } from './resolved-cache.ts';
import { FileSource, MemorySource } from './source.ts';
import type { BlockSource } from './source.ts';
import { Transfer } from './transfer.ts';
import type { TftpEvent, TftpPeer, TftpServer, TftpServerOptions, TftpStats } from './types.ts';

/** Where Debian's `ipxe` package puts undionly.kpxe, ipxe.efi, snponly.efi and ipxe.lkrn. */
export const DEFAULT_TFTP_ROOT = '/usr/lib/ipxe';
/** Symlink targets outside the root served by default: the public iPXE binaries Debian's ipxe package links to. */
export const DEBIAN_IPXE_LINK_TARGETS: readonly string[] = ['/boot/ipxe.efi', '/boot/ipxe.lkrn'];
export const NETASCII_MAX_BYTES = 4 * 1024 * 1024;
const DEFAULTS = {
  port: 69,
  maxBlksize: 1468,
  maxWindowsize: 32,
  timeoutMs: 1000,
  retries: 5,
  maxTransfers: 512,
};
const MAX_REFUSAL_SOCKETS = 64;
/**
 * Transfer sockets kept after a clean transfer, so the next one skips creating and closing one (~12 % of a 1-block
 * transfer's CPU). Disconnecting gives up the kernel-chosen port (Linux unbinds it) and connecting again picks a
 * fresh one, so each transfer still has a TID of its own and a stray for the old port never reaches the new one.
 */
const MAX_IDLE_SOCKETS = 32;
const CACHE_LIMITS = { maxFileBytes: 8 * 1024 * 1024, maxTotalBytes: 64 * 1024 * 1024 };
const RESOLVED_LIMITS = { maxAgeMs: 2000, maxWatches: 64, maxEntries: 256 };

type Served = { data: Buffer } | { handle: FileHandle; size: number };

/** Why a valid request was not served: by the ERROR code it was answered with, or `busy` (dropped: server full). */
export type TftpRefusalKind = 'not_found' | 'access_denied' | 'illegal_request' | 'busy' | 'other';
/** How a started transfer failed. */
export type TftpFailureKind = 'timeout' | 'client_error' | 'network' | 'read_error' | 'aborted';

/** TftpStats plus the breakdowns the agent's metrics read (each also counted in a TftpStats total). */
export interface TftpServerStats extends TftpStats {
  /** Transfers that ended with the client's last ACK. */
  completed: number;
  /** `refused`, by kind. */
  refusals: Record<TftpRefusalKind, number>;
  /** `errors`, by kind. */
  failures: Record<TftpFailureKind, number>;
}

function refusalKind(code: number): TftpRefusalKind {
  if (code === ERR_NOT_FOUND) return 'not_found';
  if (code === ERR_ACCESS) return 'access_denied';
  if (code === ERR_ILLEGAL) return 'illegal_request';
  return 'other';
}

/** From the reasons Transfer ends with (transfer.ts); anything else ended it from here (superseded, shutdown). */
function failureKind(error: string | undefined): TftpFailureKind {
  if (error?.startsWith('timed out')) return 'timeout';
  if (error?.startsWith('client sent error')) return 'client_error';
  if (error?.startsWith('network error')) return 'network';
  if (error?.startsWith('read failed')) return 'read_error';
  return 'aborted';
}

interface Session {
  /** The request datagram, to recognise a client's retransmission of it. */
  request: Buffer;
  transfer?: Transfer;
  cancelled: boolean;
}

export function createTftpServer(opts: TftpServerOptions): TftpServer & { stats(): TftpServerStats } {
  const cfg = { ...DEFAULTS, ...definedOnly(opts) };
  const family = isIPv6(opts.address) ? 'udp6' : 'udp4';
  const cache = new FileCache(CACHE_LIMITS);
  let resolved: ResolvedCache | undefined;
  const sessions = new Map<string, Session>();
  const counters: Omit<TftpStats, 'active'> & { completed: number } = {
    transfers: 0,
    completed: 0,
    errors: 0,
    refused: 0,
    malformed: 0,
    bytes: 0,
  };
  const refusals: Record<TftpRefusalKind, number> = {
    not_found: 0,
    access_denied: 0,
    illegal_request: 0,
    busy: 0,
    other: 0,
  };
  const failures: Record<TftpFailureKind, number> = {
    timeout: 0,
    client_error: 0,
    network: 0,
    read_error: 0,
    aborted: 0,
  };
  let confinement: Confinement = { root: '', trusted: [] };
  let limits: Limits = {
    maxBlksize: cfg.maxBlksize,
    maxWindowsize: cfg.maxWindowsize,
    timeoutMs: cfg.timeoutMs,
  };
  let main: Socket | undefined;
  let stopping = false;
  /** Bound, disconnected transfer sockets, with the client each one served last. */
  const idle: { socket: Socket; last: string }[] = [];

  const emit = (e: TftpEvent): void => {
    try {
      opts.onEvent?.(e);
    } catch {
      // A faulty listener must not break serving.
    }
  };

  /**
   * Sends one ERROR from a fresh socket (a new TID) and closes it. Under a flood of bad requests, beyond
   * MAX_REFUSAL_SOCKETS open at once, it falls back to port 69 rather than exhausting descriptors.
   */
  let refusalSockets = 0;
  const sendFromNewTid = (peer: TftpPeer, code: number, message: string): void => {
    const packet = errorPacket(code, message);
    if (refusalSockets >= MAX_REFUSAL_SOCKETS) {
      main?.send(packet, peer.port, peer.address);
      return;
    }
    refusalSockets++;
    const s = createSocket(family);
    let closed = false;
    const close = (): void => {
      if (closed) return;
      closed = true;
      refusalSockets--;
      s.close();
    };
    s.on('error', close);
    s.bind({ address: opts.address, port: 0 }, () => s.send(packet, peer.port, peer.address, close));
  };

  const refuse = (peer: TftpPeer, file: string, code: number, reason: string): void => {
    counters.refused++;
    refusals[refusalKind(code)]++;
    sendFromNewTid(peer, code, reason);
    emit({ kind: 'error', file, peer, error: reason, refused: true });
  };

  const onDatagram = (msg: Buffer, rinfo: RemoteInfo): void => {
    const op = opcodeOf(msg);
    if (op !== OP_RRQ && op !== OP_WRQ) {
      counters.malformed++;
      return;
    }
    const peer = { address: rinfo.address, port: rinfo.port };
    const parsed = parseRequest(msg);
    if (!parsed.ok) {
      counters.malformed++;
      main?.send(errorPacket(ERR_ILLEGAL, parsed.reason), peer.port, peer.address);
      return;
    }
    const key = `${peer.address}|${peer.port}`;
    const existing = sessions.get(key);
    if (existing) {
      if (existing.request.equals(msg)) return;
      existing.cancelled = true;
      existing.transfer?.abort('superseded by a new request from the same port');
      sessions.delete(key);
    }
    if (sessions.size >= cfg.maxTransfers) {
      counters.refused++;
      refusals.busy++;
      return;
    }
    const req = parsed.request;
    const name = normaliseName(req.name);
    if (!name.ok) return refuse(peer, name.shown, name.code, name.reason);
    if (req.op === OP_WRQ) return refuse(peer, name.name, ERR_ACCESS, 'read-only server: writes are refused');
    if (req.mode !== 'octet' && req.mode !== 'netascii') {
      return refuse(
        peer,
        name.name,
        ERR_ILLEGAL,
        `unsupported transfer mode "${req.mode.slice(0, 32)}": use octet`,
      );
    }
    const session: Session = { request: Buffer.from(msg), cancelled: false };
    sessions.set(key, session);
    begin(session, key, req, name.name, peer).catch((err: unknown) => {
      if (sessions.get(key) === session) sessions.delete(key);
      refuse(peer, name.name, ERR_UNDEFINED, `internal error: ${(err as Error).message}`);
    });
  };

  const begin = async (
    session: Session,
    key: string,
    req: TftpRequest,
    file: string,
    peer: TftpPeer,
  ): Promise<void> => {
    const hooked = opts.resolve ? await opts.resolve(file, peer) : undefined;
    const opened: Opened =
      hooked && 'data' in hooked
        ? { ok: true, data: hooked.data }
        : hooked?.root !== undefined
          ? await openInsideRoot({ root: hooked.root, trusted: [] }, hooked.path, cache)
          : await openInsideRoot(confinement, hooked ? hooked.path : file, cache, resolved);
    const drop = (): void => {
      if (sessions.get(key) === session) sessions.delete(key);
    };
    if (!opened.ok) {
      drop();
      if (!session.cancelled) refuse(peer, file, opened.code, opened.reason);
      return;
    }
    let source: BlockSource;
    let negotiated: Negotiated;
    try {
      const content = await contentFor(opened, req.mode);
      if ('refusal' in content) {
        drop();
        refuse(peer, file, ERR_UNDEFINED, content.refusal);
        return;
      }
      const size = 'data' in content ? content.data.length : content.size;
      negotiated = negotiate(req.options, size, limits);
      source =
        'data' in content
          ? new MemorySource(content.data)
          : new FileSource(content.handle, content.size, negotiated.blksize);
    } catch (err) {
      if ('handle' in opened) await opened.handle.close().catch(() => undefined);
      throw err;
    }
    let socket: Socket;
    try {
      socket = await transferSocket(peer, key);
    } catch (err) {
      await source.close();
      throw err;
    }
    if (session.cancelled || stopping) {
      socket.close();
      await source.close();
      drop();
      return;
    }
    const transfer = new Transfer({
      socket,
      peer,
      source,
      blksize: negotiated.blksize,
      windowsize: negotiated.windowsize,
      timeoutMs: negotiated.timeoutMs,
      retries: cfg.retries,
      ...(negotiated.oack.length > 0 ? { oack: oackPacket(negotiated.oack) } : {}),
      onProgress: (delta) => {
        counters.bytes += delta;
      },
      onMalformed: () => {
        counters.malformed++;
      },
      release: (s, clean) => releaseSocket(s, clean, key),
      onEnd: (result) => {
        drop();
        if (result.ok) {
          counters.completed++;
          emit({ kind: 'complete', file, peer, bytes: result.bytes });
        } else {
          counters.errors++;
          failures[failureKind(result.error)]++;
          emit({
            kind: 'error',
            file,
            peer,
            bytes: result.bytes,
            ...(result.error !== undefined ? { error: result.error } : {}),
          });
        }
      },
    });
    session.transfer = transfer;
    counters.transfers++;
    emit({ kind: 'start', file, peer });
    transfer.start();
  };

  /** The bytes to send in this mode: in memory, an open file to stream, or why it cannot be served. */
  const contentFor = async (opened: Served, mode: string): Promise<Served | { refusal: string }> => {
    if (mode !== 'netascii') return opened;
    if ('data' in opened) {
      return opened.data.length <= NETASCII_MAX_BYTES
        ? { data: toNetascii(opened.data) }
        : { refusal: netasciiTooBig() };
    }
    if (opened.size > NETASCII_MAX_BYTES) {
      await opened.handle.close();
      return { refusal: netasciiTooBig() };
    }
    const data = await opened.handle.readFile();
    await opened.handle.close();
    return { data: toNetascii(data) };
  };

  /**
   * A socket connected to the client: a kept one when there is one that did not just serve this same client port
   * (in case the kernel kept its port: a late duplicate of that transfer's datagrams must not reach the new one),
   * else a fresh one.
   */
  const transferSocket = async (peer: TftpPeer, key: string): Promise<Socket> => {
    let i = idle.length - 1;
    while (i >= 0 && idle[i]!.last === key) i--;
    const reused = i >= 0 ? idle.splice(i, 1)[0]!.socket : undefined;
    const s = reused ?? createSocket(family);
    try {
      await new Promise<void>((resolve, reject) => {
        const connect = (): void => {
          s.connect(peer.port, peer.address, () => {
            s.off('error', reject);
            resolve();
          });
        };
        s.once('error', reject);
        if (reused) connect();
        else s.bind({ address: opts.address, port: 0 }, connect);
      });
    } catch (err) {
      closeQuietly(s);
      throw err;
    }
    // Between transfers nobody listens: errors then concern no transfer.
    if (!reused) s.on('error', () => undefined);
    return s;
  };

  const releaseSocket = (s: Socket, clean: boolean, key: string): void => {
    // Only after a clean end: a transfer that failed may leave an ICMP error pending on its socket.
    if (!clean || stopping || idle.length >= MAX_IDLE_SOCKETS) return closeQuietly(s);
    try {
      s.disconnect();
    } catch {
      return closeQuietly(s);
    }
    idle.push({ socket: s, last: key });
  };

  return {
    async start() {
      if (main) throw new Error('TFTP server already started');
      const realRoot = await realpath(opts.root);
      if (!(await stat(realRoot)).isDirectory()) throw new Error(`TFTP root ${opts.root} is not a directory`);
      // Trusted targets that do not exist on this machine are simply left out.
      const trusted = await Promise.all(
        (opts.trustedLinkTargets ?? DEBIAN_IPXE_LINK_TARGETS).map((t) => realpath(t).catch(() => '')),
      );
      if (trusted.includes('/'))
        throw new Error('trustedLinkTargets must not contain /: that would serve the whole filesystem');
      confinement = { root: realRoot, trusted: trusted.filter((t) => t !== '') };
      resolved = new ResolvedCache(cache, RESOLVED_LIMITS);
      const maxBlksize = Math.min(cfg.maxBlksize, blksizeCapFor(opts.address), MAX_BLKSIZE);
      limits = {
        maxBlksize,
        maxWindowsize: Math.max(1, Math.min(cfg.maxWindowsize, 1024)),
        timeoutMs: cfg.timeoutMs,
      };
      stopping = false;
      const s = createSocket(family);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind({ address: opts.address, port: cfg.port }, () => {
          s.off('error', reject);
          resolve();
        });
      });
      // After binding, socket errors (e.g. ICMP from a client's closed port) concern one peer only.
      s.on('error', () => undefined);
      s.on('message', onDatagram);
      main = s;
    },
    async stop() {
      stopping = true;
      const s = main;
      main = undefined;
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
      const closing: Promise<void>[] = [];
      for (const session of sessions.values()) {
        session.cancelled = true;
        if (session.transfer) {
          session.transfer.abort('server shutting down');
          closing.push(session.transfer.closed);
        }
      }
      sessions.clear();
      await Promise.all(closing);
      for (const { socket } of idle.splice(0)) closeQuietly(socket);
      resolved?.close();
      resolved = undefined;
      cache.clear();
    },
    stats() {
      let active = 0;
      for (const session of sessions.values()) if (session.transfer) active++;
      return { ...counters, active, refusals: { ...refusals }, failures: { ...failures } };
    },
  };
}

function closeQuietly(s: Socket): void {
  try {
    s.close();
  } catch {
    // Already closed.
  }
}

function netasciiTooBig(): string {
  return `netascii mode is limited to ${NETASCII_MAX_BYTES / 1024 / 1024} MiB files: request octet (binary) mode, e.g. "tftp -m octet"`;
}

/** Options explicitly set to undefined must not override the defaults. */
function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
