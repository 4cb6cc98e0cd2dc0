// Names already resolved and checked, so that a boot storm's requests for the same hot file cost no realpath, no
// stat and no thread-pool round trip (each was ~150 µs of a 1-block transfer's ~580 µs on a loaded 2-core VM).
//
// Safety: an entry is only made from a request that passed every check of the uncached path (open-file.ts: real
// path inside the confinement, a regular file, the descriptor's own path re-checked), and it points at contents
// the FileCache holds for that real path. So an entry can only ever hand out bytes that were read from inside the
// root: caching never widens what can be served.
//
// Freshness: an entry must not outlive a change to the file or to the way its name resolves. Every directory the
// resolution went through is watched (inotify through fs.watch: the lexical chain from the root down to the file,
// and the real file's directory when a symlink points there), and any event in any of them drops every entry and
// every watch. Only simple resolutions are cached, where those directories are all there is to watch: no symlink
// at all, or one symlink as the last component pointing straight at the real file (Debian's ipxe.efi ->
// /boot/ipxe.efi); anything else takes the uncached path every time. An entry is also re-checked the uncached way
// after maxAgeMs whatever the watches say, for filesystems that send no change notices (NFS, FUSE). A change
// notice is read by the event loop, so a request racing a change by microseconds may still get the file as it
// was a moment before; it never gets anything from outside the root.
import { watch } from 'node:fs';
import type { FSWatcher, Stats } from 'node:fs';
import { readlink, realpath, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { FileCache } from './file-cache.ts';
import { isInside } from './path-safety.ts';

interface Entry {
  real: string;
  /** The change generation the entry was made in: it is valid only while no change has been seen since. */
  generation: number;
  madeAt: number;
}

export interface ResolvedCacheLimits {
  /** Entries older than this are checked again the uncached way. */
  maxAgeMs: number;
  /** Directories watched at once; beyond it nothing new is cached until the next change clears the watches. */
  maxWatches: number;
  /** Entries kept at once (the contents themselves are bounded by the FileCache). */
  maxEntries: number;
}

export class ResolvedCache {
  private readonly entries = new Map<string, Entry>();
  private readonly watchers = new Map<string, FSWatcher>();
  /** Names being admitted: a burst of requests for one name checks it once. */
  private readonly pending = new Set<string>();
  private generation = 0;
  private closed = false;

  constructor(
    private readonly files: FileCache,
    private readonly limits: ResolvedCacheLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** The contents for the lexical path `full`, when a still-valid entry holds them. */
  get(full: string): Buffer | undefined {
    const e = this.entries.get(full);
    if (!e) return undefined;
    if (e.generation !== this.generation || this.now() - e.madeAt >= this.limits.maxAgeMs) {
      this.entries.delete(full);
      return undefined;
    }
    const data = this.files.peek(e.real);
    if (!data) this.entries.delete(full);
    return data;
  }

  /**
   * Called after the uncached path served `full` from the FileCache entry of `real` (whose identity was `st`).
   * Watches first, then checks that nothing moved between that request's checks and the watches being in place.
   */
  async admit(root: string, full: string, real: string, st: Stats): Promise<void> {
    if (this.closed || this.pending.has(full) || this.entries.size >= this.limits.maxEntries) return;
    if (!isInside(root, full)) return;
    this.pending.add(full);
    try {
      await this.check(root, full, real, st);
    } finally {
      this.pending.delete(full);
    }
  }

  private async check(root: string, full: string, real: string, st: Stats): Promise<void> {
    const dirs = await watchedDirs(root, full, real);
    if (!dirs || this.closed) return;
    const fresh = dirs.filter((d) => !this.watchers.has(d));
    if (this.watchers.size + fresh.length > this.limits.maxWatches) return;
    for (const d of fresh) {
      try {
        const w = watch(d, { persistent: false }, () => this.invalidate());
        w.on('error', () => this.invalidate());
        this.watchers.set(d, w);
      } catch {
        // Cannot watch it (gone, no inotify): then it is not cached.
        this.invalidate();
        return;
      }
    }
    const generation = this.generation;
    // Anything that changes from here on bumps the generation; what changed before is seen by this re-check.
    let again: string;
    let st2: Stats;
    try {
      again = await realpath(full);
      st2 = await stat(again);
    } catch {
      return;
    }
    if (again !== real || !sameIdentity(st, st2) || generation !== this.generation || this.closed) return;
    this.entries.set(full, { real, generation, madeAt: this.now() });
  }

  /** Drops every entry and watch (a change was seen, or the server stops). */
  invalidate(): void {
    this.generation++;
    this.entries.clear();
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }

  close(): void {
    this.closed = true;
    this.invalidate();
  }

  /** For tests: how many names are cached and directories watched. */
  size(): { entries: number; watches: number } {
    return { entries: this.entries.size, watches: this.watchers.size };
  }
}

function sameIdentity(a: Stats, b: Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

/**
 * The directories whose entries decide how `full` resolves to `real`, when that is all of them: the chain from
 * `root` to `full`'s directory (which must hold no symlink), plus `real`'s directory when `full` itself is a
 * symlink straight to `real`. Undefined for any other shape (not cached).
 */
async function watchedDirs(root: string, full: string, real: string): Promise<string[] | undefined> {
  const parent = dirname(full);
  const chain: string[] = [];
  for (let d = parent; ; d = dirname(d)) {
    chain.push(d);
    if (d === root) break;
    if (!isInside(root, d)) return undefined;
  }
  if (full === real) return chain;
  try {
    if ((await realpath(parent)) !== parent) return undefined;
    if (resolve(parent, await readlink(full)) !== real) return undefined;
  } catch {
    return undefined;
  }
  return [...chain, dirname(real)];
}
