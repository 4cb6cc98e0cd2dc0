// Rows of the fleet as Temporal visibility lists them: a host run (from its workflow id and search attributes)
// and a rollout run. Shared by the server's index and the CLI's direct listing.
import type { WorkflowExecutionInfo } from '@temporalio/client';

export interface HostRun {
  site: string;
  host: string;
  stage: string;
  state: string;
  revision: string;
  workflowId: string;
  runId: string;
  startedMs: number;
  closedMs?: number;
}

export interface RolloutRun {
  id: string;
  sot: string;
  revision: string;
  /** The rollout's own state (VaqState), or the execution status for runs that closed without one. */
  state: string;
  /** Temporal execution status, lower case. */
  status: string;
  startedAt: number;
  closedAt?: number;
}

export function keyword(sa: Record<string, unknown> | undefined, name: string): string | undefined {
  const v = sa?.[name];
  return Array.isArray(v) ? (v[0] as string | undefined) : (v as string | undefined);
}

/** What a host row is read from: a visibility listing's entry, or a run's description. */
type RunFacts = Pick<
  WorkflowExecutionInfo,
  'workflowId' | 'runId' | 'status' | 'searchAttributes' | 'startTime' | 'closeTime'
>;

export function hostRunOf(wf: RunFacts): HostRun | undefined {
  const m = /^host\/([^/]+)\/([^/]+)$/.exec(wf.workflowId);
  if (!m) return undefined;
  const sa = wf.searchAttributes as Record<string, unknown> | undefined;
  const status = wf.status.name;
  const saState = keyword(sa, 'VaqState');
  return {
    site: m[1]!,
    host: m[2]!,
    stage: keyword(sa, 'VaqStage') ?? 'planned',
    // A run that ended without recording its state (terminated, timed out) says so through its status.
    state:
      status === 'RUNNING' || status === 'COMPLETED'
        ? (saState ?? 'running')
        : status === 'FAILED'
          ? 'failed'
          : status.toLowerCase(),
    revision: keyword(sa, 'VaqRevision') ?? '',
    workflowId: wf.workflowId,
    runId: wf.runId,
    startedMs: wf.startTime.getTime(),
    ...(wf.closeTime ? { closedMs: wf.closeTime.getTime() } : {}),
  };
}

export function rolloutRowOf(wf: WorkflowExecutionInfo): RolloutRun | undefined {
  const m = /^rollout\/([^/]+)\/([^/]+)$/.exec(wf.workflowId);
  if (!m) return undefined;
  const status = wf.status.name.toLowerCase();
  const saState = keyword(wf.searchAttributes as Record<string, unknown> | undefined, 'VaqState');
  return {
    id: wf.workflowId,
    sot: m[1]!,
    revision: m[2]!,
    // A rollout that continued as new is still the same rollout; its newest run carries on the state.
    state:
      status === 'running' || status === 'completed' || status === 'continued_as_new'
        ? (saState ?? status)
        : status,
    status,
    startedAt: wf.startTime.getTime(),
    ...(wf.closeTime ? { closedAt: wf.closeTime.getTime() } : {}),
  };
}
