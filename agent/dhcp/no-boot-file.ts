// Why a host whose gate is open got no boot file, in words for its timeline. Without it such a host only stalls
// ("no tftp within 60s"), and the operator cannot tell a firmware the agent has nothing for (an arm64 iPXE host with
// no boot_files.arm64) from a host that never asked. Two reasons are the agent's to explain: no file configured for
// the firmware's architecture, and a GRUB stage on a firmware path that cannot reach GRUB (see boot.ts grubBoot).
import { Arch } from './boot.ts';
import type { BootDecision } from './boot.ts';
import type { ClientInfo } from './client-info.ts';

function isHttpBoot(c: ClientInfo): boolean {
  return c.httpClient || c.arch === Arch.HttpX64 || c.arch === Arch.HttpArm64;
}

/** The firmware as an operator knows it: `UEFI arm64 PXE (arch 11)`, `iPXE`, `BIOS PXE (arch 0)`. */
export function firmwareName(c: ClientInfo): string {
  if (c.ipxe) return 'iPXE';
  const arch = c.arch ?? Arch.BiosX86;
  if (isHttpBoot(c)) return `UEFI ${arch === Arch.HttpArm64 ? 'arm64' : 'x64'} HTTP boot (arch ${arch})`;
  if (arch === Arch.BiosX86) return 'BIOS PXE (arch 0)';
  if (arch === Arch.EfiX64 || arch === Arch.EfiX64Alt) return `UEFI x64 PXE (arch ${arch})`;
  if (arch === Arch.EfiArm64) return 'UEFI arm64 PXE (arch 11)';
  return `PXE arch ${arch}`;
}

/** The agent config's boot_files field that would name a file for this firmware, if any does. */
function bootFilesField(c: ClientInfo): string | undefined {
  const arch = c.arch ?? Arch.BiosX86;
  if (arch === Arch.EfiArm64 || arch === Arch.HttpArm64) return 'arm64';
  if (arch === Arch.BiosX86) return 'bios';
  if (arch === Arch.EfiX64 || arch === Arch.EfiX64Alt || arch === Arch.HttpX64) return 'efi64';
  return undefined;
}

/** What stops a GRUB stage on this firmware path. */
function grubUnreachable(c: ClientInfo): string {
  if (c.ipxe) return 'iPXE cannot hand shim the firmware’s network';
  if (isHttpBoot(c)) return 'UEFI HTTP boot would give GRUB an HTTP prefix and the signed GRUB has no HTTP';
  if ((c.arch ?? Arch.BiosX86) === Arch.BiosX86) return 'BIOS has no shim';
  return 'there is no shim for this architecture';
}

/**
 * The sentence for a host refused a boot file (`no boot file for UEFI arm64 PXE (arch 11): boot_files.arm64 is not
 * set`), or undefined when the decision is a boot, or a reason that is not the agent's to explain (an unknown host,
 * a closed gate, a client that does not netboot).
 */
export function explainNoBootFile(decision: BootDecision, client: ClientInfo): string | undefined {
  if (decision.boot) return undefined;
  const fw = firmwareName(client);
  if (decision.reason === 'unsupported-arch') {
    const field = bootFilesField(client);
    return `no boot file for ${fw}: ${field ? `boot_files.${field} is not set` : 'no boot file serves this architecture'}`;
  }
  if (decision.reason === 'unsupported-loader')
    return `no boot file for ${fw}: the host's stage boots through GRUB, and ${grubUnreachable(client)}`;
  return undefined;
}
