// Where installer log lines come in, from syslog (by the sender's address) or an HTTP post (by the run's checkpoint
// token), and go to their host: each line is matched to a host whose netboot gate is open — its run is where the
// line is kept (log-store.ts) and summarised to the workflow (log-summaries.ts). A line nobody can be matched to
// is counted and dropped: the agent keeps no logs of strangers. A flood costs a bounded share of the agent: lines
// beyond the per-second budget are counted and dropped.
import type { InstallerLogLine, InstallerLogTransport } from '../../domain/installer-logs.ts';
import type { GateEntry } from '../../domain/netboot-gate.ts';
import type { BootEventRecorder } from '../boot-event-recorder.ts';
import type { CheckpointTokens } from '../checkpoint-token.ts';
import type { ModelCache } from '../model-cache.ts';
import type { InstallerLogStore } from './log-store.ts';
import type { LogSummaries } from './log-summaries.ts';

export interface IntakeStats {
  /** Lines kept for a host run. */
  kept: number;
  /** Lines from an address no open gate's host has. */
  unknownSource: number;
  /** Posts whose token is no open run's. */
  badToken: number;
  /** Lines over the per-second budget. */
  overBudget: number;
}

export interface IntakeLine {
  severity?: number;
  app?: string;
  text: string;
}

export class InstallerLogIntake {
  private readonly counts: IntakeStats = { kept: 0, unknownSource: 0, badToken: 0, overBudget: 0 };
  private budget: number;
  private budgetAt = Date.now();
  private reservationsOf: unknown;
  private macByIp = new Map<string, string>();

  constructor(
    private readonly cache: ModelCache,
    private readonly tokens: CheckpointTokens,
    private readonly recorder: BootEventRecorder,
    private readonly store: InstallerLogStore,
    private readonly summaries: LogSummaries,
    private readonly maxLinesPerSecond: number,
  ) {
    this.budget = maxLinesPerSecond;
  }

  /** Lines of one syslog datagram from `ip`; resolves once they are kept (never rejects). */
  async fromAddress(ip: string, lines: readonly IntakeLine[]): Promise<void> {
    if (lines.length === 0) return;
    const gate = await this.gateOfAddress(ip);
    if (!gate) {
      this.counts.unknownSource += lines.length;
      return;
    }
    await this.keep(gate, 'syslog', ip, lines);
  }

  /** Lines posted with a checkpoint token; false when the token is no open run's (nothing kept). */
  async fromToken(token: string, ip: string, lines: readonly IntakeLine[]): Promise<GateEntry | undefined> {
    const gate = this.cache
      .openEntries()
      .find((g) => g.runId && this.tokens.verify(token, g.workflowId, g.runId, g.bootStage));
    if (!gate) {
      this.counts.badToken++;
      return undefined;
    }
    await this.keep(gate, 'http', ip, lines);
    return gate;
  }

  stats(): IntakeStats & { dropped: number; summaries: number } {
    return { ...this.counts, dropped: this.store.droppedLines(), summaries: this.summaries.sent() };
  }

  private async keep(
    gate: GateEntry,
    transport: InstallerLogTransport,
    from: string,
    lines: readonly IntakeLine[],
  ): Promise<void> {
    const at = Date.now();
    for (const l of lines) {
      if (!this.spend(at)) {
        this.counts.overBudget++;
        continue;
      }
      const line: InstallerLogLine = { at, transport, from, ...l };
      this.counts.kept++;
      this.summaries.add(gate.runId, gate.mac, line);
      await this.store.append(gate.host, gate.runId, line);
    }
  }

  /** A token bucket refilled each second with the budget, so one burst of a second's worth passes. */
  private spend(now: number): boolean {
    const elapsed = now - this.budgetAt;
    if (elapsed > 0) {
      this.budget = Math.min(this.maxLinesPerSecond, this.budget + (elapsed * this.maxLinesPerSecond) / 1000);
      this.budgetAt = now;
    }
    if (this.budget < 1) return false;
    this.budget--;
    return true;
  }

  /**
   * The open gate of the host at `ip`: the address its gate or its SoT reservation gives it, else the MAC this
   * agent's DHCP bound to it or the kernel's neighbour table knows.
   */
  private async gateOfAddress(ip: string): Promise<GateEntry | undefined> {
    const open = this.cache.openEntries();
    if (open.length === 0) return undefined;
    const byGate = open.find((g) => g.ipv4 === ip);
    if (byGate) return byGate;
    const mac = this.reservedMac(ip) ?? (await this.recorder.macFor(ip));
    const gate = mac !== undefined ? this.cache.lookup(mac) : undefined;
    return gate?.open ? gate : undefined;
  }

  /** IP → MAC of the site model's reservations, worked out again only when the model changes. */
  private reservedMac(ip: string): string | undefined {
    const model = this.cache.siteModel();
    if (model !== this.reservationsOf) {
      this.reservationsOf = model;
      this.macByIp = new Map(
        (model?.reservations ?? []).flatMap((r) =>
          r.ipv4 !== undefined ? [[r.ipv4, r.mac.toLowerCase()] as const] : [],
        ),
      );
    }
    return this.macByIp.get(ip);
  }
}
