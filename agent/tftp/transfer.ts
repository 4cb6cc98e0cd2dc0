// One read transfer on its own socket (the server's TID), connected to the client's TID so that the kernel
// drops datagrams from anyone else and reports ICMP "port unreachable" when the client has gone away. The socket
// may have served an earlier transfer (server.ts keeps a few): a datagram queued before it was connected to this
// client is recognised by its source and ignored. At the end the socket is handed back, not closed.
//
// Blocks are numbered here as absolute integers (1, 2, ... past 65535); the wire carries the low 16 bits, so
// the counter rolls over from 65535 to 0. A window (RFC 7440; windowsize 1 is plain RFC 1350 lock-step) is
// sent, then the ACK of its last block advances it. An ACK of an earlier block is a restart point: the next
// window starts right after it. A duplicate ACK of an already acknowledged block is ignored, never answered
// with a resend, which avoids the sorcerer's apprentice storm; our own timeout resends instead, a bounded
// number of times. The DATA packets of the current window are kept (one reused buffer per window slot, the
// final short block in its own buffer) so a resend costs no reads and the steady state allocates nothing.
import type { RemoteInfo, Socket } from 'node:dgram';
import type { BlockSource } from './source.ts';
import { ERR_UNDEFINED, OP_ACK, OP_ERROR, dataPacket, errorPacket, opcodeOf, parseError } from './packets.ts';

export interface TransferParams {
  /** Connected to `peer`. */
  socket: Socket;
  peer: { address: string; port: number };
  source: BlockSource;
  blksize: number;
  windowsize: number;
  timeoutMs: number;
  retries: number;
  /** When options were accepted: sent first, and DATA starts after the client's ACK 0. */
  oack?: Buffer;
  /** Called with each increase of acknowledged payload bytes. */
  onProgress(delta: number): void;
  onMalformed(): void;
  onEnd(result: { ok: boolean; bytes: number; error?: string }): void;
  /** Takes the socket back once the transfer is done with it; `clean` after a transfer that ended well. */
  release(socket: Socket, clean: boolean): void;
}

export class Transfer {
  private acked = 0;
  private next = 1;
  private filled = 0;
  private sentMax = 0;
  private readonly last: number;
  private readonly slots: Buffer[] = [];
  private finalPacket: Buffer | undefined;
  private phase: 'oack' | 'data' | 'done' = 'data';
  private retriesLeft: number;
  private loading = false;
  private readonly timer: NodeJS.Timeout;
  /** Resolves once the socket has been handed back. */
  readonly closed: Promise<void>;
  private released!: () => void;
  private readonly onDatagram = (msg: Buffer, from: RemoteInfo): void => {
    if (from.port === this.p.peer.port && from.address === this.p.peer.address) this.onMessage(msg);
  };
  private readonly onError = (err: Error): void => this.finish(`network error: ${err.message}`, false);

  constructor(private readonly p: TransferParams) {
    // A file of exactly n blocks ends with an empty block n+1, so the last block is always short.
    this.last = Math.floor(p.source.size / p.blksize) + 1;
    this.retriesLeft = p.retries;
    this.closed = new Promise((resolve) => (this.released = resolve));
    p.socket.on('message', this.onDatagram);
    p.socket.on('error', this.onError);
    this.timer = setTimeout(() => this.onTimeout(), p.timeoutMs);
  }

  start(): void {
    if (this.p.oack) {
      this.phase = 'oack';
      this.p.socket.send(this.p.oack);
    } else {
      this.kick();
    }
  }

  /** Ends the transfer, telling the client why. */
  abort(reason: string): void {
    this.finish(reason, true);
  }

  private bytesAt(block: number): number {
    return Math.min(block * this.p.blksize, this.p.source.size);
  }

  private onMessage(msg: Buffer): void {
    if (this.phase === 'done') return;
    const op = opcodeOf(msg);
    if (op === OP_ACK && msg.length >= 4) {
      this.onAck(msg.readUInt16BE(2));
    } else if (op === OP_ERROR) {
      const e = parseError(msg);
      this.finish(`client sent error ${e?.code ?? '?'}: ${e?.message ?? ''}`, false);
    } else {
      this.p.onMalformed();
    }
  }

