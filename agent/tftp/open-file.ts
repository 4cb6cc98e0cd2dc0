// Opens a requested file for reading only if it is a regular file inside the root, and returns either its
// (cached) contents or an open handle. realpath is checked before open so a symlink out of the root is never
// even opened (opening some device files has side effects); after open, the descriptor's own path in
// /proc/self/fd is checked again, which closes the race where a directory is swapped for a symlink in between.
// A name served from memory this way is remembered (resolved-cache.ts), so the next request for it costs none of
// this until something changes on disk.
import { constants } from 'node:fs';
import type { Stats } from 'node:fs';
import { open, readlink, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { FileCache } from './file-cache.ts';
import { ERR_ACCESS, ERR_NOT_FOUND } from './packets.ts';
import { confines, lexicalPath, realPathInside } from './path-safety.ts';
import type { Confinement, Refusal } from './path-safety.ts';
import type { ResolvedCache } from './resolved-cache.ts';

export type Opened = { ok: true; data: Buffer } | { ok: true; handle: FileHandle; size: number } | Refusal;

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

function refusalFor(err: unknown): Refusal {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return { ok: false, code: ERR_NOT_FOUND, reason: 'file not found' };
  return { ok: false, code: ERR_ACCESS, reason: 'access denied' };
}

function sameFile(a: Stats, b: Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

async function descriptorInside(c: Confinement, handle: FileHandle): Promise<boolean> {
  let actual: string;
  try {
    actual = await readlink(`/proc/self/fd/${handle.fd}`);
  } catch {
    return true; // no /proc (not Linux): realpath above is the only check
  }
  return confines(c, actual);
}

function sameIdentity(a: Stats, b: Stats): boolean {
  return sameFile(a, b) && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

/**
 * The whole contents of `real`, a real path already found inside `c`, if it is still the regular file `st`
 * describes before and after the read: opened without following a last symlink, the descriptor's own path checked
 * inside `c` again. Undefined when anything moved.
 */
export async function readInsideRoot(c: Confinement, real: string, st: Stats): Promise<Buffer | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(real, OPEN_FLAGS);
  } catch {
    return undefined;
  }
  try {
    const before = await handle.stat();
    if (!before.isFile() || !sameIdentity(st, before) || !(await descriptorInside(c, handle)))
      return undefined;
    const data = await handle.readFile();
    const afterRead = await handle.stat();
    return data.length === st.size && sameIdentity(st, afterRead) ? data : undefined;
  } finally {
    await handle.close().catch(() => undefined);
  }
}

export async function openInsideRoot(
  c: Confinement,
  candidate: string,
  cache: FileCache,
  resolved?: ResolvedCache,
): Promise<Opened> {
  const full = lexicalPath(c, candidate);
  const known = resolved?.get(full);
  if (known) return { ok: true, data: known };
  const where = await realPathInside(c, candidate);
  if (!where.ok) return where;
  const remember = (st: Stats): void => {
    resolved?.admit(c.root, full, where.path, st).catch(() => undefined);
  };
  let st: Stats;
  try {
    st = await stat(where.path);
  } catch (err) {
    return refusalFor(err);
  }
  if (!st.isFile()) return { ok: false, code: ERR_ACCESS, reason: 'not a regular file' };
  const hot = cache.get(where.path, st);
  if (hot) {
    remember(st);
    return { ok: true, data: hot };
  }

  let handle: FileHandle;
  try {
    handle = await open(where.path, OPEN_FLAGS);
  } catch (err) {
    return refusalFor(err);
  }
  try {
    const fst = await handle.stat();
    if (!fst.isFile() || !sameFile(st, fst) || !(await descriptorInside(c, handle))) {
      await handle.close();
      return { ok: false, code: ERR_ACCESS, reason: 'file changed while it was opened' };
    }
    if (!cache.cacheable(fst.size)) return { ok: true, handle, size: fst.size };
    const data = await handle.readFile();
    await handle.close();
    if (data.length !== fst.size)
      return { ok: false, code: ERR_ACCESS, reason: 'file changed while it was read' };
    cache.put(where.path, fst, data);
    remember(fst);
    return { ok: true, data };
  } catch (err) {
    await handle.close().catch(() => undefined);
    return refusalFor(err);
  }
}
