// Whether every first-stage program the agent's DHCP answers can name is there to be served. The answer logic
// (dhcp/boot.ts) names one of three configured files (boot_files: bios, efi64, arm64) by the client's firmware and
// architecture; TFTP serves them from tftp.root and HTTP boot from the same folder under /boot/. A missing one is
// found here, at start and by `vaquero agent --check`, instead of as a host stalled on a TFTP "file not found".
// Resolution is the serving code's own (resolveServed: lexical rules, then the real path inside the root or a
// trusted link target), so a file this check passes is one TFTP and /boot/ would serve.
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { AgentConfig } from './config.ts';
import { DEFAULT_SHIM_ARM64, DEFAULT_SHIM_X64 } from './dhcp/boot.ts';
import { resolveServed } from './tftp/path-safety.ts';
import { DEBIAN_IPXE_LINK_TARGETS } from './tftp/server.ts';

/** One boot file the DHCP answers can name, and who would ask for it. */
export interface BootFileNeed {
  /** The config field that names it (boot_files.bios, …). */
  field: string;
  file: string;
  root: string;
  /** The firmware that is offered it, and how it fetches it. */
  askedBy: string;
}

export interface MissingBootFile extends BootFileNeed {
  /** Why it cannot be served: file not found, symlink leaves the root, not a file, … */
  reason: string;
}

/**
 * The boot files this config's DHCP answers can name, with the firmware (RFC 4578 architecture) each goes to. None
 * when the agent answers no DHCP (dhcp.enabled false): then whatever DHCP server points hosts here names the files,
 * and this agent cannot know which. boot_files.arm64 unset: arm64 iPXE hosts get no answer, so no file is needed
 * (arm64 GRUB hosts get shimaa64.efi: halfGrubChain).
 */
export function bootFileNeeds(config: AgentConfig, subfolder?: string): BootFileNeed[] {
  if (!config.dhcp.enabled) return [];
  // With the SoT's tftp_root for this agent, the files are looked for in that sub-folder of tftp.root.
  const root = path.resolve(config.tftp.root, subfolder ?? '.');
  const over = (tftp: string, http: string): string =>
    [config.tftp.enabled ? tftp : undefined, http].filter(Boolean).join('; ');
  const needs: BootFileNeed[] = [];
  // BIOS PXE has no HTTP boot: with this agent's TFTP off, the file is on the TFTP server tftp.server_address names.
  if (config.tftp.enabled)
    needs.push({
      field: 'boot_files.bios',
      file: config.boot_files.bios,
      root,
      askedBy: 'BIOS PXE (arch 0) over TFTP',
    });
  needs.push({
    field: 'boot_files.efi64',
    file: config.boot_files.efi64,
    root,
    askedBy: over('UEFI x64 PXE (arch 7, 9) over TFTP', 'UEFI x64 HTTP boot (arch 16) at /boot/'),
  });
  if (config.boot_files.arm64 !== undefined)
    needs.push({
      field: 'boot_files.arm64',
      file: config.boot_files.arm64,
      root,
      askedBy: over('UEFI arm64 PXE (arch 11) over TFTP', 'UEFI arm64 HTTP boot (arch 19) at /boot/'),
    });
  return needs;
}

/** The boot files of bootFileNeeds that cannot be served, each with the reason; [] when all can. */
export async function missingBootFiles(config: AgentConfig, subfolder?: string): Promise<MissingBootFile[]> {
  const needs = bootFileNeeds(config, subfolder);
  if (needs.length === 0) return [];
  const root = await realpath(path.resolve(config.tftp.root)).catch(() => undefined);
  if (root === undefined)
    return needs.map((n) => ({ ...n, reason: `the root ${n.root} does not exist or cannot be read` }));
  const trusted = (
    await Promise.all(DEBIAN_IPXE_LINK_TARGETS.map((t) => realpath(t).catch(() => '')))
  ).filter(Boolean);
  const missing: MissingBootFile[] = [];
  for (const need of needs) {
    const found = await resolveServed(
      { root, trusted },
      subfolder === undefined ? need.file : `${subfolder}/${need.file}`,
    );
    if (!found.ok) {
      missing.push({ ...need, reason: found.reason });
      continue;
    }
    const st = await stat(found.path).catch(() => undefined);
    if (!st?.isFile()) missing.push({ ...need, reason: 'not a regular file' });
  }
  return [...missing, ...(await halfGrubChain(config, root, trusted, subfolder))];
}

/** The signed GRUB netboot image, under the name shim loads from beside itself (sot/FORMAT.md "Boot loader"). */
export const GRUB_X64 = 'grubx64.efi';
/** The arm64 one (grub-efi-arm64-signed's grubnetaa64.efi.signed), under the name the arm64 shim loads. */
export const GRUB_ARM64 = 'grubaa64.efi';

/** The signed chains GRUB hosts boot through, one per architecture: shim, then GRUB beside it. */
const GRUB_CHAINS = [
  {
    shim: DEFAULT_SHIM_X64,
    grub: GRUB_X64,
    fieldOf: 'GRUB hosts',
    askedBy: 'UEFI x64 PXE of hosts booting through GRUB (loader: grub, secure_boot: true) over TFTP',
  },
  {
    shim: DEFAULT_SHIM_ARM64,
    grub: GRUB_ARM64,
    fieldOf: 'GRUB hosts, arm64',
    askedBy:
      'UEFI arm64 PXE (arch 11) of hosts booting through GRUB (loader: grub, secure_boot: true) over TFTP',
  },
] as const;

/**
 * The signed chains for GRUB hosts (shim, then GRUB beside it), needed only where the SoT sends hosts through GRUB,
 * which the agent cannot know at start: a root with neither file of an architecture's chain has no GRUB set up for
 * it (a GRUB host's refusal is then its own event), a root with one of the two is a chain half put in place, and
 * the other one is reported missing.
 */
async function halfGrubChain(
  config: AgentConfig,
  root: string,
  trusted: string[],
  subfolder: string | undefined,
): Promise<MissingBootFile[]> {
  if (!config.dhcp.enabled || !config.tftp.enabled) return [];
  // Where this agent serves from: its SoT entry's tftp_root inside the root, as for every other boot file.
  const inServed = (file: string): string => (subfolder === undefined ? file : `${subfolder}/${file}`);
  const missing: MissingBootFile[] = [];
  for (const c of GRUB_CHAINS) {
    const chain = [
      { field: `boot_files (${c.fieldOf}: shim)`, file: c.shim },
      { field: `boot_files (${c.fieldOf}: signed GRUB)`, file: c.grub },
    ];
    const found = await Promise.all(
      chain.map(async (f) => {
        const r = await resolveServed({ root, trusted }, inServed(f.file));
        return r.ok ? ((await stat(r.path).catch(() => undefined))?.isFile() ?? false) : false;
      }),
    );
    if (found.every((f) => f) || found.every((f) => !f)) continue;
    for (const [i, f] of chain.entries())
      if (!found[i])
        missing.push({
          ...f,
          root: subfolder === undefined ? root : path.resolve(root, subfolder),
          askedBy: c.askedBy,
          reason: `file not found, while ${found[0] ? c.shim : c.grub} is there: the GRUB chain is half in place`,
        });
  }
  return missing;
}

/** One line per missing file: which file, which root, who would ask for it and why it cannot be served. */
export function describeMissing(m: MissingBootFile): string {
  return `${m.field}: ${m.file} in ${m.root}: ${m.reason} (asked for by ${m.askedBy})`;
}
