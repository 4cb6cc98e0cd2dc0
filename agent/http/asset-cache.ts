// The on-disk cache of assets fetched from a CDN (the agent's `/assets/` as a caching reverse proxy: asset-proxy.ts).
// One folder per origin under the agent's data dir (`asset-cache/<hash of the origin URL>/<asset path>`), so a new
// origin never serves what an older one sent under the same path. Bounded in bytes: after a file is stored, the
// least recently used files (served or stored longest ago; files from before a restart by when they were stored)
// are deleted until the total fits, never the file just stored; a file larger than the bound is served through
// and not kept. Downloads in flight are written under `.partial/` (a hidden folder the route never serves) and
// renamed into place whole, so the cache never holds a torn file.
import { createHash, randomUUID } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';

/** What /metrics reads. */
export interface AssetCacheStats {
  /** Requests answered from the cache. */
  hits: number;
  /** Requests that went to the origin (the file was not cached, or a range of an uncached file). */
  misses: number;
  /** Requests the origin failed: unreachable, timed out, or an error status (answered 502, or 404 for its 404). */
  originErrors: number;
  /** Files stored after a whole download. */
  stored: number;
  /** Files deleted to keep the cache under its bound. */
  evictions: number;
  /** Bytes and files held now. */
  bytes: number;
  files: number;
  maxBytes: number;
}

interface Held {
  size: number;
  lastUsed: number;
}

/** Files looked at when the cache is read at start: enough for any real set of boot assets, and bounded. */
const MAX_FILES_AT_LOAD = 100_000;
export const PARTIAL_DIR = '.partial';
/** The bound when the agent config sets none (`assets.cache_max_bytes`). */
export const DEFAULT_ASSET_CACHE_BYTES = 8 * 1024 ** 3;

export class AssetCache {
  private readonly held = new Map<string, Held>();
  private total = 0;
  private readonly counts = { hits: 0, misses: 0, originErrors: 0, stored: 0, evictions: 0 };

  constructor(
    readonly root: string,
    readonly maxBytes: number,
    private readonly warn: (msg: string) => void = () => undefined,
  ) {}

  /** Reads what a previous run left (sizes and ages), and drops its unfinished downloads. */
  async load(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await rm(path.join(this.root, PARTIAL_DIR), { recursive: true, force: true });
    const pending = [this.root];
    let seen = 0;
    while (pending.length > 0 && seen < MAX_FILES_AT_LOAD) {
      const dir = pending.pop()!;
      let entries: Dirent[];
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        this.warn(`asset cache: cannot read ${dir}: ${(err as Error).message}`);
        continue;
      }
      for (const e of entries) {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) pending.push(full);
        else if (e.isFile()) {
          seen++;
          const st = await stat(full).catch(() => undefined);
          if (st) this.note(full, st.size, st.mtimeMs);
        }
      }
    }
    await this.evict(undefined);
  }

  /** The folder an origin's files are kept in (created on first use). */
  async originDir(origin: string): Promise<string> {
    const dir = path.join(this.root, createHash('sha256').update(origin).digest('hex').slice(0, 16));
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /** A fresh name for a download in flight. */
  async partialPath(): Promise<string> {
    const dir = path.join(this.root, PARTIAL_DIR);
    await mkdir(dir, { recursive: true });
    return path.join(dir, randomUUID());
  }

  /** Whether a download of `size` bytes (when the origin said) may be kept at all. */
  fits(size: number): boolean {
    return size <= this.maxBytes;
  }

  hit(file: string): void {
    this.counts.hits++;
    const h = this.held.get(file);
    if (h) h.lastUsed = Date.now();
  }

  miss(): void {
    this.counts.misses++;
  }

  originError(): void {
    this.counts.originErrors++;
  }

  /** Moves a whole download into place as `target` and makes room for it. */
  async store(partial: string, target: string, size: number): Promise<void> {
    await mkdir(path.dirname(target), { recursive: true });
    await rename(partial, target);
    this.note(target, size, Date.now());
    this.counts.stored++;
    await this.evict(target);
  }

  stats(): AssetCacheStats {
    return { ...this.counts, bytes: this.total, files: this.held.size, maxBytes: this.maxBytes };
  }

  private note(file: string, size: number, lastUsed: number): void {
    const prev = this.held.get(file);
    if (prev) this.total -= prev.size;
    this.held.set(file, { size, lastUsed });
    this.total += size;
  }

  /** Deletes the least recently used files until the total fits; `keep` (just stored) is never one of them. */
  private async evict(keep: string | undefined): Promise<void> {
    if (this.total <= this.maxBytes) return;
    const oldestFirst = [...this.held.entries()]
      .filter(([f]) => f !== keep)
      .sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    for (const [file, h] of oldestFirst) {
      if (this.total <= this.maxBytes) break;
      // A file being sent stays readable to its open descriptor on Linux; the next request refetches it.
      await rm(file, { force: true }).catch((err: unknown) =>
        this.warn(`asset cache: cannot delete ${file}: ${(err as Error).message}`),
      );
      this.held.delete(file);
      this.total -= h.size;
      this.counts.evictions++;
    }
  }
}
