// Can each host actually be reprovisioned? It needs a boot interface on a subnet some agent serves, at most one
// BMC to power-cycle it, and (for simulated hosts) options the simulator understands.
import { bootInterface, bootInterfaceIndex } from './boot-interface.ts';
import type { Diagnostic } from './diagnostics.ts';
import type { HostEntity, SotModel } from './model.ts';
import { SECRET_MESSAGE } from './schema-errors.ts';
import { where } from './where.ts';

export const SIM_STALL_EVENTS = ['dhcp', 'tftp', 'ipxe', 'kernel', 'config', 'checkpoint'] as const;

export interface HostCheck {
  diagnostics: Diagnostic[];
  /** Hosts that cannot netboot at all (no boot interface, or nothing serves its subnet): nothing to render. */
  unbootable: Set<HostEntity>;
}

export function checkHosts(model: SotModel): HostCheck {
  const diagnostics: Diagnostic[] = [];
  const unbootable = new Set<HostEntity>();
  for (const host of model.hosts) {
    if (!checkInterfaces(host, diagnostics)) unbootable.add(host);
    checkSimOptions(host, diagnostics);
    checkAddressSecrets(host, diagnostics);
  }
  checkAgentCoverage(model, diagnostics, unbootable);
  return { diagnostics, unbootable };
}

/** False when the host has no boot interface. */
function checkInterfaces(host: HostEntity, out: Diagnostic[]): boolean {
  const { interfaces } = host.spec;
  const physical = interfaces.flatMap((iface, i) => (iface.type === 'physical' ? [i] : []));
  const bootable = bootInterfaceIndex(host.spec) >= 0;
  if (physical.length === 0) {
    out.push(
      host.src.diag(
        ['interfaces'],
        `host ${host.id} has no physical interface (the first one is the boot interface)`,
      ),
    );
  } else if (!bootable && !host.spec.never_provision) {
    // A host that is never provisioned never netboots: ignoring all its NICs is how it stays out of DHCP.
    out.push(
      host.src.diag(
        ['interfaces', physical[physical.length - 1]!, 'ignore_dhcp'],
        `host ${host.id} has ignore_dhcp on every physical interface, so no agent answers it and it cannot netboot ` +
          '(boot it from an interface without ignore_dhcp, or set never_provision: true)',
      ),
    );
  }
  const bmcs = interfaces.flatMap((iface, i) => (iface.type === 'bmc' ? [i] : []));
  for (const i of bmcs.slice(1)) {
    out.push(
      host.src.diag(
        ['interfaces', i],
        `host ${host.id} has more than one BMC interface (the first is at ${where(host.src, ['interfaces', bmcs[0]!])})`,
      ),
    );
  }
  return bootable;
}

/** `https://admin:pw@bmc` puts the password in git as surely as a `password:` field does. */
function checkAddressSecrets(host: HostEntity, out: Diagnostic[]): void {
  host.spec.interfaces.forEach((iface, i) => {
    if (iface.type === 'bmc' && /^[a-z][a-z0-9+.-]*:\/\/[^/@]*:[^/@]*@/i.test(iface.address)) {
      out.push(
        host.src.diag(
          ['interfaces', i, 'address'],
          `interfaces[${i}].address holds user:password@: ${SECRET_MESSAGE}`,
        ),
      );
    }
  });
}

function checkSimOptions(host: HostEntity, out: Diagnostic[]): void {
  host.spec.interfaces.forEach((iface, i) => {
    if (iface.type !== 'bmc' || iface.driver !== 'sim' || !iface.options) return;
    for (const [key, value] of Object.entries(iface.options)) {
      const path = ['interfaces', i, 'options', key];
      const problem = simOptionProblem(key, value);
      if (problem === 'unknown') {
        out.push(
          host.src.diag(
            path,
            `unknown sim option "${key}" (expected never_dhcp, stall_at, fail_validation or flaky_bmc)`,
            { key: true },
          ),
        );
      } else if (problem) {
        out.push(host.src.diag(path, `sim option ${key} ${problem}, got ${JSON.stringify(value)}`));
      }
    }
  });
}

function simOptionProblem(key: string, value: unknown): string | undefined {
  switch (key) {
    case 'never_dhcp':
    case 'fail_validation':
      return typeof value === 'boolean' ? undefined : 'must be true or false';
    case 'stall_at':
      return (SIM_STALL_EVENTS as readonly unknown[]).includes(value)
        ? undefined
        : `must be one of ${SIM_STALL_EVENTS.join(', ')}`;
    case 'flaky_bmc':
      return typeof value === 'number' && value >= 0 && value <= 1
        ? undefined
        : 'must be a probability from 0 to 1';
    default:
      return 'unknown';
  }
}

/**
 * A host netboots from its boot interface's subnet; if no agent of its site serves that subnet, nothing answers
 * its DHCP request. Reported once per subnet, at the subnet, naming the hosts stranded.
 */
function checkAgentCoverage(model: SotModel, out: Diagnostic[], unbootable: Set<HostEntity>): void {
  for (const site of model.sites.values()) {
    const served = new Set(site.spec.agents.flatMap((a) => a.subnets ?? site.spec.subnets.map((s) => s.id)));
    const stranded = new Map<string, string[]>();
    for (const host of model.hosts) {
      if (host.site !== site.id) continue;
      const boot = bootInterface(host.spec);
      if (!boot || served.has(boot.subnet)) continue;
      unbootable.add(host);
      // A host that is never provisioned never netboots: its subnet needs no agent.
      if (host.spec.never_provision) continue;
      if (!stranded.has(boot.subnet)) stranded.set(boot.subnet, []);
      stranded.get(boot.subnet)!.push(host.id);
    }
    for (const [id, hosts] of stranded) {
      const index = site.spec.subnets.findIndex((s) => s.id === id);
      if (index < 0) continue; // an unknown subnet: reported by the reference checks
      const names =
        hosts.length > 3 ? `${hosts.slice(0, 3).join(', ')} and ${hosts.length - 3} more` : hosts.join(', ');
      out.push(
        site.src.diag(
          ['subnets', index, 'id'],
          `no agent serves subnet ${id}, but host${hosts.length > 1 ? 's' : ''} ${names} boot${hosts.length > 1 ? '' : 's'} from it`,
        ),
      );
    }
  }
}
