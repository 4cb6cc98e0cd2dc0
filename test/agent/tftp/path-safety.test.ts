import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { normaliseName, realPathInside } from '../../../agent/tftp/path-safety.ts';

const name = (s: string | Buffer): ReturnType<typeof normaliseName> =>
  normaliseName(Buffer.isBuffer(s) ? s : Buffer.from(s));

describe('TFTP path safety', () => {
  let dir: string;
  let root: string;
  before(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'vaquero-tftp-path-')));
    root = join(dir, 'root');
    mkdirSync(join(root, 'efi'), { recursive: true });
    writeFileSync(join(root, 'efi', 'ipxe.efi'), 'x');
    writeFileSync(join(dir, 'secret'), 's');
    symlinkSync('efi/ipxe.efi', join(root, 'inside'));
    symlinkSync('../secret', join(root, 'outside'));
    symlinkSync(dir, join(root, 'up'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('normalises: leading slashes, backslashes, "." and empty segments', () => {
    assert.deepEqual(name('/efi//./ipxe.efi'), { ok: true, name: 'efi/ipxe.efi' });
    assert.deepEqual(name('\\efi\\ipxe.efi'), { ok: true, name: 'efi/ipxe.efi' });
    assert.deepEqual(name('///undionly.kpxe'), { ok: true, name: 'undionly.kpxe' });
  });

  it('refuses "..", control characters, invalid UTF-8 and empty names', () => {
    for (const bad of ['..', '../x', 'a/../../x', 'a/..', '..\\x', 'efi\\..\\..\\x', 'a\x01b', 'a\x7fb']) {
      const r = name(bad);
      assert.equal(r.ok, false, bad);
      if (!r.ok) assert.equal(r.code, 2, bad);
    }
    const utf = name(Buffer.from([0x61, 0xc3]));
    assert.equal(utf.ok, false);
    const empty = name('/./');
    assert.ok(!empty.ok && empty.code === 1);
    assert.deepEqual(
      name('a..b/..c'),
      { ok: true, name: 'a..b/..c' },
      '".." only matters as a whole segment',
    );
  });

  it('resolves symlinks and keeps only real paths inside the root', async () => {
    const c = { root, trusted: [] };
    assert.deepEqual(await realPathInside(c, 'inside'), { ok: true, path: join(root, 'efi', 'ipxe.efi') });
    for (const p of ['outside', 'up/secret', join(dir, 'secret'), '../secret', '/etc/passwd']) {
      const r = await realPathInside(c, p);
      assert.ok(!r.ok && r.code === 2, p);
    }
    const missing = await realPathInside(c, 'nope');
    assert.ok(!missing.ok && missing.code === 1);
    const notDir = await realPathInside(c, 'efi/ipxe.efi/x');
    assert.ok(!notDir.ok && notDir.code === 1);
  });

  it('follows a symlink out of the root only to a trusted target', async () => {
    writeFileSync(join(dir, 'trusted.bin'), 't');
    symlinkSync('../trusted.bin', join(root, 'linked'));
    const c = { root, trusted: [join(dir, 'trusted.bin')] };
    assert.deepEqual(await realPathInside(c, 'linked'), { ok: true, path: join(dir, 'trusted.bin') });
    const sibling = await realPathInside(c, 'outside'); // ../secret, in the same directory as the trusted file
    assert.ok(!sibling.ok && sibling.code === 2);
  });
});
