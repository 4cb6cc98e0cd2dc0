// Turns what the boot services observe into events on the right host workflow: the MAC (from DHCP, or from the
// client IP through the agent's own DHCP bindings and the neighbour table) selects the netboot entry, whose
// workflow id the event goes to, through the durable outbox.
import type { BootEventKind } from '../domain/boot-events.ts';
import type { EventOutbox } from './event-outbox.ts';
import type { ModelCache } from './model-cache.ts';
import { NeighbourTable } from './neighbours.ts';

export interface Observation {
  kind: BootEventKind;
  mac?: string;
  ip?: string;
  detail?: string;
}

export interface RecorderStats {
  recorded: number;
  /** Observations of hosts with no open gate (a host booting on its own, or an unknown client). */
  ungated: number;
  unresolved: number;
}

export class BootEventRecorder {
  private n = 0;
  private readonly started = Date.now();
  private readonly counts: RecorderStats = { recorded: 0, ungated: 0, unresolved: 0 };
  /** IP → MAC learned by this agent's DHCP server. */
  private readonly bindings = new Map<string, string>();
  private readonly neighbours = new NeighbourTable();

  constructor(
    private readonly agentId: string,
    private readonly cache: ModelCache,
    private readonly outbox: EventOutbox,
  ) {}

  bind(ip: string, mac: string): void {
    this.bindings.set(ip, mac.toLowerCase());
  }

  async macFor(ip: string): Promise<string | undefined> {
    return this.bindings.get(ip) ?? (await this.neighbours.macFor(ip));
  }

  async record(o: Observation): Promise<void> {
    const mac = o.mac?.toLowerCase() ?? (o.ip ? await this.macFor(o.ip) : undefined);
    if (!mac) {
      this.counts.unresolved++;
      return;
    }
    const entry = this.cache.netboot(mac);
    if (!entry?.open) {
      this.counts.ungated++;
      return;
    }
    this.counts.recorded++;
    await this.outbox.enqueue(entry.workflowId, {
      id: `${this.agentId}-${this.started.toString(36)}-${(++this.n).toString(36)}`,
      kind: o.kind,
      mac,
      at: Date.now(),
      source: this.agentId,
      ...(o.detail !== undefined ? { detail: o.detail } : {}),
    });
  }

  stats(): RecorderStats {
    return { ...this.counts };
  }
}
