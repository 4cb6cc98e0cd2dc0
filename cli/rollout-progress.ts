// A live view of a rollout: one line per host state change, then a summary. Polls the rollout's query, so it
// works against any stack and survives worker restarts.
import type { Client } from '@temporalio/client';
import { rolloutStatusQuery } from '../domain/workflow-api.ts';
import type { RolloutStatus } from '../domain/rollout.ts';

export interface ProgressOptions {
  out?: (line: string) => void;
  intervalMs?: number;
  /** Give up waiting after this long (the rollout goes on). */
  timeoutMs?: number;
}

const FINAL_STATES = new Set(['completed', 'failed', 'aborted', 'superseded']);

export async function followRollout(
  client: Client,
  workflowId: string,
  opts: ProgressOptions = {},
): Promise<RolloutStatus> {
  const out = opts.out ?? ((l: string) => process.stdout.write(l + '\n'));
  const started = Date.now();
  const handle = client.workflow.getHandle(workflowId);
  const seen = new Map<string, string>();
  let lastState = '';
  for (;;) {
    let status: RolloutStatus | undefined;
    try {
      status = await handle.query(rolloutStatusQuery);
    } catch {
      // Not answerable yet (no worker picked it up) or closed without a worker to replay it.
      const desc = await handle.describe().catch(() => undefined);
      if (desc && desc.status.name !== 'RUNNING') {
        const result = await handle.result().catch((e: unknown) => e);
        throw new Error(
          `rollout ${workflowId} ended ${desc.status.name.toLowerCase()}: ${result instanceof Error ? result.message : JSON.stringify(result)}`,
        );
      }
    }
    if (status) {
      const t = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
      if (status.state !== lastState) {
        lastState = status.state;
        out(`${t}s  rollout ${status.state}${status.reason ? `: ${status.reason}` : ''}`);
      }
      for (const h of status.hosts) {
        const key = `${h.site}/${h.host}`;
        if (seen.get(key) !== h.state) {
          seen.set(key, h.state);
          if (h.state !== 'pending')
            out(`${t}s  ${key.padEnd(28)} ${h.state}${h.error ? `: ${h.error}` : ''}`);
        }
      }
      if (FINAL_STATES.has(status.state)) return status;
    }
    if (opts.timeoutMs && Date.now() - started > opts.timeoutMs) {
      throw new Error(`gave up following ${workflowId} after ${opts.timeoutMs / 1000}s (it goes on)`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 500));
  }
}

export function summarize(s: RolloutStatus): string {
  const c = s.counts;
  return `${s.state}: ${c.provisioned} provisioned, ${c.failed} failed, ${c.cancelled} cancelled, ${c.pending + c.blocked} not started, ${s.unchanged} unchanged, ${s.skipped} skipped`;
}
