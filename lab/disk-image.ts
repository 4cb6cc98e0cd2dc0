// The system the lab's installer puts on a machine's disk: one raw disk image, built on the host once per input
// (content-addressed in the cache, like the tiny initrd) with no root: an MBR partition table (sfdisk on the
// file), a FAT partition (mtools) holding GRUB for both firmwares, the d-i kernel and an initrd whose init
// reports "booted from disk" over HTTP, and a small seed partition the installer fills in per machine.
//
//   sector 0          GRUB's boot.img (BIOS), the partition table after it
//   sectors 1..       GRUB's core.img for i386-pc (the gap before partition 1)
//   partition 1 (FAT) EFI/BOOT/BOOTX64.EFI (GRUB for x86_64-efi), boot/grub/grub.cfg, boot/vmlinuz, boot/initrd.gz
//   partition 2       the seed: `address=<cidr>` and `report=<url>` lines, written by the installer
//
// Both GRUB images are made with grub-mkimage from Debian's grub-pc-bin and grub-efi-amd64-bin, with a small
// embedded config that finds the FAT by its grub.cfg and reads it: one grub.cfg for BIOS and UEFI. The installed
// system does no DHCP: it sets the address the installer was leased (as an installer writes a static network
// config), so its boot shows on the network only as its report.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { vaqueroCacheDir } from '../temporal/cache-dir.ts';
import type { TinyInitrdOptions } from './tiny-initrd.ts';
import { buildLabInitrd, DI_KERNEL, DISK_MODULES, SEED_PARTITION, TINY_MODULES } from './tiny-initrd.ts';

const run = promisify(execFile);

/** Serial console markers of the installed system, for tests and `vaquero lab` to follow its boot. */
export const DISK_MARKERS = {
  grub: 'DISK: grub',
  init: 'DISK: init',
  /** `DISK: booted from disk <if> <mac> <address>` */
  booted: 'DISK: booted from disk',
  noSeed: 'DISK: no seed',
  reportOk: 'DISK: report ok',
  reportFailed: 'DISK: report failed',
} as const;

/** The installed system's kernel command line (grub.cfg); `vaquero.installed=1` tells its boot from a netboot. */
export const DISK_CMDLINE = 'console=ttyS0 quiet panic=-1 vaquero.installed=1';

const SECTOR = 512;
const FAT_START = 2048;
const FAT_SECTORS = 32768;
const SEED_START = FAT_START + FAT_SECTORS;
const SEED_SECTORS = 2048;
const DISK_SECTORS = SEED_START + SEED_SECTORS;

const GRUB_MODULES = [
  'part_msdos',
  'fat',
  'search',
  'search_fs_file',
  'configfile',
  'normal',
  'linux',
  'echo',
];
const GRUB_I386_PC = '/usr/lib/grub/i386-pc';
const GRUB_EFI = '/usr/lib/grub/x86_64-efi';

const EMBEDDED_CFG = `search --no-floppy --file --set=root /boot/grub/grub.cfg
set prefix=($root)/boot/grub
configfile $prefix/grub.cfg
`;

const GRUB_CFG = `set timeout=0
echo "${DISK_MARKERS.grub} $grub_platform"
linux /boot/vmlinuz ${DISK_CMDLINE}
initrd /boot/initrd.gz
boot
`;

// The report carries the MAC and the command line percent-encoded (as the tiny OS's checkpoint call does).
const DISK_INIT = `#!/bin/sh
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
echo "${DISK_MARKERS.init}"
for m in ${[...TINY_MODULES, ...DISK_MODULES].join(' ')}; do insmod /mod/$m.ko 2>/dev/null; done
i=0
while [ ! -b ${SEED_PARTITION} ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
SEED=$(head -c 4096 ${SEED_PARTITION} 2>/dev/null | tr -d '\\000')
ADDR=$(echo "$SEED" | sed -n 's/^address=//p')
REPORT=$(echo "$SEED" | sed -n 's/^report=//p')
[ -n "$ADDR" ] && [ -n "$REPORT" ] || echo "${DISK_MARKERS.noSeed}"
ip link set lo up
IF=
i=0
while [ $i -lt 50 ]; do
  IF=$(ls /sys/class/net | grep -v '^lo$' | head -1)
  [ -n "$IF" ] && break
  sleep 0.1; i=$((i + 1))
done
ip link set "$IF" up
[ -n "$ADDR" ] && ip addr add "$ADDR" dev "$IF"
MAC=$(cat /sys/class/net/$IF/address)
CMDLINE=$(cat /proc/cmdline)
echo "${DISK_MARKERS.booted} $IF $MAC $ADDR"
enc() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \\n' | sed 's/../%&/g'; }
if [ -n "$REPORT" ]; then
  n=0
  until wget -q -O - "$REPORT?mac=$MAC&cmdline=$(enc "$CMDLINE")"; do
    n=$((n + 1))
    if [ $n -ge 10 ]; then echo "${DISK_MARKERS.reportFailed} $REPORT"; break; fi
    sleep 1
  done
  [ $n -lt 10 ] && echo && echo "${DISK_MARKERS.reportOk} $REPORT"
fi
sync
poweroff -f
`;

