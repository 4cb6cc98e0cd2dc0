// What one host run did, counted from its own timeline (the host workflow's status): how long it spent in each
// stage, the boot events it took, its power operations and how they ended. The server's metrics (metrics.ts) add
// these up for every run that closes while a replica watches, so they count what happened, not what stage changes
// suggest. A timeline keeps its last TIMELINE_LIMIT (500) entries: a run longer than that is counted from them.
import type { HostStatus, TimelineEntry } from '../domain/host.ts';

/** Stages that are outcomes, not places a host spends time in. */
const OUTCOMES = new Set(['provisioned', 'failed', 'cancelled']);

export interface RunCounts {
  /** Each stage the run entered, in order, with the seconds it stayed (a power retry is a stage entered again). */
  stages: { stage: string; seconds: number }[];
  /** Boot events the run took, by kind (dhcp, tftp, ipxe, kernel, initrd, config, checkpoint, …). */
  events: Record<string, number>;
  /** Boot events the run refused (another MAC, or no boot expected then). */
  ignoredEvents: number;
  /** Power cycles the BMC carried out, and power stages that failed (the BMC operation failed after its retries). */
  power: { ok: number; failed: number };
}

/** The kind of a boot event entry: its message starts with it (`dhcp from agent-1: …`). */
function eventKind(e: TimelineEntry): string {
  return /^([a-z0-9_-]+)/.exec(e.message)?.[1] ?? 'unknown';
}

export function countRun(status: Pick<HostStatus, 'timeline'>, endMs: number): RunCounts {
  const out: RunCounts = { stages: [], events: {}, ignoredEvents: 0, power: { ok: 0, failed: 0 } };
  // A stage lasts from its first entry to the next entry of another stage (or the run's end); a second entry of the
  // same stage (a note in it) does not start it again.
  let current: { stage: string; at: number } | undefined;
  const close = (at: number) => {
    if (current && !OUTCOMES.has(current.stage))
      out.stages.push({ stage: current.stage, seconds: Math.max(0, at - current.at) / 1000 });
  };
  for (const e of status.timeline) {
    if (e.kind === 'stage' && e.stage !== current?.stage) {
      close(e.at);
      current = { stage: e.stage, at: e.at };
    } else if (e.kind === 'event') {
      const k = eventKind(e);
      out.events[k] = (out.events[k] ?? 0) + 1;
    } else if (e.kind === 'event-ignored') {
      out.ignoredEvents++;
    } else if (e.kind === 'power') {
      out.power.ok++;
    } else if (e.kind === 'error' && /^failed at power:/.test(e.message)) {
      out.power.failed++;
    }
  }
  close(endMs);
  return out;
}
