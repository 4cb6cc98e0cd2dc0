// Extra DHCP options go on the wire as their declared type; a value that does not fit would be sent mangled or
// make the agent refuse the subnet, so it is caught here, at the value.
import type { Diagnostic } from './diagnostics.ts';
import type { SotModel } from './model.ts';
import { isIPv4 } from './schema.ts';
import { where } from './where.ts';

const UINT_MAX = { u8: 0xff, u16: 0xffff, u32: 0xffffffff } as const;

/** Why `value` does not fit `type`, or undefined when it does. */
function valueProblem(type: string, value: unknown): string | undefined {
  switch (type) {
    case 'string':
      return typeof value === 'string' ? undefined : 'must be a string';
    case 'ip':
      return typeof value === 'string' && isIPv4(value) ? undefined : 'must be an IPv4 address';
    case 'ips':
      // Element problems are reported one by one, at the element.
      return Array.isArray(value) && value.length > 0
        ? undefined
        : 'must be a non-empty list of IPv4 addresses';
    case 'u8':
    case 'u16':
    case 'u32': {
      const max = UINT_MAX[type];
      return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= max
        ? undefined
        : `must be an integer from 0 to ${max}`;
    }
    case 'bool':
      return typeof value === 'boolean' ? undefined : 'must be true or false';
    case 'hex':
      return typeof value === 'string' && /^(?:[0-9a-fA-F]{2})+$/.test(value)
        ? undefined
        : 'must be an even number of hex digits (like "0a1b")';
    default:
      return undefined;
  }
}

export function checkDhcpOptions(model: SotModel): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const site of model.sites.values()) {
    site.spec.subnets.forEach((subnet, s) => {
      const codes = new Map<number, string>();
      subnet.dhcp_options?.forEach((opt, o) => {
        const base = ['subnets', s, 'dhcp_options', o];
        const first = codes.get(opt.code);
        if (first) {
          out.push(
            site.src.diag(
              [...base, 'code'],
              `duplicate DHCP option ${opt.code} in subnet ${subnet.id} (first at ${first})`,
            ),
          );
        } else {
          codes.set(opt.code, where(site.src, [...base, 'code']));
        }
        const label = `DHCP option ${opt.code} (${opt.type})`;
        const problem = valueProblem(opt.type, opt.value);
        if (problem) {
          out.push(
            site.src.diag([...base, 'value'], `${label} ${problem}, got ${JSON.stringify(opt.value)}`),
          );
        } else if (opt.type === 'ips') {
          (opt.value as unknown[]).forEach((v, e) => {
            if (typeof v !== 'string' || !isIPv4(v)) {
              out.push(
                site.src.diag([...base, 'value', e], `${label}: ${JSON.stringify(v)} is not an IPv4 address`),
              );
            }
          });
        }
      });
    });
  }
  return out;
}
