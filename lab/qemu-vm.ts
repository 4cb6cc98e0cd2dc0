// A lab VM (LAB.md §4.3): QEMU under TCG (KVM is unusable here) with one NIC on a lab tap, optionally a disk
// (a raw file on virtio-blk), and its serial console in a file. Five firmwares:
//   bios       SeaBIOS + the iPXE option ROM of ipxe-qemu (iPXE from the first packet)
//   uefi       OVMF + the iPXE EFI ROM
//   uefi-pxe   OVMF with EDK2's own PXE client (`romfile=`: no iPXE ROM); it fetches ipxe.efi over TFTP
//   uefi-http  OVMF with EDK2's own UEFI HTTP boot: no iPXE ROM and its PXE turned off through fw_cfg, so its
//              boot manager goes on to HTTP boot (vendor class HTTPClient, arch 16) and fetches ipxe.efi by URL
//   uefi-secure OVMF with Secure Boot enforced (OVMF_CODE_4M.ms.fd: Microsoft's keys enrolled, LAB.md §9.4) and
//              EDK2's own PXE: it runs only signed programs, so the host boots through shim and the signed GRUB
// Every VM runs under `timeout`, so a lab that loses track of one still gets rid of it.

export type Firmware = 'bios' | 'uefi' | 'uefi-pxe' | 'uefi-http' | 'uefi-secure';
export const FIRMWARES: readonly Firmware[] = ['bios', 'uefi', 'uefi-pxe', 'uefi-http', 'uefi-secure'];

export const OVMF = '/usr/share/ovmf/OVMF.fd';
/** Secure Boot firmware and its variables with Microsoft's keys enrolled (Debian's ovmf). */
export const OVMF_SECURE_CODE = '/usr/share/OVMF/OVMF_CODE_4M.ms.fd';
export const OVMF_SECURE_VARS = '/usr/share/OVMF/OVMF_VARS_4M.ms.fd';
export const QEMU = 'qemu-system-x86_64';

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
    ...(spec.firmware === 'uefi-secure' ? SECURE_BOOT_MACHINE : uefi ? ['-machine', 'q35', '-bios', OVMF] : ['-machine', 'pc,graphics=off']),
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
    QEMU,
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
