// Turns an observed boot event into a signal on the host's workflow (sim hosts report through this; agents
// through their outbox). Events of a run that takes them together (its gate says so) go out as one signal when
// they come while the host's previous signal is in flight: a fast boot costs its workflow one task, not one per step.
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import { bootEventSignal, bootEventsSignal, hostWorkflowId } from '../domain/workflow-api.ts';
import type { BootEvent } from '../domain/boot-events.ts';

export interface BootEventSink {
  /** `batch`: the run takes several events in one signal (its gate's eventBatches). */
  report(site: string, host: string, event: BootEvent, opts?: { batch?: boolean }): Promise<void>;
}

interface Lane {
  /** Events waiting for the signal in flight to finish. */
  queued: BootEvent[];
  /** The batch being sent or waiting to be, and its predecessor (never rejects). */
  batch?: Promise<void>;
  tail: Promise<void>;
}

export class TemporalBootEventReporter implements BootEventSink {
  /** Events whose host had no running workflow (logged, one line each): nobody was waiting for them. */
  private droppedNoWorkflow = 0;
  private readonly lanes = new Map<string, Lane>();

  constructor(
    private readonly client: Client,
    private readonly log: (msg: string) => void = () => undefined,
  ) {}

  report(site: string, host: string, event: BootEvent, opts: { batch?: boolean } = {}): Promise<void> {
    if (!opts.batch) return this.send(site, host, [event]);
    const id = hostWorkflowId(site, host);
    let lane = this.lanes.get(id);
    if (!lane) {
      lane = { queued: [], tail: Promise.resolve() };
      this.lanes.set(id, lane);
    }
    const l = lane;
    l.queued.push(event);
    if (l.queued.length === 1) {
      // The first event of the next batch: it goes once the signal in flight (if any) is done, with what joined it.
      l.batch = l.tail.then(async () => {
        // One turn of the event loop first: the events of one step, observed together, go in one signal.
        await new Promise<void>((resolve) => setImmediate(resolve));
        const events = l.queued.splice(0);
        try {
          await this.send(site, host, events);
        } finally {
          if (l.queued.length === 0 && this.lanes.get(id) === l) this.lanes.delete(id);
        }
      });
      l.tail = l.batch.catch(() => undefined);
    }
    return l.batch!;
  }

  private async send(site: string, host: string, events: BootEvent[]): Promise<void> {
    const handle = this.client.workflow.getHandle(hostWorkflowId(site, host));
    try {
      if (events.length === 1) await handle.signal(bootEventSignal, events[0]!);
      else await handle.signal(bootEventsSignal, events);
    } catch (err) {
      // No running reprovision for this host: the events have nobody to tell (the host booted on its own).
      if (err instanceof WorkflowNotFoundError) {
        this.droppedNoWorkflow += events.length;
        for (const e of events)
          this.log(`boot event ${e.kind} (${e.id}) for ${site}/${host} dropped: no running workflow`);
        return;
      }
      throw err;
    }
  }

  stats(): { droppedNoWorkflow: number } {
    return { droppedNoWorkflow: this.droppedNoWorkflow };
  }
}
