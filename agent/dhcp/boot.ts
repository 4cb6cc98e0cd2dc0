// Which first-stage program a client gets: a pure function of what the client says about itself (architecture,
// vendor and user class), the host's record (known? gate open?) and the agent's boot configuration. Everything
// that puts the answer on the wire lives in the handlers.
import type { ClientInfo } from './client-info.ts';
import type { DhcpHostRecord } from './directory.ts';

/** Client system architecture types (IANA "Processor Architecture Types", RFC 4578 §2.1). */
export const Arch = {
  BiosX86: 0,
  EfiX64: 7,
  /** RFC 4578 named 9 "EFI x86-64"; some x64 firmware sends it instead of 7. */
  EfiX64Alt: 9,
  EfiArm64: 11,
  HttpX64: 16,
  HttpArm64: 19,
} as const;

export interface BootFiles {
  /** Legacy BIOS PXE over TFTP: chainloads iPXE through the firmware's UNDI driver. */
  bios: string;
  uefiX64: string;
  /** None by default: Debian's ipxe package ships no arm64 build, so an arm64 client is told nothing (unsupported-arch). */
  arm64?: string;
  /**
   * UEFI x64 PXE of a host whose stage boots through GRUB: Debian's signed shim (shim-signed's shimx64.efi.signed),
   * which loads `grubx64.efi` (the signed GRUB netboot image) from beside itself on the TFTP server. Default
   * DEFAULT_SHIM_X64.
   */
  shimX64?: string;
  /**
   * UEFI arm64 PXE (arch 11) of a host whose stage boots through GRUB: Debian's signed arm64 shim (shim-signed:arm64's
   * shimaa64.efi.signed), which loads `grubaa64.efi` (grub-efi-arm64-signed's grubnetaa64.efi.signed) from beside
   * itself. Default DEFAULT_SHIM_ARM64. The GRUB files after it (grub/grub.cfg, the host's config) are the same
   * for both architectures: Debian builds both netboot images with the prefix `/grub`.
   */
  shimArm64?: string;
}

export const DEFAULT_SHIM_X64 = 'shimx64.efi';
export const DEFAULT_SHIM_ARM64 = 'shimaa64.efi';

export const DEFAULT_BOOT_FILES: BootFiles = {
  bios: 'undionly.kpxe',
  uefiX64: 'ipxe.efi',
  shimX64: DEFAULT_SHIM_X64,
  shimArm64: DEFAULT_SHIM_ARM64,
};

export interface BootConfig {
  mode: 'server' | 'proxy';
  /** Next server (siaddr, option 66) for the TFTP binaries. */
  tftpServer: string;
  /** The agent's HTTP base URL as booting hosts reach it, no trailing slash; iPXE scripts are at /ipxe?mac=. */
  httpUrl: string;
  /** Base URL where the same binaries are served over HTTP, for UEFI HTTP boot; no trailing slash. */
  httpBootUrl: string;
  files: BootFiles;
  /**
   * The boot credential for a gated host's current run, put in its script URL: proof for the HTTP service that
   * the fetch comes from this host's boot chain when its address alone does not say so (relayed, proxy mode).
   */
  credential?: (host: DhcpHostRecord) => string | undefined;
}

/** unsupported-loader: the host's stage boots through GRUB, which this firmware path cannot reach (see grubBoot). */
export type NoBootReason =
  'unknown-host' | 'gated' | 'not-netboot' | 'unsupported-arch' | 'unsupported-loader';

export type BootDecision =
  | { boot: false; reason: NoBootReason }
  | {
      boot: true;
      /** tftp: `file` is a name on the TFTP server; script and http: `file` is a URL. */
      kind: 'tftp' | 'ipxe-script' | 'http';
      file: string;
      /** `file` as events and logs show it: without the boot credential, which stays out of workflow history. */
      shown: string;
      siaddr: string;
      /** Vendor class the reply must carry: UEFI HTTP boot ignores offers without "HTTPClient". */
      vendorClass?: 'HTTPClient';
      /** Send iPXE's 175.176=1 so it does not wait ~3 s for a ProxyDHCP offer that will never come. */
      ipxeNoProxyWait: boolean;
    };

