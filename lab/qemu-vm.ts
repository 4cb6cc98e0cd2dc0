// A lab VM (LAB.md §4.3): QEMU under TCG (KVM is unusable here) with one NIC on a lab tap, optionally a disk
// (a raw file on virtio-blk), and its serial console in a file. Five firmwares:
//   bios       SeaBIOS + the iPXE option ROM of ipxe-qemu (iPXE from the first packet)
//   uefi       OVMF + the iPXE EFI ROM
//   uefi-pxe   OVMF with EDK2's own PXE client (`romfile=`: no iPXE ROM); it fetches ipxe.efi over TFTP
//   uefi-http  OVMF with EDK2's own UEFI HTTP boot: no iPXE ROM and its PXE turned off through fw_cfg, so its
//              boot manager goes on to HTTP boot (vendor class HTTPClient, arch 16) and fetches ipxe.efi by URL
//   uefi-secure OVMF with Secure Boot enforced (OVMF_CODE_4M.ms.fd: Microsoft's keys enrolled, LAB.md §9.4) and
//              EDK2's own PXE: it runs only signed programs, so the host boots through shim and the signed GRUB
//   arm64-uefi an aarch64 VM (qemu-system-aarch64 -M virt, a Cortex-A57 under TCG) with Debian's AAVMF (EDK2 for
//              QEMU's virt board, qemu-efi-aarch64) and its own PXE (arch 11): the host boots through the arm64
//              shim and signed GRUB (lab/arm64-assets.ts); its serial console is the board's PL011 (ttyAMA0)
// Every VM runs under `timeout`, so a lab that loses track of one still gets rid of it.

export type Firmware = 'bios' | 'uefi' | 'uefi-pxe' | 'uefi-http' | 'uefi-secure' | 'arm64-uefi';
export const FIRMWARES: readonly Firmware[] = [
  'bios',
  'uefi',
  'uefi-pxe',
  'uefi-http',
  'uefi-secure',
  'arm64-uefi',
];

export const OVMF = '/usr/share/ovmf/OVMF.fd';
/** Secure Boot firmware and its variables with Microsoft's keys enrolled (Debian's ovmf). */
export const OVMF_SECURE_CODE = '/usr/share/OVMF/OVMF_CODE_4M.ms.fd';
export const OVMF_SECURE_VARS = '/usr/share/OVMF/OVMF_VARS_4M.ms.fd';
export const QEMU = 'qemu-system-x86_64';
export const QEMU_ARM64 = 'qemu-system-aarch64';
/** EDK2 for QEMU's arm64 virt board as pflash images (qemu-efi-aarch64; QEMU_EFI.fd is the same code for -bios). */
export const AAVMF_CODE = '/usr/share/AAVMF/AAVMF_CODE.fd';
export const AAVMF_VARS = '/usr/share/AAVMF/AAVMF_VARS.fd';

/** The QEMU binary a firmware runs under. */
export function qemuFor(firmware: Firmware): string {
  return firmware === 'arm64-uefi' ? QEMU_ARM64 : QEMU;
}

export interface VmSpec {
  firmware: Firmware;
  /** Tap device (in the namespace QEMU runs in). */
  tap: string;
  mac: string;
  serialLog: string;
  /** Seconds before `timeout` ends QEMU (then SIGKILL 5 s later). */
  timeoutS: number;
  memoryMb?: number;
  nic?: 'virtio-net-pci' | 'e1000';
  /**
   * A raw disk image file on virtio-blk. With a disk, the boot order is given to the firmware as bootindex (OVMF
   * ignores -boot): network first for a PXE boot, else the disk first and the network after it.
   */
  disk?: string;
}

/**
 * OVMF's PXE turned off (its platform config reads these fw_cfg files), so the boot manager's network entries are
 * HTTP boot only (LAB.md §9.2).
 */
// prettier-ignore
const HTTP_BOOT_ONLY = [
  '-fw_cfg', 'name=opt/org.tianocore/IPv4PXESupport,string=n',
  '-fw_cfg', 'name=opt/org.tianocore/IPv6PXESupport,string=n',
];

/**
 * Secure Boot enforced: SMM and a secure flash, so the variables (Microsoft's keys, Secure Boot on) cannot be
 * changed behind the firmware; the variables are a read-only template used copy-on-write (snapshot), so every
 * power-on starts from the enrolled state and nothing is written to the package's file.
 */
// prettier-ignore
const SECURE_BOOT_MACHINE = [
  '-machine', 'q35,smm=on',
  '-global', 'driver=cfi.pflash01,property=secure,value=on',
  '-global', 'ICH9-LPC.disable_s3=1',
  '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_SECURE_CODE}`,
  '-drive', `if=pflash,format=raw,unit=1,snapshot=on,file=${OVMF_SECURE_VARS}`,
];

/**
 * The arm64 board: QEMU's virt machine with a Cortex-A57 (TCG emulates it faster than `max`, whose extra features
 * cost time and are not needed), AAVMF read-only and its variables a copy-on-write template (snapshot), as for
 * Secure Boot above: every power-on starts from the package's state and nothing is written to its file.
 */
