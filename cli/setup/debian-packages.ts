// The Debian packages that the network-boot lab and the tests use (LAB.md §0), installed only when missing
// so that a machine that already has them needs neither root nor the package index.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const LAB_PACKAGES = [
  'iproute2',
  'iputils-ping',
  'tcpdump',
  'tshark',
  'bridge-utils',
  'cpio',
  'dnsmasq-base',
  'kea-dhcp4-server',
  'kea-admin',
  'isc-dhcp-client',
  // dhcrelay, the real relay between a client segment and an agent on another subnet (test/agent/dhcp/relay-dhcrelay.test.ts).
  'isc-dhcp-relay',
  'udhcpc',
  'dhcpcd-base',
  'tftp-hpa',
  'tftpd-hpa',
  'atftp',
  'curl',
  'wrk',
  'hyperfine',
  'nginx-light',
  'qemu-system-x86',
  'ipxe-qemu',
  'ipxe',
  'ovmf',
  // GRUB as a boot loader (test/agent/grub-tftp.test.ts, README's boot paths): Debian's signed shim and signed GRUB
  // netboot image, which the agent serves over TFTP to hosts booting through GRUB.
  'shim-signed',
  'grub-efi-amd64-signed',
  'debian-installer-12-netboot-amd64',
  // The arm64 lab VM (test/lab/arm64.test.ts): QEMU's aarch64 system emulator, EDK2 for its virt board (AAVMF), and
  // the arm64 d-i kernel and initrd (an arch-all package). Its arm64 binaries (shim, GRUB, busybox) are unpacked,
  // not installed: cli/setup/arm64-packages.ts.
  'qemu-system-arm',
  'qemu-efi-aarch64',
  'debian-installer-12-netboot-arm64',
  'busybox-static',
  'openipmi',
  'ipmitool',
  // The lab BMC's boot flags module (lab/ipmi-sim-boot-flags.c), compiled against ipmi_sim's headers.
  'gcc',
  'libopenipmi-dev',
  // The lab's installed system (lab/disk-image.ts): a disk image with GRUB for BIOS and UEFI, made as a plain
  // file with no root (sfdisk for the partition table, mtools for the FAT).
  'grub-pc-bin',
  'grub-efi-amd64-bin',
  'mtools',
  'fdisk',
  'podman',
  'buildah',
  'runc',
  'iptables',
  'openssh-server',
  'openssh-client',
  'openssl',
  'python3-venv',
  // The image test (test/deploy/image.test.ts): its CI base is made with debootstrap, and the server container
  // publishes its port through slirp4netns (no bridge, no iptables rules on the machine).
  'debootstrap',
  'slirp4netns',
  // test/deploy/files.test.ts: systemd-analyze verify and systemd-sysusers for the agent's unit.
  'systemd',
  // deploy/compose.yaml brought up in CI (test/deploy/compose.test.ts): Debian's docker-compose against podman's
  // Docker API, with the netavark backend and aardvark-dns so that compose's service names resolve.
  'docker-compose',
  'netavark',
  'aardvark-dns',
  // A production Temporal's persistence and visibility (temporal/production-server.ts runs a private cluster; the
  // package's own cluster is never started or used).
  'postgresql',
  // The dashboard's browser test (test/server/dashboard.test.ts) drives Debian's Chromium with playwright-core.
  'chromium',
] as const;

export async function missingPackages(names: readonly string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const name of names) {
    const status = await run('dpkg-query', ['-W', '-f=${Status}', name]).then(
      (r) => r.stdout,
      () => '',
    );
    if (!status.includes('install ok installed')) missing.push(name);
  }
  return missing;
}

export async function ensureDebianPackages(
  names: readonly string[],
  say: (msg: string) => void,
): Promise<void> {
  const missing = await missingPackages(names);
  if (missing.length === 0) {
    say(`Debian packages: all ${names.length} present`);
    return;
  }
  if (process.getuid?.() !== 0) {
    throw new Error(
      `missing Debian packages (run as root, or install them): apt-get install --no-install-recommends ${missing.join(' ')}`,
    );
  }
  say(`installing ${missing.length} Debian package(s): ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // tftpd-hpa's and nginx's maintainer scripts try to start their daemons; there is no init system here and
  // the tests start their own instances, so policy-rc.d refuses every service start during the install.
  await run(
    'sh',
    ['-c', 'printf "#!/bin/sh\\nexit 101\\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'],
    { env },
  );
  try {
    await run('apt-get', ['update', '-qq'], { env, maxBuffer: 64 * 2 ** 20 });
    await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
      env,
      maxBuffer: 64 * 2 ** 20,
    });
  } finally {
    await run('rm', ['-f', '/usr/sbin/policy-rc.d']);
  }
  const still = await missingPackages(missing);
  if (still.length > 0) throw new Error(`Debian packages still missing after install: ${still.join(' ')}`);
  say('Debian packages installed');
}
