// The netboot gate: which hosts the boot services may answer, and with which boot stage. A host whose gate
// is closed gets no boot file, so it boots from its disk.
import type { NetbootGateInput } from './activity-contracts.ts';

export interface GateEntry extends NetbootGateInput {
  updatedAt: number;
}

export interface NetbootGate {
  set(input: NetbootGateInput): Promise<void>;
  /** The entry for a boot MAC (lowercase), open or closed; undefined if never set. */
  lookup(mac: string): GateEntry | undefined;
}
