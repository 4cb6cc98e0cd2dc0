// IP → MAC for clients the agent did not give an address to (proxy mode, relayed networks it shares an L2
// with): the kernel's neighbour table knows the MAC of any IP that just talked to us over Ethernet.
//
// Every TFTP transfer and HTTP fetch asks, twice or more, and a read of /proc/net/arp is several trips through
// libuv's thread pool: one read serves all the questions asked while it is in flight, and answers found in it
// are reused for a moment. A missing or stale answer is read again, so a client that just appeared is found.
import { readFile } from 'node:fs/promises';

export class NeighbourTable {
  private table = new Map<string, string>();
  private readAt = -Infinity;
  private reading: Promise<void> | undefined;

  constructor(
    private readonly readTable: () => Promise<string> = () => readFile('/proc/net/arp', 'utf8'),
    /** How long an answer found in a read is reused. */
    private readonly reuseMs = 1000,
    /** Monotonic, so a wall-clock step back cannot make every read look older than the question. */
    private readonly now: () => number = () => performance.now(),
  ) {}

  async macFor(ip: string): Promise<string | undefined> {
    if (this.now() - this.readAt <= this.reuseMs) {
      const known = this.table.get(ip);
      if (known) return known;
    }
    // A read that started before this question may predate the client's first packet: wait for a newer one.
    const asked = this.now();
    while (this.readAt < asked) await this.refresh();
    return this.table.get(ip);
  }

  private refresh(): Promise<void> {
    this.reading ??= this.read().finally(() => (this.reading = undefined));
    return this.reading;
  }

  private async read(): Promise<void> {
    const started = this.now();
    const text = await this.readTable().catch(() => '');
    const table = new Map<string, string>();
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // IP address, HW type, Flags, HW address, Mask, Device; flags 0x0 means incomplete.
      if (cols[0] && cols[3] && cols[2] !== '0x0' && cols[3] !== '00:00:00:00:00:00')
        table.set(cols[0], cols[3].toLowerCase());
    }
    this.table = table;
    this.readAt = started;
  }
}
