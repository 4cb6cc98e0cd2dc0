// Addressing within each site: subnets that make sense on their own and together, and host addresses that
// fall inside their subnet and are usable there.
import type { Diagnostic } from './diagnostics.ts';
import { cidrText, hasHostBits, hostAddressProblem, overlaps, parseCidr } from './ipv4.ts';
import type { Cidr } from './ipv4.ts';
import type { SiteEntity, SotModel } from './model.ts';
import { where } from './where.ts';

export function checkNetwork(model: SotModel): Diagnostic[] {
  const out: Diagnostic[] = [];
  const cidrs = new Map<SiteEntity, Map<string, Cidr>>();
  for (const site of model.sites.values()) cidrs.set(site, checkSubnets(site, out));

  for (const host of model.hosts) {
    const site = model.sites.get(host.site);
    if (!site) continue;
    const byId = cidrs.get(site)!;
    host.spec.interfaces.forEach((iface, i) => {
      if (iface.ipv4 === undefined || iface.subnet === undefined) return;
      const cidr = byId.get(iface.subnet);
      if (!cidr) return; // an unknown subnet: reported by the reference checks
      const problem = hostAddressProblem(iface.ipv4, cidr);
      const path = ['interfaces', i, 'ipv4'];
      if (problem) {
        out.push(
          host.src.diag(path, `ipv4 ${iface.ipv4} ${problem} subnet ${iface.subnet} (${cidrText(cidr)})`),
        );
        return;
      }
      const subnet = site.spec.subnets.find((s) => s.id === iface.subnet)!;
      if (subnet.gateway === iface.ipv4) {
        const gw = site.spec.subnets.indexOf(subnet);
        out.push(
          host.src.diag(
            path,
            `ipv4 ${iface.ipv4} is the gateway of subnet ${subnet.id} (${where(site.src, ['subnets', gw, 'gateway'])})`,
          ),
        );
      }
    });
  }
  return out;
}

/** Checks one site's subnets; returns their ranges by id (the first, when an id is duplicated). */
function checkSubnets(site: SiteEntity, out: Diagnostic[]): Map<string, Cidr> {
  const byId = new Map<string, Cidr>();
  const seen: { id: string; cidr: Cidr; index: number }[] = [];
  site.spec.subnets.forEach((subnet, i) => {
    const cidr = parseCidr(subnet.cidr);
    if (hasHostBits(cidr)) {
      out.push(
        site.src.diag(
          ['subnets', i, 'cidr'],
          `cidr ${subnet.cidr} has host bits set (the network is ${cidrText(cidr)})`,
        ),
      );
    }
    if (subnet.gateway !== undefined) {
      const problem = hostAddressProblem(subnet.gateway, cidr);
      if (problem) {
        out.push(
          site.src.diag(
            ['subnets', i, 'gateway'],
            `gateway ${subnet.gateway} ${problem} subnet ${subnet.id} (${cidrText(cidr)})`,
          ),
        );
      }
    }
    for (const other of seen) {
      if (overlaps(cidr, other.cidr)) {
        out.push(
          site.src.diag(
            ['subnets', i, 'cidr'],
            `subnet ${subnet.id} (${cidrText(cidr)}) overlaps subnet ${other.id} (${cidrText(other.cidr)}) at ${where(site.src, ['subnets', other.index, 'cidr'])}`,
          ),
        );
      }
    }
    seen.push({ id: subnet.id, cidr, index: i });
    if (!byId.has(subnet.id)) byId.set(subnet.id, cidr);
  });
  return byId;
}
