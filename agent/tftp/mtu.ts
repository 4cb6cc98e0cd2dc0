// The largest blksize that fits one Ethernet frame on the serving interface: a DATA packet bigger than the
// MTU is IP-fragmented, and PXE ROMs handle fragments badly (dnsmasq applies the same cap).
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { isIPv6 } from 'node:net';

const FALLBACK_MTU = 1500;

function mtuOf(ifname: string): number | undefined {
  try {
    const n = Number(readFileSync(`/sys/class/net/${ifname}/mtu`, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** blksize cap for a server bound to `address`; for a wildcard address, the smallest MTU of the external interfaces. */
export function blksizeCapFor(address: string): number {
  const v6 = isIPv6(address);
  const overhead = (v6 ? 40 : 20) + 8 + 4; // IP + UDP + TFTP DATA header
  const wildcard = address === '0.0.0.0' || address === '::';
  const mtus: number[] = [];
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    const list = addrs ?? [];
    const matches = wildcard ? list.some((a) => !a.internal) : list.some((a) => a.address === address);
    if (!matches) continue;
    const mtu = mtuOf(name);
    if (mtu !== undefined) mtus.push(mtu);
  }
  const mtu = mtus.length > 0 ? Math.min(...mtus) : FALLBACK_MTU;
  return Math.max(8, mtu - overhead);
}
