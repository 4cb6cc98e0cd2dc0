// What each host last reached, read from Temporal itself (there is no database of our own): the newest run of
// each host workflow; a completed run carries the fingerprint it provisioned in its memo.
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
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
  return newestRuns(client.workflow.list({ query: `WorkflowType = '${HOST_WORKFLOW_TYPE}'` }));
}

async function newestRuns(runs: AsyncIterable<WorkflowExecutionInfo>): Promise<Map<string, Reached>> {
  const newest = new Map<string, { at: number; r: Reached }>();
  for await (const wf of runs) {
    const m = /^host\/([^/]+)\/([^/]+)$/.exec(wf.workflowId);
    if (!m) continue;
    const key = `${m[1]}/${m[2]}`;
    const at = wf.startTime.getTime();
    const prev = newest.get(key);
    if (prev && prev.at >= at) continue;
    const status = wf.status.name;
    // `reached` is written by the run when it completes; `fingerprint` is what its rollout started it for, put in
    // the memo at the start (host-end-by-completion): a completed run reached it.
    const memo = (wf.memo ?? {}) as {
      reached?: string;
      fingerprint?: string;
      revision?: string;
      sot?: string;
    };
    const reached = memo.reached ?? memo.fingerprint;
    newest.set(key, {
      at,
      r: {
        status,
        running: status === 'RUNNING',
        ...(status === 'COMPLETED' && reached !== undefined ? { fingerprint: reached } : {}),
        ...(memo.revision !== undefined ? { revision: memo.revision } : {}),
        ...(memo.sot !== undefined ? { sot: memo.sot } : {}),
      },
    });
  }
  return new Map([...newest].map(([k, v]) => [k, v.r]));
}

/** What the given host workflows last reached (one visibility query), keyed by `site/host`. */
export async function reachedOf(
  client: Client,
  workflowIds: readonly string[],
): Promise<Map<string, Reached>> {
  if (workflowIds.length === 0) return new Map();
  const list = workflowIds.map((id) => `'${id.replace(/'/g, "\\'")}'`).join(', ');
  return newestRuns(client.workflow.list({ query: `WorkflowId IN (${list})` }));
}

/** Of the given hosts, those whose newest run started at or after `after` (epoch ms) and has closed, with its status. */
export async function closedRuns(
  client: Client,
  hosts: readonly { site: string; host: string; after: number }[],
): Promise<{ site: string; host: string; status: string; error?: string }[]> {
  if (hosts.length === 0) return [];
  const ids = hosts.map((h) => `'${`host/${h.site}/${h.host}`.replace(/'/g, "\\'")}'`).join(', ');
  const newest = new Map<string, WorkflowExecutionInfo>();
  for await (const wf of client.workflow.list({ query: `WorkflowId IN (${ids})` })) {
    const prev = newest.get(wf.workflowId);
    if (!prev || prev.startTime.getTime() < wf.startTime.getTime()) newest.set(wf.workflowId, wf);
  }
  const out: { site: string; host: string; status: string; error?: string }[] = [];
  for (const h of hosts) {
    const wf = newest.get(`host/${h.site}/${h.host}`);
    if (!wf || wf.status.name === 'RUNNING' || wf.startTime.getTime() < h.after) continue;
    const error = wf.status.name === 'COMPLETED' ? undefined : await runError(client, wf);
    out.push({
      site: h.site,
      host: h.host,
      status: wf.status.name,
      ...(error !== undefined ? { error } : {}),
    });
  }
  return out;
}

/** The error a closed host run ended with: the host's own (its result in the failure's details), else the failure's. */
async function runError(client: Client, wf: WorkflowExecutionInfo): Promise<string | undefined> {
  try {
    await client.workflow.getHandle(wf.workflowId, wf.runId, { followRuns: false }).result();
    return undefined;
  } catch (err) {
    let last: unknown = err;
    for (let e: unknown = err; e instanceof Error; e = (e as { cause?: unknown }).cause) {
      const own = ((e as { details?: unknown[] }).details?.[0] as { error?: unknown } | undefined)?.error;
      if (typeof own === 'string') return own;
      last = e;
    }
    return last instanceof Error ? last.message : undefined;
  }
}
