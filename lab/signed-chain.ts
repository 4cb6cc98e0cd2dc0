// The lab agent's TFTP root when a VM enforces Secure Boot: the iPXE binaries the other VMs boot, and Debian's
// signed chain for GRUB hosts (sot/FORMAT.md "Boot loader"): shim as the boot file, and the signed GRUB netboot
// image under the name shim loads from beside itself. Copies, not links: the agent refuses a link out of its root.
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';

/** Debian's signed shim (shim-signed) and signed GRUB netboot image (grub-efi-amd64-signed). */
export const SIGNED_SHIM_X64 = '/usr/lib/shim/shimx64.efi.signed';
export const SIGNED_GRUBNET_X64 = '/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed';

export async function signedChainTftpRoot(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const f of ['undionly.kpxe', 'ipxe.efi', 'snponly.efi'])
    await copyFile(path.join('/usr/lib/ipxe', f), path.join(dir, f));
  await copyFile(SIGNED_SHIM_X64, path.join(dir, 'shimx64.efi'));
  await copyFile(SIGNED_GRUBNET_X64, path.join(dir, 'grubx64.efi'));
  return dir;
}
