// Where a reply may be sent unicast. The destination comes from the request (its ciaddr, its giaddr, or the address
// it came from), so a forged request could otherwise aim the agent's replies anywhere — multicast groups, loopback,
// another network. The rule: a client's own address only inside the host's serving subnet (not its network or
// broadcast address); a relay only at a unicast address, and at a loopback one only when the request itself came
// over loopback (a relay on this machine, as `vaquero dev --agent` runs one). Anything else is not sent unicast.
import { netContains, parseCidr, parseIpv4 } from './ipv4.ts';

const LOOPBACK = parseCidr('127.0.0.0/8')!;
/** 224.0.0.0/4 multicast and 240.0.0.0/4 reserved (with 255.255.255.255): never a unicast destination. */
const NOT_UNICAST = [parseCidr('224.0.0.0/4')!, parseCidr('240.0.0.0/4')!];

function unicast(a: number): boolean {
  return a !== 0 && !NOT_UNICAST.some((n) => netContains(n, a));
}

export interface EgressRequest {
  /** The request's giaddr ('0.0.0.0' when not relayed). */
  giaddr: string;
  /** The address the request came from. */
  source: string;
}

export function unicastAllowed(to: string, req: EgressRequest, subnetCidr: string): boolean {
  const a = parseIpv4(to);
  if (a === undefined || !unicast(a)) return false;
  if (req.giaddr !== '0.0.0.0' && to === req.giaddr) {
    if (!netContains(LOOPBACK, a)) return true;
    const from = parseIpv4(req.source);
    return from !== undefined && netContains(LOOPBACK, from);
  }
  const net = parseCidr(subnetCidr);
  return net !== undefined && netContains(net, a) && a !== net.network && a !== net.broadcast;
}
