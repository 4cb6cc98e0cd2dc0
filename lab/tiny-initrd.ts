// The tiny OS of lab boots (LAB.md §4.5): the Debian installer's kernel with a 1-2 MB initrd made of
// busybox-static and the NIC modules of the d-i initrd. Its init takes a DHCP lease, calls the URL given as
// `callback=` on the kernel command line (the host's checkpoint) with its MAC and the whole command line — after
// sending its boot log to the agent over syslog and as an HTTP post to the same token —
// and powers the machine off, so a lab boot takes seconds instead of the installer's minute. With `config=` on
// the command line it first fetches that unattended config, as an installer fetches its preseed, and prints its
// size and the sha256 of its join_token= value (a fingerprint on the console, as an installer logs what it was
// given; never the value). On a machine with a disk (virtio-blk) it is also the installer: it streams the lab's
// disk image (lab/disk-image.ts) from the agent's assets onto the disk, as image-based provisioning does (an
// image written whole, like Tinkerbell's image2disk), and writes the installed system's settings to its seed
// partition (the address it was leased, where to report), before it calls back.
// Built once per input into the cache dir (content-addressed file name), so every later call is a stat. The disk
// driver is not in the d-i initrd (d-i loads it from the network): it comes from the Debian kernel package of
// the same ABI (`apt-get download`, once, into the cache).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { vaqueroCacheDir } from '../temporal/cache-dir.ts';
import type { CpioEntry } from './cpio.ts';
import { readNewc, S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG, writeNewc } from './cpio.ts';

export const DI_DIR = '/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64';
/** The kernel lab VMs boot (6.1, EFI stub, virtio and e1000 as modules). */
export const DI_KERNEL = path.join(DI_DIR, 'linux');
export const DI_INITRD = path.join(DI_DIR, 'initrd.gz');
export const BUSYBOX = '/bin/busybox';
/** The arm64 d-i netboot images (debian-installer-12-netboot-arm64, an arch-all package): kernel and initrd. */
export const DI_ARM64_DIR = '/usr/lib/debian-installer/images/12/arm64/text/debian-installer/arm64';
export const DI_ARM64_KERNEL = path.join(DI_ARM64_DIR, 'linux');
export const DI_ARM64_INITRD = path.join(DI_ARM64_DIR, 'initrd.gz');

/** The CPU architecture the tiny OS is built for; its kernel, modules and busybox must all be of it. */
export type TinyArch = 'amd64' | 'arm64';
/** Of TINY_MODULES, those each architecture's d-i kernel has built in (no .ko in its initrd; insmod skips them). */
const BUILT_IN: Record<TinyArch, readonly string[]> = { amd64: [], arm64: ['virtio', 'virtio_ring'] };

/** Loaded in this order (dependencies first); virtio-net-pci and e1000 are the NICs lab VMs use. */
export const TINY_MODULES = [
  'virtio',
  'virtio_ring',
  'virtio_pci_legacy_dev',
  'virtio_pci_modern_dev',
  'virtio_pci',
  'failover',
  'net_failover',
  'virtio_net',
  'e1000',
] as const;

/** The disk driver of lab VMs (virtio-blk), from the kernel package; loaded after the virtio modules above. */
export const DISK_MODULES = ['virtio_blk'] as const;

/** Where the installed system's seed partition starts and what it holds (lab/disk-image.ts lays it out). */
export const SEED_PARTITION = '/dev/vda2';
/** The lab's listener for "booted from disk" reports (lab/disk-reports.ts), on the agent's address. */
export const DISK_REPORT_PORT = 8099;
/** The disk image's name in the agent's assets. */
export const DISK_IMAGE_ASSET = 'disk.img';

/** Serial console markers the init prints, for tests and `vaquero lab` to follow a boot. */
export const TINY_MARKERS = {
  start: 'TINY: init',
  lease: 'TINY: lease',
  noLease: 'TINY: no lease',
  cmdline: 'TINY: cmdline',
  callbackOk: 'TINY: callback ok',
  callbackFailed: 'TINY: callback failed',
  /** `TINY: config <bytes> bytes` once the config named by `config=` is fetched. */
  config: 'TINY: config',
  configFailed: 'TINY: config failed',
  /** `TINY: join token sha256 <hex>`: the fingerprint of the config's join_token= value, never the value. */
  joinToken: 'TINY: join token sha256',
  /** The boot log went to the agent over syslog (busybox syslogd -R) / was posted to its log URL. */
  logSyslog: 'TINY: boot log sent over syslog',
  logPosted: 'TINY: boot log posted',
  logPostFailed: 'TINY: boot log post failed',
  /** `TINY: disk written /dev/vda` once the image is on the disk and its seed written. */
  diskWritten: 'TINY: disk written',
  diskFailed: 'TINY: disk write failed',
} as const;

