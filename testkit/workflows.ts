// Helpers for tests that drive rollouts and host workflows on a real stack: bounded waits, queries,
// visibility listings and interval arithmetic.
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { PowerOpRecord } from '../activities/power/power-op-log.ts';
import { startDirRollout } from '../client/start-rollout.ts';
import type { StartedRollout } from '../client/start-rollout.ts';
import {
  HOST_WORKFLOW_TYPE,
  hostStatusQuery,
  hostWorkflowId,
  rolloutStatusQuery,
} from '../domain/workflow-api.ts';
import type { HostStatus } from '../domain/host.ts';
import type { RolloutResult, RolloutStatus, RolloutTimelineEntry } from '../domain/rollout.ts';
import type { WrittenSot } from './sot.ts';

/** Polls `probe` until it returns something other than undefined/false; fails with `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${opts.timeoutMs ?? 60_000} ms waiting for ${what}${why}`);
    }
    await delay(opts.intervalMs ?? 100);
  }
}

export async function withTimeout<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function startRollout(
  client: Client,
  sot: WrittenSot,
  opts: { force?: boolean; only?: string[] } = {},
): Promise<StartedRollout> {
  return startDirRollout(client, { dir: sot.dir, sot: sot.sot, ...opts });
}

export function rolloutResult(
  client: Client,
  workflowId: string,
  timeoutMs = 120_000,
): Promise<RolloutResult> {
  return withTimeout(
    `rollout ${workflowId} to finish`,
    client.workflow.getHandle(workflowId).result() as Promise<RolloutResult>,
    timeoutMs,
  );
}

export function rolloutStatus(client: Client, workflowId: string): Promise<RolloutStatus> {
  return client.workflow.getHandle(workflowId).query(rolloutStatusQuery);
}

export function hostStatus(client: Client, site: string, host: string): Promise<HostStatus> {
  return client.workflow.getHandle(hostWorkflowId(site, host)).query(hostStatusQuery);
}

/** Every run of every host workflow of `site` (visibility). */
export async function hostExecutions(client: Client, site: string): Promise<WorkflowExecutionInfo[]> {
  const out: WorkflowExecutionInfo[] = [];
  for await (const wf of client.workflow.list({
    query: `WorkflowType = '${HOST_WORKFLOW_TYPE}' AND VaqSite = '${site}'`,
  }))
    out.push(wf);
  return out;
}

/** The search attribute `name` of a listed execution, as one keyword. */
export function keyword(wf: WorkflowExecutionInfo, name: string): string | undefined {
  const v = (wf.searchAttributes as Record<string, unknown> | undefined)?.[name];
  return Array.isArray(v) ? (v[0] as string | undefined) : (v as string | undefined);
}

export interface Interval {
  key: string;
  start: number;
  end: number;
}

/** The most intervals open at one instant; an interval that ends exactly when another starts does not overlap it. */
export function maxOverlap(intervals: readonly Interval[]): number {
  const points = intervals.flatMap((i) => [
    { at: i.start, d: 1 },
    { at: i.end, d: -1 },
  ]);
  points.sort((a, b) => a.at - b.at || a.d - b.d);
  let open = 0;
  let max = 0;
  for (const p of points) {
    open += p.d;
    max = Math.max(max, open);
  }
  return max;
}

/** [host-started, host-finished] per host from a rollout's timeline (a host restarted by the rollout counts twice). */
export function timelineIntervals(timeline: readonly RolloutTimelineEntry[], until = Infinity): Interval[] {
  const open = new Map<string, number>();
  const out: Interval[] = [];
  for (const e of timeline) {
    if (!e.host) continue;
    if (e.kind === 'host-started') open.set(e.host, e.at);
    if ((e.kind === 'host-finished' || e.kind === 'host-restart') && open.has(e.host)) {
      out.push({ key: e.host, start: open.get(e.host)!, end: e.at });
      open.delete(e.host);
    }
  }
  for (const [key, start] of open) out.push({ key, start, end: until });
  return out;
}

/** The power operations recorded on disk by the sim site `site`, every line (one per power cycle done). */
export async function powerOps(dataDir: string, site: string): Promise<PowerOpRecord[]> {
  let text: string;
  try {
    text = await readFile(path.join(dataDir, 'sites', site, 'power-ops.jsonl'), 'utf8');
  } catch {
    return [];
  }
  const out: PowerOpRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as PowerOpRecord);
    } catch {
      // torn last line of a killed writer
    }
  }
  return out;
}

export function countBy<T>(items: readonly T[], key: (t: T) => string): Map<string, number> {
  const m = new Map<string, number>();
  for (const i of items) m.set(key(i), (m.get(key(i)) ?? 0) + 1);
  return m;
}