export interface DiskImage {
  /** The raw image in the cache. */
  path: string;
  bytes: number;
  /** False when it was already in the cache. */
  built: boolean;
}

/** Builds the disk image unless the cache already holds the one for these inputs. */
export async function buildDiskImage(opts: TinyInitrdOptions & { kernel?: string } = {}): Promise<DiskImage> {
  const cacheDir = opts.cacheDir ?? path.join(vaqueroCacheDir(), 'lab');
  const kernel = opts.kernel ?? DI_KERNEL;
  const initrd = await buildLabInitrd('disk-initrd', DISK_INIT, opts);
  const inputs = [kernel, path.join(GRUB_I386_PC, 'kernel.img'), path.join(GRUB_EFI, 'kernel.img')];
  const stats = await Promise.all(inputs.map((f) => stat(f))).catch((err: unknown) => {
    throw new Error(
      `the lab's disk image needs ${inputs.join(', ')} (apt-get install grub-pc-bin grub-efi-amd64-bin): ${String(err)}`,
      { cause: err },
    );
  });
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        v: 1,
        EMBEDDED_CFG,
        GRUB_CFG,
        GRUB_MODULES,
        DISK_SECTORS,
        initrd: initrd.path,
        inputs: inputs.map((f, i) => [f, stats[i]!.size, stats[i]!.mtimeMs]),
      }),
    )
    .digest('hex')
    .slice(0, 16);
  const target = path.join(cacheDir, `disk-${key}.img`);
  const cached = await stat(target).catch(() => undefined);
  if (cached) return { path: target, bytes: cached.size, built: false };

  const work = await mkdtemp(path.join(tmpdir(), 'vaq-disk-'));
  try {
    const file = (name: string) => path.join(work, name);
    await writeFile(file('embedded.cfg'), EMBEDDED_CFG);
    await writeFile(file('grub.cfg'), GRUB_CFG);
    const mkimage = (format: string, out: string, extra: string[]) =>
      tool('grub-mkimage', [
        '-O',
        format,
        '-o',
        out,
        '-p',
        '/boot/grub',
        '-c',
        file('embedded.cfg'),
        ...extra,
      ]);
    await mkimage('i386-pc', file('core.img'), ['biosdisk', ...GRUB_MODULES]);
    await mkimage('x86_64-efi', file('bootx64.efi'), GRUB_MODULES);
    const coreBytes = (await stat(file('core.img'))).size;
    if (coreBytes > (FAT_START - 1) * SECTOR)
      throw new Error(`GRUB's core.img (${coreBytes} bytes) does not fit before the first partition`);

    const img = file('disk.img');
    await writeFile(img, Buffer.alloc(0));
    await tool('truncate', ['-s', String(DISK_SECTORS * SECTOR), img]);
    await tool('sh', [
      '-c',
      `printf '%s\\n' 'label: dos' 'unit: sectors' "start=${FAT_START}, size=${FAT_SECTORS}, type=ef, bootable" "start=${SEED_START}, size=${SEED_SECTORS}, type=da" | sfdisk -q "$1"`,
      'sh',
      img,
    ]);
    // boot.img's code only (440 bytes): the disk signature and the partition table after it stay.
    await tool('dd', [
      `if=${path.join(GRUB_I386_PC, 'boot.img')}`,
      `of=${img}`,
      'bs=440',
      'count=1',
      'conv=notrunc',
    ]);
    // boot.img loads sector 1 (its default), where core.img's first sector lists the rest.
    await tool('dd', [`if=${file('core.img')}`, `of=${img}`, `bs=${SECTOR}`, 'seek=1', 'conv=notrunc']);
    const fat = `${img}@@${FAT_START * SECTOR}`;
    await tool('mformat', [
      '-i',
      fat,
      '-T',
      String(FAT_SECTORS),
      '-h',
      '64',
      '-s',
      '32',
      '-H',
      String(FAT_START),
      '-v',
      'VAQUERO',
      '::',
    ]);
    await tool('mmd', ['-i', fat, '::/EFI', '::/EFI/BOOT', '::/boot', '::/boot/grub']);
    for (const [from, to] of [
      [file('bootx64.efi'), '::/EFI/BOOT/BOOTX64.EFI'],
      [file('grub.cfg'), '::/boot/grub/grub.cfg'],
      [kernel, '::/boot/vmlinuz'],
      [initrd.path, '::/boot/initrd.gz'],
    ] as const) {
      await tool('mcopy', ['-i', fat, from, to]);
    }
    await mkdir(cacheDir, { recursive: true });
    const tmp = `${target}.tmp-${process.pid}`;
    await rename(img, tmp).catch(async () => {
      // The work dir may be on another filesystem than the cache.
      await tool('cp', [img, tmp]);
    });
    await rename(tmp, target);
    return { path: target, bytes: DISK_SECTORS * SECTOR, built: true };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function tool(cmd: string, args: string[]): Promise<void> {
  try {
    await run(cmd, args, { maxBuffer: 16 << 20 });
  } catch (err) {
    const detail = (err as { stderr?: string }).stderr?.trim() || String(err);
    throw new Error(
      `building the lab's disk image: ${cmd} failed (needs grub-pc-bin, grub-efi-amd64-bin, mtools, fdisk): ${detail}`,
      { cause: err },
    );
  }
}
