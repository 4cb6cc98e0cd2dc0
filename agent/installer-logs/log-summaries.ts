// What the host workflow hears of its installer's log: a `log` boot event now and then, never every line. Per host
// run, the lines since the last summary are counted (errors apart) and the newest kept; a summary goes out at most
// once per `everyMs` and at most `maxPerRun` times, so a chatty installer adds a bounded number of small events to
// the host's history whatever it prints. Lines after the last allowed summary are only counted, on disk.
import type { Observation } from '../boot-event-recorder.ts';
import { cutToBytes } from './syslog-message.ts';
import type { InstallerLogLine } from '../../domain/installer-logs.ts';

export interface SummaryLimits {
  everyMs: number;
  maxPerRun: number;
}

/** The newest line quoted in a summary, in bytes: the detail stays short on the timeline. */
const QUOTED_LINE_BYTES = 160;
/** Runs followed at once; the least recently heard go first (their pending summary is sent then). */
const MAX_RUNS_FOLLOWED = 2_000;

interface RunSummary {
  mac: string;
  lines: number;
  errors: number;
  transports: Set<string>;
  last?: InstallerLogLine;
  sent: number;
  lastSentAt: number;
  timer?: NodeJS.Timeout | undefined;
}

/** A line that says something failed: syslog severity err or worse, or the words installers use for it. */
export function isErrorLine(line: InstallerLogLine): boolean {
  if (line.severity !== undefined) return line.severity <= 3;
  return /\b(error|failed|failure|fatal|panic)\b/i.test(line.text);
}

export class LogSummaries {
  private readonly runs = new Map<string, RunSummary>();
  private sentTotal = 0;

  constructor(
    private readonly record: (o: Observation) => Promise<void>,
    private readonly limits: SummaryLimits,
  ) {}

  /** A line of the host run `runId` (its netboot entry's MAC `mac`) was kept. */
  add(runId: string, mac: string, line: InstallerLogLine): void {
    let s = this.runs.get(runId);
    if (!s) {
      s = { mac, lines: 0, errors: 0, transports: new Set(), sent: 0, lastSentAt: -Infinity };
      this.runs.set(runId, s);
      if (this.runs.size > MAX_RUNS_FOLLOWED) this.forget(this.runs.keys().next().value!);
    } else {
      // Most recently heard last, so forgetting takes the quietest run.
      this.runs.delete(runId);
      this.runs.set(runId, s);
    }
    if (s.sent >= this.limits.maxPerRun) return;
    s.lines++;
    if (isErrorLine(line)) s.errors++;
    s.transports.add(line.transport);
    s.last = line;
    if (s.timer) return;
    const wait = Math.max(0, s.lastSentAt + this.limits.everyMs - Date.now());
    s.timer = setTimeout(() => void this.send(runId), wait);
    s.timer.unref();
  }

  /** Summaries sent since start. */
  sent(): number {
    return this.sentTotal;
  }

  /** Sends what is pending now (the agent stops). */
  async flush(): Promise<void> {
    await Promise.all([...this.runs.keys()].map((runId) => this.send(runId)));
  }

  private forget(runId: string): void {
    void this.send(runId);
    this.runs.delete(runId);
  }

  private async send(runId: string): Promise<void> {
    const s = this.runs.get(runId);
    if (!s) return;
    clearTimeout(s.timer);
    s.timer = undefined;
    if (s.lines === 0 || !s.last) return;
    s.sent++;
    this.sentTotal++;
    s.lastSentAt = Date.now();
    const last = cutToBytes(s.last.text, QUOTED_LINE_BYTES);
    const final = s.sent >= this.limits.maxPerRun ? '; no more summaries this run (the lines are kept)' : '';
    const detail =
      `${s.lines} installer log line${s.lines === 1 ? '' : 's'} (${[...s.transports].sort().join(', ')})` +
      `, ${s.errors} error${s.errors === 1 ? '' : 's'}; last: ${last}${final}`;
    s.lines = 0;
    s.errors = 0;
    s.transports.clear();
    delete s.last;
    await this.record({ kind: 'log', mac: s.mac, detail });
  }
}
