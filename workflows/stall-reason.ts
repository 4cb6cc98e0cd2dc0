// Why a netboot step stalled, in words, from what the host workflow already recorded: the attempt's boot events
// on its timeline (`<kind> from <source>: <detail>`) and the last refusal. Some stalls are invisible on the network:
// a firmware enforcing Secure Boot fetches an unsigned loader completely, refuses to run it and asks for nothing
// more, so the only trace is that the host's last request was that download. Saying so names the cause where
// "no ipxe within 60s" alone does not. Pure: the workflow's message lines call it.
import type { TimelineEntry } from '../domain/host.ts';

/** A boot event as the timeline holds it. */
export interface RecordedEvent {
  kind: string;
  source: string;
  detail: string;
}

/** The boot event a timeline entry records (kind `event`), or undefined for any other entry. */
export function recordedEvent(entry: TimelineEntry): RecordedEvent | undefined {
  if (entry.kind !== 'event') return undefined;
  const m = /^([a-z]+) from (\S+?)(?:: ([\s\S]*))?$/.exec(entry.message);
  if (!m) return undefined;
  return { kind: m[1]!, source: m[2]!, detail: m[3] ?? '' };
}

/** A whole first-stage transfer, as the agent reports it: `TFTP ipxe.efi sent (850528 bytes)`. */
const TFTP_SENT = /^TFTP (\S+) sent \((\d+) bytes\)$/;
/** UEFI HTTP boot's fetch of its first program (recorded as the GET starts: its end is not known). */
const HTTP_BOOT = /^HTTP boot (\S+)$/;

/** What the host got, in a few words (`tftp ipxe.efi (831 KB, complete)`), or the event as recorded. */
export function describeGot(ev: RecordedEvent): string {
  const tftp = TFTP_SENT.exec(ev.detail);
  if (tftp) return `tftp ${tftp[1]} (${Math.max(1, Math.round(Number(tftp[2]) / 1024))} KB, complete)`;
  const http = HTTP_BOOT.exec(ev.detail);
  if (http) return `http ${http[1]}`;
  return ev.detail ? `${ev.kind} ${ev.detail}` : ev.kind;
}

/** The first program a firmware fetched (a `tftp` step event), by file name. */
function firstStageFile(ev: RecordedEvent): string | undefined {
  if (ev.kind !== 'tftp') return undefined;
  return TFTP_SENT.exec(ev.detail)?.[1] ?? HTTP_BOOT.exec(ev.detail)?.[1];
}

export interface StallFacts {
  /** The netboot step that saw nothing new (`dhcp`, `tftp`, `ipxe`, …). */
  step: string;
  /** The host's timeline; only entries at or after `since` (the attempt's start) count. */
  timeline: readonly TimelineEntry[];
  since: number;
  /** The last file or answer an agent refused the host in this attempt. */
  refused?: string | undefined;
}

/**
 * What to add to a stall message (empty, or starting with "; "): the refusal, if any, and what the host got last
 * when that was not a refusal, with the likely cause when it was its firmware's own download of a first program.
 */
export function stallDetail(f: StallFacts): string {
  const events = f.timeline
    .filter((e) => e.at >= f.since)
    .map(recordedEvent)
    .filter((e): e is RecordedEvent => e !== undefined && e.kind !== 'log');
  const parts: string[] = [];
  if (f.refused !== undefined) parts.push(`the agent refused ${f.refused}`);
  const last = events.at(-1);
  if (last && last.kind !== 'refused') {
    let got = `the host got ${describeGot(last)} and asked for nothing after it`;
    // Its firmware fetched one program and went no further: that program never ran. (After a second program, say
    // shim's GRUB, the one that did not run is not the firmware's to explain.)
    const file = firstStageFile(last);
    const programs = new Set(events.map(firstStageFile).filter((x) => x !== undefined));
    if (f.step === 'ipxe' && file !== undefined && programs.size === 1)
      got += ': its firmware did not run it (Secure Boot refuses unsigned loaders)';
    parts.push(got);
  }
  return parts.map((p) => `; ${p}`).join('');
}
