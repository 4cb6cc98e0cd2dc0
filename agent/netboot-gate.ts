// The netboot gate: which hosts the boot services may answer, and with which boot stage. A host whose gate
// is closed gets no boot file, so it boots from its disk.
import type { NetbootGateInput } from '../domain/activity-contracts.ts';

export interface GateEntry extends NetbootGateInput {
  updatedAt: number;
}

export interface NetbootGate {
  set(input: NetbootGateInput): Promise<void>;
  /** The entry for a boot MAC (lowercase), open or closed; undefined if never set. */
  lookup(mac: string): GateEntry | undefined;
}

/** Gate kept in memory: for a sim site, or as the live view an agent's cache persists. */
export class MemoryNetbootGate implements NetbootGate {
  private readonly byMac = new Map<string, GateEntry>();

  async set(input: NetbootGateInput): Promise<void> {
    this.byMac.set(input.mac.toLowerCase(), { ...input, updatedAt: Date.now() });
  }

  lookup(mac: string): GateEntry | undefined {
    return this.byMac.get(mac.toLowerCase());
  }
}