  private onAck(wire: number): void {
    if (this.phase === 'oack') {
      if (wire !== 0) return;
      this.phase = 'data';
      this.progressed();
      this.kick();
      return;
    }
    // The one absolute block in [acked, acked + 65535] with these low 16 bits; windows are far smaller.
    const k = this.acked + ((wire - (this.acked & 0xffff)) & 0xffff);
    if (k === this.acked || k > this.sentMax) return; // duplicate, or a block we never sent
    this.p.onProgress(this.bytesAt(k) - this.bytesAt(this.acked));
    this.acked = k;
    if (k === this.last) {
      this.finish(undefined, false);
      return;
    }
    this.progressed();
    this.next = k + 1;
    this.kick();
  }

  private progressed(): void {
    this.retriesLeft = this.p.retries;
    this.timer.refresh();
  }

  private onTimeout(): void {
    if (this.phase === 'done') return;
    if (this.retriesLeft <= 0) {
      this.finish('timed out waiting for an acknowledgement', true);
      return;
    }
    this.retriesLeft--;
    this.timer.refresh();
    if (this.phase === 'oack' && this.p.oack) {
      this.p.socket.send(this.p.oack);
    } else {
      this.next = this.acked + 1;
      this.kick();
    }
  }

  private kick(): void {
    if (!this.loading) this.pump();
  }

  /**
   * Sends blocks from `next` to the end of the current window. Synchronous (no promise per ACK); only when the
   * next block is not buffered does it start a chunk read and resume from its completion. ACKs arriving
   * meanwhile just move `acked`/`next`, which the resumed pump picks up.
   */
  private pump(): void {
    // At most a window of sends, plus one fill attempt that may hand over to a read.
    for (let step = 0; step <= this.p.windowsize && this.phase === 'data'; step++) {
      const end = Math.min(this.acked + this.p.windowsize, this.last);
      const b = this.next;
      if (b > end) return;
      if (b > this.filled && !this.fill(b)) {
        this.loading = true;
        this.p.source.load().then(
          () => {
            this.loading = false;
            this.pump();
          },
          (err: Error) => {
            this.loading = false;
            this.finish(`read failed: ${err.message}`, true);
          },
        );
        return;
      }
      this.p.socket.send(this.packetFor(b));
      this.next = b + 1;
      if (b > this.sentMax) this.sentMax = b;
    }
  }

  /** Builds the DATA packet of block `b` (always filled + 1); false when the source must load first. */
  private fill(b: number): boolean {
    const isLast = b === this.last;
    const len = isLast ? this.p.source.size - (b - 1) * this.p.blksize : this.p.blksize;
    if (this.p.source.buffered() < len) return false;
    let pkt: Buffer;
    if (isLast) {
      pkt = this.finalPacket = dataPacket(len);
    } else {
      const slot = b % this.p.windowsize;
      pkt = this.slots[slot] ??= dataPacket(this.p.blksize);
    }
    pkt.writeUInt16BE(b & 0xffff, 2);
    if (len > 0) this.p.source.take(pkt, 4, len);
    this.filled = b;
    return true;
  }

  private packetFor(b: number): Buffer {
    const pkt = b === this.last ? this.finalPacket : this.slots[b % this.p.windowsize];
    if (!pkt) throw new Error(`block ${b} was never built`);
    return pkt;
  }

  /** `error` undefined means success. `tell` sends the client an ERROR first. */
  private finish(error: string | undefined, tell: boolean): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    clearTimeout(this.timer);
    const socket = this.p.socket;
    socket.off('message', this.onDatagram);
    socket.off('error', this.onError);
    const release = (): void => {
      this.p.release(socket, error === undefined);
      this.released();
    };
    if (tell && error) socket.send(errorPacket(ERR_UNDEFINED, error), release);
    else release();
    this.p.source.close().catch(() => undefined);
    this.p.onEnd({
      ok: error === undefined,
      bytes: this.bytesAt(this.acked),
      ...(error !== undefined ? { error } : {}),
    });
  }
}
