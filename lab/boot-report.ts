// How a lab boot went, from the host workflow's timeline (the agent's boot events, as the workflow recorded
// them) and the BMC's power log (when the VM really started): each event with its time since power-on.
import type { HostStatus, TimelineEntry } from '../domain/host.ts';
import type { PowerLogEntry } from './ipmi-bmc.ts';

export interface BootEventLine {
  /** dhcp, tftp, ipxe, kernel, initrd, config, checkpoint */
  kind: string;
  detail: string;
  /** Epoch ms (workflow time when the event arrived). */
  at: number;
  /** Seconds since the VM process started, when known. */
  sinceVmStartS?: number;
}

export interface BootSummary {
  /** Boot steps: every event but the installer log summaries. */
  events: BootEventLine[];
  /** The `log` events: summaries of the installer's log lines the agent received (no boot step). */
  logs: BootEventLine[];
  /** Event kinds in arrival order, repeats collapsed (dhcp, dhcp, ipxe → dhcp, ipxe). */
  sequence: string[];
  /** Seconds since the VM started of the first event of each kind. */
  firstAt: Record<string, number>;
  vmStartedAt?: number;
  /** From the power stage's start to `provisioned`, in seconds. */
  powerToProvisionedS?: number;
}

/** `dhcp from lab-agent: DHCPACK 10.77.9.10 …` → kind dhcp, detail `DHCPACK 10.77.9.10 …`. */
export function parseEvent(e: TimelineEntry): { kind: string; detail: string } {
  const m = /^(\S+) from \S+?(?:: (.*))?$/s.exec(e.message);
  return { kind: m?.[1] ?? e.message.split(' ')[0]!, detail: m?.[2] ?? '' };
}

export function summarizeBoot(status: HostStatus, power: readonly PowerLogEntry[]): BootSummary {
  // The VM start this boot came from: the last one before its first boot event (a host whose VM ran before
  // the rollout, as an ssh host's does, was started again by its reboot).
  const firstEvent = status.timeline.find((e) => e.kind === 'event')?.at ?? Infinity;
  const starts = power.filter((p) => p.what.startsWith('vm start'));
  const vmStart = (starts.filter((p) => p.at <= firstEvent).at(-1) ?? starts[0])?.at;
  const secs = (at: number) => (vmStart === undefined ? undefined : Math.round((at - vmStart) / 100) / 10);
  const all: BootEventLine[] = status.timeline
    .filter((e) => e.kind === 'event')
    .map((e) => {
      const sinceVmStartS = secs(e.at);
      return { ...parseEvent(e), at: e.at, ...(sinceVmStartS !== undefined ? { sinceVmStartS } : {}) };
    });
  const events = all.filter((e) => e.kind !== 'log');
  const logs = all.filter((e) => e.kind === 'log');
  const sequence: string[] = [];
  const firstAt: Record<string, number> = {};
  for (const e of events) {
    if (sequence.at(-1) !== e.kind) sequence.push(e.kind);
    if (!(e.kind in firstAt) && e.sinceVmStartS !== undefined) firstAt[e.kind] = e.sinceVmStartS;
  }
  const powerStart = status.timeline.find((e) => e.kind === 'stage' && e.stage === 'power')?.at;
  const done = status.timeline.find((e) => e.kind === 'stage' && e.stage === 'provisioned')?.at;
  return {
    events,
    logs,
    sequence,
    firstAt,
    ...(vmStart !== undefined ? { vmStartedAt: vmStart } : {}),
    ...(powerStart && done ? { powerToProvisionedS: Math.round((done - powerStart) / 100) / 10 } : {}),
  };
}
