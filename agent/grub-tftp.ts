// What the agent's TFTP service serves a host booting through GRUB (sot/grub-config.ts), beside the files of its
// root (shim and grubx64.efi, which the operator puts there):
//   grub/grub.cfg             the bootstrap every GRUB host reads first (Debian's signed GRUB reads nothing else);
//   grub/hosts/<mac>.cfg      the host's own config for its current stage, served only to that host (its address
//                             bound to the MAC, as HTTP binds a script fetch) while its gate is open;
//   assets/<path>             its stage's kernel and initrds, from the agent's assets root, and nothing else: under
//                             Secure Boot the signed GRUB has no HTTP, so they come over TFTP.
// Anything else falls through to the TFTP root. A completed transfer of the config, kernel or initrd is the same
// boot step as over HTTP (grubBootStep): the config fetch stands for the iPXE script's step.
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import type { BootEventKind } from '../domain/boot-events.ts';
import type { BootArtifacts, NetbootEntry } from '../domain/site-model.ts';
import { GRUB_BOOTSTRAP, GRUB_BOOTSTRAP_PATH, grubHostConfigPath } from '../sot/grub-config.ts';
import { withToken } from './http/artifact-text.ts';
import type { Binding } from './http/host-binding.ts';
import type { TftpPeer, TftpResolved } from './tftp/types.ts';

const HOST_CONFIG = /^grub\/hosts\/((?:[0-9a-f]{2}:){5}[0-9a-f]{2})\.cfg$/;
const ASSETS = 'assets/';

export interface GrubTftpDeps {
  /** The host a request from `ip` is, naming `mac` (agent/http/host-binding.ts HostBinding.resolve). */
  binding: { resolve(ip: string, named?: string): Promise<Binding> };
  /** The agent's assets root (assets.root); without it kernels and initrds are not served over TFTP. */
  assetsRoot?: string;
  /** The run's checkpoint token, which goes where the rendered config holds its placeholder (as in a script). */
  tokenFor(entry: NetbootEntry): string;
}

function pathOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname);
  } catch {
    return url;
  }
}

/** The boot step a name is for this stage: its GRUB config (the script's step), its kernel or an initrd. */
export function grubBootStep(name: string, mac: string, a: BootArtifacts): BootEventKind | undefined {
  if (a.loader !== 'grub') return undefined;
  if (name === grubHostConfigPath(mac)) return 'ipxe';
  const asPath = `/${name}`;
  if (pathOf(a.kernel) === asPath) return 'kernel';
  if (a.initrds.some((i) => pathOf(i) === asPath)) return 'initrd';
  return undefined;
}

/** The host a GRUB request from `ip` belongs to, with its open GRUB stage; undefined when none. */
async function grubHost(deps: GrubTftpDeps, ip: string, named?: string): Promise<NetbootEntry | undefined> {
  const b = await deps.binding.resolve(ip, named);
  return b.ok && b.entry.artifacts?.loader === 'grub' ? b.entry : undefined;
}

/** The TFTP resolve hook (agent/tftp/types.ts TftpServerOptions.resolve) for GRUB hosts. */
export function grubTftpResolver(
  deps: GrubTftpDeps,
): (name: string, peer: TftpPeer) => Promise<TftpResolved | undefined> {
  return async (name, peer) => {
    if (name === GRUB_BOOTSTRAP_PATH) return { data: Buffer.from(GRUB_BOOTSTRAP) };
    const config = HOST_CONFIG.exec(name);
    if (config) {
      const entry = await grubHost(deps, peer.address, config[1]);
      const text = entry?.artifacts?.grub;
      return entry && text !== undefined
        ? { data: Buffer.from(withToken(text, deps.tokenFor(entry))) }
        : undefined;
    }
    if (name.startsWith(ASSETS) && deps.assetsRoot) {
      const entry = await grubHost(deps, peer.address);
      const step = entry?.artifacts && grubBootStep(name, entry.mac, entry.artifacts);
      if (step !== 'kernel' && step !== 'initrd') return undefined;
      const root = await realpath(path.resolve(deps.assetsRoot)).catch(() => undefined);
      if (root === undefined) return undefined;
      // Served from the assets root, confined to it, block by block like any TFTP file (never read whole: kernels
      // and initrds are tens of MiB, and every GRUB host of a rollout fetches them at once).
      return { root, path: name.slice(ASSETS.length) };
    }
    return undefined;
  };
}

/** For a completed TFTP transfer: the boot step it is for a GRUB host, with the MAC to record it on. */
export async function grubTransferStep(
  deps: GrubTftpDeps,
  name: string,
  ip: string,
): Promise<{ kind: BootEventKind; mac: string } | undefined> {
  if (name !== GRUB_BOOTSTRAP_PATH && !HOST_CONFIG.test(name) && !name.startsWith(ASSETS)) return undefined;
  const named = HOST_CONFIG.exec(name)?.[1];
  const entry = await grubHost(deps, ip, named);
  const kind = entry?.artifacts && grubBootStep(name, entry.mac, entry.artifacts);
  return entry && kind ? { kind, mac: entry.mac } : undefined;
}
