// Rendered artifacts hold a placeholder where the per-run checkpoint token goes (the SoT is rendered before the
// run exists); the agent fills it in as it serves them.
import { CHECKPOINT_TOKEN_PLACEHOLDER } from '../../sot/render.ts';

export function withToken(text: string, token: string): string {
  return text.split(CHECKPOINT_TOKEN_PLACEHOLDER).join(token);
}

/** iPXE's ${mac} is colon-separated, ${mac:hexhyp} hyphenated; the SoT uses lowercase with colons. */
export function normaliseMac(raw: string | undefined): string | undefined {
  if (!raw) return undefined;
  const m = raw.trim().toLowerCase().replace(/-/g, ':');
  return /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(m) ? m : undefined;
}

/** What iPXE runs for a host that must not network-boot now: give up, so the firmware boots the next device. */
export const NO_NETBOOT_SCRIPT = '#!ipxe\necho vaquero: no network boot for this host now\nexit 1\n';
