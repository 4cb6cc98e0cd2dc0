// The DHCP server's only view of the model: "who is this MAC?". The agent plugs in its cached site model and
// netboot gate; tests plug in fixtures. Shaped after domain/site-model.ts so no translation layer is needed.
import type { AgentSubnet, NetbootEntry, Reservation, SiteModel } from '../../domain/site-model.ts';

export interface DhcpHostRecord {
  reservation: Reservation;
  /** The reservation's subnet: its options go into replies, and relayed requests must come from inside it. */
  subnet: AgentSubnet;
  /** Present and `open` only while the host is mid-reprovision; otherwise it gets no boot file. */
  netboot?: NetbootEntry;
}

export interface DhcpDirectory {
  /** `mac` is lowercase aa:bb:cc:dd:ee:ff. Called per packet, so it must be cheap and must not throw. */
  lookup(mac: string): DhcpHostRecord | undefined;
  /** True when the SoT marks the interface `ignore_dhcp`: asked before lookup, and never answered. Same rules. */
  ignored?(mac: string): boolean;
}

/**
 * A directory over a site model and a netboot-gate lookup. Indexes the reservations once; the gate is asked on
 * every lookup so that opening or closing it takes effect on the host's next packet.
 */
export function createSiteDirectory(
  model: Pick<SiteModel, 'subnets' | 'reservations' | 'ignoredMacs'>,
  netboot: (mac: string) => NetbootEntry | undefined,
): DhcpDirectory {
  const subnets = new Map(model.subnets.map((s) => [s.id, s]));
  const byMac = new Map<string, { reservation: Reservation; subnet: AgentSubnet }>();
  for (const r of model.reservations) {
    const subnet = subnets.get(r.subnet);
    // A reservation in a subnet the agent does not serve cannot be answered; validation reports it upstream.
    if (subnet) byMac.set(r.mac.toLowerCase(), { reservation: r, subnet });
  }
  const ignored = new Set((model.ignoredMacs ?? []).map((m) => m.toLowerCase()));
  return {
    ignored: (mac) => ignored.has(mac),
    lookup(mac) {
      const hit = byMac.get(mac);
      if (!hit) return undefined;
      const entry = netboot(mac);
      return { ...hit, ...(entry !== undefined ? { netboot: entry } : {}) };
    },
  };
}
