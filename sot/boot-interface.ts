// Which NIC a host netboots from: its first physical interface without `ignore_dhcp` (the original Vaquero's
// field: the agent never answers DHCP for such a NIC, so it can never be the one that boots).
import type { HostSpec, PhysicalInterfaceSpec } from './schema.ts';

/** Index in `interfaces` of the boot interface; -1 when there is none. */
export function bootInterfaceIndex(spec: Pick<HostSpec, 'interfaces'>): number {
  return spec.interfaces.findIndex((i) => i.type === 'physical' && i.ignore_dhcp !== true);
}

/** The boot interface, or undefined when the host has none. */
export function bootInterface(spec: Pick<HostSpec, 'interfaces'>): PhysicalInterfaceSpec | undefined {
  const i = bootInterfaceIndex(spec);
  return i < 0 ? undefined : (spec.interfaces[i] as PhysicalInterfaceSpec);
}

/** Lowercase MACs of the interfaces the agents must never answer DHCP for. */
export function ignoredMacs(spec: Pick<HostSpec, 'interfaces'>): string[] {
  return spec.interfaces.flatMap((i) =>
    i.type === 'physical' && i.ignore_dhcp === true ? [i.mac.toLowerCase()] : [],
  );
}
