// What a workflow's history weighs, read from the history itself: its events, its bytes (the encoded history
// Temporal stores) and its largest payload, the unit Temporal limits (2 MiB by default; the SDK warns above 512 KB).
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';

const { temporal } = proto;

export interface HistoryWeight {
  workflowId: string;
  runId: string;
  events: number;
  bytes: number;
  /** The largest payload set in any event (an input, a result, a signal's argument…), in bytes, and where. */
  largestPayload: { bytes: number; event: number; eventType: string };
  /** Encoded bytes per event type, heaviest first. */
  byType: { eventType: string; events: number; bytes: number }[];
}

/** Every run of a workflow id (a chain of continueAsNew runs, or restarts), each weighed. */
export async function weighRuns(client: Client, workflowId: string): Promise<HistoryWeight[]> {
  const runs: HistoryWeight[] = [];
  for await (const wf of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
    runs.push(await weighHistory(client, workflowId, wf.runId));
  }
  return runs;
}

export async function weighHistory(
  client: Client,
  workflowId: string,
  runId?: string,
): Promise<HistoryWeight> {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const bytes = temporal.api.history.v1.History.encode(history).finish().length;
  let largest = { bytes: 0, event: 0, eventType: '' };
  const byType = new Map<string, { events: number; bytes: number }>();
  for (const e of history.events ?? []) {
    const type = temporal.api.enums.v1.EventType[e.eventType ?? 0] ?? String(e.eventType);
    const t = byType.get(type) ?? { events: 0, bytes: 0 };
    t.events++;
    t.bytes += temporal.api.history.v1.HistoryEvent.encode(e).finish().length;
    byType.set(type, t);
    const size = largestPayloads(e);
    if (size > largest.bytes)
      largest = {
        bytes: size,
        event: Number(e.eventId ?? 0),
        eventType: temporal.api.enums.v1.EventType[e.eventType ?? 0] ?? String(e.eventType),
      };
  }
  return {
    workflowId,
    runId: runId ?? '',
    events: history.events?.length ?? 0,
    bytes,
    largestPayload: largest,
    byType: [...byType].map(([eventType, t]) => ({ eventType, ...t })).sort((a, b) => b.bytes - a.bytes),
  };
}

/** The largest `Payloads` set (all its payloads' data and metadata) anywhere inside an event. */
function largestPayloads(node: unknown): number {
  if (node === null || typeof node !== 'object' || node instanceof Uint8Array) return 0;
  let best = 0;
  const o = node as Record<string, unknown>;
  if (Array.isArray(o.payloads)) {
    let sum = 0;
    for (const p of o.payloads as {
      data?: Uint8Array | null;
      metadata?: Record<string, Uint8Array> | null;
    }[]) {
      sum += p.data?.length ?? 0;
      for (const [k, v] of Object.entries(p.metadata ?? {})) sum += k.length + v.length;
    }
    best = sum;
  }
  for (const v of Object.values(o)) {
    if (Array.isArray(v)) for (const x of v) best = Math.max(best, largestPayloads(x));
    else best = Math.max(best, largestPayloads(v));
  }
  return best;
}
