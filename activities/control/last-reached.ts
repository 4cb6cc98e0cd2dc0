// What each host last reached, read from Temporal itself (there is no database of our own): the newest run of
// each host workflow; a completed run carries the fingerprint it provisioned in its memo.
import type { Client } from '@temporalio/client';
import { HOST_WORKFLOW_TYPE } from '../../domain/workflow-api.ts';

export interface Reached {
  fingerprint?: string;
  revision?: string;
  sot?: string;
  status: string;
  running: boolean;
}

/** Keyed by `site/host`. */
export async function lastReached(client: Client): Promise<Map<string, Reached>> {
  const newest = new Map<string, { at: number; r: Reached }>();
  for await (const wf of client.workflow.list({ query: `WorkflowType = '${HOST_WORKFLOW_TYPE}'` })) {
    const m = /^host\/([^/]+)\/([^/]+)$/.exec(wf.workflowId);
    if (!m) continue;
    const key = `${m[1]}/${m[2]}`;
    const at = wf.startTime.getTime();
    const prev = newest.get(key);
    if (prev && prev.at >= at) continue;
    const status = wf.status.name;
    const memo = (wf.memo ?? {}) as { reached?: string; revision?: string; sot?: string };
    newest.set(key, {
      at,
      r: {
        status,
        running: status === 'RUNNING',
        ...(status === 'COMPLETED' && memo.reached !== undefined ? { fingerprint: memo.reached } : {}),
        ...(memo.revision !== undefined ? { revision: memo.revision } : {}),
        ...(memo.sot !== undefined ? { sot: memo.sot } : {}),
      },
    });
  }
  return new Map([...newest].map(([k, v]) => [k, v.r]));
}
