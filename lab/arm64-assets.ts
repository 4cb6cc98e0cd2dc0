// What the agent of an arm64 lab serves: the arm64 tiny OS in its assets folder (the arm64 d-i kernel as `linux`,
// the tiny initrd built with the arm64 busybox and the arm64 d-i modules as `tiny-initrd.gz`, the names the lab's
// SoT uses), and a TFTP root with Debian's signed arm64 chain beside the x64 files: shim as `shimaa64.efi`, the
// signed GRUB netboot image as `grubaa64.efi`, the name shim loads from beside itself.
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import type { LabAssets } from './assets.ts';
import { prepareLabAssets } from './assets.ts';
import type { Arm64Files } from './arm64-packages.ts';
import { ensureArm64Files } from './arm64-packages.ts';
import { signedChainTftpRoot } from './signed-chain.ts';
import { DI_ARM64_KERNEL } from './tiny-initrd.ts';

/** The names the agent's arm64 answer and the arm64 shim use (agent/dhcp/boot.ts, agent/boot-files-check.ts). */
export const ARM64_SHIM_NAME = 'shimaa64.efi';
export const ARM64_GRUB_NAME = 'grubaa64.efi';

export async function prepareArm64LabAssets(
  dir: string,
  opts: { cacheDir?: string } = {},
): Promise<LabAssets & { arm64: Arm64Files }> {
  const arm64 = await ensureArm64Files(opts.cacheDir);
  const assets = await prepareLabAssets(dir, {
    ...(opts.cacheDir !== undefined ? { cacheDir: opts.cacheDir } : {}),
    arch: 'arm64',
    busybox: arm64.files.busybox,
    kernel: DI_ARM64_KERNEL,
  });
  return { ...assets, arm64 };
}

/** The TFTP root of signedChainTftpRoot with the arm64 chain added (copies: the agent refuses links out of it). */
export async function arm64TftpRoot(dir: string, files: Arm64Files): Promise<string> {
  await signedChainTftpRoot(dir);
  await copyFile(files.files.shim, path.join(dir, ARM64_SHIM_NAME));
  await copyFile(files.files.grub, path.join(dir, ARM64_GRUB_NAME));
  return dir;
}

/**
 * Bounds of an arm64 lab under emulation (TCG of an aarch64 CPU on x86, on a shared 2-core machine): EDK2 takes
 * about 30 s to its PXE, and GRUB fetches the 32 MiB uncompressed arm64 kernel by TFTP in lock-step blocks. Each
 * QEMU run is ended after ARM64_VM_TIMEOUT_S whatever happens; the workflow's step timeouts are ARM64_TIMEOUTS. Two
 * lab runs reached the checkpoint 49 s and 104 s after power-on; these bounds keep a stuck run inside the suite's
 * 10 minutes per test (tools/test-lanes.ts).
 */
export const ARM64_VM_TIMEOUT_S = 540;
export const ARM64_TIMEOUTS = { power: 120, dhcp: 180, tftp: 180, ipxe: 180, kernel: 300, checkpoint: 240 };
/** The virt board's serial console (PL011): added to the lab's command line, after its console=ttyS0. */
export const ARM64_CONSOLE = 'console=ttyAMA0';
