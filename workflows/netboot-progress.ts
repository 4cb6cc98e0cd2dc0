// Pure bookkeeping of how far a network boot got. Boot events can arrive out of order or skip steps (an iPXE
// ROM fetches its script over HTTP without any TFTP), so progress is the highest step seen, not a sequence.
import type { BootEventKind, NetbootStep } from '../domain/boot-events.ts';

const RANK: Record<BootEventKind, number> = {
  dhcp: 1,
  tftp: 2,
  ipxe: 3,
  kernel: 4,
  initrd: 4,
  config: 5,
  checkpoint: 6,
  log: 0,
  refused: 0,
};
export const CHECKPOINT_RANK = RANK.checkpoint;

export function rankOf(kind: BootEventKind): number {
  // A kind this code does not know (sent by a newer agent) moves nothing, rather than poisoning `reached` with NaN.
  return RANK[kind] ?? 0;
}

/**
 * The step the host is waiting for, given the highest rank reached; `done` once the netboot is over (the
 * installer has what it needs). TFTP is awaited but may be skipped: any later event also moves past it.
 */
export function nextNetbootStep(reached: number, hasConfig: boolean): NetbootStep | 'done' {
  if (reached < RANK.dhcp) return 'dhcp';
  if (reached < RANK.tftp) return 'tftp';
  if (reached < RANK.ipxe) return 'ipxe';
  if (reached < RANK.kernel) return 'kernel';
  if (hasConfig && reached < RANK.config) return 'config';
  return 'done';
}
