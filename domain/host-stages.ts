// The one list of a host workflow's stages, in the order a host goes through them. The stage type, the API's enum,
// the fleet index's "past the power cycle" set and the workflow's netboot steps all derive from it.
import { NETBOOT_STEPS } from './boot-events.ts';

export const HOST_STAGES = [
  'planned',
  'pre-shutdown',
  'power',
  ...NETBOOT_STEPS.map((s) => `netboot/${s}` as const),
  'installing',
  'validate',
  'provisioned',
  'failed',
  'cancelled',
] as const;

export type HostStage = (typeof HOST_STAGES)[number];

export type HostState = 'running' | 'provisioned' | 'failed' | 'cancelled';

/** Stages a host reaches only through a power cycle: from `power` up to and including `validate`. */
export const STAGES_PAST_POWER: ReadonlySet<string> = new Set<string>(
  HOST_STAGES.slice(HOST_STAGES.indexOf('power'), HOST_STAGES.indexOf('validate') + 1),
);