function fileForArch(arch: number, files: BootFiles): string | undefined {
  switch (arch) {
    case Arch.BiosX86:
      return files.bios;
    case Arch.EfiX64:
    case Arch.EfiX64Alt:
    case Arch.HttpX64:
      return files.uefiX64;
    case Arch.EfiArm64:
    case Arch.HttpArm64:
      return files.arm64;
    default:
      return undefined;
  }
}

export function chooseBoot(
  client: ClientInfo,
  host: DhcpHostRecord | undefined,
  config: BootConfig,
): BootDecision {
  if (!host) return { boot: false, reason: 'unknown-host' };
  if (!host.netboot?.open) return { boot: false, reason: 'gated' };
  if (!client.netboot) return { boot: false, reason: 'not-netboot' };
  const siaddr = config.tftpServer;
  if (host.netboot.artifacts?.loader === 'grub') return grubBoot(client, config);

  // iPXE first: it also says PXEClient and an architecture, and answering those would loop the chainload.
  if (client.ipxe) {
    return {
      boot: true,
      kind: 'ipxe-script',
      file: scriptUrl(config, client.mac, host),
      shown: scriptUrl(config, client.mac),
      siaddr,
      // In proxy mode the agent's answer *is* the ProxyDHCP offer iPXE waits for.
      ipxeNoProxyWait: config.mode === 'server',
    };
  }

  const httpArch = client.arch === Arch.HttpX64 || client.arch === Arch.HttpArm64;
  if (client.httpClient || httpArch) {
    const file = fileForArch(client.arch ?? Arch.HttpX64, config.files);
    if (!file || client.arch === Arch.BiosX86) return { boot: false, reason: 'unsupported-arch' };
    return {
      boot: true,
      kind: 'http',
      file: `${config.httpBootUrl}/${file}`,
      shown: `${config.httpBootUrl}/${file}`,
      siaddr,
      vendorClass: 'HTTPClient',
      ipxeNoProxyWait: false,
    };
  }

  // PXE firmware older than RFC 4578 sends no option 93: those are BIOS ROMs.
  const file = fileForArch(client.arch ?? Arch.BiosX86, config.files);
  if (!file) return { boot: false, reason: 'unsupported-arch' };
  return { boot: true, kind: 'tftp', file, shown: file, siaddr, ipxeNoProxyWait: false };
}

/**
 * A stage that boots through GRUB: UEFI x64 PXE firmware gets shim over TFTP (shim → grubx64.efi → the agent's
 * grub/grub.cfg, all by TFTP, LAB.md §9.4), and UEFI arm64 PXE firmware (arch 11) the arm64 shim the same way
 * (shimaa64.efi → grubaa64.efi → the same grub/grub.cfg). An arm64 host reaches GRUB only when its stage says
 * `loader: grub` (or `secure_boot: true`): with the default loader it is an iPXE host, answered with
 * boot_files.arm64 when that is set. Not the other paths: iPXE (an iPXE ROM) cannot hand shim the firmware's
 * network protocols it fetches GRUB with; UEFI HTTP boot (arch 16, 19) would give GRUB an HTTP prefix, and the
 * signed GRUB has no HTTP; BIOS has no shim.
 */
function grubBoot(client: ClientInfo, config: BootConfig): BootDecision {
  const httpBoot = client.httpClient || client.arch === Arch.HttpX64 || client.arch === Arch.HttpArm64;
  if (client.ipxe || httpBoot) return { boot: false, reason: 'unsupported-loader' };
  let file: string;
  if (client.arch === Arch.EfiX64 || client.arch === Arch.EfiX64Alt)
    file = config.files.shimX64 ?? DEFAULT_SHIM_X64;
  else if (client.arch === Arch.EfiArm64) file = config.files.shimArm64 ?? DEFAULT_SHIM_ARM64;
  else return { boot: false, reason: 'unsupported-loader' };
  return { boot: true, kind: 'tftp', file, shown: file, siaddr: config.tftpServer, ipxeNoProxyWait: false };
}

/** The iPXE script's URL for `mac`, with its boot credential when the agent gives one. */
function scriptUrl(config: BootConfig, mac: string, host?: DhcpHostRecord): string {
  const credential = host && config.credential?.(host);
  return `${config.httpUrl}/ipxe?mac=${mac}${credential ? `&boot=${credential}` : ''}`;
}
