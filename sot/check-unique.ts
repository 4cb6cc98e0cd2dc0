// Names and addresses that identify something must be unique: a host name or MAC seen twice would make the
// orchestrator act on the wrong machine. Each later occurrence is reported, pointing back at the first.
import type { Diagnostic } from './diagnostics.ts';
import type { SotModel } from './model.ts';
import type { SourceDoc, YamlPath } from './source-doc.ts';
import { where } from './where.ts';

interface First {
  owner: string;
  at: string;
}

/** Remembers the first occurrence of each key and reports every later one. */
class FirstSeen {
  private readonly seen = new Map<string, First>();
  constructor(private readonly out: Diagnostic[]) {}

  note(key: string, owner: string, src: SourceDoc, path: YamlPath, message: (first: First) => string): void {
    const first = this.seen.get(key);
    if (first) this.out.push(src.diag(path, message(first)));
    else this.seen.set(key, { owner, at: where(src, path) });
  }
}

export function checkUniqueness(model: SotModel): Diagnostic[] {
  const out: Diagnostic[] = [];
  const names = new FirstSeen(out);
  const macs = new FirstSeen(out);
  const ips = new FirstSeen(out);
  for (const host of model.hosts) {
    const { src, spec } = host;
    names.note(
      spec.name,
      spec.name,
      src,
      ['name'],
      (f) => `duplicate host name "${spec.name}" (first at ${f.at})`,
    );
    spec.interfaces.forEach((iface, i) => {
      if (iface.mac !== undefined) {
        const mac = iface.mac.toLowerCase();
        macs.note(
          mac,
          spec.name,
          src,
          ['interfaces', i, 'mac'],
          (f) => `duplicate MAC ${mac} (first used by host ${f.owner} at ${f.at})`,
        );
      }
      if (iface.ipv4 !== undefined) {
        const ip = iface.ipv4;
        ips.note(
          ip,
          spec.name,
          src,
          ['interfaces', i, 'ipv4'],
          (f) => `duplicate IPv4 ${ip} (first used by host ${f.owner} at ${f.at})`,
        );
      }
    });
  }

  const agents = new FirstSeen(out);
  for (const site of model.sites.values()) {
    const subnets = new FirstSeen(out);
    site.spec.subnets.forEach((s, i) => {
      subnets.note(
        s.id,
        site.id,
        site.src,
        ['subnets', i, 'id'],
        (f) => `duplicate subnet id "${s.id}" in site ${site.id} (first at ${f.at})`,
      );
    });
    site.spec.agents.forEach((a, i) => {
      agents.note(
        a.id,
        site.id,
        site.src,
        ['agents', i, 'id'],
        (f) => `duplicate agent id "${a.id}" (first in site ${f.owner} at ${f.at})`,
      );
    });
  }
  return out;
}
