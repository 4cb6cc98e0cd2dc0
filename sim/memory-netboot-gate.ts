// The netboot gate of a simulated site: kept in memory (an agent keeps its gate in its on-disk model cache).
import type { NetbootGateInput } from '../domain/activity-contracts.ts';
import type { GateEntry, GateUpdateOutcome, NetbootGate } from '../domain/netboot-gate.ts';

/** Gate kept in memory: for a sim site, or as the live view an agent's cache persists. */
export class MemoryNetbootGate implements NetbootGate {
  private readonly byMac = new Map<string, GateEntry>();

  async set(input: NetbootGateInput): Promise<GateUpdateOutcome> {
    this.byMac.set(input.mac.toLowerCase(), { ...input, updatedAt: Date.now() });
    return 'applied';
  }

  lookup(mac: string): GateEntry | undefined {
    return this.byMac.get(mac.toLowerCase());
  }
}
