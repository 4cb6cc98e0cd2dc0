// The minimal workflow's one activity: it signals its workflow, through the client, the way sim hosts report.
import type { Client } from '@temporalio/client';

export interface MinimalActivities {
  touch(workflowId: string): Promise<void>;
}

export function createMinimalActivities(client: Client, onFirst: () => void): MinimalActivities {
  return {
    async touch(workflowId) {
      onFirst();
      await client.workflow.getHandle(workflowId).signal('done');
    },
  };
}
