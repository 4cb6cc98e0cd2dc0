// Where a transfer's bytes come from. Blocks are taken strictly in order (a transfer keeps already-built DATA
// packets for retransmission, so a source never rewinds). A file is read in large chunks into one buffer per
// transfer so that a block costs a memcpy, not a read(2) and an allocation.
import type { FileHandle } from 'node:fs/promises';

export interface BlockSource {
  readonly size: number;
  /** Bytes ready at the current position without I/O. */
  buffered(): number;
  /** Copies `length` bytes (at most buffered()) into `dst` at `offset` and advances. */
  take(dst: Buffer, offset: number, length: number): void;
  /** Makes at least min(chunk, remaining) bytes buffered. Rejects if the file shrank under us. */
  load(): Promise<void>;
  close(): Promise<void>;
}

export class MemorySource implements BlockSource {
  private pos = 0;
  readonly size: number;
  constructor(private readonly data: Buffer) {
    this.size = data.length;
  }
  buffered(): number {
    return this.size - this.pos;
  }
  take(dst: Buffer, offset: number, length: number): void {
    this.data.copy(dst, offset, this.pos, this.pos + length);
    this.pos += length;
  }
  async load(): Promise<void> {}
  async close(): Promise<void> {}
}

export const FILE_CHUNK_BYTES = 256 * 1024;

export class FileSource implements BlockSource {
  /** File offset of chunk[0]. */
  private chunkAt = 0;
  private chunkLen = 0;
  private pos = 0;
  private readonly chunk: Buffer;
  private closed = false;

  /** `size` is the size fstat gave when the transfer began: that is what tsize promised, so it is what we send. */
  constructor(
    private readonly handle: FileHandle,
    readonly size: number,
    minChunk: number,
  ) {
    this.chunk = Buffer.allocUnsafe(Math.min(Math.max(FILE_CHUNK_BYTES, minChunk), Math.max(size, 1)));
  }
  buffered(): number {
    return this.chunkAt + this.chunkLen - this.pos;
  }
  take(dst: Buffer, offset: number, length: number): void {
    const from = this.pos - this.chunkAt;
    this.chunk.copy(dst, offset, from, from + length);
    this.pos += length;
  }
  async load(): Promise<void> {
    const want = Math.min(this.chunk.length, this.size - this.pos);
    let got = 0;
    // Bounded: each read either makes progress or ends the loop; a short file fails below.
    for (let i = 0; i < 64 && got < want; i++) {
      const { bytesRead } = await this.handle.read(this.chunk, got, want - got, this.pos + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    if (got < want) throw new Error('file shrank during the transfer');
    this.chunkAt = this.pos;
    this.chunkLen = got;
  }
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}
