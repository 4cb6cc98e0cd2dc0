// Kernels and initrds held in memory once served, so that later whole-file GETs are one write of a Buffer to the
// socket. Node has no sendfile(2) for sockets; streaming from disk cost a 1 MiB read (a fresh buffer) and a
// write per MiB, and in the benchmark (`bench/http.ts`) a Buffer from memory served the 8 MiB kernel and 39 MiB
// initrd 1.7-2.2x as fast as the stream did. Ranges, conditional requests and HEAD still go to the disk path
// (@fastify/static), which stays the one source of the headers: an entry keeps the headers that path sent for the
// same file, so both answer alike.
//
// An entry is used only while the file's identity (device, inode, size, mtime) is what the route's stat sees for
// the request, so a replaced file is read again. Its bytes are read through the same checks as TFTP's (a regular
// file, opened without following a last symlink, whose descriptor's real path is inside the root), so memory
// never holds anything from outside the root.
import type { Stats } from 'node:fs';
import { FileCache } from '../tftp/file-cache.ts';
import { readInsideRoot } from '../tftp/open-file.ts';
import type { Confinement } from '../tftp/path-safety.ts';

/** The headers of the disk path that describe the file (its length is the Buffer's). */
const KEPT_HEADERS = ['content-type', 'etag', 'last-modified', 'cache-control', 'accept-ranges'];
/** Requests that must go to the disk path: they ask for part of the file or a conditional answer. */
const PARTIAL_OR_CONDITIONAL = [
  'range',
  'if-range',
  'if-match',
  'if-none-match',
  'if-modified-since',
  'if-unmodified-since',
];

export interface AssetMemoryLimits {
  maxFileBytes: number;
  maxTotalBytes: number;
}

export class AssetMemory {
  private readonly files: FileCache;
  private readonly headers = new Map<string, Record<string, string>>();
  private readonly loading = new Set<string>();

  constructor(limits: AssetMemoryLimits) {
    this.files = new FileCache(limits);
  }

  /** Whether a request may be answered with the whole file from memory. */
  static wholeFileGet(method: string, headers: Record<string, unknown>): boolean {
    return method === 'GET' && PARTIAL_OR_CONDITIONAL.every((h) => headers[h] === undefined);
  }

  /** The bytes and headers of `real` when held for exactly the file `st` describes. */
  get(real: string, st: Stats): { data: Buffer; headers: Record<string, string> } | undefined {
    const data = this.files.get(real, st);
    const headers = this.headers.get(real);
    if (!data || !headers) return undefined;
    return { data, headers };
  }

  /**
   * After the disk path answered a whole-file GET of `real` with `sent` headers: reads the file into memory in
   * the background if it fits (one load per file at a time).
   */
  remember(c: Confinement, real: string, st: Stats, sent: Record<string, unknown>): void {
    if (!this.files.cacheable(st.size) || this.loading.has(real)) return;
    const kept: Record<string, string> = {};
    for (const h of KEPT_HEADERS) if (typeof sent[h] === 'string') kept[h] = sent[h];
    this.loading.add(real);
    readInsideRoot(c, real, st)
      .then((data) => {
        if (!data) return;
        this.files.put(real, st, data);
        this.headers.set(real, kept);
      })
      .catch(() => undefined)
      .finally(() => this.loading.delete(real));
  }
}
