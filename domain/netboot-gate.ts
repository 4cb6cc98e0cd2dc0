// The netboot gate: which hosts the boot services may answer, and with which boot stage. A host whose gate
// is closed gets no boot file, so it boots from its disk.
import type { NetbootGateInput } from './activity-contracts.ts';

export interface GateEntry extends NetbootGateInput {
  updatedAt: number;
}

/** What a gate update did: a late close of an older run, or an update older than the one held, changes nothing. */
export type GateUpdateOutcome = 'applied' | 'ignored-other-run' | 'ignored-older';

export interface NetbootGate {
  set(input: NetbootGateInput): Promise<GateUpdateOutcome>;
  /** The entry for a boot MAC (lowercase), open or closed; undefined if never set. */
  lookup(mac: string): GateEntry | undefined;
}
