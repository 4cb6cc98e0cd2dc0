// The arm64 tiny initrd, built from Debian's real arm64 packages (lab/arm64-packages.ts unpacks busybox-static:arm64;
// the modules come from the arm64 d-i initrd): every program and module in it is an aarch64 ELF, it has the NIC
// modules the arm64 kernel does not build in, and the init is the same as amd64's. An arm64 build without an arm64
// busybox is refused with the reason. (The boot itself: test/lab/arm64.test.ts.)
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { ensureArm64Files } from '../../lab/arm64-packages.ts';
import type { CpioEntry } from '../../lab/cpio.ts';
import { readNewc } from '../../lab/cpio.ts';
import { buildTinyInitrd } from '../../lab/tiny-initrd.ts';

/** ELF e_machine: 183 is AArch64, 62 is x86-64. */
function elfMachine(data: Uint8Array | undefined): number | undefined {
  if (!data || data.length < 20) return undefined;
  const b = Buffer.from(data);
  if (b.toString('latin1', 0, 4) !== '\x7fELF') return undefined;
  return b.readUInt16LE(18);
}

const AARCH64 = 183;

describe('the arm64 tiny initrd', { timeout: 300_000 }, () => {
  let cacheDir: string;
  let arm64: CpioEntry[];
  let amd64: CpioEntry[];

  before(async () => {
    cacheDir = await mkdtemp(path.join(tmpdir(), 'vq-arm64-initrd-'));
    const files = await ensureArm64Files();
    const a = await buildTinyInitrd({ cacheDir, arch: 'arm64', busybox: files.files.busybox });
    assert.equal(a.built, true);
    arm64 = readNewc(gunzipSync(await readFile(a.path)));
    const x = await buildTinyInitrd({ cacheDir });
    amd64 = readNewc(gunzipSync(await readFile(x.path)));
  });

  after(async () => {
    if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
  });

  it('busybox and every module are aarch64; the NIC modules are there', () => {
    const byName = new Map(arm64.map((e) => [e.name, e]));
    assert.equal(elfMachine(byName.get('bin/busybox')?.data), AARCH64);
    const modules = arm64.filter((e) => e.name.startsWith('mod/'));
    assert.ok(modules.length > 0);
    for (const m of modules) assert.equal(elfMachine(m.data), AARCH64, m.name);
    for (const m of ['virtio_pci', 'virtio_net', 'net_failover', 'failover'])
      assert.ok(byName.has(`mod/${m}.ko`), `${m}.ko`);
    // Built into the arm64 d-i kernel: no module to load (the init's insmod of them fails quietly).
    assert.ok(!byName.has('mod/virtio.ko') && !byName.has('mod/virtio_ring.ko'));
  });

  it('the same init, applets and layout as the amd64 one', () => {
    const text = (es: CpioEntry[], name: string) =>
      Buffer.from(es.find((e) => e.name === name)?.data ?? []).toString();
    assert.equal(text(arm64, 'init'), text(amd64, 'init'));
    const links = (es: CpioEntry[]) => es.filter((e) => e.name.startsWith('bin/')).map((e) => e.name);
    assert.deepEqual(links(arm64), links(amd64));
    assert.equal(elfMachine(amd64.find((e) => e.name === 'bin/busybox')?.data), 62);
  });

  it('arm64 without an arm64 busybox is refused, saying so', async () => {
    await assert.rejects(
      buildTinyInitrd({ cacheDir, arch: 'arm64' }),
      /arm64 tiny initrd needs a busybox built for arm64/,
    );
  });
});
