// Which requested names may be served. Two layers:
//  1. normaliseName: lexical rules on the name as sent. Names are always relative to the root: leading
//     slashes are stripped ("/undionly.kpxe" is root/undionly.kpxe, "/etc/passwd" is root/etc/passwd, which is
//     simply not found), backslashes are separators (Windows-style PXE names like "boot\x64\wdsnbp.com" work and
//     "..\x" is caught), and any ".." segment is refused outright rather than folded away.
//  2. realPathInside: resolves symlinks with realpath and refuses anything whose real path leaves the root,
//     except the few trusted targets the operator lists (Debian's ipxe package links ipxe.efi -> /boot/ipxe.efi).
// A NUL cannot reach layer 1 (it ends the name in the packet); control characters and invalid UTF-8 are refused.
import { realpath } from 'node:fs/promises';
import { isAbsolute, resolve, sep } from 'node:path';
import { ERR_ACCESS, ERR_NOT_FOUND } from './packets.ts';

export const MAX_NAME_CHARS = 1024;
const MAX_SEGMENT_BYTES = 255;

export type Refusal = { ok: false; code: number; reason: string };
export type NameResult = { ok: true; name: string } | (Refusal & { shown: string });

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Printable form of a raw name for events and logs, with control bytes escaped. */
function shown(raw: Buffer): string {
  return raw.toString('latin1', 0, 256).replace(
    // eslint-disable-next-line no-control-regex
    /[\x00-\x1f\x7f-\xff]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}

export function normaliseName(raw: Buffer): NameResult {
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    return { ok: false, code: ERR_ACCESS, reason: 'file name is not valid UTF-8', shown: shown(raw) };
  }
  const r = normaliseText(text);
  return r.ok ? r : { ...r, shown: shown(raw) };
}

/**
 * The lexical rules on a name already decoded to text (the HTTP routes' names, after the router's percent-decoding):
 * relative to the root, `\` a separator, `..` refused outright, no control characters, bounded lengths.
 */
export function normaliseText(text: string): { ok: true; name: string } | Refusal {
  const refuse = (code: number, reason: string): Refusal => ({ ok: false, code, reason });
  if (text.length > MAX_NAME_CHARS) return refuse(ERR_ACCESS, 'file name too long');
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(text)) return refuse(ERR_ACCESS, 'control character in file name');
  const segments: string[] = [];
  for (const segment of text.replace(/\\/g, '/').split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') return refuse(ERR_ACCESS, 'path leaves the root');
    if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES) return refuse(ERR_ACCESS, 'file name too long');
    segments.push(segment);
  }
  if (segments.length === 0) return refuse(ERR_NOT_FOUND, 'no file name');
  return { ok: true, name: segments.join('/') };
}

export function isInside(root: string, candidate: string): boolean {
  const prefix = root.endsWith(sep) ? root : root + sep;
  return candidate.startsWith(prefix);
}

/** What may be served: real paths strictly inside `root`, or equal to / inside one of `trusted`. All real paths. */
export interface Confinement {
  root: string;
  trusted: readonly string[];
}

export function confines(c: Confinement, real: string): boolean {
  return isInside(c.root, real) || c.trusted.some((t) => real === t || isInside(t, real));
}

/** The absolute path `candidate` names before any symlink is followed (relative names are under the root). */
export function lexicalPath(c: Confinement, candidate: string): string {
  return isAbsolute(candidate) ? resolve(candidate) : resolve(c.root, candidate);
}

/** The real path of `candidate` (relative to the root, or absolute) if the confinement allows it. */
export async function realPathInside(
  c: Confinement,
  candidate: string,
): Promise<{ ok: true; path: string } | Refusal> {
  const full = lexicalPath(c, candidate);
  if (!confines(c, full)) return { ok: false, code: ERR_ACCESS, reason: 'path leaves the root' };
  let real: string;
  try {
    real = await realpath(full);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      return { ok: false, code: ERR_NOT_FOUND, reason: 'file not found' };
    return { ok: false, code: ERR_ACCESS, reason: code === 'ELOOP' ? 'symlink loop' : 'access denied' };
  }
  if (!confines(c, real)) return { ok: false, code: ERR_ACCESS, reason: 'symlink leaves the root' };
  return { ok: true, path: real };
}

/**
 * The one resolution every file-serving route uses (TFTP's names once decoded, HTTP's /boot and /assets): the lexical
 * rules, then the real path, which must stay inside the confinement. A route serves `path` and nothing else.
 */
export async function resolveServed(
  c: Confinement,
  text: string,
): Promise<{ ok: true; name: string; path: string } | Refusal> {
  const name = normaliseText(text);
  if (!name.ok) return name;
  const found = await realPathInside(c, name.name);
  return found.ok ? { ok: true, name: name.name, path: found.path } : found;
}
