// Starting rollouts, for the server, the CLI and the lab alike. A SoT folder's revision is a content address, so applying the same folder twice
// is the same rollout, and an edit makes a new one.
import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import path from 'node:path';
import { dirRevision } from '../activities/control/revision-store.ts';
import { CONTROL_TASK_QUEUE } from '../domain/temporal-names.ts';
import { ROLLOUT_WORKFLOW_TYPE, rolloutWorkflowId } from '../domain/workflow-api.ts';
import type { RolloutInput } from '../domain/rollout.ts';

export interface StartedRollout {
  workflowId: string;
  revision: string;
  sot: string;
  /** False when that rollout was already running. */
  started: boolean;
}

export function sotNameFor(dir: string, flag?: string): string {
  const name = flag ?? path.basename(path.resolve(dir));
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(name))
    throw new Error(`SoT name "${name}" must be lowercase letters, digits, ".", "_" or "-" (use --sot NAME)`);
  return name;
}

export async function startDirRollout(
  client: Client,
  opts: { dir: string; sot?: string; force?: boolean; only?: string[] },
): Promise<StartedRollout> {
  const dir = path.resolve(opts.dir);
  const sot = sotNameFor(dir, opts.sot);
  const revision = await dirRevision(dir);
  const input: RolloutInput = {
    sot,
    revision,
    source: { kind: 'dir', location: dir },
    ...(opts.force ? { force: true } : {}),
    ...(opts.only ? { only: opts.only } : {}),
  };
  return { revision, sot, ...(await startRolloutWorkflow(client, input)) };
}

/**
 * Starts the rollout workflow of `input`'s revision; a rollout of that revision already running is not an error
 * (its id is the revision's, so the same revision never runs twice at once): `started` says which it was.
 */
export async function startRolloutWorkflow(
  client: Client,
  input: RolloutInput,
  /** Facts about what started it (e.g. the GitHub delivery), kept with the run in Temporal, never in its history's input. */
  memo?: Record<string, string>,
): Promise<{ workflowId: string; started: boolean }> {
  const workflowId = rolloutWorkflowId(input.sot, input.revision);
  try {
    await client.workflow.start(ROLLOUT_WORKFLOW_TYPE, {
      taskQueue: CONTROL_TASK_QUEUE,
      workflowId,
      args: [input],
      ...(memo ? { memo } : {}),
    });
    return { workflowId, started: true };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { workflowId, started: false };
    throw err;
  }
}