// The callback gets the command line percent-encoded byte by byte (od + sed: busybox has no urlencode), so
// whatever the kernel line holds survives as one query parameter.
const INIT = `#!/bin/sh
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
log() { echo "$*"; echo "$*" >> /tmp/boot.log; }
log "${TINY_MARKERS.start}"
for m in ${[...TINY_MODULES, ...DISK_MODULES].join(' ')}; do insmod /mod/$m.ko 2>/dev/null; done
ip link set lo up
IF=
i=0
while [ $i -lt 50 ]; do
  IF=$(ls /sys/class/net | grep -v '^lo$' | head -1)
  [ -n "$IF" ] && break
  sleep 0.1; i=$((i + 1))
done
ip link set "$IF" up
MAC=$(cat /sys/class/net/$IF/address)
if udhcpc -i "$IF" -n -q -f -t 10 -T 1 -s /etc/udhcpc.script; then
  log "${TINY_MARKERS.lease} $IF $MAC $(ip -4 -o addr show dev $IF | sed -n 's/.* inet \\([^ ]*\\).*/\\1/p')"
else
  log "${TINY_MARKERS.noLease} $IF $MAC"
fi
CMDLINE=$(cat /proc/cmdline)
echo "${TINY_MARKERS.cmdline} $CMDLINE"
CFG=$(sed -n 's/.* config=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
if [ -n "$CFG" ]; then
  n=0
  until wget -q -O /tmp/config "$CFG"; do
    n=$((n + 1))
    if [ $n -ge 5 ]; then log "${TINY_MARKERS.configFailed} $CFG"; break; fi
    sleep 1
  done
  if [ $n -lt 5 ]; then
    log "${TINY_MARKERS.config} $(wc -c < /tmp/config) bytes"
    TOKEN=$(sed -n 's/^join_token=//p' /tmp/config)
    [ -n "$TOKEN" ] && log "${TINY_MARKERS.joinToken} $(printf '%s' "$TOKEN" | sha256sum | cut -d' ' -f1)"
  fi
fi
CB=$(sed -n 's/.*callback=\\([^ ]*\\).*/\\1/p' /proc/cmdline)
# The installer's part: a disk to install to gets the image, then the seed the installed system reads at boot.
install_disk() {
  AGENT=$(echo "$CB" | sed -n 's,^[a-z]*://\\([^:/]*\\).*,\\1,p')
  ADDR=$(ip -4 -o addr show dev $IF | sed -n 's/.* inet \\([^ ]*\\).*/\\1/p')
  wget -q -O /dev/vda "\${CB%/checkpoint/*}/assets/${DISK_IMAGE_ASSET}" || return 1
  sync; blockdev --rereadpt /dev/vda || return 1
  i=0
  while [ ! -b ${SEED_PARTITION} ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  printf 'address=%s\\nreport=http://%s:${DISK_REPORT_PORT}/disk-boot\\n' "$ADDR" "$AGENT" > /tmp/seed
  dd if=/tmp/seed of=${SEED_PARTITION} conv=fsync 2>/dev/null || return 1
  sync
}
if [ -n "$CB" ] && [ -b /dev/vda ]; then
  if install_disk; then log "${TINY_MARKERS.diskWritten} /dev/vda"; else log "${TINY_MARKERS.diskFailed}"; fi
fi
enc() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \\n' | sed 's/../%&/g'; }
# The boot log to the agent both ways an installer can: syslog to its address (UDP 514) and a post to its log URL,
# the checkpoint URL with /log/ for /checkpoint/ (the same run token). The command line is not in it: it holds the
# token.
if [ -n "$CB" ]; then
  AGENT=$(echo "$CB" | sed -n 's,^[a-z]*://\\([^:/]*\\).*,\\1,p')
  syslogd -n -R "$AGENT:514" &
  SYSLOGD=$!
  sleep 0.3
  logger -t tiny < /tmp/boot.log
  logger -t tiny -p user.err "tiny: this line is an error, on purpose"
  echo "${TINY_MARKERS.logSyslog} $AGENT"
  if wget -q -O /dev/null --post-file=/tmp/boot.log "\${CB%/checkpoint/*}/log/\${CB##*/}"; then
    echo "${TINY_MARKERS.logPosted}"
  else
    echo "${TINY_MARKERS.logPostFailed}"
  fi
  sleep 0.3
  kill $SYSLOGD 2>/dev/null
fi
if [ -n "$CB" ]; then
  n=0
  until wget -q -O - "$CB?stage=tiny&mac=$MAC&cmdline=$(enc "$CMDLINE")"; do
    n=$((n + 1))
    if [ $n -ge 5 ]; then echo "${TINY_MARKERS.callbackFailed} $CB"; break; fi
    sleep 1
  done
  [ $n -lt 5 ] && echo && echo "${TINY_MARKERS.callbackOk} $CB"
fi
sync
poweroff -f
`;