// prettier-ignore
const ARM64_MACHINE = [
  '-machine', 'virt',
  '-cpu', 'cortex-a57',
  '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${AAVMF_CODE}`,
  '-drive', `if=pflash,format=raw,unit=1,snapshot=on,file=${AAVMF_VARS}`,
];

/** QEMU's -boot order for an IPMI boot device (ipmi_sim's chassis hook names it: pxe, default, cdrom, …). */
export function bootOrderFor(bootDevice: string): 'n' | 'c' | 'd' {
  if (bootDevice === 'pxe') return 'n';
  if (bootDevice === 'cdrom') return 'd';
  return 'c';
}

/** QEMU's arguments (without the binary). */
export function qemuArgs(spec: VmSpec, bootOrder: 'n' | 'c' | 'd' = 'n'): string[] {
  const nic = spec.nic ?? 'virtio-net-pci';
  const uefi = spec.firmware !== 'bios';
  // EDK2's own network stack, without the iPXE ROM QEMU would otherwise load for the NIC.
  const edk2Net = spec.firmware !== 'bios' && spec.firmware !== 'uefi';
  const netFirst = bootOrder === 'n';
  const nicIndex = spec.disk ? `,bootindex=${netFirst ? 1 : 2}` : '';
  // prettier-ignore
  const disk = spec.disk ? [
    '-drive', `file=${spec.disk},format=raw,if=none,id=disk0`,
    '-device', `virtio-blk-pci,drive=disk0,bootindex=${netFirst ? 2 : 1}`,
  ] : [];
  // prettier-ignore
  return [
    '-accel', 'tcg',
    '-m', String(spec.memoryMb ?? 512),
    '-smp', '1',
    '-display', 'none',
    '-nodefaults',
    // -no-reboot with the tiny OS's `poweroff -f` (or a kernel panic=-1) makes QEMU exit when the boot is over.
    '-no-reboot',
    // graphics=off: SeaBIOS mirrors its and iPXE's text console to the serial port.
    ...(spec.firmware === 'arm64-uefi' ? ARM64_MACHINE : spec.firmware === 'uefi-secure' ? SECURE_BOOT_MACHINE : uefi ? ['-machine', 'q35', '-bios', OVMF] : ['-machine', 'pc,graphics=off']),
    '-boot', bootOrder,
    '-netdev', `tap,id=n0,ifname=${spec.tap},script=no,downscript=no`,
    '-device', `${nic},netdev=n0,mac=${spec.mac}${edk2Net ? ',romfile=' : ''}${nicIndex}`,
    ...disk,
    ...(spec.firmware === 'uefi-http' ? HTTP_BOOT_ONLY : []),
    '-serial', `file:${spec.serialLog}`,
  ];
}

/**
 * The whole command: QEMU under `timeout --foreground`, which keeps QEMU in the caller's process group (plain
 * `timeout` makes a group of its own, which a power-off that signals the group would miss).
 */
export function vmCommand(spec: VmSpec, bootOrder: 'n' | 'c' | 'd' = 'n'): string[] {
  return [
    'timeout',
    '--foreground',
    '--kill-after=5',
    String(spec.timeoutS),
    qemuFor(spec.firmware),
    ...qemuArgs(spec, bootOrder),
  ];
}

const shq = (s: string): string => (/^[A-Za-z0-9_./:=,+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/**
 * A shell script that starts the VM with the boot order of $BOOTDEV (set by the BMC's chassis hook), exec'ing
 * so that the hook's pid file names the `timeout` process.
 */
export function vmScript(spec: VmSpec): string {
  if (spec.disk) return vmScriptWithDisk(spec);
  const cmd = vmCommand(spec, 'n').map(shq);
  const at = cmd.indexOf('-boot');
  cmd[at + 1] = '"$B"';
  return [
    '#!/bin/sh',
    '# A lab VM; BOOTDEV comes from the chassis hook: pxe -> network, cdrom -> CD, anything else -> disk.',
    'case "$BOOTDEV" in pxe) B=n ;; cdrom) B=d ;; *) B=c ;; esac',
    `echo "$(date +%s.%N) qemu start boot=$B pid=$$" >&2`,
    `exec ${cmd.join(' ')}`,
    '',
  ].join('\n');
}

/** vmScript for a VM with a disk: the boot order is in several arguments (bootindex), so one command per order. */
function vmScriptWithDisk(spec: VmSpec): string {
  const cmd = (order: 'n' | 'c' | 'd') => vmCommand(spec, order).map(shq).join(' ');
  return [
    '#!/bin/sh',
    '# A lab VM with a disk; BOOTDEV comes from the chassis hook: pxe -> network first, cdrom -> CD, else disk first.',
    'case "$BOOTDEV" in pxe) B=n ;; cdrom) B=d ;; *) B=c ;; esac',
    `echo "$(date +%s.%N) qemu start boot=$B pid=$$" >&2`,
    'case "$B" in',
    `  n) exec ${cmd('n')} ;;`,
    `  d) exec ${cmd('d')} ;;`,
    `  *) exec ${cmd('c')} ;;`,
    'esac',
    '',
  ].join('\n');
}
