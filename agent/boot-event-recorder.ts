// Turns what the boot services observe into events on the right host workflow: the MAC (from DHCP, or from the
// client IP through the agent's own DHCP bindings and the neighbour table) selects the netboot entry, whose
// workflow id the event goes to, through the durable outbox.
//
// record() never rejects: the boot services fire it for every packet and do not wait on it, and a failure here
// (none is expected: the outbox holds what it cannot write) must not end the agent. A failure is counted
// (stats().failed) and logged.
import type { BootEventKind } from '../domain/boot-events.ts';
import { traceBootEvent } from '../temporal/telemetry/boot-traces.ts';
import type { EventOutbox } from './event-outbox.ts';
import type { ModelCache } from './model-cache.ts';
import { NeighbourTable } from './neighbours.ts';

export interface Observation {
  kind: BootEventKind;
  mac?: string;
  ip?: string;
  detail?: string;
  /**
   * What identifies this observation whichever agent made it (a DHCP answer: its transaction id and message). Two
   * agents of a broadcast domain both answer a DISCOVER: the workflow must count that answer once. Without it the
   * event is this agent's own (a TFTP or HTTP request reaches one agent only).
   */
  identity?: string;
}

export interface RecorderStats {
  recorded: number;
  /** Observations of hosts with no open gate (a host booting on its own, or an unknown client). */
  ungated: number;
  unresolved: number;
  /** Observations that could not be queued (an unexpected error, logged). */
  failed: number;
  /** Refusals not recorded because the same one was already recorded for the host's run. */
  repeatedRefusals: number;
}

const UNRECORDED_LOG_EVERY_MS = 60_000;
/** Distinct refusals remembered to record each once per run; beyond that the oldest is forgotten (bounded memory). */
const MAX_REFUSALS_REMEMBERED = 4096;

export class BootEventRecorder {
  private n = 0;
  private readonly started = Date.now();
  private readonly counts: RecorderStats = {
    recorded: 0,
    ungated: 0,
    unresolved: 0,
    failed: 0,
    repeatedRefusals: 0,
  };
  private lastUnrecordedLog = 0;
  private loggedCounts = { ungated: 0, unresolved: 0 };
  /** IP → MAC learned by this agent's DHCP server. */
  private readonly bindings = new Map<string, string>();
  private readonly neighbours = new NeighbourTable();
  /** MAC/run/refusal already recorded, oldest first. */
  private readonly refusalsSent = new Set<string>();

  constructor(
    private readonly agentId: string,
    private readonly cache: ModelCache,
    private readonly outbox: EventOutbox,
    private readonly log: (msg: string) => void = (msg) => console.error(msg),
    private readonly info: (msg: string) => void = log,
  ) {}

  bind(ip: string, mac: string): void {
    this.bindings.set(ip, mac.toLowerCase());
  }

  async macFor(ip: string): Promise<string | undefined> {
    return this.bindings.get(ip) ?? (await this.neighbours.macFor(ip));
  }

  /** Resolves once the event is queued (on disk, or held by the outbox); never rejects. */
  async record(o: Observation): Promise<void> {
    try {
      await this.queue(o);
    } catch (err) {
      this.counts.failed++;
      this.log(
        `boot event ${o.kind} (${o.mac ?? o.ip ?? 'no address'}) not recorded: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }

  private async queue(o: Observation): Promise<void> {
    const seen = Date.now();
    const mac = o.mac?.toLowerCase() ?? (o.ip ? await this.macFor(o.ip) : undefined);
    if (!mac) {
      this.counts.unresolved++;
      this.logUnrecorded();
      return;
    }
    const entry = this.cache.netboot(mac);
    if (!entry?.open) {
      this.counts.ungated++;
      this.logUnrecorded();
      return;
    }
    // A firmware retrying a refused file asks again and again: each refusal goes to a run once. Its id is what
    // happened (not this agent's count), so the workflow also drops a repeat from another agent or a restart.
    const identity =
      o.kind === 'refused' && o.identity === undefined && o.detail !== undefined ? o.detail : o.identity;
    if (o.kind === 'refused') {
      const key = `${mac}/${entry.runId}/${identity}`;
      if (this.refusalsSent.has(key)) {
        this.counts.repeatedRefusals++;
        return;
      }
      this.refusalsSent.add(key);
      if (this.refusalsSent.size > MAX_REFUSALS_REMEMBERED)
        this.refusalsSent.delete(this.refusalsSent.values().next().value!);
    }
    this.counts.recorded++;
    await this.outbox.enqueue(
      entry.workflowId,
      {
        id:
          identity !== undefined
            ? `${o.kind}/${mac}/${entry.runId}/${identity}`
            : `${this.agentId}-${this.started.toString(36)}-${(++this.n).toString(36)}`,
        kind: o.kind,
        mac,
        at: Date.now(),
        source: this.agentId,
        ...(o.detail !== undefined ? { detail: o.detail } : {}),
        runId: entry.runId,
      },
      { batch: entry.eventBatches === true },
    );
    traceBootEvent(
      mac,
      entry.runId,
      o.kind,
      {
        'vaquero.agent': this.agentId,
        'vaquero.workflow_id': entry.workflowId,
        ...(o.detail !== undefined ? { 'vaquero.boot_event.detail': o.detail } : {}),
      },
      seen,
    );
  }

  /**
   * Observations that are no host's boot event (no open gate, or no MAC for the address) are counted always and
   * logged as a count at most once a minute: a host booting on its own would otherwise log every packet.
   */
  private logUnrecorded(): void {
    const now = Date.now();
    if (now - this.lastUnrecordedLog < UNRECORDED_LOG_EVERY_MS) return;
    const { ungated, unresolved } = this.counts;
    const since = this.loggedCounts;
    this.info(
      `observations not recorded as boot events since the last report: ${ungated - since.ungated} of hosts with no open gate, ${unresolved - since.unresolved} with no MAC for the address`,
    );
    this.lastUnrecordedLog = now;
    this.loggedCounts = { ungated, unresolved };
  }

  stats(): RecorderStats {
    return { ...this.counts };
  }
}
