// The slice of a revision that a site's agent serves from: subnets with their DHCP settings and a static
// reservation for the boot interface of every host of the site (netboot or not: in server mode the agent is
// the site's DHCP server for all of them), and the MACs of the interfaces marked ignore_dhcp, which no agent answers.
import type { SiteModel } from '../../domain/site-model.ts';
import type { SotModel } from '../../sot/model.ts';
import { netmaskOf } from '../../sot/render-scope.ts';
import { bootInterface, ignoredMacs } from '../../sot/boot-interface.ts';

export function buildSiteModel(model: SotModel, sot: string, revision: string, site: string): SiteModel {
  const entity = model.sites.get(site);
  if (!entity) throw new Error(`site ${site} is not in SoT ${sot} at ${revision}`);
  const agent = entity.spec.agents[0]!;
  const ignored = model.hosts.filter((h) => h.site === site).flatMap((h) => ignoredMacs(h.spec));
  return {
    sot,
    revision,
    site,
    httpUrl: agent.http_url.replace(/\/+$/, ''),
    dhcpMode: agent.dhcp_mode,
    agents: entity.spec.agents.map((a) => ({
      id: a.id,
      httpUrl: a.http_url.replace(/\/+$/, ''),
      dhcpMode: a.dhcp_mode,
      ...(a.subnets !== undefined ? { subnets: [...a.subnets] } : {}),
      // Only when set: an entry without them is the same model as before the fields existed.
      ...(a.cdn_url !== undefined ? { cdnUrl: a.cdn_url.replace(/\/+$/, '') } : {}),
      ...(a.tftp_root !== undefined ? { tftpRoot: a.tftp_root } : {}),
    })),
    subnets: entity.spec.subnets.map((s) => ({
      id: s.id,
      cidr: s.cidr,
      netmask: netmaskOf(s.cidr),
      ...(s.gateway !== undefined ? { gateway: s.gateway } : {}),
      dns: s.dns ?? [],
      ntp: s.ntp ?? [],
      ...(s.domain !== undefined ? { domain: s.domain } : {}),
      dhcpOptions: s.dhcp_options ?? [],
    })),
    reservations: model.hosts
      .filter((h) => h.site === site)
      .flatMap((h) => {
        const boot = bootInterface(h.spec);
        return boot
          ? [
              {
                host: h.id,
                mac: boot.mac.toLowerCase(),
                ...(boot.ipv4 !== undefined ? { ipv4: boot.ipv4 } : {}),
                hostname: boot.hostname ?? h.id,
                subnet: boot.subnet,
              },
            ]
          : [];
      }),
    // Only when there are some: a site without ignore_dhcp sends the same model as before the field existed.
    ...(ignored.length > 0 ? { ignoredMacs: ignored } : {}),
  };
}
