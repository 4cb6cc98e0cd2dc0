// Closing the API leaves no Temporal call behind. The metrics read each closed host run's status by a query; a
// query still waiting when the server closes its connection would be retried by the SDK on a timer and throw
// "Channel has been shut down" from it, outside any caller (an uncaught exception: a CI run failed on one). Here a
// query waits on a run no worker polls for, the app closes, then the connection, and nothing may throw afterwards.
import { Client, Connection } from '@temporalio/client';
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { buildApp } from '../../server/app.ts';
import { startTestStack } from '../../testkit/stack.ts';
import type { TestStack } from '../../testkit/stack.ts';
import { HOST_WORKFLOW_TYPE, hostWorkflowId } from '../../domain/workflow-api.ts';
import { testConfig } from './support/harness.ts';

let stack: TestStack;
before(async () => {
  stack = await startTestStack({ name: 'appclose', control: false });
});
after(async () => {
  await stack?.close();
});

test('a status read in flight is cancelled when the app closes; nothing throws after the connection closes', async () => {
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);
  process.on('uncaughtException', onUncaught);
  try {
    // A host run on a queue nobody polls: a query to it waits for a worker that never comes.
    const workflowId = hostWorkflowId('closesite', 'h1');
    const started = await stack.client.workflow.start(HOST_WORKFLOW_TYPE, {
      workflowId,
      taskQueue: 'nobody-polls-here',
      args: [],
    });
    const connection = await Connection.connect({ address: stack.address });
    const client = new Client({ connection, namespace: stack.namespace });
    const app = await buildApp({
      config: await testConfig({ dataDir: stack.dataDir }),
      client,
      namespace: stack.namespace,
      temporalDeadlineMs: 60_000,
    });
    const now = Date.now();
    app.vaquero.metrics.observer.hostRunClosed({
      site: 'closesite',
      host: 'h1',
      stage: 'provisioned',
      state: 'provisioned',
      revision: 'dir-000000000000',
      workflowId,
      runId: started.firstExecutionRunId,
      startedMs: now,
      closedMs: now,
      startedAt: new Date(now).toISOString(),
      closedAt: new Date(now).toISOString(),
      stageSinceMs: now,
      stageSince: new Date(now).toISOString(),
    });
    await delay(500); // the query is on its way
    await app.close();
    await connection.close();
    // The SDK's retry backoff starts at 100 ms: a retry left behind would have thrown by now.
    await delay(3000);
    await started.terminate('test over');
    assert.deepEqual(
      uncaught.map((e) => (e instanceof Error ? e.message : String(e))),
      [],
    );
    // The read was cut short and counted as unread, not lost silently.
    const text = await app.vaquero.metrics.registry.metrics();
    assert.match(text, /vaquero_host_runs_unread_total\{site="closesite"\} 1/);
  } finally {
    process.off('uncaughtException', onUncaught);
  }
});
