// The rollout workflow (type `rollout`, id `rollout/<sot>/<commit>`). Rollouts start on the paged plan
// (paged-rollout.ts), which holds nothing that grows with the fleet; rollouts started before it, and their
// continuations, keep the legacy code they were started with (rollout-legacy.ts), until the patch is retired
// (PATCHES.md).
import { patched } from '@temporalio/workflow';
import type { RolloutInput, RolloutResult } from '../domain/rollout.ts';
import { legacyRollout } from './rollout-legacy.ts';
import { pagedRollout } from './paged-rollout.ts';

export async function rollout(input: RolloutInput): Promise<RolloutResult> {
  if (input.pagedResume) return pagedRollout(input);
  if (input.resume || !patched('rollout-paged-plan')) return legacyRollout(input);
  return pagedRollout(input);
}
