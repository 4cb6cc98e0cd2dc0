// IP → MAC for clients the agent did not give an address to (proxy mode, relayed networks it shares an L2
// with): the kernel's neighbour table knows the MAC of any IP that just talked to us over Ethernet.
import { readFile } from 'node:fs/promises';

export async function macFromNeighbourTable(ip: string, file = '/proc/net/arp'): Promise<string | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    // IP address, HW type, Flags, HW address, Mask, Device; flags 0x0 means incomplete.
    if (cols[0] === ip && cols[3] && cols[2] !== '0x0' && cols[3] !== '00:00:00:00:00:00')
      return cols[3].toLowerCase();
  }
  return undefined;
}