const UDHCPC_SCRIPT = `#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/\${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route add default via "\${router%% *}" dev "$interface"
    ;;
esac
exit 0
`;

export interface TinyInitrd {
  /** The gzip'd initrd in the cache. */
  path: string;
  bytes: number;
  /** False when it was already in the cache. */
  built: boolean;
}

export interface TinyInitrdOptions {
  /** Default: <vaquero cache>/lab. */
  cacheDir?: string;
  diInitrd?: string;
  busybox?: string;
  /**
   * Default amd64. arm64: the arm64 d-i initrd's modules and `busybox` must be an arm64 busybox-static (no default:
   * lab/arm64-packages.ts unpacks one); its applet list comes from this machine's busybox (BUSYBOX), which cannot
   * run an arm64 binary, so both should be the same Debian version.
   */
  arch?: TinyArch;
}

/** Builds the tiny initrd unless the cache already holds the one for these inputs. */
export function buildTinyInitrd(opts: TinyInitrdOptions = {}): Promise<TinyInitrd> {
  return buildLabInitrd('tiny-initrd', INIT, opts);
}

/**
 * An initrd of the lab's kind (busybox-static, the NIC and disk modules, the udhcpc script) with `init` as its
 * /init, named `<name>-<key>.gz` in the cache; the installed system's initrd (lab/disk-image.ts) is one too.
 */
export async function buildLabInitrd(
  name: string,
  init: string,
  opts: TinyInitrdOptions = {},
): Promise<TinyInitrd> {
  const cacheDir = opts.cacheDir ?? path.join(vaqueroCacheDir(), 'lab');
  const arch = opts.arch ?? 'amd64';
  const diInitrd = opts.diInitrd ?? (arch === 'arm64' ? DI_ARM64_INITRD : DI_INITRD);
  if (arch !== 'amd64' && opts.busybox === undefined)
    throw new Error(`the ${arch} tiny initrd needs a busybox built for ${arch} (TinyInitrdOptions.busybox)`);
  const busybox = opts.busybox ?? BUSYBOX;
  const [di, bb] = await Promise.all([stat(diInitrd), stat(busybox)]).catch((err: unknown) => {
    throw new Error(
      `the tiny initrd needs ${diInitrd} and ${busybox} (apt-get install debian-installer-12-netboot-amd64 busybox-static): ${String(err)}`,
    );
  });
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        v: 2,
        init,
        UDHCPC_SCRIPT,
        TINY_MODULES,
        DISK_MODULES,
        di: [diInitrd, di.size, di.mtimeMs],
        bb: [busybox, bb.size, bb.mtimeMs],
        ...(arch === 'amd64' ? {} : { arch }),
      }),
    )
    .digest('hex')
    .slice(0, 16);
  const target = path.join(cacheDir, `${name}-${key}.gz`);
  const cached = await stat(target).catch(() => undefined);
  if (cached) return { path: target, bytes: cached.size, built: false };

  const modules = await modulesFrom(diInitrd, BUILT_IN[arch]);
  // The disk driver (the d-i initrd has none): from the kernel package of the same ABI. amd64 only: the lab's
  // installed system, and so its disks, are x86.
  if (arch === 'amd64')
    for (const [m, data] of await kernelPackageModules(abiOf(modules), cacheDir)) modules.set(m, data);
  const applets = (await promisify(execFile)(arch === 'amd64' ? busybox : BUSYBOX, ['--list'])).stdout
    .split('\n')
    .filter((a) => a && a !== 'busybox');
  const dir = (name: string): CpioEntry => ({ name, mode: S_IFDIR | 0o755 });
  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'etc', 'mod', 'proc', 'sys', 'tmp'].map(dir),
    // The kernel opens /dev/console for init before devtmpfs is mounted: without it init has no output.
    { name: 'dev/console', mode: S_IFCHR | 0o600, rdev: [5, 1] },
    { name: 'bin/busybox', mode: S_IFREG | 0o755, data: await readFile(busybox) },
    ...applets.map((a) => ({ name: `bin/${a}`, mode: S_IFLNK | 0o777, data: Buffer.from('busybox') })),
    ...[...TINY_MODULES, ...DISK_MODULES]
      .filter((m) => modules.has(m))
      .map((m) => ({
        name: `mod/${m}.ko`,
        mode: S_IFREG | 0o644,
        data: modules.get(m)!,
      })),
    { name: 'etc/udhcpc.script', mode: S_IFREG | 0o755, data: Buffer.from(UDHCPC_SCRIPT) },
    { name: 'init', mode: S_IFREG | 0o755, data: Buffer.from(init) },
  ];
  const gz = await promisify(gzip)(writeNewc(entries), { level: 9 });
  await mkdir(cacheDir, { recursive: true });
  const tmp = `${target}.tmp-${process.pid}`;
  await writeFile(tmp, gz);
  await rename(tmp, target);
  return { path: target, bytes: gz.length, built: true };
}

