// Contents of small, hot files (undionly.kpxe, ipxe.efi, snponly.efi: tens of kB to ~1 MB) kept in memory, so a
// boot storm costs no reads. An entry is only used while the file's identity (device, inode, size, mtime) is
// unchanged, so replacing a file on disk is picked up by the next request. Least recently used entries go first.
import type { Stats } from 'node:fs';

export interface CacheLimits {
  /** Files larger than this are streamed from disk instead. */
  maxFileBytes: number;
  maxTotalBytes: number;
}

interface Entry {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  data: Buffer;
}

export class FileCache {
  private readonly entries = new Map<string, Entry>();
  private total = 0;

  constructor(private readonly limits: CacheLimits) {}

  cacheable(size: number): boolean {
    return size <= this.limits.maxFileBytes && size <= this.limits.maxTotalBytes;
  }

  get(realPath: string, st: Stats): Buffer | undefined {
    const e = this.entries.get(realPath);
    if (!e) return undefined;
    if (e.dev !== st.dev || e.ino !== st.ino || e.size !== st.size || e.mtimeMs !== st.mtimeMs) {
      this.drop(realPath, e);
      return undefined;
    }
    // Re-insert to mark as most recently used (Map keeps insertion order).
    this.entries.delete(realPath);
    this.entries.set(realPath, e);
    return e.data;
  }

  /** The contents held for `realPath` without an identity check: for a caller that knows the file is unchanged. */
  peek(realPath: string): Buffer | undefined {
    const e = this.entries.get(realPath);
    if (!e) return undefined;
    this.entries.delete(realPath);
    this.entries.set(realPath, e);
    return e.data;
  }

  put(realPath: string, st: Stats, data: Buffer): void {
    if (!this.cacheable(data.length)) return;
    const old = this.entries.get(realPath);
    if (old) this.drop(realPath, old);
    // Bounded by the number of entries.
    for (const [key, e] of this.entries) {
      if (this.total + data.length <= this.limits.maxTotalBytes) break;
      this.drop(key, e);
    }
    this.entries.set(realPath, { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, data });
    this.total += data.length;
  }

  clear(): void {
    this.entries.clear();
    this.total = 0;
  }

  private drop(key: string, e: Entry): void {
    this.entries.delete(key);
    this.total -= e.data.length;
  }
}
