// The tiny OS of lab boots (LAB.md §4.5): the Debian installer's kernel with a 1-2 MB initrd made of
// busybox-static and the NIC modules of the d-i initrd. Its init takes a DHCP lease, calls the URL given as
// `callback=` on the kernel command line (the host's checkpoint) with its MAC and the whole command line — after
// sending its boot log to the agent over syslog and as an HTTP post to the same token —
// and powers the machine off, so a lab boot takes seconds instead of the installer's minute. With `config=` on
// the command line it first fetches that unattended config, as an installer fetches its preseed, and prints its
// size and the sha256 of its join_token= value (a fingerprint on the console, as an installer logs what it was
// given; never the value).
// Built once per input into the cache dir (content-addressed file name), so every later call is a stat.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
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
} as const;

// The callback gets the command line percent-encoded byte by byte (od + sed: busybox has no urlencode), so
// whatever the kernel line holds survives as one query parameter.
const INIT = `#!/bin/sh
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
log() { echo "$*"; echo "$*" >> /tmp/boot.log; }
log "${TINY_MARKERS.start}"
for m in ${TINY_MODULES.join(' ')}; do insmod /mod/$m.ko 2>/dev/null; done
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
export async function buildTinyInitrd(opts: TinyInitrdOptions = {}): Promise<TinyInitrd> {
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
        v: 1,
        INIT,
        UDHCPC_SCRIPT,
        TINY_MODULES,
        di: [diInitrd, di.size, di.mtimeMs],
        bb: [busybox, bb.size, bb.mtimeMs],
        ...(arch === 'amd64' ? {} : { arch }),
      }),
    )
    .digest('hex')
    .slice(0, 16);
  const target = path.join(cacheDir, `tiny-initrd-${key}.gz`);
  const cached = await stat(target).catch(() => undefined);
  if (cached) return { path: target, bytes: cached.size, built: false };

  const modules = await modulesFrom(diInitrd, BUILT_IN[arch]);
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
    ...TINY_MODULES.filter((m) => modules.has(m)).map((m) => ({
      name: `mod/${m}.ko`,
      mode: S_IFREG | 0o644,
      data: modules.get(m)!,
    })),
    { name: 'etc/udhcpc.script', mode: S_IFREG | 0o755, data: Buffer.from(UDHCPC_SCRIPT) },
    { name: 'init', mode: S_IFREG | 0o755, data: Buffer.from(INIT) },
  ];
  const gz = await promisify(gzip)(writeNewc(entries), { level: 9 });
  await mkdir(cacheDir, { recursive: true });
  const tmp = `${target}.tmp-${process.pid}`;
  await writeFile(tmp, gz);
  await rename(tmp, target);
  return { path: target, bytes: gz.length, built: true };
}

/** The .ko files of TINY_MODULES from the d-i initrd, by module name. */
async function modulesFrom(diInitrd: string, builtIn: readonly string[]): Promise<Map<string, Buffer>> {
  const archive = await promisify(gunzip)(await readFile(diInitrd));
  const wanted = new Set<string>(TINY_MODULES.filter((m) => !builtIn.includes(m)));
  const found = new Map<string, Buffer>();
  for (const e of readNewc(archive)) {
    const m = /^lib\/modules\/[^/]+\/kernel\/.*\/([^/]+)\.ko$/.exec(e.name);
    if (m && wanted.has(m[1]!) && e.data) found.set(m[1]!, Buffer.from(e.data));
  }
  const missing = [...wanted].filter((m) => !found.has(m));
  if (missing.length > 0) throw new Error(`${diInitrd} lacks the modules ${missing.join(', ')}`);
  return found;
}