/** The kernel ABI the d-i modules were built for (6.1.0-50-amd64), as the modules map records it. */
function abiOf(modules: Map<string, Buffer> & { abi?: string }): string {
  if (!modules.abi) throw new Error('the d-i initrd names no kernel ABI (lib/modules/<abi>/)');
  return modules.abi;
}

/**
 * DISK_MODULES from the Debian kernel package of that ABI (the same kernel build as the d-i one), fetched once
 * with `apt-get download` and kept in the cache.
 */
async function kernelPackageModules(abi: string, cacheDir: string): Promise<Map<string, Buffer>> {
  const found = new Map<string, Buffer>();
  const missing: string[] = [];
  for (const m of DISK_MODULES) {
    const data = await readFile(path.join(cacheDir, `${m}-${abi}.ko`)).catch(() => undefined);
    if (data) found.set(m, data);
    else missing.push(m);
  }
  if (missing.length === 0) return found;
  const pkg = `linux-image-${abi}`;
  const work = await mkdtemp(path.join(tmpdir(), 'vaq-kernel-'));
  try {
    const run = promisify(execFile);
    await run('apt-get', ['download', '-q', pkg], { cwd: work, maxBuffer: 16 << 20 }).catch(
      (err: unknown) => {
        throw new Error(
          `the lab's disk driver comes from ${pkg} (apt-get download ${pkg}); that failed: ${(err as { stderr?: string }).stderr || String(err)}`,
          { cause: err },
        );
      },
    );
    const deb = (await run('sh', ['-c', 'ls *.deb'], { cwd: work })).stdout.trim().split('\n')[0]!;
    const list = (
      await run('sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" | tar -t', 'sh', deb], {
        cwd: work,
        maxBuffer: 64 << 20,
      })
    ).stdout.split('\n');
    await mkdir(cacheDir, { recursive: true });
    for (const m of missing) {
      const member = list.find((l) => l.endsWith(`/${m}.ko`));
      if (!member) throw new Error(`${pkg} has no ${m}.ko`);
      const data = (
        await run('sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" | tar -xO "$2"', 'sh', deb, member], {
          cwd: work,
          encoding: 'buffer',
          maxBuffer: 64 << 20,
        })
      ).stdout;
      const file = path.join(cacheDir, `${m}-${abi}.ko`);
      await writeFile(`${file}.tmp-${process.pid}`, data);
      await rename(`${file}.tmp-${process.pid}`, file);
      found.set(m, data);
    }
    return found;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The .ko files of TINY_MODULES from the d-i initrd, by module name. */
async function modulesFrom(
  diInitrd: string,
  builtIn: readonly string[],
): Promise<Map<string, Buffer> & { abi?: string }> {
  const archive = await promisify(gunzip)(await readFile(diInitrd));
  const wanted = new Set<string>(TINY_MODULES.filter((m) => !builtIn.includes(m)));
  const found: Map<string, Buffer> & { abi?: string } = new Map<string, Buffer>();
  for (const e of readNewc(archive)) {
    const m = /^lib\/modules\/([^/]+)\/kernel\/.*\/([^/]+)\.ko$/.exec(e.name);
    if (m && wanted.has(m[2]!) && e.data) {
      found.set(m[2]!, Buffer.from(e.data));
      found.abi = m[1]!;
    }
  }
  const missing = [...wanted].filter((m) => !found.has(m));
  if (missing.length > 0) throw new Error(`${diInitrd} lacks the modules ${missing.join(', ')}`);
  return found;
}
