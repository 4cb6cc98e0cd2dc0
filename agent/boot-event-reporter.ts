// Turns an observed boot event into a signal on the host's workflow. Agents and sim hosts both report
// through this, so a sim boot travels the same path as a real one.
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import { bootEventSignal, hostWorkflowId } from '../domain/workflow-api.ts';
import type { BootEvent } from '../domain/boot-events.ts';

export interface BootEventSink {
  report(site: string, host: string, event: BootEvent): Promise<void>;
}

export class TemporalBootEventReporter implements BootEventSink {
  /** Events whose host had no running workflow (logged, one line each): nobody was waiting for them. */
  private droppedNoWorkflow = 0;

  constructor(
    private readonly client: Client,
    private readonly log: (msg: string) => void = () => undefined,
  ) {}

  async report(site: string, host: string, event: BootEvent): Promise<void> {
    try {
      await this.client.workflow.getHandle(hostWorkflowId(site, host)).signal(bootEventSignal, event);
    } catch (err) {
      // No running reprovision for this host: the event has nobody to tell (the host booted on its own).
      if (err instanceof WorkflowNotFoundError) {
        this.droppedNoWorkflow++;
        this.log(`boot event ${event.kind} (${event.id}) for ${site}/${host} dropped: no running workflow`);
        return;
      }
      throw err;
    }
  }

  stats(): { droppedNoWorkflow: number } {
    return { droppedNoWorkflow: this.droppedNoWorkflow };
  }
}
