// The cache of resolved names (agent/tftp/resolved-cache.ts): a hot name is served without resolving it again,
// and any change on disk along its resolution drops it, so that a file swapped for a symlink out of the root, a
// rewritten file or a retargeted link is never served from the cache afterwards. Waits for the kernel's change
// notice are bounded polls, never timings.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  mkdirSync,
  mkdtempSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileCache } from '../../../agent/tftp/file-cache.ts';
import { openInsideRoot } from '../../../agent/tftp/open-file.ts';
import type { Opened } from '../../../agent/tftp/open-file.ts';
import type { Confinement } from '../../../agent/tftp/path-safety.ts';
import { ResolvedCache } from '../../../agent/tftp/resolved-cache.ts';

const SECRET = 'secret outside the root';

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), what);
}

function text(o: Opened): string {
  if (!o.ok) return `refused ${o.code}: ${o.reason}`;
  assert.ok('data' in o, 'small files come from memory');
  return o.data.toString();
}

describe('TFTP resolved-name cache', () => {
  let dir: string;
  let root: string;
  let outside: string;
  let c: Confinement;
  let files: FileCache;
  let rc: ResolvedCache;
  const open = (name: string) => openInsideRoot(c, name, files, rc);
  /** Served once the uncached way, then admitted (admission finishes in the background). */
  const warm = async (name: string, expect: string) => {
    assert.equal(text(await open(name)), expect);
    await until(`${name} is cached`, () => rc.size().entries > 0);
  };

  before(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'vaquero-tftp-resolved-')));
    root = join(dir, 'root');
    outside = join(dir, 'outside');
    mkdirSync(join(root, 'sub'), { recursive: true });
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret'), SECRET);
    writeFileSync(join(outside, 'trusted.bin'), 'trusted v1');
    c = { root, trusted: [join(outside, 'trusted.bin')] };
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const fresh = () => {
    rc?.close();
    files = new FileCache({ maxFileBytes: 1 << 20, maxTotalBytes: 1 << 22 });
    rc = new ResolvedCache(files, { maxAgeMs: 60_000, maxWatches: 16, maxEntries: 16 });
  };

  it('a file swapped for a symlink out of the root is refused, never served from the cache', async () => {
    fresh();
    writeFileSync(join(root, 'sub', 'boot.bin'), 'boot v1');
    await warm('sub/boot.bin', 'boot v1');
    assert.equal(text(await open('sub/boot.bin')), 'boot v1');
    unlinkSync(join(root, 'sub', 'boot.bin'));
    symlinkSync(join(outside, 'secret'), join(root, 'sub', 'boot.bin'));
    await until('the change drops the entry', () => rc.size().entries === 0);
    const r = await open('sub/boot.bin');
    assert.equal(r.ok, false, text(r));
    assert.equal(rc.size().entries, 0, 'a refused name is not cached');
  });

  it('a directory on the way swapped for a symlink out of the root: refused', async () => {
    fresh();
    mkdirSync(join(root, 'efi'));
    writeFileSync(join(root, 'efi', 'secret'), 'in the root');
    await warm('efi/secret', 'in the root');
    renameSync(join(root, 'efi'), join(dir, 'efi-moved'));
    symlinkSync(outside, join(root, 'efi'));
    await until('the change drops the entry', () => rc.size().entries === 0);
    const r = await open('efi/secret');
    assert.equal(r.ok, false, text(r));
  });

  it('a rewritten file is served as it is now', async () => {
    fresh();
    writeFileSync(join(root, 'menu.ipxe'), 'menu v1');
    await warm('menu.ipxe', 'menu v1');
    writeFileSync(join(root, 'menu.ipxe'), 'menu v2, longer');
    await until('the change drops the entry', () => rc.size().entries === 0);
    assert.equal(text(await open('menu.ipxe')), 'menu v2, longer');
  });

  it('a link straight to a trusted file is cached, and a change to the target is seen', async () => {
    fresh();
    symlinkSync(join(outside, 'trusted.bin'), join(root, 'ipxe.efi'));
    await warm('ipxe.efi', 'trusted v1');
    writeFileSync(join(outside, 'trusted.bin'), 'trusted v2');
    await until('the change drops the entry', () => rc.size().entries === 0);
    assert.equal(text(await open('ipxe.efi')), 'trusted v2');
  });

  it('names resolved through a symlinked directory are served but never cached', async () => {
    fresh();
    mkdirSync(join(root, 'real-dir'));
    writeFileSync(join(root, 'real-dir', 'f.bin'), 'via a link');
    symlinkSync('real-dir', join(root, 'linked-dir'));
    for (let i = 0; i < 3; i++) assert.equal(text(await open('linked-dir/f.bin')), 'via a link');
    // Admission runs in the background: give it the turns it would take, then check nothing was kept.
    for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(rc.size().entries, 0);
    assert.equal(text(await open('real-dir/f.bin')), 'via a link');
    await until('the direct name is cached', () => rc.size().entries === 1);
    rc.close();
    assert.deepEqual(rc.size(), { entries: 0, watches: 0 });
  });
});
