// The SVR4 "newc" cpio format the Linux kernel unpacks as an initramfs: read (to take modules out of the
// d-i initrd) and write (the tiny initrd). Written here rather than with cpio(1) so the archive can hold a
// /dev/console node without mknod, every entry is owned by root with mtime 0, and the output is reproducible.

const MAGIC = '070701';
const HEADER_BYTES = 110;
const TRAILER = 'TRAILER!!!';

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;
const S_IFMT = 0o170000;

export interface CpioEntry {
  name: string;
  /** File type and permission bits (S_IF* | 0o755). */
  mode: number;
  /** File contents, or a symlink's target. */
  data?: Buffer;
  /** Character devices: major and minor. */
  rdev?: [number, number];
}

const pad4 = (n: number): number => (4 - (n % 4)) % 4;

/** Every entry of a newc archive (the trailer excluded). Throws on anything that is not newc. */
export function readNewc(archive: Buffer): CpioEntry[] {
  const out: CpioEntry[] = [];
  let at = 0;
  while (at + HEADER_BYTES <= archive.length) {
    const magic = archive.toString('latin1', at, at + 6);
    if (magic !== MAGIC) {
      // Concatenated archives may be separated by zero padding.
      if (archive[at] === 0) {
        at += 4;
        continue;
      }
      throw new Error(`not a newc cpio archive at byte ${at} (magic ${JSON.stringify(magic)})`);
    }
    const field = (i: number) => parseInt(archive.toString('latin1', at + 6 + i * 8, at + 14 + i * 8), 16);
    const mode = field(1);
    const size = field(6);
    const rdev: [number, number] = [field(9), field(10)];
    const nameSize = field(11);
    const nameAt = at + HEADER_BYTES;
    const name = archive.toString('utf8', nameAt, nameAt + nameSize - 1);
    const dataAt = nameAt + nameSize + pad4(HEADER_BYTES + nameSize);
    if (dataAt + size > archive.length)
      throw new Error(`cpio entry ${name} runs past the end of the archive`);
    if (name === TRAILER) {
      at = dataAt;
      continue;
    }
    out.push({ name, mode, data: archive.subarray(dataAt, dataAt + size), rdev });
    at = dataAt + size + pad4(size);
  }
  return out;
}

/** A newc archive of `entries` in the order given (parents before children), root-owned, mtime 0. */
export function writeNewc(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const push = (e: CpioEntry): void => {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(`${e.name}\0`, 'utf8');
    const isDir = (e.mode & S_IFMT) === S_IFDIR;
    const fields = [
      ino++,
      e.mode,
      0, // uid
      0, // gid
      isDir ? 2 : 1, // nlink
      0, // mtime
      data.length,
      0, // devmajor
      0, // devminor
      e.rdev?.[0] ?? 0,
      e.rdev?.[1] ?? 0,
      name.length,
      0, // check
    ];
    const header = MAGIC + fields.map((f) => f.toString(16).padStart(8, '0')).join('');
    parts.push(Buffer.from(header, 'latin1'), name, Buffer.alloc(pad4(HEADER_BYTES + name.length)));
    parts.push(data, Buffer.alloc(pad4(data.length)));
  };
  for (const e of entries) push(e);
  push({ name: TRAILER, mode: 0 });
  return Buffer.concat(parts);
}
